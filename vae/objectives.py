"""The variational objectives: KL, ELBO, beta-ELBO and the IWAE bound.

For data x, latent z, prior p(z), likelihood p(x|z) and approximate posterior
q(z|x), Jensen's inequality gives the evidence lower bound (Kingma and Welling
2014, eq. 3):

  log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)) = ELBO(x),

and the gap is exactly KL(q(z|x) || p(z|x)). We keep the two terms apart, in
nats per example, with the names of Alemi et al. (2018):

  distortion = -log p(x|z),  z ~ q(z|x) reparameterised (one sample),
  rate       = KL(q(z|x) || p(z)),
  elbo       = -(distortion + rate),
  loss       = distortion + beta * rate.

beta = 1 is the VAE; beta > 1 is the beta-VAE of Higgins et al. (2017), who
weigh the KL against the reconstruction both in nats per example; beta = 0
leaves a (stochastic) autoencoder.

The importance-weighted bound (Burda et al. 2016, eq. 8) with k samples
z_1..z_k ~ q(z|x) is

  L_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x)
         = logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k.

E[L_1] is the ELBO, E[L_k] <= E[L_{k+1}] <= log p(x) (their Theorem 1), and
L_k -> log p(x) as k grows when p(x, z)/q(z|x) is bounded.
"""

from typing import Callable, NamedTuple, Optional, Union

import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import distribute
from vae import kl
from vae import priors
from vae import registry

tfd = tfp.distributions

Encoder = Callable[[tf.Tensor], tfd.Distribution]
Decoder = Callable[[tf.Tensor], tfd.Distribution]

NORMALIZATIONS = ('per_example', 'notebook')


class ELBOTerms(NamedTuple):
  """Per-example terms of the objective, each of shape [batch], in nats."""
  elbo: tf.Tensor
  rate: tf.Tensor
  distortion: tf.Tensor
  loss: tf.Tensor


def _rate(posterior: tfd.Distribution, prior: priors.PriorLike, z: tf.Tensor,
          kl_samples: Optional[int], relaxed: bool, seed) -> tf.Tensor:
  """The ELBO's rate: the analytic KL for `kl_samples=None`; for 1, the
  standard one-sample estimate log q(z|x) - log p(z) at the z the
  distortion used (unbiased, as an independent draw would be, with less
  variance: the two terms' errors largely cancel in the ELBO); for n > 1,
  or a relaxed z, which q gives no probability, n draws of its own."""
  prior = priors.as_distribution(prior)
  if kl_samples is None:
    return kl.analytic_kl(posterior, prior, (
        'kl_samples=1 to estimate it at the distortion\'s draw of z (the '
        'standard one-sample estimator), or kl_samples=n for n draws of its '
        'own'))
  if kl_samples == 1 and not relaxed:
    return posterior.log_prob(z) - prior.log_prob(z)
  return kl.kl_divergence(posterior, prior, num_samples=kl_samples, seed=seed)


def _check_batch_shape(distribution: tfd.Distribution, what: str,
                      batch_dims: int, event: str):
  """Raises a `ValueError` that says what to do unless `distribution` (what
  an encoder or decoder returned) has `batch_dims` batch dimensions, with
  the rest in its event shape (`event` names what that is)."""
  rank = distribution.batch_shape.rank
  if rank is None or rank <= batch_dims:
    return
  raise ValueError(
      f'the {what} returned a {type(distribution).__name__} of batch shape '
      f'{distribution.batch_shape} and event shape '
      f'{distribution.event_shape}; it must have {batch_dims} batch '
      f'dimension(s), one distribution per example, with {event} in its '
      f'event shape: return tfd.Independent(distribution, '
      f'reinterpreted_batch_ndims={rank - batch_dims}).')


def z_seed(seed):
  """The seed `elbo` draws z with, for callers that want the same z.

  Args:
    seed: `elbo`'s seed, or None.
  """
  return None if seed is None else tfp.random.split_seed(seed)[0]


def _num_elements(shape: tf.TensorShape, what: str) -> int:
  if not shape.is_fully_defined():
    raise ValueError(f'the notebook normalisation needs a static {what} event '
                     f'shape, got {shape}')
  return max(shape.num_elements(), 1)


