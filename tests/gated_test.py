"""Tests for vae/gated.py."""

import numpy as np
import tensorflow as tf

from vae import gated


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


class GatedDenseTest(tf.test.TestCase):

  def test_is_a_linear_map_times_the_sigmoid_of_another(self):
    layer = gated.GatedDense(3)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    y = layer(x).numpy()
    h = x @ layer._h.w.numpy() + layer._h.b.numpy()
    g = x @ layer._g.w.numpy() + layer._g.b.numpy()
    self.assertAllClose(y, h * _sigmoid(g), rtol=1e-5, atol=1e-6)

  def test_he_initialisation(self):
    # N(0, 2 / fan_in), not truncated: over 400 x 300 draws the sample
    # stddev is within 1% of sqrt(2 / 400) (its relative error is about
    # 1 / sqrt(2 n) = 0.2%), and draws beyond two stddevs exist (a
    # truncated normal has none).
    tf.random.set_seed(0)
    layer = gated.GatedDense(300)
    layer(tf.zeros([1, 400]))
    for w in (layer._h.w.numpy(), layer._g.w.numpy()):
      expected = np.sqrt(2.0 / 400)
      self.assertAllClose(w.std(), expected, rtol=0.01)
      self.assertAllClose(w.mean(), 0.0, atol=3 * expected / np.sqrt(w.size))
      self.assertGreater(np.abs(w).max(), 2.5 * expected)
    self.assertAllEqual(layer._h.b.numpy(), np.zeros(300))

  def test_size_is_checked(self):
    with self.assertRaisesRegex(ValueError, 'output_size must be positive'):
      gated.GatedDense(0)


class GatedMLPTest(tf.test.TestCase):

  def test_layers_in_turn(self):
    mlp = gated.GatedMLP([6, 2])
    x = tf.random.normal([3, 5])
    self.assertEqual(mlp(x).shape, [3, 2])
    expected = mlp._layers[1](mlp._layers[0](x))
    self.assertAllClose(mlp(x), expected)
    self.assertLen(mlp.trainable_variables, 8)  # h and g, w and b, twice.

  def test_sizes_are_checked(self):
    for sizes in ([], [3, 0]):
      with self.assertRaisesRegex(ValueError, 'output_sizes must be positive'):
        gated.GatedMLP(sizes)


if __name__ == '__main__':
  tf.test.main()
