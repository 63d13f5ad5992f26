"""Tests for vae/run/inputs.py."""

import numpy as np
import tensorflow as tf

from tests import data_test
from vae import binarization
from vae import config as config_lib
from vae import idx
from vae.run import inputs


class EvaluatedSplitsTest(tf.test.TestCase):

  def test_fixed_binarisation_draws_the_validation_split_first(self):
    data_test.require_mnist(self)
    config = config_lib.make(
        data_dir=data_test.MNIST_DIR, train_split='test[:9000]',
        validation_split='test[9000:9020]', eval_split='test[9990:]',
        eval_binarization_seed=777, eval_batch_size=7)
    eval_examples, validation = inputs.evaluated_splits(config)
    files = idx.find_files(data_test.MNIST_DIR, 'mnist')
    stored = idx.read(files['test'][0], 3)[..., np.newaxis]
    want_validation, want_eval = binarization.binarize_once(
        [stored[9000:9020], stored[9990:]], 777)
    for examples, want in ((validation, want_validation),
                           (eval_examples, want_eval)):
      served = np.concatenate([x for x, _ in inputs.eval_batches(
          examples, config).as_numpy_iterator()])
      self.assertAllEqual(served, want.astype(np.float32))

  def test_without_a_seed_the_splits_are_as_stored(self):
    data_test.require_mnist(self)
    config = config_lib.make(data_dir=data_test.MNIST_DIR,
                             train_split='test[:9000]',
                             eval_split='test[9990:]')
    eval_examples, validation = inputs.evaluated_splits(config)
    self.assertIsNone(validation)
    self.assertEqual(eval_examples.pixel_max, 255)
    self.assertEqual(eval_examples.num_examples, 10)


if __name__ == '__main__':
  tf.test.main()
