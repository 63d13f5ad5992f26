"""Tests for vae/priors.py."""

import numpy as np
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from vae import priors

tfd = tfp.distributions


class PriorsTest(tf.test.TestCase):

  def test_standard_normal_shapes_and_log_prob(self):
    p = priors.StandardNormal(4)()
    self.assertEqual(p.event_shape, [4])
    self.assertEqual(p.batch_shape, [])
    z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    self.assertAllClose(
        p.log_prob(z),
        scipy.stats.multivariate_normal(np.zeros(4), np.eye(4)).logpdf(z),
        rtol=1e-5)

  def test_as_distribution(self):
    d = tfd.Normal(0., 1.)
    self.assertIs(priors.as_distribution(d), d)
    self.assertEqual(
        priors.as_distribution(priors.StandardNormal(2)).event_shape, [2])
    with self.assertRaisesRegex(TypeError, 'got int'):
      priors.as_distribution(3)
    with self.assertRaisesRegex(TypeError, 'must return a tfd.Distribution'):
      priors.as_distribution(lambda: 3)

  def test_bad_latent_size(self):
    with self.assertRaisesRegex(ValueError, 'latent_size must be positive, '
                                'got -1'):
      priors.StandardNormal(-1)


if __name__ == '__main__':
  tf.test.main()
