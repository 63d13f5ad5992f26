"""Tests for vae/binarization.py's fixed binarisation (`binarize`'s draws
are tested in data_test.py)."""

import numpy as np
import tensorflow as tf

from vae import binarization
from vae import data


def _images(seed, n):
  return np.random.default_rng(seed).integers(0, 256, size=(n, 4, 4, 1),
                                              dtype=np.uint8)


class BinarizeOnceTest(tf.test.TestCase):

  def test_reproduces_the_vampprior_codes_stream(self):
    # The recipe of Tomczak and Welling's code, as the Exemplar VAE's
    # `base_load_data.binarize` writes it: flattened images / 255.,
    # np.random.seed(777), validation drawn first, then test.
    validation, test = _images(0, 6), _images(1, 5)
    np.random.seed(777)
    x_val = np.random.binomial(1, validation.reshape(6, -1) / 255.)
    x_test = np.random.binomial(1, test.reshape(5, -1) / 255.)
    got_val, got_test = binarization.binarize_once([validation, test], 777)
    self.assertEqual(got_val.dtype, np.uint8)
    self.assertEqual(got_val.shape, validation.shape)
    self.assertAllEqual(got_val.reshape(6, -1), x_val)
    self.assertAllEqual(got_test.reshape(5, -1), x_test)

  def test_the_first_split_decides_where_the_second_starts(self):
    validation, test = _images(0, 6), _images(1, 5)
    _, after_validation = binarization.binarize_once([validation, test], 777)
    (alone,) = binarization.binarize_once([test], 777)
    self.assertNotAllEqual(after_validation, alone)

  def test_draws_follow_the_intensities(self):
    black = np.zeros([2, 3, 3, 1], np.uint8)
    white = np.full([2, 3, 3, 1], 255, np.uint8)
    grey = np.full([400, 5, 5, 1], 51, np.uint8)  # p = 0.2.
    b, w, g = binarization.binarize_once([black, white, grey], 0)
    self.assertAllEqual(b, black)
    self.assertAllEqual(w, np.ones_like(white))
    # 10,000 draws of p = 0.2: the mean's stddev is 0.004, so 0.02 is
    # five of them.
    self.assertAllClose(g.mean(), 0.2, atol=0.02)

  def test_pixels_above_white_are_refused(self):
    with self.assertRaisesRegex(ValueError, 'pass the stored white value'):
      binarization.binarize_once([np.full([1, 2, 2, 1], 255)], 0,
                                 pixel_max=1)


class BinarizedOnceTest(tf.test.TestCase):

  def _examples(self, images):
    labels = np.arange(len(images), dtype=np.int64)
    return data.Examples(
        tf.data.Dataset.from_tensor_slices({'image': images,
                                            'label': labels}),
        images.shape[1:], len(images), 'test arrays')

  def test_examples_become_their_fixed_bits_served_as_stored(self):
    validation, test = _images(0, 6), _images(1, 5)
    fixed = binarization.binarized_once(
        [self._examples(validation), self._examples(test)], 777)
    expected = binarization.binarize_once([validation, test], 777)
    for examples, bits in zip(fixed, expected):
      self.assertEqual(examples.pixel_max, 1)
      for binarization_name in ('none', 'dynamic'):  # Both keep 0 and 1.
        served = np.concatenate(list(data.batches(
            examples, 4, binarization_name, train=False,
            seed=3).as_numpy_iterator()))
        self.assertAllEqual(served, bits.astype(np.float32))
      labels = [e['label'] for e in examples.dataset.as_numpy_iterator()]
      self.assertAllEqual(labels, np.arange(len(bits)))


if __name__ == '__main__':
  tf.test.main()
