"""Tests for vae/data.py: IDX files (real MNIST and made-up), TFDS, batches."""

import contextlib
import gzip
import os
import struct
import subprocess
import sys
from unittest import mock

from absl.testing import parameterized
import numpy as np
import pytest
import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from vae import data
from vae import idx

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.environ.get(
    'MNIST_DATA_DIR', os.path.join(_REPO, '..', 'shared', 'data', 'mnist'))


def require_mnist(test):
  """The real MNIST test split; a skip only where none was asked for."""
  if not os.path.isfile(os.path.join(MNIST_DIR, 't10k-images-idx3-ubyte.gz')):
    if 'MNIST_DATA_DIR' in os.environ:
      test.fail(f'MNIST_DATA_DIR={MNIST_DIR} holds no MNIST IDX files')
    test.skipTest(f'no MNIST IDX files in {MNIST_DIR}; set MNIST_DATA_DIR')
  return MNIST_DIR


def write_idx(path, array):
  """Writes uint8 `array` as an IDX file: the format, written independently."""
  header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim)
  header += struct.pack(f'>{array.ndim}I', *array.shape)
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'wb') as f:
    f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def write_split(folder, prefix, images, labels, suffix='.gz'):
  os.makedirs(folder, exist_ok=True)
  write_idx(os.path.join(folder, f'{prefix}-images-idx3-ubyte{suffix}'), images)
  write_idx(os.path.join(folder, f'{prefix}-labels-idx1-ubyte{suffix}'), labels)


@contextlib.contextmanager
def mock_tfds(num_examples=20, max_value=None):
  """TFDS with random data and no download (and a network as far as we know).

  Pixels are drawn below `max_value` (2 for binarized_mnist's 0/1)."""
  with tfds.testing.mock_data(num_examples=num_examples,
                              max_value=max_value), mock.patch.object(
                                  data, 'can_reach_download_host',
                                  return_value=True):
    yield


def _labels(dataset: tf.data.Dataset) -> np.ndarray:
  """Every label of a dataset of examples, in order (in one batch: fast)."""
  return np.concatenate(list(dataset.map(lambda e: e['label']).batch(
      100_000).as_numpy_iterator()))


