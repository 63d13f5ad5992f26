"""Tests for vae/priors.py."""

import numpy as np
import scipy.special
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


class _LinearEncoder(tf.Module):
  """q(z|x) = N(a * mean(x) + b, s^2) in 1-D: a stand-in encoder whose
  densities a test can write down by hand."""

  def __init__(self, a=2.0, b=-1.0, s=0.5):
    super().__init__()
    self.a, self.b, self.s = tf.Variable(a), tf.Variable(b), s

  def __call__(self, x):
    loc = self.a * tf.reduce_mean(x, axis=[1, 2, 3])[:, None] + self.b
    return tfd.Independent(tfd.Normal(loc, self.s), reinterpreted_batch_ndims=1)


class MixtureOfGaussiansTest(tf.test.TestCase):

  def test_density_integrates_to_one_in_1d(self):
    prior = priors.MixtureOfGaussians(1, num_components=4, seed=3)
    prior.raw_scales.assign(prior.raw_scales - 1.0)  # Narrower components.
    prior.logits.assign([0.5, -1.0, 2.0, 0.0])
    grid = np.linspace(-15, 15, 30001, dtype=np.float32)
    density = np.exp(prior().log_prob(grid[:, None]).numpy())
    # Trapezoid rule on a 0.001 step; the tails beyond +-15 hold < 1e-20.
    self.assertAllClose(np.trapezoid(density, grid), 1.0, atol=1e-5)

  def test_log_prob_matches_scipy(self):
    prior = priors.MixtureOfGaussians(2, num_components=3, seed=0)
    prior.logits.assign([0.0, 1.0, -1.0])
    z = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    weights = scipy.special.softmax([0.0, 1.0, -1.0])
    locs = prior.locs.numpy()
    scales = np.log1p(np.exp(prior.raw_scales.numpy())) + 1e-4
    expected = np.log(sum(
        w * np.prod(scipy.stats.norm.pdf(z, loc=m, scale=s), axis=-1)
        for w, m, s in zip(weights, locs, scales)))
    self.assertAllClose(prior().log_prob(z), expected, rtol=1e-5)

  def test_starts_with_unit_scales_and_distinct_means(self):
    prior = priors.MixtureOfGaussians(3, num_components=5, seed=0)
    components = prior().components_distribution
    self.assertAllClose(components.stddev(), np.full([5, 3], 1 + 1e-4))
    self.assertGreater(np.std(prior.locs.numpy(), axis=0).min(), 0.1)
    self.assertLen(prior.trainable_variables, 3)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, 'num_components must be '
                                'positive, got 0'):
      priors.MixtureOfGaussians(2, 0)


class VampPriorTest(tf.test.TestCase):

  def test_is_the_mean_of_the_pseudo_posteriors(self):
    encoder = _LinearEncoder()
    prior = priors.VampPrior(encoder, 3, (2, 2, 1), seed=0)
    u = np.clip(prior.pseudo_inputs.numpy(), 0, 1)
    locs = 2.0 * u.mean(axis=(1, 2, 3)) - 1.0
    z = np.linspace(-3, 3, 7, dtype=np.float32)[:, None]
    expected = np.log(np.mean(
        scipy.stats.norm.pdf(z, loc=locs[None, :], scale=0.5), axis=1))
    self.assertAllClose(prior().log_prob(z), expected, rtol=1e-5)

  def test_pseudo_inputs_and_encoder_receive_gradients(self):
    encoder = _LinearEncoder()
    prior = priors.VampPrior(encoder, 4, (3, 3, 1), seed=0)
    z = tf.constant([[0.3], [-0.7]])
    with tf.GradientTape() as tape:
      log_prob = tf.reduce_sum(prior().log_prob(z))
    grads = tape.gradient(log_prob, [prior.pseudo_inputs, encoder.a])
    self.assertIsNotNone(grads[0])
    # Every pseudo-input starts inside (0, 1), where the hard tanh passes
    # gradients, so each one gets a gradient.
    per_input = np.abs(grads[0].numpy()).sum(axis=(1, 2, 3))
    self.assertAllGreater(per_input, 0)
    self.assertNotEqual(float(grads[1]), 0.0)

  def test_shares_the_encoder_not_a_copy(self):
    encoder = _LinearEncoder()
    prior = priors.VampPrior(encoder, 2, (2, 2, 1))
    self.assertIs(prior.encoder, encoder)
    names = sorted(v.name for v in prior.trainable_variables)
    self.assertLen(names, 3)  # a, b and the pseudo-inputs.


class UniformCategoricalTest(tf.test.TestCase):

  def test_uniform_over_one_hot_codes(self):
    prior = priors.UniformCategorical(num_variables=2, num_classes=4)()
    self.assertEqual(prior.event_shape, [8])
    z = prior.sample(100, seed=[0, 1]).numpy()
    self.assertAllEqual(z.reshape(100, 2, 4).sum(-1), np.ones([100, 2]))
    self.assertAllClose(prior.log_prob(z), np.full(100, 2 * np.log(0.25)))


if __name__ == '__main__':
  tf.test.main()