def elbo(encoder: Encoder,
         decoder: Decoder,
         prior: priors.PriorLike,
         x: tf.Tensor,
         beta: Union[float, tf.Tensor] = 1.0,
         kl_samples: Optional[int] = None,
         *,
         normalization: str = 'per_example',
         free_bits: float = 0.0,
         temperature: Optional[Union[float, tf.Tensor]] = None,
         seed=None) -> ELBOTerms:
  """The ELBO and the beta-weighted training loss, per example.

  Args:
    encoder: maps x to q(z|x), batch shape [batch], event shape [latent].
    decoder: maps z to p(x|z), batch shape [batch], event shape x's.
    prior: p(z), a distribution or a callable (module) returning one.
    x: a batch of data, [batch, ...].
    beta: weight of the rate in the loss; a float, tensor or `tf.Variable`.
    kl_samples: None for the analytic KL (an error where TFP has none); 1
      for log q(z|x) - log p(z) at the distortion's draw of z, the standard
      one-sample estimate; n > 1 for the mean over n draws of their own.
    normalization: how `loss` is scaled; `elbo`, `rate` and `distortion` are
      always in nats per example.
      - 'per_example': loss = distortion + beta * rate (Higgins et al. 2017).
      - 'notebook': loss = distortion / D + beta * rate / L (D pixels, L
        latent dimensions), the Sonnet notebook's: its beta is a
        per-example beta * D / L (docs/zoo.md).
    free_bits: lambda > 0 replaces the loss's rate by the free-bits rate
      sum_j max(lambda, E_x[KL_j]) (Kingma et al. 2016, eq. 15;
      `kl.free_bits_rate`); `elbo` and `rate` stay the true ones.
    temperature: for a categorical posterior (`categorical.categorical`), the
      Gumbel-softmax estimator of Jang et al. (2017): z is drawn from the
      relaxation `categorical.relax(q, temperature)`, so gradients reach the
      logits, while the rate stays the exact categorical KL. The distortion
      is then that of the relaxed z, a surrogate; None (as in evaluation)
      draws one-hot z and gives the discrete model's exact ELBO.
    seed: optional seed for z (and the Monte Carlo KL): an int, or a
      stateless seed of shape [2] for draws that repeat exactly.

  Returns:
    `ELBOTerms(elbo, rate, distortion, loss)`, each of shape [batch].

  Raises:
    NotImplementedError: for `kl_samples=None` where the KL has no closed
      form, saying to pass `kl_samples`.
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f'normalization must be one of {NORMALIZATIONS}, got '
                     f'{normalization!r}')
  draw_seed, kl_seed = ((None, None) if seed is None
                        else tfp.random.split_seed(seed))
  posterior = encoder(x)
  _check_batch_shape(posterior, 'encoder', 1, 'the latent dimensions')
  if temperature is None:
    z = distribute.sample(posterior, seed=draw_seed)
  else:
    z = distribute.sample(categorical.relax(posterior, temperature),
                          seed=draw_seed)
  likelihood = decoder(z)
  _check_batch_shape(likelihood, 'decoder', 1, 'the pixels')
  distortion = -likelihood.log_prob(x)
  rate = _rate(posterior, prior, z, kl_samples, temperature is not None,
               kl_seed)
  return ELBOTerms(elbo=-(distortion + rate), rate=rate,
                   distortion=distortion,
                   loss=_elbo_loss(posterior, prior, likelihood, distortion,
                                   rate, beta, normalization, free_bits))


def _elbo_loss(posterior, prior, likelihood, distortion, rate, beta,
               normalization, free_bits) -> tf.Tensor:
  """The loss `elbo` trains on: its rate under free bits if asked, weighed
  by beta and normalised as `normalization` says."""
  loss_rate = rate
  if free_bits:
    loss_rate = kl.free_bits_rate(kl.kl_groups(posterior, prior, rate),
                                   free_bits)
  if normalization == 'per_example':
    return weighted_loss(distortion, loss_rate, beta)
  return weighted_loss(
      distortion, loss_rate, beta, normalization,
      num_pixels=_num_elements(likelihood.event_shape, 'likelihood'),
      latent_size=_num_elements(posterior.event_shape, 'posterior'))


def weighted_loss(distortion, rate, beta=1.0, normalization='per_example',
                  num_pixels=None, latent_size=None):
  """The training loss from its terms (tensors or floats); see `elbo`.

  'notebook' needs `num_pixels` (D) and `latent_size` (L). Linear in the
  terms, so it maps means of the terms to the mean loss.

  Args:
    distortion: -log p(x|z), [batch].
    rate: The rate, [batch].
    beta: The rate's weight.
    normalization: 'per_example' or 'notebook'.
    num_pixels: D, for 'notebook'.
    latent_size: L, for 'notebook'.
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f'normalization must be one of {NORMALIZATIONS}, got '
                     f'{normalization!r}')
  if isinstance(rate, tf.Tensor):
    beta = tf.cast(beta, rate.dtype)
  if normalization == 'per_example':
    return distortion + beta * rate
  if not num_pixels or not latent_size:
    raise ValueError('the notebook normalisation needs num_pixels and '
                     f'latent_size, got {num_pixels} and {latent_size}')
  return distortion / num_pixels + beta * rate / latent_size


