"""Tests for vae/decoders.py."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

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


if __name__ == '__main__':
  tf.test.main()
