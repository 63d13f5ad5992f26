"""Tests for vae/decoders.py."""

from absl.testing import parameterized
import numpy as np
import scipy.integrate
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from vae import decoders


class MLPDecoderTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(([8],), ([4, 8],), ([2, 3, 8],))
  def test_leading_dimensions_become_batch_shape(self, z_shape):
    decoder = decoders.MLPDecoder([16], (28, 28, 1))
    p = decoder(tf.random.normal(z_shape[:-1] + [5]))
    self.assertEqual(p.batch_shape, z_shape[:-1])
    self.assertEqual(p.event_shape, [28, 28, 1])
    x = tf.cast(tf.random.uniform([28, 28, 1]) < 0.5, tf.float32)
    self.assertEqual(p.log_prob(x).shape, z_shape[:-1])

  def test_same_logits_whatever_the_leading_dimensions(self):
    decoder = decoders.MLPDecoder([16], (4, 4, 1))
    z = tf.random.normal([3, 2, 5])
    stacked = decoder(z).distribution.logits
    for i in range(3):
      self.assertAllClose(stacked[i], decoder(z[i]).distribution.logits,
                          rtol=1e-5, atol=1e-6)

  def test_samples_are_float_images(self):
    p = decoders.MLPDecoder([16], (4, 4, 1))(tf.random.normal([2, 5]))
    sample = p.sample()
    self.assertEqual(sample.dtype, tf.float32)
    self.assertEqual(sample.shape, [2, 4, 4, 1])
    self.assertTrue(np.all(np.isin(sample.numpy(), [0.0, 1.0])))

  def test_log_prob_of_grey_targets_is_cross_entropy(self):
    # With --binarization=none the targets are grey levels. An int Bernoulli
    # would cast them to 0; ours must give -sum of the sigmoid cross-entropy.
    decoder = decoders.MLPDecoder([16], (4, 4, 1))
    p = decoder(tf.random.normal([3, 5]))
    x = np.random.default_rng(0).uniform(size=(3, 4, 4, 1)).astype(np.float32)
    logits = p.distribution.logits.numpy()
    cross_entropy = (np.maximum(logits, 0) - logits * x
                     + np.log1p(np.exp(-np.abs(logits))))
    self.assertAllClose(p.log_prob(x), -cross_entropy.sum(axis=(1, 2, 3)),
                        rtol=1e-5)

  def test_unknown_batch_size(self):
    decoder = decoders.MLPDecoder([16], (4, 4, 1))

    @tf.function(input_signature=[tf.TensorSpec([None, None, 5])])
    def logits(z):
      return decoder(z).distribution.logits

    self.assertEqual(
        logits.get_concrete_function().output_shapes.as_list(),
        [None, None, 4, 4, 1])
    self.assertEqual(logits(tf.zeros([2, 3, 5])).shape, [2, 3, 4, 4, 1])

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, r'output_shape .* \(28, 0\)'):
      decoders.MLPDecoder([16], (28, 0))
    with self.assertRaisesRegex(ValueError, r'hidden_sizes .* \[-1\]'):
      decoders.MLPDecoder([-1], (28, 28, 1))


class ConvDecoderTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(((28, 28, 1),), ((32, 32, 3),), ((9, 13, 2),))
  def test_output_is_the_image_shape(self, image_shape):
    decoder = decoders.ConvDecoder(image_shape, channels=(6, 4))
    p = decoder(tf.random.normal([2, 5, 3]))
    self.assertEqual(p.batch_shape, [2, 5])
    self.assertEqual(p.event_shape, image_shape)
    self.assertEqual(p.log_prob(tf.zeros(image_shape)).shape, [2, 5])

  def test_needs_an_image_shape(self):
    with self.assertRaisesRegex(ValueError, r'needs an image output_shape'):
      decoders.ConvDecoder((784,))


