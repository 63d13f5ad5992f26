"""Tests for vae/plotting.py."""

import os

import numpy as np
from scipy import stats
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

  def test_tile_is_row_major(self):
    images = np.arange(6)[:, None, None, None] * np.ones([6, 2, 3, 1])
    tiled = plotting.tile(images, rows=2, cols=3)
    self.assertEqual(tiled.shape, (4, 9))
    self.assertAllEqual(tiled[::2, ::3], [[0, 1, 2], [3, 4, 5]])

  def test_manifold_codes_are_normal_quantiles(self):
    z = plotting.manifold_codes(grid_size=3, low=0.1, high=0.9)
    grid = z.reshape(3, 3, 2)
    # Phi^-1(0.1), Phi^-1(0.5), Phi^-1(0.9) from scipy's table values.
    quantiles = stats.norm.ppf([0.1, 0.5, 0.9])
    self.assertAllClose(grid[0, :, 0], quantiles, rtol=1e-6)
    self.assertAllClose(grid[:, 0, 1], quantiles[::-1], rtol=1e-6)

  def test_project_2d_keeps_two_dimensions_and_finds_principal_axes(self):
    points = np.random.default_rng(0).normal(size=(50, 2))
    projected, names, explained = plotting.project_2d(points)
    self.assertAllEqual(projected, points)
    self.assertEqual(explained, 1.0)
    self.assertEqual(names, ('z[0]', 'z[1]'))
    # Five dimensions whose variance lies along two known directions.
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(5, 2)))[0].T  # Orthonormal rows.
    coefficients = rng.normal(size=(500, 2)) * [3.0, 1.0]
    points = coefficients @ basis + 0.01 * rng.normal(size=(500, 5))
    projected, _, explained = plotting.project_2d(points)
    self.assertGreater(explained, 0.999)
    # Up to sign, the first axis is the direction with variance 9.
    self.assertAllClose(np.abs(np.corrcoef(projected[:, 0],
                                           coefficients[:, 0])[0, 1]), 1.0,
                        atol=1e-3)

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
        plotting.loss_curves([1, 2, 4], {'loss': [3., 2., 1.]},
                             os.path.join(folder, 'loss_eval.png'),
                             eval_steps=[2, 4], eval_curves={'loss': [2.5, 1.]}),
        plotting.latent_scatter(rng.normal(size=(30, 5)),
                                rng.integers(10, size=30),
                                os.path.join(folder, 'means.png')),
        plotting.latent_scatter(rng.normal(size=(30, 1)), -np.ones(30),
                                os.path.join(folder, 'means_1d.png')),
        plotting.metrics_against('beta', [1., 1., 4.], {
            'mig': [0.1, 0.2, None], 'sap': [0.0, 0.1, 0.2]},
                                 ['a', 'b', 'a'],
                                 os.path.join(folder, 'metrics.png')),
        plotting.bars(['z[1]', 'z[0]'], [2.0, 0.5],
                      os.path.join(folder, 'bars.png'), 'kl', 'nats'),
        plotting.labelled_grid(images, 2, 2,
                               os.path.join(folder, 'labelled.png'), 't',
                               ['a', 'b'], ['c', 'd']),
        plotting.rate_distortion([1., 5., 20.], [90., 80., 75.],
                                 ['a', 'b', 'c'],
                                 os.path.join(folder, 'rd.png')),
    ]
    for path in paths:
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), PNG_MAGIC)
      self.assertGreater(os.path.getsize(path), 1000)


if __name__ == '__main__':
  tf.test.main()
