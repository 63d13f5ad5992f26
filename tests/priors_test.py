"""Tests for vae/priors.py."""

from unittest import mock

import numpy as np
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
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


class DiagonalGaussianMixtureTest(tf.test.TestCase):
  """The matmul `log_prob` against float64 NumPy and TFP's own."""

  def _parts(self, components=6, latent=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=components)
    locs = rng.normal(scale=3.0, size=(components, latent))
    # Narrow components far from 0, where (z - mu)^2 expanded naively loses
    # digits: the centring must keep them.
    scales = np.exp(rng.normal(-2.5, 0.5, size=(components, latent)))
    return logits, locs, scales

  def _mixtures(self, logits, locs, scales):
    parts = dict(
        mixture_distribution=tfd.Categorical(logits=tf.constant(
            logits, tf.float32)),
        components_distribution=tfd.Independent(tfd.Normal(
            tf.constant(locs, tf.float32), tf.constant(scales, tf.float32)),
                                                 1))
    return priors.DiagonalGaussianMixture(**parts), tfd.MixtureSameFamily(
        **parts)

  def _reference(self, z, logits, locs, scales):
    """log sum_k pi_k N(z; mu_k, sigma_k^2) in float64."""
    z = np.asarray(z, np.float64)[..., None, :]
    log_normal = scipy.stats.norm.logpdf(z, locs, scales).sum(-1)
    return scipy.special.logsumexp(
        log_normal + scipy.special.log_softmax(logits), axis=-1)

  def _draws(self, locs, shape, seed=1):
    """Draws [S, batch..., D] around batch members near the components."""
    rng = np.random.default_rng(seed)
    *batch, latent = shape[1:]
    centres = locs[rng.integers(len(locs), size=batch)]
    centres += rng.normal(scale=0.05, size=centres.shape)
    return (centres + rng.normal(scale=0.03, size=(shape[0], *batch, latent))
            ).astype(np.float32)

  def test_draws_take_matmuls_and_match_float64(self):
    logits, locs, scales = self._parts()
    ours, tfps = self._mixtures(logits, locs, scales)
    for shape in [(50, 4, 3), (7, 2, 5, 3), (1, 4, 3)]:
      z = self._draws(locs, shape)
      expected = self._reference(z, logits, locs, scales)
      tfp_error = np.abs(tfps.log_prob(z).numpy() - expected).max()
      # With TFP's log_prob out of reach, ours still answers: the draws
      # went through the matmuls.
      with mock.patch.object(tfd.MixtureSameFamily, '_log_prob',
                             side_effect=AssertionError('TFP log_prob')):
        got = ours.log_prob(z).numpy()
      self.assertEqual(got.shape, shape[:-1])
      self.assertAllClose(got, expected, rtol=2e-6, atol=1e-4)
      self.assertLess(np.abs(got - expected).max(), 2 * tfp_error + 1e-4)

  def test_gradients_match_tfp(self):
    logits, locs, scales = self._parts()
    z = tf.constant(self._draws(locs, (20, 3, 3)))
    gradients = []
    for mixture in self._mixtures(logits, locs, scales):
      variables = [mixture.mixture_distribution.logits,
                   mixture.components_distribution.distribution.loc,
                   mixture.components_distribution.distribution.scale]
      with tf.GradientTape() as tape:
        tape.watch([z] + variables)
        log_prob = tf.reduce_sum(mixture.log_prob(z))
      gradients.append(tape.gradient(log_prob, [z] + variables))
    for ours, theirs in zip(*gradients):
      self.assertAllClose(ours, theirs, rtol=1e-4,
                          atol=1e-4 * np.abs(theirs).max())

  def test_other_inputs_and_components_take_tfp_log_prob(self):
    logits, locs, scales = self._parts()
    ours, tfps = self._mixtures(logits, locs, scales)
    z = self._draws(locs, (5, 3))  # No draws axis: [batch, D].
    self.assertAllEqual(ours.log_prob(z), tfps.log_prob(z))
    logistic = dict(
        mixture_distribution=tfd.Categorical(logits=logits),
        components_distribution=tfd.Independent(tfd.Logistic(locs, scales),
                                                1))
    z = self._draws(locs, (4, 5, 3))
    self.assertAllEqual(
        priors.DiagonalGaussianMixture(**logistic).log_prob(z),
        tfd.MixtureSameFamily(**logistic).log_prob(z))

  def test_priors_are_matmul_mixtures(self):
    self.assertIsInstance(priors.MixtureOfGaussians(2, 3)(),
                          priors.DiagonalGaussianMixture)
    self.assertIsInstance(priors.VampPrior(_LinearEncoder(), 2, (2, 2, 1))(),
                          priors.DiagonalGaussianMixture)


class VampPriorTest(tf.test.TestCase):

  def test_without_an_encoder_says_what_to_pass(self):
    with self.assertRaisesRegex(ValueError, 'encoder=None: the VampPrior '
                                'mixes the posteriors'):
      priors.VampPrior(None, 3, (4, 4, 1))

  def test_is_the_mean_of_the_pseudo_posteriors(self):
    encoder = _LinearEncoder()
    prior = priors.VampPrior(encoder, 3, (2, 2, 1), seed=0)
    u = np.clip(prior.pseudo_inputs.numpy(), 0, 1)
    locs = 2.0 * u.mean(axis=(1, 2, 3)) - 1.0
    z = np.linspace(-3, 3, 7, dtype=np.float32)[:, None]
    expected = np.log(np.mean(
        scipy.stats.norm.pdf(z, loc=locs[None, :], scale=0.5), axis=1))
    self.assertAllClose(prior().log_prob(z), expected, rtol=1e-5)
    # Draws [S, batch, D], which take the matmuls.
    self.assertAllClose(prior().log_prob(tf.reshape(z, [7, 1, 1])),
                        expected[:, None], rtol=1e-5)

  def test_pseudo_inputs_and_encoder_receive_gradients(self):
    encoder = _LinearEncoder()
    prior = priors.VampPrior(encoder, 4, (3, 3, 1), seed=0)
    z = tf.constant([[[0.3]], [[-0.7]]])  # Two draws for one image.
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
    prior = categorical.UniformCategorical(num_variables=2, num_classes=4)()
    self.assertEqual(prior.event_shape, [8])
    z = prior.sample(100, seed=[0, 1]).numpy()
    self.assertAllEqual(z.reshape(100, 2, 4).sum(-1), np.ones([100, 2]))
    self.assertAllClose(prior.log_prob(z), np.full(100, 2 * np.log(0.25)))


if __name__ == '__main__':
  tf.test.main()
