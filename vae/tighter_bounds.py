"""MIWAE, CIWAE and PIWAE: Rainforth et al. (2018), "Tighter variational
bounds are not necessarily better".

With log-weights log w = log p(x|z) + log p(z) - log q(z|x) of draws of
q(z|x), and IWAE_K = log (1/K) sum_k w_k (Burda et al. 2016):

- MIWAE(M, K) = (1/M) sum_m IWAE_K over M independent groups of K draws
  (eq. 5): the mean of M bounds. M = 1 is IWAE_K; K = 1 is the ELBO with M
  samples. More groups sharpen the encoder's gradient (its signal-to-noise
  ratio grows as sqrt(M / K)), more draws per group tighten the bound.
- CIWAE(beta) = beta ELBO + (1 - beta) IWAE_K on the same K draws (eq. 6),
  where ELBO = (1/K) sum_k log w_k.
- PIWAE(M, K): the generative network (the decoder and the prior) climbs
  IWAE_{MK} of all M K draws, the inference network MIWAE(M, K) of the same
  draws (section 4). One loss gives both gradients here: IWAE_{MK} with z
  and q(z|x)'s parameters held, plus MIWAE, minus MIWAE with them held.
  The encoder's gradient is MIWAE's (the held terms have none), the
  decoder's and prior's IWAE_{MK}'s (MIWAE's and its held copy's cancel),
  and the loss's value is -IWAE_{MK}. A VampPrior's pseudo-inputs pass the
  encoder's weights through the prior: there they get IWAE_{MK}'s gradient,
  as the prior's.

As `objectives.iwae`, each takes `beta`, the weight of log p(z) - log q(z|x)
in every log-weight (1: the bounds above), and reports the distortion and
rate as the means over its draws.
"""

from typing import Union

import tensorflow as tf

from vae import objectives
from vae import priors


def grouped_bound(log_weights: tf.Tensor, num_groups: int) -> tf.Tensor:
  """MIWAE: the mean over groups of IWAE_K, from log-weights [M K, batch]
  in M consecutive groups of K.

  Args:
    log_weights: [num_groups * K, batch].
    num_groups: M.

  Returns:
    [batch].
  """
  grouped = tf.reshape(log_weights,
                       tf.concat([[num_groups, -1], tf.shape(log_weights)[1:]],
                                 0))
  per_group = (tf.reduce_logsumexp(grouped, axis=1)
               - tf.math.log(tf.cast(tf.shape(grouped)[1], grouped.dtype)))
  return tf.reduce_mean(per_group, axis=0)


def _weights(encoder, decoder, prior, x, num_draws: int, beta, seed):
  """(q(z|x), prior, the draws z, their `ImportanceWeights`)."""
  prior, posterior, z = objectives._draws(  # pylint: disable=protected-access
      encoder, prior, x, num_draws, seed)
  return posterior, prior, z, objectives.importance_weights(
      posterior, decoder, prior, x, z, beta=beta)


def _terms(posterior, prior, weights, loss) -> objectives.ELBOTerms:
  return objectives._weighted_terms(  # pylint: disable=protected-access
      posterior, prior, weights, loss)


def miwae(encoder: objectives.Encoder, decoder: objectives.Decoder,
          prior: priors.PriorLike, x: tf.Tensor, num_groups: int,
          num_samples: int, beta: Union[float, tf.Tensor] = 1.0,
          seed=None) -> objectives.ELBOTerms:
  """Terms for training on MIWAE(M, K), per example, shape [batch].

  Args:
    encoder, decoder, prior: The model, as in `objectives.elbo`.
    x: A batch of data, [batch, ...].
    num_groups: M, the independent IWAE bounds averaged.
    num_samples: K, the draws of each.
    beta: The weight of log p(z) - log q(z|x) in each log-weight.
    seed: A stateless seed [2] for the draws.

  Returns:
    `objectives.ELBOTerms`; `loss` is -MIWAE.
  """
  posterior, prior, _, weights = _weights(
      encoder, decoder, prior, x, num_groups * num_samples, beta, seed)
  return _terms(posterior, prior, weights,
                -grouped_bound(weights.log_weights, num_groups))


