"""Priors p(z) over the latent code.

- `StandardNormal`: N(0, I), the KL against a Gaussian posterior is analytic.
- `MixtureOfGaussians`: a learnable mixture of diagonal Gaussians, as in
  TFP's `examples/vae.py`; no analytic KL, so the ELBO estimates it by
  Monte Carlo (`kl_samples`).
- `VampPrior`: the mixture of the posteriors of learnable pseudo-inputs,
  p(z) = (1/K) sum_k q(z|u_k) (Tomczak and Welling 2018, eq. 9).

The two mixtures are `DiagonalGaussianMixture`s: TFP's `MixtureSameFamily`,
whose `log_prob` on draws z [samples, batch, D] is matmuls.
"""

from typing import Callable, Optional, Sequence, Union

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import registry

tfd = tfp.distributions

# A prior is a distribution, or a callable (such as an `snt.Module` holding
# learnable parameters) that returns one when called with no arguments.
PriorLike = Union[tfd.Distribution, Callable[[], tfd.Distribution]]


def as_distribution(prior: PriorLike) -> tfd.Distribution:
  """Returns `prior` itself if it is a distribution, else the one it builds.

  Args:
    prior: A `tfd.Distribution` or a callable returning one.
  """
  if isinstance(prior, tfd.Distribution):
    return prior
  if callable(prior):
    distribution = prior()
    if not isinstance(distribution, tfd.Distribution):
      raise TypeError(
          f'a prior callable must return a tfd.Distribution, got '
          f'{type(distribution).__name__}')
    return distribution
  raise TypeError(
      f'prior must be a tfd.Distribution or a callable returning one, got '
      f'{type(prior).__name__}')