class ImportanceWeights(NamedTuple):
  """Per draw, [k, batch]: the log-weights and their two parts."""
  log_weights: tf.Tensor
  log_likelihood: tf.Tensor  # log p(x|z)
  log_ratio: tf.Tensor  # log p(z) - log q(z|x)


def importance_weights(posterior: tfd.Distribution,
                       decoder: Decoder,
                       prior: priors.PriorLike,
                       x: tf.Tensor,
                       z: tf.Tensor,
                       beta: Optional[Union[float, tf.Tensor]] = None
                       ) -> ImportanceWeights:
  """The log importance weights of draws z [k, batch, latent] of q(z|x).

  The one implementation behind IWAE training (`iwae`), the bound
  (`iwae_bound`) and the chunked NLL estimate (`evaluation.log_likelihood`).
  With `beta` None they are log p(x|z) + log p(z) - log q(z|x), the terms of
  L_k; with a `beta`, log p(x|z) + beta [log p(z) - log q(z|x)], the
  beta-weighted bound that `iwae` trains on.

  Args:
    posterior: q(z|x), batch shape [batch].
    decoder: Maps z to p(x|z).
    prior: p(z), a distribution or a callable returning one.
    x: The data, [batch, ...].
    z: Draws of q(z|x), [k, batch, latent].
    beta: None for the weights of L_k; else the beta-weighted ones.
  """
  log_likelihood = decoder(z).log_prob(x)
  log_prior = priors.as_distribution(prior).log_prob(z)
  log_posterior = posterior.log_prob(z)
  log_ratio = log_prior - log_posterior
  if beta is None:
    log_weights = log_likelihood + log_prior - log_posterior
  else:
    log_weights = log_likelihood + tf.cast(beta, log_ratio.dtype) * log_ratio
  return ImportanceWeights(log_weights, log_likelihood, log_ratio)


def log_mean_exp(log_weights: tf.Tensor) -> tf.Tensor:
  """log (1/k) sum_i exp(w_i) over the leading axis of k draws.

  Args:
    log_weights: Log importance weights, [k, batch].
  """
  num_samples = tf.shape(log_weights)[0]
  return (tf.reduce_logsumexp(log_weights, axis=0)
          - tf.math.log(tf.cast(num_samples, log_weights.dtype)))


def iwae(encoder: Encoder,
         decoder: Decoder,
         prior: priors.PriorLike,
         x: tf.Tensor,
         num_samples: int,
         beta: Union[float, tf.Tensor] = 1.0,
         seed=None) -> ELBOTerms:
  """Terms for training on the IWAE bound, per example, shape [batch].

  `loss` is -L_k (Burda et al. 2016, eq. 8) with each log-weight
  log p(x|z_i) + beta [log p(z_i) - log q(z_i|x)]: beta = 1 is their bound,
  and with k = 1 this is the beta-ELBO with a one-sample KL. `distortion`
  and `rate` are the means over the same k draws (the rate analytic where
  the pair has one), and `elbo = -(distortion + rate)`, so runs trained on
  either objective report the same quantities.

  Args:
    encoder, decoder, prior: The model, as in `elbo`.
    x: A batch of data, [batch, ...].
    num_samples: k, the draws per example.
    beta: The weight of log p(z) - log q(z|x) in the bound trained on.
    seed: A stateless seed [2] for the draws.

  Returns:
    `ELBOTerms`, each [batch]; `loss` is minus the (beta-)bound.
  """
  prior, posterior, z = _draws(encoder, prior, x, num_samples, seed)
  weights = importance_weights(posterior, decoder, prior, x, z, beta=beta)
  return _weighted_terms(posterior, prior, weights,
                         loss=-log_mean_exp(weights.log_weights))