def ciwae(encoder: objectives.Encoder, decoder: objectives.Decoder,
          prior: priors.PriorLike, x: tf.Tensor, num_samples: int,
          ciwae_beta: Union[float, tf.Tensor],
          beta: Union[float, tf.Tensor] = 1.0,
          seed=None) -> objectives.ELBOTerms:
  """Terms for training on CIWAE(beta) = beta ELBO + (1 - beta) IWAE_K.

  Args:
    encoder, decoder, prior: The model, as in `objectives.elbo`.
    x: A batch of data, [batch, ...].
    num_samples: K, the draws shared by both bounds.
    ciwae_beta: The ELBO's weight, in [0, 1]: 1 is the ELBO, 0 IWAE_K.
    beta: The weight of log p(z) - log q(z|x) in each log-weight.
    seed: A stateless seed [2] for the draws.

  Returns:
    `objectives.ELBOTerms`; `loss` is -CIWAE.
  """
  posterior, prior, _, weights = _weights(encoder, decoder, prior, x,
                                          num_samples, beta, seed)
  log_w = weights.log_weights
  weight = tf.cast(ciwae_beta, log_w.dtype)
  bound = (weight * tf.reduce_mean(log_w, axis=0)
           + (1 - weight) * objectives.log_mean_exp(log_w))
  return _terms(posterior, prior, weights, -bound)


def piwae(encoder: objectives.Encoder, decoder: objectives.Decoder,
          prior: priors.PriorLike, x: tf.Tensor, num_groups: int,
          num_samples: int, beta: Union[float, tf.Tensor] = 1.0,
          seed=None) -> objectives.ELBOTerms:
  """Terms for PIWAE(M, K): the encoder's gradient MIWAE(M, K)'s, the
  decoder's and prior's IWAE_{MK}'s, from the same M K draws.

  q(z|x) is held by its distribution parameters (`objectives._held`), so a
  posterior whose density reads network weights (a flow, a hierarchy) cannot
  be used; the configuration refuses them (trait `holds_posterior`).

  Args:
    encoder, decoder, prior: The model, as in `objectives.elbo`.
    x: A batch of data, [batch, ...].
    num_groups: M.
    num_samples: K.
    beta: The weight of log p(z) - log q(z|x) in each log-weight.
    seed: A stateless seed [2] for the draws.

  Returns:
    `objectives.ELBOTerms`; `loss` is -IWAE_{MK} in value.
  """
  posterior, prior, z, weights = _weights(
      encoder, decoder, prior, x, num_groups * num_samples, beta, seed)
  held = objectives.importance_weights(
      objectives._held(posterior),  # pylint: disable=protected-access
      decoder, prior, x, tf.stop_gradient(z), beta=beta).log_weights
  inference = grouped_bound(weights.log_weights, num_groups)
  generative = objectives.log_mean_exp(held)
  bound = generative + inference - grouped_bound(held, num_groups)
  return _terms(posterior, prior, weights, -bound)


# The registry lines: each factory takes (objective config, model, beta,
# temperature) as `objectives.OBJECTIVES`' do.
def _grouped_factory(objective):
  """The registry factory of MIWAE or PIWAE: M groups of K draws."""
  return lambda c, m, beta, temperature: (
      lambda x, seed=None: objective(m.encoder, m.decoder, m.prior, x,
                                     c.importance_groups,
                                     c.num_importance_samples, beta=beta,
                                     seed=seed))


_FIELDS = ('beta', 'kl_warmup_steps', 'num_importance_samples')
objectives.OBJECTIVES.register(
    'miwae', _grouped_factory(miwae),
    'the mean of --importance_groups IWAE bounds of '
    '--num_importance_samples draws (Rainforth et al. 2018)',
    fields=_FIELDS + ('importance_groups',), importance_weighted=True)
objectives.OBJECTIVES.register(
    'ciwae', lambda c, m, beta, temperature: (
        lambda x, seed=None: ciwae(m.encoder, m.decoder, m.prior, x,
                                   c.num_importance_samples, c.ciwae_beta,
                                   beta=beta, seed=seed)),
    '--ciwae_beta times the ELBO plus the rest times the IWAE bound, on the '
    'same draws (Rainforth et al. 2018)',
    fields=_FIELDS + ('ciwae_beta',), importance_weighted=True)
objectives.OBJECTIVES.register(
    'piwae', _grouped_factory(piwae),
    'the encoder on MIWAE, the decoder and prior on the IWAE bound of all '
    'the draws (Rainforth et al. 2018)',
    fields=_FIELDS + ('importance_groups',), importance_weighted=True,
    holds_posterior=True)
