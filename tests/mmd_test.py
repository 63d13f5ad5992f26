"""Tests for vae/mmd.py."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import mmd

tfd = tfp.distributions


def _kernel_numpy(x, y, name, bandwidth, scales):
  """k(x_i, y_j), pair by pair."""
  c = 2.0 * x.shape[1] * bandwidth**2
  out = np.zeros((len(x), len(y)))
  for i, a in enumerate(x):
    for j, b in enumerate(y):
      d2 = float(np.sum((a - b) ** 2))
      out[i, j] = sum(s * c / (s * c + d2) if name == 'imq'
                      else np.exp(-d2 / (s * c)) for s in scales)
  return out


def _mmd_numpy(z, w, name, bandwidth, scales):
  """Gretton et al.'s MMD^2_u with the WAE's cross term over all pairs."""
  n = len(z)
  kzz = _kernel_numpy(z, z, name, bandwidth, scales)
  kww = _kernel_numpy(w, w, name, bandwidth, scales)
  kzw = _kernel_numpy(z, w, name, bandwidth, scales)
  off = lambda k: k.sum() - np.trace(k)
  return (off(kzz) + off(kww)) / (n * (n - 1)) - 2 * kzw.sum() / n**2


def _rbf_mmd_of_gaussians(d, s1, s2, shift, c):
  """MMD^2 between N(0, s1^2 I) and N(shift, s2^2 I) under
  k = exp(-||x - y||^2 / c): for u = x - y ~ N(m, v I) in d dimensions,
  E exp(-||u||^2 / c) = (1 + 2 v / c)^(-d/2) exp(-||m||^2 / (c + 2 v))."""
  expect = lambda v, m2: (1 + 2 * v / c) ** (-d / 2) * np.exp(-m2 / (c + 2 * v))
  m2 = float(np.sum(np.square(shift)))
  return (expect(2 * s1**2, 0.0) + expect(2 * s2**2, 0.0)
          - 2 * expect(s1**2 + s2**2, m2))


class MMDTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters(
      ('imq', 1.0, (1.0,)), ('rbf', 1.0, (1.0,)),
      ('imq', 0.7, (0.1, 1.0, 10.0)), ('rbf', 2.0, (0.5, 2.0)))
  def test_matches_the_formula(self, name, bandwidth, scales):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 3))
    w = rng.normal(size=(6, 3)) * 1.3 + 0.2
    self.assertAllClose(
        mmd.kernel(tf.constant(z), tf.constant(w), name, bandwidth, scales),
        _kernel_numpy(z, w, name, bandwidth, scales), rtol=1e-12)
    self.assertAllClose(
        mmd.mmd_squared(tf.constant(z), tf.constant(w), name, bandwidth,
                        scales),
        _mmd_numpy(z, w, name, bandwidth, scales), rtol=1e-12)

  def test_unbiased_for_the_closed_form_of_two_gaussians(self):
    # Small batches, where the biased estimate (the diagonals kept) is far
    # off: its mean is the closed form plus 2 (1 - E k) / n.
    d, n, batches, s1, s2 = 2, 4, 20000, 1.0, 1.5
    shift = np.array([0.5, 0.0])
    rng = np.random.default_rng(1)
    z = rng.normal(size=(batches, n, d)) * s1
    w = rng.normal(size=(batches, n, d)) * s2 + shift
    estimates = tf.vectorized_map(
        lambda pair: mmd.mmd_squared(pair[0], pair[1], 'rbf', 1.0),
        (tf.constant(z), tf.constant(w))).numpy()
    expected = _rbf_mmd_of_gaussians(d, s1, s2, shift, c=2.0 * d)
    error = estimates.std() / np.sqrt(batches)
    self.assertGreater(expected, 10 * error)  # A difference it can see.
    self.assertLess(abs(estimates.mean() - expected), 4 * error)

  def test_zero_in_mean_for_the_same_distribution(self):
    rng = np.random.default_rng(2)
    z, w = rng.normal(size=(2, 20000, 5, 3))
    estimates = tf.vectorized_map(
        lambda pair: mmd.mmd_squared(pair[0], pair[1], 'imq', 1.0,
                                     (0.2, 1.0, 5.0)),
        (tf.constant(z), tf.constant(w))).numpy()
    self.assertLess(abs(estimates.mean()),
                    4 * estimates.std() / np.sqrt(len(estimates)))
    self.assertLess(estimates.min(), 0)  # Unbiased: single batches dip.

  def test_batch_penalty_draws_from_the_prior(self):
    prior = tfd.MultivariateNormalDiag(tf.zeros(3, tf.float64),
                                       tf.ones(3, tf.float64))
    z = tf.constant(np.random.default_rng(3).normal(size=(5, 3)))
    seed = tf.constant([4, 5])
    draws = prior.sample(5, seed=seed).numpy()
    self.assertAllClose(mmd.batch_penalty(z, prior, seed, 'imq'),
                        _mmd_numpy(z.numpy(), draws, 'imq', 1.0, (1.0,)),
                        rtol=1e-12)

  def test_bad_arguments_are_refused(self):
    z = tf.zeros([2, 2])
    with self.assertRaisesRegex(ValueError, 'kernel must be one of'):
      mmd.kernel(z, z, 'linear')
    with self.assertRaisesRegex(ValueError, 'must be positive'):
      mmd.kernel(z, z, 'imq', bandwidth=0.0)


if __name__ == '__main__':
  tf.test.main()