def _draws(encoder: Encoder, prior: priors.PriorLike, x: tf.Tensor,
           num_samples: int, seed):
  """(prior, q(z|x), k draws z [k, batch, latent]) of an importance-weighted
  objective."""
  if num_samples < 1:
    raise ValueError(f'num_samples must be positive, got {num_samples}')
  posterior = encoder(x)
  _check_batch_shape(posterior, 'encoder', 1, 'the latent dimensions')
  return (priors.as_distribution(prior), posterior,
          distribute.sample(posterior, num_samples, seed=seed))


def _weighted_terms(posterior: tfd.Distribution, prior: tfd.Distribution,
                    weights: ImportanceWeights, loss: tf.Tensor) -> ELBOTerms:
  """An importance-weighted objective's terms: distortion and rate the means
  over its draws (the rate analytic where the pair has one)."""
  distortion = -tf.reduce_mean(weights.log_likelihood, axis=0)
  try:
    rate = tfd.kl_divergence(posterior, prior)
  except NotImplementedError:
    rate = -tf.reduce_mean(weights.log_ratio, axis=0)
  return ELBOTerms(elbo=-(distortion + rate), rate=rate,
                   distortion=distortion, loss=loss)


def _held(distribution: tfd.Distribution) -> tfd.Distribution:
  """`distribution` with its parameters held fixed: the same density, no
  gradient to them."""
  overrides = {}
  for name, value in distribution.parameters.items():
    if isinstance(value, tfd.Distribution):
      overrides[name] = _held(value)
    elif tf.is_tensor(value):
      overrides[name] = tf.stop_gradient(value)
  return distribution.copy(**overrides)


def dreg(encoder: Encoder,
         decoder: Decoder,
         prior: priors.PriorLike,
         x: tf.Tensor,
         num_samples: int,
         beta: Union[float, tf.Tensor] = 1.0,
         seed=None) -> ELBOTerms:
  """`iwae`'s terms, with doubly reparameterised gradients (Tucker et al.
  2019).

  The value, and the gradient in expectation, are `iwae`'s. The IWAE
  gradient of the encoder's parameters phi has a score-function part: log
  w_k depends on phi directly, through -beta log q_phi(z_k|x). Tucker et
  al. (eqs. 5-7) turn it into a pathwise term with E_q[f(z) d/dphi log
  q(z)] = E[df/dz dz/dphi], which leaves, with w~ the normalised weights,

    dL_k/dphi = E[sum_k c_k  d log w_k/dz_k  dz_k/dphi],
    c_k = (1 - beta) w~_k + beta w~_k^2       (w~_k^2 at beta = 1),

  where log w_k is taken with q's parameters held fixed. The decoder's and
  the prior's gradients stay IWAE's, sum_k w~_k d log w_k/dtheta. One
  scalar carries both: with A_k = log w_k at stop_gradient(z_k) and B_k =
  log w_k at z_k, both with q held fixed,

    S = sum_k sg(w~_k) A_k + sum_k sg(c_k) (B_k - A_k),

  A_k sends nothing down the sampling path and B_k - A_k nothing to theta
  (A_k = B_k in value; a prior that shares the encoder, as the VampPrior
  does, gets its direct gradient from A_k). `loss` has the value -L_k and
  the gradient -dS. It costs a second decoder pass.

  Args:
    encoder, decoder, prior: The model, as in `elbo`.
    x: A batch of data, [batch, ...].
    num_samples: k, the draws per example.
    beta: The weight of log p(z) - log q(z|x), as in `iwae`.
    seed: A stateless seed [2] for the draws.

  Returns:
    `ELBOTerms`, each [batch], as `iwae`'s; only the gradients differ.
  """
  prior, posterior, z = _draws(encoder, prior, x, num_samples, seed)
  held = _held(posterior)
  path = importance_weights(held, decoder, prior, x, z, beta=beta)  # B
  fixed = importance_weights(held, decoder, prior, x, tf.stop_gradient(z),
                             beta=beta).log_weights  # A
  normalised = tf.stop_gradient(tf.nn.softmax(path.log_weights, axis=0))
  beta = tf.cast(beta, normalised.dtype)
  c = (1 - beta) * normalised + beta * tf.square(normalised)
  surrogate = tf.reduce_sum(
      normalised * fixed + c * (path.log_weights - fixed), axis=0)
  bound = tf.stop_gradient(log_mean_exp(path.log_weights))
  return _weighted_terms(
      posterior, prior, path,
      loss=-bound - (surrogate - tf.stop_gradient(surrogate)))