class StandardNormal(snt.Module):
  """The isotropic Gaussian N(0, I) over a `latent_size`-vector.

  Calling the module returns `Independent(Normal(0, 1))` with
  `event_shape == [latent_size]`, so `log_prob` sums over the latent
  dimensions and gives one number per example.

  Args:
    latent_size: The dimensions of z.
    dtype: The distribution's dtype.
    name: The module's name.
  """

  def __init__(self,
               latent_size: int,
               dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    self.latent_size = latent_size
    self._dtype = dtype

  def __call__(self) -> tfd.Distribution:
    return tfd.Independent(
        tfd.Normal(loc=tf.zeros([self.latent_size], self._dtype),
                   scale=tf.ones([self.latent_size], self._dtype)),
        reinterpreted_batch_ndims=1)


def _is_diagonal_normal(components: tfd.Distribution) -> bool:
  """Whether `components` is `Independent(Normal)` over [K, D] parameters."""
  return (isinstance(components, tfd.Independent)
          and isinstance(components.distribution, tfd.Normal)
          and components.batch_shape.rank == 1
          and components.event_shape.rank == 1)


class DiagonalGaussianMixture(tfd.MixtureSameFamily):
  """`MixtureSameFamily` of diagonal Gaussians, its `log_prob` by matmuls.

  TFP's `log_prob` of z [..., D] builds every (z - mu_k) as a [..., K, D]
  tensor. For draws z [S, batch..., D] (draws first, as `sample` gives them)
  this writes, with c the mean of each batch member's draws and
  w_k = 1 / sigma_k^2,

    sum_d w_kd (z_d - mu_kd)^2 = (z - c)^2 . w_k - 2 (z - c) . w_k (mu_k - c)
                                 + (mu_k - c)^2 . w_k,

  exact algebra whatever c is: the first two terms are matmuls over D and
  the last one is [batch, K, D], not [S, batch, K, D]. Centring on the
  draws' mean keeps the terms as small as the spread of the draws, so
  float32 round-off stays that of TFP's form (`priors_test` compares
  them). `tool/mixture_log_prob_speed.py` times the two on the VampPrior's
  sizes (RESULTS.md quotes it). Any other input, or components that are
  not `Independent(Normal)` over [K, D], take TFP's `log_prob`.

  Args:
    mixture_distribution: The categorical over the K components.
    components_distribution: The components, diagonal Gaussians [K, D].
    reparameterize, validate_args, allow_nan_stats: As for
      `tfd.MixtureSameFamily`.
  """

  def _log_prob(self, x, **kwargs):
    components = self.components_distribution
    if (x.shape.rank is None or x.shape.rank < 3
        or not _is_diagonal_normal(components)):
      return super()._log_prob(x, **kwargs)
    draws = tf.reshape(x, [tf.shape(x)[0], -1, tf.shape(x)[-1]])  # [S, N, D]
    log_densities = _diagonal_normal_log_densities(
        draws, components.mean(), components.stddev())  # [S, N, K]
    log_weights = tf.math.log_softmax(
        self.mixture_distribution.logits_parameter())  # [K]
    log_prob = tf.reduce_logsumexp(log_weights + log_densities, axis=-1)
    return tf.reshape(log_prob, tf.shape(x)[:-1])


def _diagonal_normal_log_densities(draws: tf.Tensor, loc: tf.Tensor,
                                   scale: tf.Tensor) -> tf.Tensor:
  """log N(z; mu_k, diag(sigma_k^2)) [S, N, K] of draws [S, N, D], by matmuls.

  The expansion of `DiagonalGaussianMixture`, centred on each of the N
  batch members' mean draw.
  """
  centre = tf.stop_gradient(tf.reduce_mean(draws, axis=0))  # [N, D]
  precision = tf.math.reciprocal(tf.square(scale))  # [K, D]
  spread = draws - centre  # [S, N, D]
  offset = loc - centre[:, None, :]  # [N, K, D]
  quadratic = (
      tf.einsum('snd,kd->snk', tf.square(spread), precision)
      - 2.0 * tf.einsum('snd,nkd->snk', spread, offset * precision)
      + tf.einsum('nkd,kd->nk', tf.square(offset), precision))
  log_normaliser = (
      -0.5 * tf.cast(tf.shape(loc)[-1], draws.dtype) * np.log(2.0 * np.pi)
      - tf.reduce_sum(tf.math.log(scale), axis=-1))  # [K]
  return log_normaliser - 0.5 * quadratic


def _normal(shape, seed: Optional[int], stream: int) -> tf.Tensor:
  """N(0, 1) draws: stateless from (seed, stream), else from the global seed."""
  if seed is None:
    return tf.random.normal(shape)
  return tf.random.stateless_normal(shape, seed=[seed, stream])


class MixtureOfGaussians(snt.Module):
  """A learnable mixture of `num_components` diagonal Gaussians over z.

  p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2)), with pi = softmax(logits),
  sigma = softplus(raw) + `min_scale` (starting at 1) and the means drawn
  from N(0, I) so the components start apart. The mixture weights start
  equal. With one component this is a learnable Gaussian.

  Args:
    latent_size: The dimensions of z.
    num_components: The mixture's components.
    min_scale: The floor of each component's scale.
    seed: The seed of the components' initial means.
    name: The module's name.
  """

  takes_condition = True  # `vae/conditional.py` gives it the labels.

  def __init__(self,
               latent_size: int,
               num_components: int,
               min_scale: float = 1e-4,
               seed: Optional[int] = None,
               name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    if num_components < 1:
      raise ValueError(
          f'num_components must be positive, got {num_components}')
    self.latent_size = latent_size
    self.num_components = num_components
    self._min_scale = min_scale
    self.locs = tf.Variable(
        _normal([num_components, latent_size], seed, 1), name='locs')
    self.raw_scales = tf.Variable(
        tf.fill([num_components, latent_size], float(np.log(np.expm1(1.0)))),
        name='raw_scales')
    self.logits = tf.Variable(tf.zeros([num_components]), name='logits')
    self.class_logits = None  # [C, K], for class-conditional models.

  def __call__(self, condition: Optional[tf.Tensor] = None
               ) -> tfd.Distribution:
    """p(z), or p(z|c) given one-hot labels c [batch, C]: the mixture of
    the same components with weights of each class's own,
    softmax(logits + L_c), L [C, K] learnt from 0 (made on the first such
    call)."""
    logits = self.logits
    if condition is not None:
      if self.class_logits is None:
        self.class_logits = tf.Variable(
            tf.zeros([condition.shape[-1], self.num_components]),
            name='class_logits')
      logits = logits + tf.matmul(
          tf.cast(condition, self.class_logits.dtype),
          self.class_logits)  # [batch, K]
    return DiagonalGaussianMixture(
        mixture_distribution=tfd.Categorical(logits=logits),
        components_distribution=tfd.Independent(
            tfd.Normal(loc=self.locs,
                       scale=tf.nn.softplus(self.raw_scales)
                       + self._min_scale),
            reinterpreted_batch_ndims=1))


class VampPrior(snt.Module):
  """The VampPrior (Tomczak and Welling 2018): p(z) = (1/K) sum_k q(z|u_k).

  The K pseudo-inputs u_k are learnable images of `image_shape`, pushed
  through the model's own `encoder`, so the prior moves with the posterior
  and the encoder's weights are shared, not copied. They are kept in [0, 1]
  by a hard tanh, as in the paper (section 3.2, `hardtanh`), and start as
  draws from N(0.5, 0.1^2) (they initialise with noise around the data's
  middle rather than with training images).

  Args:
    encoder: The model's encoder, whose posteriors of the pseudo-inputs
      are the components.
    num_pseudo_inputs: The number of pseudo-inputs K.
    image_shape: Their shape, the images'.
    seed: The seed of their initial values.
    name: The module's name.

  Raises:
    ValueError: for an encoder that is not callable, or K below 1.
  """

  takes_condition = True  # `vae/conditional.py` gives it the labels.

  def __init__(self,
               encoder: Callable[[tf.Tensor], tfd.Distribution],
               num_pseudo_inputs: int,
               image_shape: Sequence[int],
               seed: Optional[int] = None,
               name: Optional[str] = None):
    super().__init__(name=name)
    if not callable(encoder):
      raise ValueError(
          f'encoder={encoder!r}: the VampPrior mixes the posteriors its '
          'encoder gives the pseudo-inputs; pass the model\'s encoder (from '
          'a configuration, build.build passes it).')
    if num_pseudo_inputs < 1:
      raise ValueError(
          f'num_pseudo_inputs must be positive, got {num_pseudo_inputs}')
    self.encoder = encoder
    self.num_pseudo_inputs = num_pseudo_inputs
    shape = [num_pseudo_inputs, *image_shape]
    self.pseudo_inputs = tf.Variable(0.5 + 0.1 * _normal(shape, seed, 2),
                                     name='pseudo_inputs')

  def __call__(self, condition: Optional[tf.Tensor] = None
               ) -> tfd.Distribution:
    """p(z), or p(z|c) given one-hot labels c [batch, C]: pseudo-input k
    belongs to class k mod C and is encoded with that label, and p(z|c) is
    the mean of q(z|u_k, c) over the pseudo-inputs of class c.

    Raises:
      ValueError: given C classes and fewer pseudo-inputs.
    """
    u = tf.clip_by_value(self.pseudo_inputs, 0.0, 1.0)  # hardtanh to [0, 1].
    if condition is None:
      return DiagonalGaussianMixture(
          mixture_distribution=tfd.Categorical(
              logits=tf.zeros([self.num_pseudo_inputs])),
          components_distribution=self.encoder(u))
    num_classes = condition.shape[-1]
    if self.num_pseudo_inputs < num_classes:
      raise ValueError(
          f'a class-conditional VampPrior needs a pseudo-input per class: '
          f'{num_classes} classes, {self.num_pseudo_inputs} pseudo-inputs; '
          f'pass --prior_components={num_classes} or more')
    owners = tf.one_hot(tf.range(self.num_pseudo_inputs) % num_classes,
                        num_classes, dtype=u.dtype)  # [K, C]
    # Each example's weights: 1 on its class's pseudo-inputs, 0 elsewhere.
    mine = tf.matmul(tf.cast(condition, u.dtype), owners, transpose_b=True)
    return DiagonalGaussianMixture(
        mixture_distribution=tfd.Categorical(logits=tf.math.log(mine)),
        components_distribution=self.encoder(u, condition=owners))


# The priors of a Gaussian latent, by name (see `vae/registry.py`).
PRIORS = registry.Registry('prior')
PRIORS.register('normal', lambda c, parts: StandardNormal(
    c.latent_size, name='prior'), 'N(0, I)', fields=('latent_size',))
PRIORS.register('mixture', lambda c, parts: MixtureOfGaussians(
    c.latent_size, c.prior_components, seed=parts.seed, name='prior'),
                'a learnable mixture of --prior_components Gaussians '
                '(Monte Carlo KL)', fields=('latent_size', 'prior_components'),
                analytic_kl=False)
PRIORS.register('vamp', lambda c, parts: VampPrior(
    parts.encoder, c.prior_components, parts.image_shape, seed=parts.seed,
    name='prior'),
                'the VampPrior with --prior_components pseudo-inputs (Monte '
                'Carlo KL)', fields=('prior_components',), analytic_kl=False)
