"""Encoders: networks mapping an image x to the posterior q(z|x)."""

from typing import Callable, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors

COVARIANCES = ('diagonal', 'full_covariance')


class GaussianPosterior(snt.Module):
  """Maps features to a Gaussian over z, with diagonal or full covariance.

  `diagonal` gives `Independent(Normal(loc, scale))`: `event_shape` is
  `[latent_size]` and `log_prob` gives one number per example. The scale is
  `softplus(a + softplus^-1(1)) + min_scale`: it starts near 1, like the
  prior (as TFP's `examples/vae.py` does), and can never reach zero.

  `full_covariance` gives `MultivariateNormalTriL` whose Cholesky factor is
  built by `FillScaleTriL`, with the same softplus and floor on its diagonal.
  """

  def __init__(self,
               latent_size: int,
               covariance: str = 'diagonal',
               min_scale: float = 1e-4,
               name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    if covariance not in COVARIANCES:
      raise ValueError(
          f'covariance must be one of {COVARIANCES}, got {covariance!r}')
    if min_scale <= 0:
      raise ValueError(f'min_scale must be positive, got {min_scale}')
    self.latent_size = latent_size
    self.covariance = covariance
    self._min_scale = min_scale
    if covariance == 'diagonal':
      num_scale_params = latent_size
    else:
      num_scale_params = latent_size * (latent_size + 1) // 2
    self._params = snt.Linear(latent_size + num_scale_params, name='params')
    # softplus^-1(1) = log(e - 1): an all-zero pre-activation gives scale 1.
    self._scale_shift = float(np.log(np.expm1(1.0)))

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    params = self._params(features)
    loc = params[..., :self.latent_size]
    raw_scale = params[..., self.latent_size:]
    if self.covariance == 'diagonal':
      scale = tf.nn.softplus(raw_scale + self._scale_shift) + self._min_scale
      return tfd.Independent(tfd.Normal(loc=loc, scale=scale),
                             reinterpreted_batch_ndims=1)
    fill = tfb.FillScaleTriL(
        diag_bijector=tfb.Chain([tfb.Shift(self._min_scale), tfb.Softplus(),
                                 tfb.Shift(self._scale_shift)]),
        diag_shift=None)
    return tfd.MultivariateNormalTriL(loc=loc, scale_tril=fill(raw_scale))


class MLPEncoder(snt.Module):
  """Flattens x, runs an MLP and returns q(z|x) from a `GaussianPosterior`."""

  def __init__(self,
               hidden_sizes: Sequence[int],
               latent_size: int,
               covariance: str = 'diagonal',
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               min_scale: float = 1e-4,
               name: Optional[str] = None):
    super().__init__(name=name)
    hidden_sizes = list(hidden_sizes)
    if any(size < 1 for size in hidden_sizes):
      raise ValueError(f'hidden_sizes must be positive, got {hidden_sizes}')
    self._to_vector = snt.Flatten()
    self._torso = snt.nets.MLP(hidden_sizes, activation=activation,
                               activate_final=True, name='torso')
    self._head = GaussianPosterior(latent_size, covariance=covariance,
                                   min_scale=min_scale, name='posterior')

  @property
  def latent_size(self) -> int:
    return self._head.latent_size

  def __call__(self, x: tf.Tensor) -> tfd.Distribution:
    x = tf.convert_to_tensor(x)
    return self._head(self._torso(self._to_vector(x)))
