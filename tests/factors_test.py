"""Tests for vae/factors.py: the procedural sprites and factor sampling."""

import numpy as np
import tensorflow as tf

from vae import factors


def _full_canvas(data, factor_rows):
  """The sprites drawn over the whole canvas, pixel by pixel: the
  reference for the windowed renderer."""
  shape, scale, angle, x, y = data.values(np.asarray(factor_rows))
  images = np.zeros((len(shape), 64, 64, 1), np.float32)
  margin = data._SIZE * 1.1
  for i in range(len(shape)):
    cx, cy = (margin + c * (1 - 2 * margin) for c in (x[i], y[i]))
    for r in range(64):
      for c in range(64):
        dx, dy = (c + 0.5) / 64 - cx, (r + 0.5) / 64 - cy
        u = (np.cos(angle[i]) * dx + np.sin(angle[i]) * dy)
        v = (-np.sin(angle[i]) * dx + np.cos(angle[i]) * dy)
        size = data._SIZE * scale[i]
        implicit = data._IMPLICIT[shape[i]]
        images[i, r, c, 0] = implicit(u / size, v / size) <= 0
  return images


class SpritesTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.data = factors.Sprites()

  def test_dsprites_factor_grid(self):
    self.assertEqual(self.data.factor_sizes, (3, 6, 40, 32, 32))
    grid = factors.all_factors(self.data.factor_sizes)
    self.assertEqual(grid.shape, (737280, 5))
    self.assertAllEqual(grid[:2], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1]])
    self.assertAllEqual(grid[-1], [2, 5, 39, 31, 31])
    shape, scale, angle, x, y = self.data.values(grid[[0, -1]])
    self.assertAllClose(scale, [0.5, 1.0])
    self.assertAllClose(angle, [0.0, 2 * np.pi * 39 / 40])
    self.assertAllClose(x, [0.0, 1.0])

  def test_window_renders_as_the_whole_canvas(self):
    rng = np.random.RandomState(0)
    rows = factors.sample_factors(self.data, 12, rng)
    # The extremes: the largest sprites in the corners.
    rows = np.r_[rows, [[s, 5, 5, x, y] for s in range(3) for x, y in
                        ((0, 0), (31, 31), (0, 31))]]
    self.assertAllEqual(self.data.observations(rows),
                        _full_canvas(self.data, rows))

  def test_each_factor_does_what_it_says(self):
    def centre_and_area(row):
      image = self.data.observations(np.array([row]))[0, ..., 0]
      r, c = np.nonzero(image)
      return c.mean(), r.mean(), image.sum()

    xs = [centre_and_area([1, 5, 0, x, 16])[0] for x in range(0, 32, 5)]
    ys = [centre_and_area([1, 5, 0, 16, y])[1] for y in range(0, 32, 5)]
    self.assertAllGreater(np.diff(xs), 0)  # x to the right.
    self.assertAllGreater(np.diff(ys), 0)  # y down the image.
    # Area goes with scale squared: (1 / 0.5)^2 = 4.
    small, large = (centre_and_area([0, s, 0, 16, 16])[2] for s in (0, 5))
    self.assertAllClose(large / small, 4.0, rtol=0.15)
    # The three shapes differ; at one place and size, all are centred.
    images = self.data.observations(np.array([[s, 5, 0, 16, 16]
                                              for s in range(3)]))
    self.assertNotAllEqual(images[0], images[1])
    self.assertNotAllEqual(images[1], images[2])

  def test_symmetries_as_in_dsprites(self):
    # The square repeats every quarter turn (10 of 40 steps), the ellipse
    # every half turn, up to a pixel or two where the edge meets a centre.
    def image(shape, angle):
      return self.data.observations(np.array([[shape, 5, angle, 16, 16]]))

    self.assertLessEqual(np.sum(image(0, 0) != image(0, 10)), 2)
    self.assertLessEqual(np.sum(image(1, 0) != image(1, 20)), 2)
    self.assertGreater(np.sum(image(1, 0) != image(1, 10)), 20)
    self.assertGreater(np.sum(image(2, 0) != image(2, 20)), 20)

  def test_sampling_is_uniform_and_seeded(self):
    rng = np.random.RandomState(0)
    rows = factors.sample_factors(self.data, 20000, rng)
    for k, size in enumerate(self.data.factor_sizes):
      counts = np.bincount(rows[:, k], minlength=size)
      self.assertLen(counts, size)
      # Each value's count within 5 standard deviations of 20000 / size.
      mean = 20000 / size
      self.assertAllLess(np.abs(counts - mean), 5 * np.sqrt(mean))
    again = factors.sample_factors(self.data, 20000,
                                   np.random.RandomState(0))
    self.assertAllEqual(rows, again)


class GridDataTest(tf.test.TestCase):

  def test_looks_each_combination_up(self):
    sizes = (2, 3, 2)
    grid = factors.all_factors(sizes)
    order = np.random.RandomState(0).permutation(len(grid))
    # Each image holds its own flat index: 12 combinations, shuffled.
    flat = np.ravel_multi_index(grid[order].T, sizes)
    images = np.broadcast_to(flat[:, None, None, None].astype(np.uint8),
                             (12, 2, 2, 1))
    data = factors.GridData(images, grid[order], ('a', 'b', 'c'), sizes,
                            pixel_max=255)
    asked = np.array([[1, 2, 0], [0, 0, 1], [1, 2, 0]])
    self.assertAllClose(data.observations(asked)[:, 0, 0, 0],
                        np.ravel_multi_index(asked.T, sizes) / 255)

  def test_a_missing_combination_is_named(self):
    grid = factors.all_factors((2, 2))
    with self.assertRaisesRegex(ValueError, '3 images but 1 of the 4 '
                                'combinations'):
      factors.GridData(np.zeros((3, 1, 1, 1), np.uint8), grid[:3],
                       ('a', 'b'), (2, 2))


if __name__ == '__main__':
  tf.test.main()