def autoencoder(encoder: Encoder,
                decoder: Decoder,
                x: tf.Tensor,
                normalization: str = 'per_example') -> ELBOTerms:
  """A plain autoencoder's terms: the code is the encoder's mean, no KL.

  `distortion` is -log p(x|z) at z = E[q(z|x)] (a point mass for
  `encoders.DeterministicPosterior`), `rate` is 0 and `loss` the distortion
  (over the number of pixels for 'notebook'). With no prior there is no
  bound on log p(x): `elbo` is NaN, not a number to compare.

  Args:
    encoder: Maps x to a distribution whose mean is the code.
    decoder: Maps the code to p(x|z).
    x: A batch of data, [batch, ...].
    normalization: 'per_example' or 'notebook' (over the pixels).

  Returns:
    `ELBOTerms` with `elbo` NaN and `rate` 0, each [batch].
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f'normalization must be one of {NORMALIZATIONS}, got '
                     f'{normalization!r}')
  likelihood = decoder(encoder(x).mean())
  distortion = -likelihood.log_prob(x)
  loss = distortion
  if normalization == 'notebook':
    loss = distortion / _num_elements(likelihood.event_shape, 'likelihood')
  return ELBOTerms(elbo=tf.fill(tf.shape(distortion),
                                tf.constant(float('nan'), distortion.dtype)),
                   rate=tf.zeros_like(distortion), distortion=distortion,
                   loss=loss)


def iwae_bound(encoder: Encoder,
               decoder: Decoder,
               prior: priors.PriorLike,
               x: tf.Tensor,
               num_samples: int,
               seed=None) -> tf.Tensor:
  """The k-sample importance-weighted bound L_k(x), per example, shape [batch].

  Uses k = `num_samples` reparameterised draws from q(z|x), so it can be both
  trained on and used to estimate log p(x). Memory grows linearly in k; for
  large k, `evaluation.log_likelihood` draws them in chunks.

  Args:
    encoder, decoder, prior: The model, as in `elbo`.
    x: A batch of data, [batch, ...].
    num_samples: k.
    seed: A stateless seed [2] for the draws.
  """
  prior, posterior, z = _draws(encoder, prior, x, num_samples, seed)
  return log_mean_exp(
      importance_weights(posterior, decoder, prior, x, z).log_weights)


# The training objectives by name (see `vae/registry.py`). A factory takes
# the `ObjectiveConfig`, the model, beta and the categorical temperature
# (variables, or None), and returns `objective(x, seed=None) -> ELBOTerms`.
# Traits: `importance_weighted` (an estimate of the IWAE bound) and
# `holds_posterior` (it holds q's parameters fixed in log q(z|x), which the
# network weights of a flow or a hierarchy cannot be).
OBJECTIVES = registry.Registry('objective')
OBJECTIVES.register('elbo', lambda c, m, beta, temperature: (
    lambda x, seed=None: elbo(m.encoder, m.decoder, m.prior, x, beta=beta,
                              kl_samples=c.kl_samples,
                              normalization=c.loss_normalization,
                              free_bits=c.free_bits, temperature=temperature,
                              seed=seed)),
                    'the (beta-)ELBO',
                    fields=('beta', 'kl_warmup_steps', 'kl_samples',
                            'free_bits', 'loss_normalization'))


def _weighted_factory(objective):
  """The registry factory of an estimate of the IWAE bound that takes
  `iwae`'s arguments."""
  return lambda c, m, beta, temperature: (
      lambda x, seed=None: objective(m.encoder, m.decoder, m.prior, x,
                                     c.num_importance_samples, beta=beta,
                                     seed=seed))


_WEIGHTED_FIELDS = ('beta', 'kl_warmup_steps', 'num_importance_samples')
OBJECTIVES.register('iwae', _weighted_factory(iwae),
                    'the importance-weighted bound with '
                    '--num_importance_samples samples (Burda et al. 2016)',
                    fields=_WEIGHTED_FIELDS, importance_weighted=True)
OBJECTIVES.register('dreg', _weighted_factory(dreg),
                    'the IWAE bound with doubly reparameterised encoder '
                    'gradients (Tucker et al. 2019)', fields=_WEIGHTED_FIELDS,
                    importance_weighted=True, holds_posterior=True)
OBJECTIVES.register('autoencoder', lambda c, m, beta, temperature: (
    lambda x, seed=None: autoencoder(m.encoder, m.decoder, x,
                                     normalization=c.loss_normalization)),
                    'the reconstruction loss alone: what --model='
                    'autoencoder trains on', fields=('loss_normalization',),
                    fixed={'model': 'autoencoder'})
