"""Tests for vae/encoders.py."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

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


if __name__ == '__main__':
  tf.test.main()
