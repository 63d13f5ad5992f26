"""Hyperspherical latents (Davidson et al. 2018): q(z|x) a von Mises-Fisher
distribution on the unit sphere S^{m-1} in R^m, p(z) the uniform one.

q(z|x) = C_m(kappa) exp(kappa mu.z), with mean direction mu and
concentration kappa from the encoder. Its KL to the uniform prior is TFP's
closed form (Davidson et al., equation 4):

  KL = kappa A_m(kappa) + log C_m(kappa) + log |S^{m-1}|,
  A_m = I_{m/2} / I_{m/2-1},  C_m = kappa^{m/2-1} / ((2 pi)^{m/2} I_{m/2-1}),

|S^{m-1}| = 2 pi^{m/2} / Gamma(m/2) the sphere's area.

A draw is z = H(mu) [w, sqrt(1 - w^2) v]: w = mu.z, the cosine to the
mean direction, from its marginal p(w) ~ exp(kappa w) (1 - w^2)^{(m-3)/2}
on [-1, 1]; v uniform on S^{m-2}; and H(mu) the Householder reflection of
the first axis onto mu. TFP draws w by Wood's rejection sampler and
reparameterises only mu (kappa too for m = 3). Here w's gradient in kappa
is the implicit one (Figurnov et al. 2018): with F(w; kappa) its CDF,

  dw/dkappa = -(dF/dkappa) / p(w)
            = -int_{-1}^{w} (t - A_m(kappa)) p(t) dt / p(w),

the integral over s = w - t by Gauss-Legendre quadrature on
[0, min(1 + w, 40 / kappa)]: p(t) / p(w) = exp(-kappa s) times a ratio
of powers of (1 - t^2), and beyond s = 40 / kappa the exponential has
fallen by e^-40. So every draw is reparameterised in both parameters, for
any m; Davidson et al. reach the same expected gradient through a
correction term of the rejection sampler.
"""

from typing import Optional

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import latents

tfd = tfp.distributions

# Gauss-Legendre nodes and weights on [0, 1], and how far (in units of
# 1 / kappa) the cosine's integral runs below a draw.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)
_REACH = 40.0
_NODES, _WEIGHTS = (_NODES + 1.0) / 2.0, _WEIGHTS / 2.0


def cosine_gradient(w: tf.Tensor, concentration: tf.Tensor,
                    dimension: int) -> tf.Tensor:
  """dw/dkappa of draws w = mu.z of vMF(mu, kappa) on S^{dimension-1}, at
  fixed CDF value (the implicit reparameterisation gradient).

  Args:
    w: Draws of the cosine, any shape.
    concentration: kappa, broadcasting against w.
    dimension: m, the dimensions of z (at least 3).
  """
  w64 = tf.cast(w, tf.float64)
  kappa = tf.cast(concentration, tf.float64)
  nu = (dimension - 3) / 2.0
  mean_cosine = tfp.math.bessel_iv_ratio(
      tf.constant(dimension / 2.0, tf.float64), kappa)
  # s = w - t in [0, extent].
  extent = tf.minimum(1.0 + w64, _REACH / kappa)
  s = extent[..., None] * _NODES
  t = w64[..., None] - s
  ratio = (tf.maximum(1.0 - tf.square(t), 0.0)
           / tf.maximum(1.0 - tf.square(w64), 1e-300)[..., None])
  integrand = ((t - mean_cosine[..., None]) * tf.pow(ratio, nu)
               * tf.exp(-kappa[..., None] * s))
  integral = extent * tf.reduce_sum(integrand * _WEIGHTS, axis=-1)
  return tf.cast(-integral, w.dtype)


def _reparameterized_cosine(w: tf.Tensor, concentration: tf.Tensor,
                            dimension: int) -> tf.Tensor:
  """w itself, with the implicit gradient `cosine_gradient` in kappa."""

  @tf.custom_gradient
  def identity(w, concentration):

    def grad(upstream):
      slope = cosine_gradient(w, concentration, dimension)
      # kappa may broadcast against w (n draws per example): sum them back.
      total = upstream * slope
      extra = total.shape.rank - concentration.shape.rank
      total = tf.reduce_sum(total, axis=list(range(extra)))
      return tf.zeros_like(w), total

    return tf.identity(w), grad

  return identity(tf.stop_gradient(w), concentration)


def _reflect(z: tf.Tensor, mean_direction: tf.Tensor) -> tf.Tensor:
  """z with the first axis reflected onto `mean_direction` (a Householder
  reflection; the identity when they are equal)."""
  first = tf.one_hot(0, mean_direction.shape[-1], dtype=z.dtype)
  u = tf.math.l2_normalize(first - mean_direction, axis=-1)
  return z - 2.0 * tf.reduce_sum(z * u, axis=-1, keepdims=True) * u