class RealMNISTTest(tf.test.TestCase, parameterized.TestCase):

  def test_reads_the_test_split(self):
    examples = data.load('mnist', 'test', require_mnist(self))
    self.assertEqual(examples.num_examples, 10_000)
    self.assertEqual(examples.image_shape, (28, 28, 1))
    first = list(examples.dataset.take(10).as_numpy_iterator())
    # The first ten labels of MNIST's test set, as published.
    self.assertEqual([int(e['label']) for e in first],
                     [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    self.assertEqual(first[0]['image'].dtype, np.uint8)
    self.assertEqual(first[0]['image'].max(), 255)
    self.assertEqual(first[0]['image'].min(), 0)

  @parameterized.parameters(
      ('test[:9000]', 9000, 0),
      ('test[9000:]', 1000, 9000),
      ('test[:10%]', 1000, 0),
      ('test[-5:]', 5, 9995),
  )
  def test_tfds_split_syntax(self, split, size, first_index):
    mnist_dir = require_mnist(self)
    examples = data.load('mnist', split, mnist_dir)
    self.assertEqual(examples.num_examples, size)
    labels = _labels(examples.dataset)
    everything = _labels(data.load('mnist', 'test', mnist_dir).dataset)
    self.assertAllEqual(labels, everything[first_index:first_index + size])

  def test_splits_add_up(self):
    examples = data.load('mnist', 'test[:3]+test[-2:]', require_mnist(self))
    self.assertEqual(examples.num_examples, 5)

  @parameterized.parameters(
      ('train', r"Unknown split 'train'"),
      ('validation', r"Unknown split 'validation'"),
      ('test[:20000]', 'incompatible with 10000 examples'),
      ('test[9000:100]', 'selects no examples'),
      ('test[abc]', 'Unrecognized split format'),
  )
  def test_impossible_splits(self, split, message):
    with self.assertRaisesRegex(data.DataError, message):
      data.load('mnist', split, require_mnist(self))


class IDXFilesTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.images = rng.integers(0, 256, size=(12, 5, 4), dtype=np.uint8)
    self.labels = rng.integers(0, 10, size=12, dtype=np.uint8)
    self.folder = self.create_tempdir().full_path

  def _check(self, examples, images, labels):
    got = list(examples.dataset.as_numpy_iterator())
    self.assertAllEqual(np.stack([e['image'] for e in got]),
                        images[..., np.newaxis])
    self.assertAllEqual([e['label'] for e in got], labels)
    self.assertEqual(examples.image_shape, (5, 4, 1))

  @parameterized.parameters('.gz', '')
  def test_round_trip(self, suffix):
    write_split(self.folder, 't10k', self.images, self.labels, suffix)
    self._check(data.load('mnist', 'test', self.folder), self.images,
                self.labels)

  def test_train_and_test_and_torchvision_layout(self):
    raw = os.path.join(self.folder, 'FashionMNIST', 'raw')
    write_split(raw, 'train', self.images[:8], self.labels[:8], '')
    write_split(raw, 't10k', self.images[8:], self.labels[8:], '')
    self._check(data.load('fashion_mnist', 'train[:50%]+test', self.folder),
                np.concatenate([self.images[:4], self.images[8:]]),
                np.concatenate([self.labels[:4], self.labels[8:]]))
    # Fashion-MNIST's files are not MNIST's, though their names are the same.
    self.assertEmpty(idx.find_files(self.folder, 'mnist'))

  def test_truncated_file(self):
    write_split(self.folder, 't10k', self.images, self.labels)
    path = os.path.join(self.folder, 't10k-images-idx3-ubyte.gz')
    with gzip.open(path, 'rb') as f:
      raw = f.read()
    with gzip.open(path, 'wb') as f:
      f.write(raw[:-7])
    with self.assertRaisesRegex(data.DataError, 'truncated or corrupt'):
      data.load('mnist', 'test', self.folder)

  def test_not_gzip(self):
    write_split(self.folder, 't10k', self.images, self.labels)
    with open(os.path.join(self.folder, 't10k-images-idx3-ubyte.gz'),
              'wb') as f:
      f.write(b'<html>Not found</html>' * 10)
    with self.assertRaisesRegex(data.DataError, 'cannot read .*t10k-images'):
      data.load('mnist', 'test', self.folder)

  def test_wrong_magic(self):
    write_split(self.folder, 't10k', self.images, self.labels)
    write_idx(os.path.join(self.folder, 't10k-images-idx3-ubyte.gz'),
              self.images[0])  # Two dimensions where three belong.
    with self.assertRaisesRegex(data.DataError, 'not an IDX file'):
      data.load('mnist', 'test', self.folder)

  def test_labels_and_images_disagree(self):
    write_split(self.folder, 't10k', self.images, self.labels[:-1])
    with self.assertRaisesRegex(data.DataError, '12 images but .* 11 labels'):
      data.load('mnist', 'test', self.folder)

  def test_missing_folder(self):
    with self.assertRaisesRegex(data.DataError, 'is not a folder'):
      data.load('mnist', 'test', os.path.join(self.folder, 'nope'))


class TFDSTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ('mnist', (28, 28, 1)),
      ('fashion_mnist', (28, 28, 1)),
      ('kmnist', (28, 28, 1)),
      ('binarized_mnist', (28, 28, 1)),
      ('cifar10', (32, 32, 3)),
  )
  def test_image_shape_from_dataset_info(self, name, shape):
    # mock_data serves num_examples for any split, slices included.
    with mock_tfds(num_examples=20):
      examples = data.load(name, 'test')
      self.assertEqual(examples.num_examples, 20)
      self.assertEqual(examples.image_shape, shape)
      batch = next(iter(data.batches(examples, 4, 'static')))
    self.assertEqual(batch.shape, (4,) + shape)
    self.assertEqual(batch.dtype, tf.float32)

  def test_binarized_mnist_pixels_are_stored_as_0_and_1(self):
    # mock_data draws pixels below max_value: 0 or 1.
    with mock_tfds(num_examples=20, max_value=2):
      examples = data.load('binarized_mnist', 'train')
      self.assertEqual(examples.pixel_max, 1)
      x, labels = next(iter(data.batches(examples, 20, 'none', train=False,
                                         labels=True)))
    self.assertAllEqual(np.unique(x.numpy()), [0.0, 1.0])
    self.assertAllEqual(labels, np.full(20, -1))  # It has no labels.

  def test_unknown_dataset_suggests_names(self):
    with self.assertRaisesRegex(data.DataError,
                                r"'mnistt' is not a TFDS dataset\. Did you "
                                r"mean 'mnist'"):
      data.load('mnistt', 'train')

  def test_offline_fails_fast_and_says_how_to_work_offline(self):
    empty = self.create_tempdir().full_path
    with mock.patch.object(data, 'can_reach_download_host',
                           return_value=False), mock.patch.object(
                               tfds.core.DatasetBuilder,
                               'download_and_prepare') as download:
      with self.assertRaisesRegex(
          data.DownloadError,
          r'holds no mnist data: no IDX files .*unreachable.*IDX files'):
        data.load('mnist', 'train', empty)
      with self.assertRaisesRegex(data.DownloadError, 'unreachable'):
        data.load('cifar10', 'train', empty)
    download.assert_not_called()

  def test_no_download_allowed(self):
    empty = self.create_tempdir().full_path
    with self.assertRaisesRegex(data.DownloadError, 'downloading is off'):
      data.load('mnist', 'train', empty, download=False)

  @pytest.mark.slow  # A fresh Python process, which imports TensorFlow.
  def test_tfds_data_dir_is_respected(self):
    # TFDS reads $TFDS_DATA_DIR when it is imported: a fresh process.
    folder = self.create_tempdir().full_path
    result = subprocess.run(
        [sys.executable, '-c',
         'from vae import data; data.load("mnist", "test", download=False)'],
        cwd=_REPO, env=dict(os.environ, TFDS_DATA_DIR=folder),
        capture_output=True, text=True, timeout=120, check=False)
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(f'is not prepared in {folder}', result.stderr)

  def test_failed_download_is_explained(self):
    empty = self.create_tempdir().full_path
    failure = requests.exceptions.ConnectionError('Max retries exceeded')
    with mock.patch.object(data, 'can_reach_download_host',
                           return_value=True), mock.patch.object(
                               tfds.core.DatasetBuilder,
                               'download_and_prepare', side_effect=failure):
      with self.assertRaisesRegex(data.DownloadError,
                                  'downloading .* failed: Max retries'):
        data.load('mnist', 'train', empty)


class GeneratedTest(tf.test.TestCase):
  """`sprites`, drawn here: no files, no network."""

  def test_slices_of_one_fixed_order(self):
    first = data.load('sprites', 'train[:300]', data_dir='/nonexistent')
    self.assertEqual((first.num_examples, first.image_shape,
                      first.pixel_max), (300, (64, 64, 1), 1))
    items = list(first.dataset.as_numpy_iterator())
    images = np.stack([i['image'] for i in items])
    labels = np.array([i['label'] for i in items])
    self.assertTrue(np.isin(images, [0, 1]).all())
    self.assertTrue(np.isin(labels, [0, 1, 2]).all())  # The shape.
    # The same order each time: a slice further on is its continuation.
    later = data.load('sprites', 'train[200:400]')
    later_images = np.stack([i['image'] for i in
                             later.dataset.as_numpy_iterator()])
    self.assertAllEqual(later_images[:100], images[200:])
    # A uniform sample of the grid: every shape, at every scale, nearby.
    self.assertLen(set(labels.tolist()), 3)

  def test_only_a_train_split(self):
    with self.assertRaisesRegex(data.DataError, r"Unknown split 'test'.*"
                                r"'train': 737280"):
      data.load('sprites', 'test')

  def test_misspelt_name_suggests_it(self):
    with self.assertRaisesRegex(data.DataError, "Did you mean 'sprites'"):
      data.load('spritez', 'train')


class FactorDataTest(tf.test.TestCase):

  def test_which_datasets_have_factors(self):
    for name in ('sprites', 'dsprites', 'shapes3d'):
      self.assertTrue(data.has_factors(name), msg=name)
    self.assertFalse(data.has_factors('mnist'))
    self.assertIsNone(data.factor_data('mnist'))
    self.assertEqual(data.factor_data('sprites').factor_sizes,
                     (3, 6, 40, 32, 32))

  def test_tfds_dsprites_needs_every_combination(self):
    # TFDS's mock draws random labels: far from dSprites' whole grid.
    with mock_tfds(num_examples=30, max_value=2):
      with self.assertRaisesRegex(
          data.DataError, r"'dsprites' in .*: the data hold 30 images but "
          r'\d+ of the 737280 combinations .*label_shape.: 3.*have none'):
        data.factor_data('dsprites')


class BatchesTest(tf.test.TestCase, parameterized.TestCase):

  def _examples(self, images):
    return data.Examples(
        dataset=tf.data.Dataset.from_tensor_slices(
            {'image': images, 'label': np.zeros(len(images), np.int64)}),
        image_shape=images.shape[1:], num_examples=len(images), source='test')

  def test_dynamic_binarisation_draws_bernoulli_afresh(self):
    # Every pixel at intensity 77/255: each draw is Bernoulli(77/255).
    images = np.full([50, 8, 8, 1], 77, np.uint8)
    batches = iter(data.batches(self._examples(images), 50, 'dynamic', seed=1))
    first, second = next(batches).numpy(), next(batches).numpy()
    self.assertTrue(np.all(np.isin(first, [0.0, 1.0])))
    p, n = 77 / 255, first.size
    # 5 standard errors of a mean of n Bernoulli(p) draws.
    self.assertAllClose(first.mean(), p, atol=5 * np.sqrt(p * (1 - p) / n),
                        rtol=0)
    # The same images served again (the next epoch) get a new draw.
    self.assertGreater(np.mean(first != second), 0.2)

  def test_same_seed_same_pixels(self):
    images = np.random.default_rng(0).integers(
        0, 256, size=(40, 6, 6, 1)).astype(np.uint8)

    def first_batches(seed):
      batches = iter(data.batches(self._examples(images), 8, 'dynamic',
                                  seed=seed))
      return np.stack([next(batches).numpy() for _ in range(6)])

    self.assertAllEqual(first_batches(3), first_batches(3))
    self.assertNotAllEqual(first_batches(3), first_batches(4))

  def test_static_and_none(self):
    images = np.array([0, 127, 128, 255], np.uint8).reshape(4, 1, 1, 1)
    static = next(iter(data.batches(self._examples(images), 4, 'static',
                                    train=False)))
    self.assertAllEqual(np.sort(static.numpy().ravel()), [0, 0, 1, 1])
    grey = next(iter(data.batches(self._examples(images), 4, 'none',
                                  train=False)))
    self.assertAllClose(grey.numpy().ravel(), images.ravel() / 255.0)

  def test_dequantisation_spreads_each_level_over_its_bin(self):
    # Level k becomes (k + u) / 256 with u ~ U[0, 1) fresh per draw: in
    # [k / 256, (k + 1) / 256), and u's mean 1/2 within 5 standard errors.
    images = np.tile(np.array([0, 1, 128, 255], np.uint8),
                     250).reshape(1000, 1, 1, 1)
    batches = iter(data.batches(self._examples(images), 1000, 'dequantize',
                                seed=2))
    first, second = next(batches).numpy(), next(batches).numpy()
    for x in (first, second):  # Each a permutation of the 1,000 images.
      self.assertAllEqual(np.sort(np.floor(x.ravel() * 256)),
                          np.sort(images.ravel()))
    self.assertNotAllEqual(np.sort(first.ravel()), np.sort(second.ravel()))
    u = first.ravel() * 256 - np.floor(first.ravel() * 256)
    self.assertAllClose(u.mean(), 0.5, atol=5 * np.sqrt(1 / 12 / u.size))

  def test_eval_serves_every_example_once(self):
    images = np.arange(23, dtype=np.uint8).reshape(23, 1, 1, 1)
    sizes, values = [], []
    for x in data.batches(self._examples(images), 10, 'none', train=False):
      sizes.append(x.shape[0])
      values.extend(np.round(x.numpy().ravel() * 255).astype(int))
    self.assertEqual(sizes, [10, 10, 3])
    self.assertEqual(values, list(range(23)))

  def test_train_batches_are_full_and_each_epoch_is_a_permutation(self):
    images = np.arange(12, dtype=np.uint8).reshape(12, 1, 1, 1)
    batches = iter(data.batches(self._examples(images), 4, 'none', seed=0))
    for _ in range(3):  # Three epochs.
      epoch = np.concatenate([next(batches).numpy().ravel() for _ in range(3)])
      self.assertEqual(sorted(np.round(epoch * 255).astype(int)),
                       list(range(12)))

  def test_labels_follow_their_images(self):
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    examples = data.Examples(
        dataset=tf.data.Dataset.from_tensor_slices(
            {'image': images, 'label': np.arange(10, dtype=np.int64) * 2}),
        image_shape=(1, 1, 1), num_examples=10, source='test')
    for train in (True, False):
      x, labels = next(iter(data.batches(examples, 4, 'none', train=train,
                                         seed=0, labels=True)))
      self.assertAllEqual(labels, np.round(x.numpy().ravel() * 255) * 2)

  def test_checkpointed_iterator_resumes_where_it_stopped(self):
    images = np.random.default_rng(0).integers(
        0, 256, size=(30, 3, 3, 1)).astype(np.uint8)
    make = lambda: iter(data.batches(self._examples(images), 8, 'dynamic',
                                     seed=5))
    iterator = make()
    for _ in range(5):  # Into the second epoch.
      next(iterator)
    path = tf.train.Checkpoint(it=iterator).write(
        os.path.join(self.create_tempdir().full_path, 'ckpt'))
    expected = [next(iterator).numpy() for _ in range(6)]
    restored = make()
    tf.train.Checkpoint(it=restored).read(path).assert_consumed()
    self.assertAllEqual([next(restored).numpy() for _ in range(6)], expected)
    # The checkpoint holds positions, not the images: a few kilobytes.
    self.assertLess(os.path.getsize(path + '.data-00000-of-00001'), 20_000)

  def test_batch_larger_than_the_data(self):
    images = np.zeros([5, 2, 2, 1], np.uint8)
    with self.assertRaisesRegex(data.DataError,
                                'batch_size 8 is larger than the 5'):
      data.batches(self._examples(images), 8)

  def test_unknown_binarization(self):
    with self.assertRaisesRegex(ValueError, "'stochastic'"):
      data.binarize(tf.zeros([2]), 'stochastic')


if __name__ == '__main__':
  tf.test.main()
