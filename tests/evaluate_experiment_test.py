"""Tests for experiments/evaluate.py: a run re-evaluated from its folder."""

import os

from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized
import tensorflow as tf

from experiments import common
from experiments import evaluate
from tests import data_test
from tests import mnist_experiment_test


def run_evaluate(argv):
  with flagsaver.flagsaver():
    flags.FLAGS(['evaluate'] + list(argv))
    evaluate.main(['evaluate'])


class EvaluateTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.mnist_dir = data_test.require_mnist(self)
    self.output_dir = self.create_tempdir().full_path
    # Without XLA, whose compile time every test here would pay: evaluation
    # does not depend on how the run was trained.
    mnist_experiment_test.run_main(
        [f'--data_dir={self.mnist_dir}', '--training_steps=30',
         '--nojit_compile', f'--output_dir={self.output_dir}']
        + mnist_experiment_test.TINY)

  @parameterized.parameters('checkpoint', 'saved_model')
  def test_matches_what_training_reported(self, source):
    figures = self.create_tempdir().full_path
    run_evaluate([f'--output_dir={self.output_dir}', f'--source={source}',
                  f'--figures_dir={figures}'])
    reported = mnist_experiment_test.read_summary(self.output_dir)
    now = mnist_experiment_test.read_summary(self.output_dir,
                                             evaluate.EVALUATION)
    # Same weights, same data, same seeds: the same numbers to the bit.
    for key in ('test_elbo', 'test_nll', 'test_rate', 'test_distortion',
                'test_loss', 'active_units', 'test_kl_per_dimension'):
      self.assertEqual(now[key], reported[key], msg=key)
    self.assertEqual(now['step'], 30 if source == 'checkpoint' else None)
    for name in mnist_experiment_test.FIGURES:
      self.assertGreater(os.path.getsize(os.path.join(figures, name)), 1000)

  def test_other_sample_count(self):
    run_evaluate([f'--output_dir={self.output_dir}', '--eval_num_samples=3'])
    now = mnist_experiment_test.read_summary(self.output_dir,
                                             evaluate.EVALUATION)
    self.assertEqual(now['eval_num_samples'], 3)

  def test_training_flags_are_refused(self):
    with self.assertRaisesRegex(common.InputError,
                                '--beta: evaluate reads the training flags'):
      run_evaluate([f'--output_dir={self.output_dir}', '--beta=2'])

  def test_folder_without_a_run(self):
    empty = self.create_tempdir().full_path
    with self.assertRaisesRegex(common.InputError, 'has no config.json'):
      run_evaluate([f'--output_dir={empty}'])

  def test_missing_saved_model(self):
    os.rename(os.path.join(self.output_dir, 'saved_model'),
              os.path.join(self.output_dir, 'moved'))
    with self.assertRaisesRegex(common.InputError,
                                'saved_model does not exist.*checkpoint'):
      run_evaluate([f'--output_dir={self.output_dir}', '--source=saved_model'])


if __name__ == '__main__':
  tf.test.main()