class VonMisesFisher(tfd.VonMisesFisher):
  """TFP's `VonMisesFisher`, its draws reparameterised in both parameters
  for any dimension (see the module's docstring), with a `stddev`.

  Args:
    mean_direction: mu, unit vectors [..., m], m at least 3.
    concentration: kappa >= 0, [...].
    validate_args: As `tfd.VonMisesFisher`'s.
    allow_nan_stats: As `tfd.VonMisesFisher`'s.
  """

  @property
  def reparameterization_type(self):
    return tfd.FULLY_REPARAMETERIZED

  def _sample_n(self, n, seed=None):
    mean_direction = tf.convert_to_tensor(self.mean_direction)
    concentration = tf.convert_to_tensor(self.concentration)
    dimension = int(mean_direction.shape[-1])
    first = tf.broadcast_to(tf.one_hot(0, dimension, dtype=self.dtype),
                            tf.shape(mean_direction))
    base = tfd.VonMisesFisher(first, tf.stop_gradient(concentration)).sample(
        n, seed=seed)
    w = _reparameterized_cosine(base[..., 0], concentration, dimension)
    v = tf.math.l2_normalize(base[..., 1:], axis=-1)
    around_first = tf.concat(
        [w[..., None], tf.sqrt(tf.maximum(1.0 - tf.square(w), 0.0))[..., None]
         * v], axis=-1)
    return _reflect(around_first, mean_direction)

  def _stddev(self):
    return tf.sqrt(tf.linalg.diag_part(self.covariance()))


class VonMisesFisherPosterior(snt.Module):
  """q(z|x) = vMF(mu(x), kappa(x)) on the unit sphere of R^latent_size.

  mu is a linear map of the features normalised to length 1, and kappa
  = softplus(a linear map) + 1, as Davidson et al. shift it, so no
  posterior is near-uniform at the start.

  Args:
    latent_size: m, the dimensions of z (at least 3).
    name: The module's name.
  """

  def __init__(self, latent_size: int, name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 3:
      raise ValueError(f'latent_size must be at least 3 for a von '
                       f'Mises-Fisher latent, got {latent_size}')
    self.latent_size = latent_size
    self._direction = snt.Linear(latent_size, name='direction')
    self._concentration = snt.Linear(1, name='concentration')

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    direction = tf.math.l2_normalize(self._direction(features), axis=-1)
    concentration = tf.nn.softplus(self._concentration(features)[..., 0]) + 1
    return VonMisesFisher(direction, concentration)


class SphericalUniformPrior(snt.Module):
  """p(z) uniform on the unit sphere of R^latent_size.

  Args:
    latent_size: m, the dimensions of z.
    dtype: The distribution's dtype.
    name: The module's name.
  """

  def __init__(self, latent_size: int, dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.latent_size = latent_size
    self._dtype = dtype

  def __call__(self) -> tfd.Distribution:
    return tfd.SphericalUniform(self.latent_size, dtype=self._dtype)


def great_circle_codes(latent_size: int, circles: int, steps: int
                       ) -> np.ndarray:
  """Codes around great circles of the sphere: circle d runs through the
  axes d and d + 1 (mod latent_size), z = cos(theta) e_d + sin(theta)
  e_{d+1} at `steps` angles theta from 0 to 2 pi.

  Args:
    latent_size: m, the dimensions of z.
    circles: How many circles (at most m).
    steps: Angles per circle.

  Returns:
    [circles * steps, m] unit vectors, circle by circle.
  """
  angles = 2 * np.pi * np.arange(steps) / steps
  codes = np.zeros((circles, steps, latent_size), np.float32)
  for d in range(circles):
    codes[d, :, d] = np.cos(angles)
    codes[d, :, (d + 1) % latent_size] = np.sin(angles)
  return codes.reshape(circles * steps, latent_size)


latents.LATENTS.register(
    'von_mises_fisher',
    lambda c, parts: VonMisesFisherPosterior(c.latent_size,
                                             name='posterior'),
    'a unit vector of --latent_size dimensions (at least 3): q(z|x) von '
    'Mises-Fisher, p(z) uniform on the sphere (Davidson et al. 2018)',
    fields=('latent_size',),
    prior=lambda c, parts: SphericalUniformPrior(c.latent_size,
                                                 name='prior'),
    dims=lambda c: c.latent_size, sphere=True,
    refuse=lambda c: (('latent_size',), 'a von Mises-Fisher latent needs a '
                      'sphere S^{m-1} of m >= 3 dimensions here (its '
                      'implicit gradient): pass --latent_size of at least '
                      '3.') if c.latent_size < 3 else None)
