"""Priors p(z) over the latent code."""

from typing import Callable, Optional, Union

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# A prior is a distribution, or a callable (such as an `snt.Module` holding
# learnable parameters) that returns one when called with no arguments.
PriorLike = Union[tfd.Distribution, Callable[[], tfd.Distribution]]


def as_distribution(prior: PriorLike) -> tfd.Distribution:
  """Returns `prior` itself if it is a distribution, else the one it builds."""
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