class LikelihoodTest(tf.test.TestCase):

  def test_gaussian_log_prob_matches_scipy(self):
    params = np.random.default_rng(0).normal(size=(2, 3, 3, 1)).astype(
        np.float32)
    x = np.random.default_rng(1).uniform(size=(3, 3, 1)).astype(np.float32)
    p = decoders.GaussianLikelihood(scale=0.2)(params, 3)
    loc = 1 / (1 + np.exp(-params))
    expected = scipy.stats.norm.logpdf(x, loc, 0.2).sum(axis=(1, 2, 3))
    self.assertAllClose(p.log_prob(x), expected, rtol=1e-5)
    self.assertAllClose(p.mean(), loc, rtol=1e-6)

  def test_gaussian_learned_scale_starts_at_one_and_trains(self):
    likelihood = decoders.GaussianLikelihood()
    self.assertAllClose(likelihood.scale, 1.0 + 1e-3)
    self.assertLen(likelihood.trainable_variables, 1)
    self.assertEmpty(decoders.GaussianLikelihood(0.1).trainable_variables)
    with self.assertRaisesRegex(ValueError, 'scale must be positive'):
      decoders.GaussianLikelihood(scale=0.0)

  def test_continuous_bernoulli_normaliser_matches_quadrature(self):
    for logit in (-6.0, -1.0, -1e-3, 0.0, 0.7, 4.0):
      lam = 1 / (1 + np.exp(-logit))
      # C(lambda) from the paper's closed form (2 at lambda = 1/2)...
      closed = (2.0 if abs(1 - 2 * lam) < 1e-6 else
                2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
      # ... and as 1 / integral of lambda^x (1 - lambda)^(1 - x) on [0, 1].
      numeric = 1.0 / scipy.integrate.quad(
          lambda x: lam**x * (1 - lam)**(1 - x), 0, 1)[0]
      self.assertAllClose(closed, numeric, rtol=1e-6)
      p = decoders.ContinuousBernoulliLikelihood()(
          tf.fill([1, 1, 1], logit), 3)
      # log p(x) - [x log lambda + (1 - x) log(1 - lambda)] = log C.
      x = 0.3
      self.assertAllClose(
          p.log_prob(tf.fill([1, 1, 1], x)),
          np.log(numeric) + x * np.log(lam) + (1 - x) * np.log(1 - lam),
          rtol=1e-4)
      # And the density integrates to one.
      total = scipy.integrate.quad(
          lambda v: float(np.exp(p.log_prob(tf.fill([1, 1, 1], v)))), 0, 1)
      self.assertAllClose(total[0], 1.0, rtol=1e-4)

  def test_decoders_take_a_likelihood(self):
    decoder = decoders.MLPDecoder(
        [8], (4, 4, 1), likelihood=decoders.ContinuousBernoulliLikelihood())
    p = decoder(tf.random.normal([3, 2]))
    self.assertIsInstance(p.distribution, tfp.distributions.ContinuousBernoulli)
    self.assertEqual(p.event_shape, [4, 4, 1])


if __name__ == '__main__':
  tf.test.main()


def _logistic_mixture_pmf(logits, loc, scale, high=255):
  """P(level = y) for y = 0..high of one pixel, by scipy: mixture weights
  softmax(logits) [K], per component and channel loc and scale [K, C]; each
  channel's logistic rounded to the nearest level, tails on the ends.
  Returns [high + 1] ** C probabilities as an array [K, C, high + 1]
  (per component and channel) and the weights."""
  levels = np.arange(high + 1)
  upper = scipy.stats.logistic.cdf(levels + 0.5, loc[..., None],
                                   scale[..., None])
  lower = scipy.stats.logistic.cdf(levels - 0.5, loc[..., None],
                                   scale[..., None])
  upper[..., -1] = 1.0
  lower[..., 0] = 0.0
  weights = np.exp(logits - scipy.special.logsumexp(logits))
  return upper - lower, weights


class DiscretizedLogisticTest(tf.test.TestCase, parameterized.TestCase):

  def _distribution(self, channels=3, components=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 2, components))
    loc = rng.uniform(-20, 275, size=(2, 2, components, channels))
    scale = rng.uniform(0.3, 30, size=(2, 2, components, channels))
    return (decoders.DiscretizedLogisticMixture(logits, loc, scale),
            logits, loc, scale)

  def test_log_prob_matches_scipy(self):
    # A 2x2 colour image: per pixel, log sum_k w_k prod_c P_kc(x_c).
    dist, logits, loc, scale = self._distribution()
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 256, size=(2, 2, 3))
    levels[0, 0] = [0, 255, 128]  # Both ends.
    expected = 0.0
    for i in range(2):
      for j in range(2):
        pmf, weights = _logistic_mixture_pmf(logits[i, j], loc[i, j],
                                             scale[i, j])
        per_component = np.prod(pmf[:, np.arange(3), levels[i, j]], axis=1)
        expected += np.log(np.sum(weights * per_component))
    self.assertEqual(dist.event_shape, [2, 2, 3])
    self.assertAllClose(dist.log_prob(levels / 255.0), expected, rtol=1e-5)

  def test_probabilities_sum_to_one_and_mean_is_exact(self):
    # One grey pixel: the 256 levels' probabilities sum to 1, and mean() is
    # sum_y y P(y) / 255.
    _, logits, loc, scale = self._distribution(channels=1)
    dist = decoders.DiscretizedLogisticMixture(
        logits[:1, :1], loc[:1, :1], scale[:1, :1])  # Pixel (0, 0).
    x = np.arange(256, dtype=np.float32).reshape(256, 1, 1, 1) / 255
    probs = np.exp(dist.log_prob(x).numpy())
    self.assertAllClose(np.sum(probs), 1.0, rtol=1e-5)
    pmf, weights = _logistic_mixture_pmf(logits[0, 0], loc[0, 0],
                                         scale[0, 0])
    self.assertAllClose(probs, weights @ pmf[:, 0], rtol=1e-4, atol=1e-7)
    mean = np.sum(weights[:, None] * pmf[:, 0] * np.arange(256)) / 255
    self.assertAllClose(dist.mean()[0, 0, 0], mean, rtol=1e-5)

  def test_samples_are_levels_in_the_unit_interval(self):
    dist, _, _, _ = self._distribution()
    samples = dist.sample(50, seed=[1, 2]).numpy()
    self.assertEqual(samples.shape, (50, 2, 2, 3))
    self.assertAllClose(samples * 255, np.round(samples * 255), atol=1e-4)
    self.assertAllInRange(samples, 0.0, 1.0)

  @parameterized.parameters(((28, 28, 1),), ((8, 6, 3),))
  def test_decoders_give_its_parameters(self, image_shape):
    likelihood = decoders.DiscretizedLogisticLikelihood(num_components=5)
    *pixels, channels = image_shape
    self.assertEqual(likelihood.param_shape(image_shape),
                     (*pixels, 5 * (1 + 2 * channels)))
    x = tf.round(tf.random.uniform(image_shape) * 255) / 255
    for decoder in (decoders.MLPDecoder([16], image_shape,
                                        likelihood=likelihood),
                    decoders.ConvDecoder(image_shape, (8,),
                                         likelihood=likelihood)):
      p = decoder(tf.random.normal([4, 2, 3]))
      self.assertEqual(p.batch_shape, [4, 2])
      self.assertEqual(p.event_shape, image_shape)
      log_prob = p.log_prob(x).numpy()
      self.assertEqual(log_prob.shape, (4, 2))
      # A probability: at most 1.
      self.assertAllLessEqual(log_prob, 0.0)
      self.assertEqual(p.mean().shape, [4, 2, *image_shape])

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, 'num_components must be '
                                'positive, got 0'):
      decoders.DiscretizedLogisticLikelihood(0)
    with self.assertRaisesRegex(ValueError, 'needs images'):
      decoders.DiscretizedLogisticLikelihood(2)(tf.zeros([3, 10]), 1)
