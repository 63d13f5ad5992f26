"""Tests for vae/plotting.py."""

import os

import numpy as np
import tensorflow as tf

from vae import plotting

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class PlottingTest(tf.test.TestCase):

  def test_traversal_codes(self):
    z = plotting.traversal_codes(latent_size=4, dims=(2, 0), grid_size=3,
                                 span=1.5)
    self.assertEqual(z.shape, (9, 4))
    grid = z.reshape(3, 3, 4)
    # Columns sweep dims[0] left to right, rows sweep dims[1] top to bottom
    # from +span to -span; the other dimensions stay at zero.
    self.assertAllClose(grid[0, :, 2], [-1.5, 0., 1.5])
    self.assertAllClose(grid[:, 0, 0], [1.5, 0., -1.5])
    self.assertAllEqual(grid[..., 1], np.zeros([3, 3]))
    self.assertAllEqual(grid[..., 3], np.zeros([3, 3]))

  def test_traversal_needs_two_dimensions(self):
    with self.assertRaisesRegex(ValueError, 'latent_size >= 2, got 1'):
      plotting.traversal_codes(1)

  def test_image_grid_tiles_row_major(self):
    images = np.arange(6)[:, None, None, None] * np.ones([6, 2, 3, 1])
    tiled = plotting._image_grid(images, rows=2, cols=3)
    self.assertEqual(tiled.shape, (4, 9))
    self.assertAllEqual(tiled[::2, ::3], [[0, 1, 2], [3, 4, 5]])

  def test_figures_are_written(self):
    folder = self.create_tempdir().full_path
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 8, 8, 1))
    paths = [
        plotting.loss_curves([1, 2, 4], {'loss': [3., 2., 1.],
                                          'rate': [0., 1., 2.]},
                             os.path.join(folder, 'loss.png')),
        plotting.reconstructions(images, images[::-1],
                                 os.path.join(folder, 'recon.png')),
        plotting.image_grid(images, 2, 2, os.path.join(folder, 'grid.png'),
                            title='grid'),
    ]
    for path in paths:
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), PNG_MAGIC)
      self.assertGreater(os.path.getsize(path), 1000)


if __name__ == '__main__':
  tf.test.main()
