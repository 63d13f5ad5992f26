"""Tests for vae/spherical.py."""

import os

from absl.testing import parameterized
import numpy as np
from scipy import integrate
from scipy import optimize
from scipy import special
import tensorflow as tf
import tensorflow_probability as tfp

from vae import config as config_lib
from vae import evaluation
from vae import export
from vae import spherical
from vae.run import build
from vae.run import figures

tfd = tfp.distributions


def _cosine_density(m, kappa):
  """The unnormalised density of w = mu.z on [-1, 1]."""
  return lambda w: np.exp(kappa * (w - 1)) * (1 - w * w) ** ((m - 3) / 2)


def _cosine_quantile(u, m, kappa):
  """w with CDF value u, by quadrature and root finding."""
  density = _cosine_density(m, kappa)
  total = integrate.quad(density, -1, 1, epsabs=0, epsrel=1e-12)[0]
  cdf = lambda w: integrate.quad(density, -1, w, epsabs=0,
                                 epsrel=1e-12)[0] / total - u
  return optimize.brentq(cdf, -1 + 1e-12, 1 - 1e-12, xtol=1e-14)


def _mean_cosine(m, kappa):
  """A_m(kappa) = I_{m/2} / I_{m/2-1}, from scipy's scaled Bessel
  functions."""
  return special.ive(m / 2, kappa) / special.ive(m / 2 - 1, kappa)


def _log_area(n):
  """log |S^{n-1}|, the area of the unit sphere in R^n."""
  return np.log(2) + n / 2 * np.log(np.pi) - special.gammaln(n / 2)


def _kl_by_integration(m, kappa):
  """KL(vMF || uniform) = E[log q(z)] + log |S^{m-1}|, with q's normaliser
  and E[w] integrated over the cosine: the sphere's slices at w have area
  |S^{m-2}| (1 - w^2)^{(m-2)/2} and thickness dw / sqrt(1 - w^2)."""
  density = _cosine_density(m, kappa)  # exp(kappa (w - 1)) (...)
  z = integrate.quad(density, -1, 1, epsabs=0, epsrel=1e-12)[0]
  mean_w = integrate.quad(lambda w: w * density(w), -1, 1, epsabs=0,
                          epsrel=1e-12)[0] / z
  # log q(w) = kappa w - log(|S^{m-2}| e^kappa z).
  log_normaliser = _log_area(m - 1) + kappa + np.log(z)
  return kappa * mean_w - log_normaliser + _log_area(m)


class CosineGradientTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(m=(3, 5, 10), kappa=(1.5, 10.0, 80.0))
  def test_matches_finite_differences_of_the_quantile(self, m, kappa):
    u = np.array([0.1, 0.5, 0.9])
    w = np.array([_cosine_quantile(p, m, kappa) for p in u])
    h = 1e-4 * kappa
    expected = np.array([(_cosine_quantile(p, m, kappa + h)
                          - _cosine_quantile(p, m, kappa - h)) / (2 * h)
                         for p in u])
    got = spherical.cosine_gradient(tf.constant(w),
                                    tf.constant(np.full(3, kappa)), m)
    self.assertAllClose(got, expected, rtol=1e-4, atol=1e-9)


class VonMisesFisherTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(m=(3, 5, 10), kappa=(0.5, 5.0, 50.0))
  def test_kl_to_the_uniform_prior_against_integration(self, m, kappa):
    q = spherical.VonMisesFisher(
        tf.math.l2_normalize(tf.range(1.0, m + 1.0, dtype=tf.float64)),
        tf.constant(kappa, tf.float64))
    self.assertAllClose(
        tfd.kl_divergence(
            q, spherical.SphericalUniformPrior(m, tf.float64)()),
        _kl_by_integration(m, kappa), rtol=1e-8)

  def _draws(self, m, kappa, n, seed):
    """n draws of one vMF, its kappa a vector of n equal entries (so a
    draw's gradient is its own entry's)."""
    theta = tf.Variable(np.linspace(0.3, 1.2, m))
    kappas = tf.Variable(np.full(n, kappa))
    with tf.GradientTape() as tape:
      direction = tf.math.l2_normalize(theta)
      q = spherical.VonMisesFisher(
          tf.broadcast_to(direction, [n, m]), kappas)
      z = q.sample(seed=seed)
      a = tf.constant(np.linspace(-1.0, 2.0, m))
      values = tf.reduce_sum(z * a, axis=-1)
      mean = tf.reduce_mean(values)
    return z, values, tape.gradient(mean, [theta, kappas]), direction, a

  def test_draws_have_the_distribution_and_its_gradients(self):
    m, kappa, n = 5, 4.0, 100000
    z, values, (d_theta, d_kappa), direction, a = self._draws(
        m, kappa, n, seed=tf.constant([1, 2]))
    self.assertAllClose(tf.norm(z, axis=-1), np.ones(n), atol=1e-12)
    # E[z] = A_m(kappa) mu.
    mean_z = tf.reduce_mean(z, axis=0).numpy()
    error = tf.math.reduce_std(z, axis=0).numpy() / np.sqrt(n)
    expected = _mean_cosine(m, kappa) * direction.numpy()
    self.assertTrue(np.all(np.abs(mean_z - expected) < 4 * error))
    # d/dkappa E[a.z] = A_m'(kappa) mu.a, draw by draw summed over n.
    h = 1e-5
    slope = (_mean_cosine(m, kappa + h) - _mean_cosine(m, kappa - h)) / (
        2 * h) * float(np.dot(direction.numpy(), a.numpy()))
    per_draw = d_kappa.numpy() * n  # Each draw's gradient of its value.
    self.assertLess(abs(per_draw.mean() - slope),
                    4 * per_draw.std() / np.sqrt(n))
    self.assertGreater(abs(slope), 10 * per_draw.std() / np.sqrt(n))
    # d/dtheta E[a.z] = A_m(kappa) d/dtheta (normalize(theta).a).
    theta = tf.Variable(np.linspace(0.3, 1.2, m))
    with tf.GradientTape() as tape:
      exact = _mean_cosine(m, kappa) * tf.reduce_sum(
          tf.math.l2_normalize(theta) * a)
    self.assertAllClose(d_theta, tape.gradient(exact, theta), atol=0.01)

  def test_replica_rows_repeat_the_draws(self):
    # distribute.sample repeats the rows of its parameters: the subclass
    # survives TFP's copy.
    q = spherical.VonMisesFisher(tf.math.l2_normalize(tf.ones([2, 4])),
                                 tf.constant([2.0, 3.0]))
    self.assertIsInstance(q.copy(concentration=tf.constant([1.0, 1.0])),
                          spherical.VonMisesFisher)


class LatentTest(tf.test.TestCase):

  def test_builds_and_trains_its_parts(self):
    config = config_lib.make(latent='von_mises_fisher', latent_size=4,
                             hidden_sizes=[8], beta=1.0)
    model = build.build(config.model, (4, 4, 1), seed=0)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(6, 4, 4, 1)), tf.float32)
    with tf.GradientTape() as tape:
      terms = build.objective(config.objective, model, tf.Variable(1.0))(
          x, tf.constant([1, 2]))
      loss = tf.reduce_mean(terms.loss)
    gradients = tape.gradient(loss, model.trainable_variables)
    self.assertNotIn(None, gradients)
    posterior = model.encoder(x)
    self.assertAllClose(terms.rate, tfd.kl_divergence(
        posterior, model.prior_distribution()))

  def test_great_circles_are_drawn_on_the_sphere(self):
    codes = spherical.great_circle_codes(5, 3, 8).reshape(3, 8, 5)
    self.assertAllClose(np.linalg.norm(codes, axis=-1), np.ones((3, 8)))
    self.assertAllClose(codes[1, 2], [0, 0, 1, 0, 0], atol=1e-7)  # 90°.
    config = config_lib.make(latent='von_mises_fisher', latent_size=4,
                             hidden_sizes=[8])
    model = build.build(config.model, (4, 4, 1), seed=0)
    functions = export.ModelFunctions(model, (4, 4, 1))
    x = np.random.default_rng(0).integers(0, 2, (6, 4, 4, 1)).astype(
        np.float32)
    folder = self.create_tempdir().full_path
    written = figures._latent_figures(
        functions, evaluation.evaluate(functions, [x]), x, folder, config)
    names = [os.path.basename(p) for p in written]
    self.assertIn('great_circles.png', names)
    self.assertNotIn('latent_traversal.png', names)  # Gaussian codes only.

  def test_a_circle_is_refused(self):
    with self.assertRaisesRegex(ValueError, 'latent_size of at least 3'):
      config_lib.make(latent='von_mises_fisher', latent_size=2)


if __name__ == '__main__':
  tf.test.main()
