"""Tests for vae/latent_figures.py."""

import os

import numpy as np
from PIL import Image
from scipy import stats
import tensorflow as tf

from vae import latent_figures


class _Decoder:
  """Decodes z to 4x4 images whose top half shows tanh(z[0]), the bottom
  tanh(z[1])."""

  def decode(self, z):
    z = z.numpy()
    images = np.zeros((len(z), 4, 4, 1), np.float32)
    images[:, :2] = (np.tanh(z[:, :1])[:, :, None, None] + 1) / 2
    images[:, 2:] = (np.tanh(z[:, 1:2])[:, :, None, None] + 1) / 2
    return {'mean': tf.constant(images)}


class LatentFiguresTest(tf.test.TestCase):

  def test_order_by_kl_largest_first_ties_by_index(self):
    self.assertAllEqual(latent_figures.order_by_kl([0.1, 3.0, 0.5, 3.0]),
                        [1, 3, 2, 0])

  def test_values_are_normal_quantiles(self):
    self.assertAllClose(latent_figures.quantile_values(5),
                        stats.norm.ppf(np.linspace(0.05, 0.95, 5)),
                        rtol=1e-6)

  def test_traversal_sweeps_one_dimension_per_row(self):
    base = np.array([0.5, -1.0, 2.0], np.float32)
    values = np.array([-1.0, 0.0, 1.0], np.float32)
    codes = latent_figures.traversal_codes(base, [2, 0], values)
    self.assertAllEqual(codes, [[0.5, -1.0, -1.0], [0.5, -1.0, 0.0],
                                [0.5, -1.0, 1.0], [-1.0, -1.0, 2.0],
                                [0.0, -1.0, 2.0], [1.0, -1.0, 2.0]])

  def test_interpolation_ends_at_both_codes(self):
    codes = latent_figures.interpolation_codes(np.array([0.0, 2.0]),
                                               np.array([1.0, 0.0]), 3)
    self.assertAllClose(codes, [[0.0, 2.0], [0.5, 1.0], [1.0, 0.0]])

  def test_writes_every_figure_and_a_looping_gif(self):
    folder = self.create_tempdir().full_path
    rng = np.random.default_rng(0)
    written = latent_figures.write(
        _Decoder(), [0.2, 1.5, 0.0], rng.normal(size=(6, 3)).astype(
            np.float32), np.array([4, 4, 7, 4, 4, 4]),
        rng.uniform(size=(6, 4, 4, 1)), folder)
    self.assertEqual([os.path.basename(p) for p in written],
                     ['kl_per_dimension.png', 'traversal_by_kl.png',
                      'traversal_by_kl.gif', 'interpolation.png'])
    with Image.open(os.path.join(folder, 'traversal_by_kl.gif')) as gif:
      # Forward through 10 values and back without repeating the ends.
      self.assertEqual(gif.n_frames, 18)
      # Three dimensions on a 2x2 tile of 4x4 images, drawn 3 times as big.
      self.assertEqual(gif.size, (24, 24))
    for path in written:
      self.assertGreater(os.path.getsize(path), 200)


if __name__ == '__main__':
  tf.test.main()
