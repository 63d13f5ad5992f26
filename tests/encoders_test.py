"""Tests for vae/encoders.py."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import encoders

tfd = tfp.distributions


class GaussianPosteriorTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_shapes_and_dtype(self, covariance):
    head = encoders.GaussianPosterior(5, covariance=covariance)
    q = head(tf.random.normal([7, 11]))
    self.assertEqual(q.batch_shape, [7])
    self.assertEqual(q.event_shape, [5])
    self.assertEqual(q.dtype, tf.float32)
    z = q.sample()
    self.assertEqual(z.shape, [7, 5])
    self.assertEqual(q.log_prob(z).shape, [7])

  def test_diagonal_is_independent_normal(self):
    q = encoders.GaussianPosterior(3)(tf.zeros([2, 4]))
    self.assertIsInstance(q, tfd.Independent)
    self.assertIsInstance(q.distribution, tfd.Normal)

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_zero_features_give_unit_scale(self, covariance):
    # Zero features give zero pre-activations (the bias starts at zero):
    # softplus(0 + softplus^-1(1)) + floor = 1 + floor, near the prior's.
    q = encoders.GaussianPosterior(4, covariance=covariance,
                                   min_scale=1e-4)(tf.zeros([1, 3]))
    self.assertAllClose(q.stddev(), np.full([1, 4], 1.0 + 1e-4), rtol=1e-5)

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_scale_never_reaches_zero(self, covariance):
    head = encoders.GaussianPosterior(3, covariance=covariance, min_scale=1e-3)
    # Huge negative pre-activations: softplus underflows to 0, the floor holds.
    q = head(tf.fill([2, 5], -1e4))
    if covariance == 'diagonal':
      scale_diag = q.distribution.scale
    else:
      scale_diag = tf.linalg.diag_part(q.scale.to_dense())
    self.assertAllGreaterEqual(tf.abs(scale_diag), 1e-3 * (1 - 1e-6))
    self.assertTrue(np.all(np.isfinite(q.log_prob(q.mean()))))

  def test_full_covariance_scale_is_lower_triangular(self):
    q = encoders.GaussianPosterior(4, covariance='full_covariance')(
        tf.random.normal([3, 6]))
    tril = q.scale.to_dense().numpy()
    self.assertAllEqual(np.triu(tril, k=1), np.zeros_like(tril))
    self.assertGreater(np.abs(np.tril(tril, k=-1)).max(), 0)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, 'latent_size must be positive, '
                                'got 0'):
      encoders.GaussianPosterior(0)
    with self.assertRaisesRegex(ValueError, "'full'"):
      encoders.GaussianPosterior(2, covariance='full')
    with self.assertRaisesRegex(ValueError, r'hidden_sizes .* \[100, 0\]'):
      encoders.MLPEncoder([100, 0], 2)


class MLPEncoderTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_images_to_posterior(self, covariance):
    encoder = encoders.MLPEncoder([16, 8], 3, covariance=covariance)
    q = encoder(np.random.uniform(size=(5, 28, 28, 1)).astype(np.float32))
    self.assertEqual(q.batch_shape, [5])
    self.assertEqual(q.event_shape, [3])
    self.assertEqual(encoder.latent_size, 3)

  def test_variables_created_once(self):
    encoder = encoders.MLPEncoder([16], 3)
    encoder(tf.zeros([2, 4, 4, 1]))
    variables = encoder.trainable_variables
    encoder(tf.ones([5, 4, 4, 1]))
    self.assertLen(encoder.trainable_variables, len(variables))
    self.assertLen(variables, 4)  # Two linear layers, w and b each.

  def test_eager_and_function_agree_with_unknown_batch(self):
    encoder = encoders.MLPEncoder([16], 3)
    x = tf.random.uniform([6, 4, 4, 1])
    eager = encoder(x)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 1])])
    def params(x):
      q = encoder(x)
      return q.mean(), q.stddev()

    concrete = params.get_concrete_function()
    self.assertEqual(concrete.output_shapes[0].as_list(), [None, 3])
    mean, stddev = params(x)
    self.assertAllClose(mean, eager.mean())
    self.assertAllClose(stddev, eager.stddev())


class ConvEncoderTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(((28, 28, 1),), ((32, 32, 3),), ((9, 13, 2),))
  def test_shapes_for_any_image(self, image_shape):
    encoder = encoders.ConvEncoder(4, channels=(3, 5))
    q = encoder(tf.random.uniform((6,) + image_shape))
    self.assertEqual(q.batch_shape, [6])
    self.assertEqual(q.event_shape, [4])

  def test_unknown_batch_size_in_a_function(self):
    encoder = encoders.ConvEncoder(3, channels=(4,))
    encoder(tf.zeros([1, 8, 8, 1]))
    fn = tf.function(lambda x: encoder(x).mean(), input_signature=[
        tf.TensorSpec([None, 8, 8, 1], tf.float32)])
    self.assertEqual(fn(tf.zeros([5, 8, 8, 1])).shape, [5, 3])

  def test_needs_images(self):
    with self.assertRaisesRegex(ValueError, r'needs images \[batch, H, W, '
                                r'C\]'):
      encoders.ConvEncoder(3)(tf.zeros([2, 784]))
    with self.assertRaisesRegex(ValueError, 'channels must be positive'):
      encoders.ConvEncoder(3, channels=())


class HeadsTest(tf.test.TestCase):

  def test_deterministic_code_is_its_own_sample(self):
    encoder = encoders.MLPEncoder(
        [8], 3, head=encoders.DeterministicPosterior(3))
    x = tf.random.uniform([4, 5, 5, 1])
    q = encoder(x)
    self.assertAllEqual(q.sample(seed=[0, 1]), q.mean())
    self.assertAllEqual(q.stddev(), np.zeros([4, 3]))
    self.assertEqual(encoder.latent_size, 3)

  def test_categorical_samples_are_one_hot_and_relaxed_ones_on_simplex(self):
    head = categorical.CategoricalPosterior(num_variables=5, num_classes=4)
    q = head(tf.random.normal([3, 7]))
    self.assertEqual(q.event_shape, [20])
    hard = q.sample(10, seed=[0, 1]).numpy().reshape(10, 3, 5, 4)
    self.assertAllEqual(hard.sum(-1), np.ones([10, 3, 5]))
    self.assertTrue(np.all(np.isin(hard, [0.0, 1.0])))
    for temperature in (5.0, 1.0, 0.1):
      soft = categorical.relax(q, temperature).sample(
          10, seed=[0, 2]).numpy().reshape(10, 3, 5, 4)
      self.assertAllGreaterEqual(soft, 0.0)
      self.assertAllClose(soft.sum(-1), np.ones([10, 3, 5]), rtol=1e-5)
    # Cold samples are nearly one-hot.
    self.assertGreater(np.mean(soft.max(-1)), 0.9)

  def test_relaxed_samples_are_reparameterised(self):
    logits = tf.Variable(tf.random.normal([2, 3, 4]))
    with tf.GradientTape() as tape:
      z = categorical.relax(categorical.categorical(logits), 0.5).sample(
          seed=[1, 1])
      loss = tf.reduce_sum(z * tf.range(12, dtype=tf.float32))
    self.assertGreater(np.abs(tape.gradient(loss, logits).numpy()).sum(), 0)

  def test_moments_of_a_categorical_are_its_probabilities(self):
    logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(
        np.float32)
    mean, stddev = encoders.moments(categorical.categorical(logits))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    self.assertAllClose(mean, probs.reshape(2, 12), rtol=1e-5)
    self.assertAllClose(stddev, np.sqrt(probs * (1 - probs)).reshape(2, 12),
                        rtol=1e-5)


class LogVariancePosteriorTest(tf.test.TestCase):

  def test_scale_is_the_clipped_log_variance(self):
    head = encoders.LogVariancePosterior(3)
    features = np.random.default_rng(0).normal(size=(4, 5)) * 30
    features = features.astype(np.float32)
    q = head(features)
    loc = features @ head._loc.w.numpy() + head._loc.b.numpy()
    log_variance = (features @ head._log_variance.w.numpy()
                    + head._log_variance.b.numpy())
    self.assertTrue((log_variance < -6).any() and (log_variance > 2).any())
    expected_scale = np.exp(0.5 * np.clip(log_variance, -6.0, 2.0))
    self.assertAllClose(q.mean(), loc, rtol=1e-5, atol=1e-5)
    self.assertAllClose(q.stddev(), expected_scale, rtol=1e-5)
    self.assertEqual(q.event_shape, [3])

  def test_no_gradient_beyond_the_range(self):
    # Hardtanh's: a log-variance pushed past a bound stops learning there.
    head = encoders.LogVariancePosterior(1)
    features = tf.constant([[100.0]])
    head(features)
    head._log_variance.w.assign([[1.0]])
    with tf.GradientTape() as tape:
      scale = head(features).stddev()
    self.assertAllClose(scale, [[np.exp(1.0)]])
    self.assertAllEqual(tape.gradient(scale, head._log_variance.w), [[0.0]])

  def test_range_is_checked(self):
    with self.assertRaisesRegex(ValueError, 'must be below'):
      encoders.LogVariancePosterior(2, min_log_variance=1.0,
                                    max_log_variance=1.0)


if __name__ == '__main__':
  tf.test.main()
