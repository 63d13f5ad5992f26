"""Tests for experiments/mnist.py: smoke runs on real MNIST and bad input."""

import csv
import json
import os
import subprocess
import sys
from unittest import mock

from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from experiments import mnist
from tests import data_test
from tests import plotting_test
from vae import data

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = ('loss_curves.png', 'reconstructions.png', 'samples.png',
           'latent_traversal.png')


def run_main(argv):
  """Parses argv as the command line would, then runs main, in-process."""
  with flagsaver.flagsaver():  # Restores every flag afterwards.
    flags.FLAGS(['mnist'] + list(argv))
    mnist.main([])


def read_metrics(output_dir):
  with open(os.path.join(output_dir, 'metrics.csv')) as f:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


class SmokeTest(tf.test.TestCase):

  def test_main_job_on_real_mnist(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    # The README's offline command, shortened to 300 steps.
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.mnist', f'--data_dir={mnist_dir}',
         '--train_split=test[:9000]', '--eval_split=test[9000:]',
         '--training_steps=300', '--log_every=50',
         f'--output_dir={output_dir}'],
        cwd=_REPO, capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])

    with open(os.path.join(output_dir, 'summary.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['steps'], 300)
    self.assertEqual(summary['train_examples'], 9000)
    self.assertEqual(summary['eval_examples'], 1000)
    self.assertAllClose(summary['test_elbo'],
                        -(summary['test_rate'] + summary['test_distortion']))
    self.assertAllClose(summary['test_loss'], summary['test_distortion']
                        + 0.01 * summary['test_rate'])
    self.assertGreater(summary['train_steps_per_second'], 0)
    # 784 binary pixels: an untrained model is near 784 log 2 = 543 nats; after
    # 300 steps the ELBO is far better, and the rate is positive.
    self.assertBetween(summary['test_elbo'], -250.0, -60.0)
    self.assertGreater(summary['test_rate'], 1.0)

    rows = read_metrics(output_dir)
    self.assertEqual([int(r['step']) for r in rows],
                     [1, 2, 4, 8, 16, 32, 50, 64, 100, 128, 150, 200, 250, 256,
                      300])
    self.assertLess(rows[-1]['loss'], 0.5 * rows[0]['loss'])
    self.assertEqual(summary['train_loss'], rows[-1]['loss'])

    with open(os.path.join(output_dir, 'config.json')) as f:
      self.assertEqual(json.load(f)['beta'], 0.01)
    for name in FIGURES:
      path = os.path.join(output_dir, 'figures', name)
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), plotting_test.PNG_MAGIC, msg=name)
      self.assertGreater(os.path.getsize(path), 5_000, msg=name)


class ConfigurationsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('notebook', ['--loss_normalization=notebook', '--binarization=none']),
      ('static_mc_kl_xla', ['--binarization=static', '--kl_samples=3',
                            '--jit_compile']),
      ('beta0_latent1', ['--beta=0', '--latent_size=1',
                         '--hidden_sizes=32']),
  )
  def test_configuration_trains(self, extra):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    run_main([f'--data_dir={mnist_dir}', '--train_split=test[:500]',
              '--eval_split=test[500:600]', '--training_steps=20',
              '--batch_size=16', f'--output_dir={output_dir}'] + extra)
    with open(os.path.join(output_dir, 'summary.json')) as f:
      summary = json.load(f)
    for key in ('train_loss', 'test_elbo', 'test_rate', 'test_distortion'):
      self.assertTrue(np.isfinite(summary[key]), msg=key)
    self.assertTrue(os.path.isfile(
        os.path.join(output_dir, 'figures', 'loss_curves.png')))


class ReproducibilityTest(tf.test.TestCase):

  def test_same_seed_same_numbers(self):
    mnist_dir = data_test.require_mnist(self)

    def run(seed):
      output_dir = self.create_tempdir().full_path
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:500]',
                '--eval_split=test[500:600]', '--training_steps=30',
                '--batch_size=16', f'--seed={seed}',
                f'--output_dir={output_dir}'])
      rows = read_metrics(output_dir)
      return [(r['loss'], r['rate']) for r in rows]

    first = run(seed=1)
    self.assertEqual(first, run(seed=1))
    self.assertNotEqual(first, run(seed=2))


class BadInputTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.output_dir = self.create_tempdir().full_path

  def assert_nothing_trained(self):
    self.assertFalse(
        os.path.exists(os.path.join(self.output_dir, 'metrics.csv')))

  @parameterized.parameters(
      ('--beta=-1', '--beta=-1'),
      ('--latent_size=0', '--latent_size=0'),
      ('--training_steps=0', '--training_steps=0'),
      ('--hidden_sizes=100,abc', '--hidden_sizes'),
      ('--learning_rate=0', '--learning_rate'),
      ('--binarization=maybe', '--binarization'),
  )
  def test_impossible_flag(self, flag, message):
    with self.assertRaisesRegex(flags.IllegalFlagValueError, message):
      run_main([flag, f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_unknown_dataset(self):
    with self.assertRaisesRegex(mnist.InputError,
                                r"--dataset=mnistt .*Did you mean 'mnist'"):
      run_main(['--dataset=mnistt', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_folder_without_mnist_files(self):
    empty = self.create_tempdir().full_path
    with mock.patch.object(data, 'can_reach_download_host',
                           return_value=False):
      with self.assertRaisesRegex(
          mnist.InputError,
          r'(?s)--dataset=mnist --train_split=train --data_dir=\S+: '
          r'.*holds no mnist data.*'
          r'Offline.*--data_dir=/path/to/idx_folder'):
        run_main([f'--data_dir={empty}', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_missing_data_folder(self):
    with self.assertRaisesRegex(mnist.InputError, r'--data_dir=/no/such/dir.*'
                                'is not a folder'):
      run_main(['--data_dir=/no/such/dir', f'--output_dir={self.output_dir}'])

  @parameterized.parameters(
      ('--train_split', 'train', "Unknown split 'train'"),
      ('--train_split', 'test[:20000]', 'incompatible with 10000'),
      ('--eval_split', 'test[9999:10]', 'selects no examples'),
  )
  def test_impossible_split(self, flag, split, message):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(mnist.InputError,
                                f'{flag}={split}.*{message}'.replace('[', r'\[')
                                ):
      run_main([f'--data_dir={mnist_dir}', f'{flag}={split}',
                '--train_split=test[:100]' if flag == '--eval_split' else
                '--eval_split=test', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_batch_larger_than_training_split(self):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(mnist.InputError,
                                r'--batch_size=64 with --train_split=test\[:10'
                                r'\]: batch_size 64 is larger than the 10'):
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:10]',
                f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_earlier_results_are_kept(self):
    with open(os.path.join(self.output_dir, 'summary.json'), 'w') as f:
      f.write('{"test_elbo": -90.0}')
    with self.assertRaisesRegex(mnist.InputError, 'already holds the results .*'
                                '--overwrite'):
      run_main([f'--output_dir={self.output_dir}'])
    with open(os.path.join(self.output_dir, 'summary.json')) as f:
      self.assertEqual(f.read(), '{"test_elbo": -90.0}')

  def test_overwrite_leaves_no_stale_summary(self):
    mnist_dir = data_test.require_mnist(self)
    with open(os.path.join(self.output_dir, 'summary.json'), 'w') as f:
      f.write('{"test_elbo": -90.0}')
    # This run fails after it starts writing: the old summary must not stay
    # beside its log as if it were this run's.
    with self.assertRaises(FloatingPointError):
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:500]',
                '--eval_split=test[500:600]', '--learning_rate=1e30',
                '--training_steps=50', '--overwrite',
                f'--output_dir={self.output_dir}'])
    self.assertFalse(
        os.path.exists(os.path.join(self.output_dir, 'summary.json')))

  def test_divergence_stops_with_the_log_kept(self):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(FloatingPointError,
                                r'diverged.*metrics\.csv.*--learning_rate'):
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:500]',
                '--eval_split=test[500:600]', '--learning_rate=1e30',
                '--training_steps=50', f'--output_dir={self.output_dir}'])
    rows = read_metrics(self.output_dir)
    self.assertNotEmpty(rows)
    self.assertFalse(np.isfinite(rows[-1]['loss']))
    self.assertFalse(
        os.path.exists(os.path.join(self.output_dir, 'summary.json')))

  def test_command_line_error_names_flag_and_value(self):
    result = subprocess.run(
        [sys.executable, '-m', 'experiments.mnist', '--latent_size=0',
         f'--output_dir={self.output_dir}'],
        cwd=_REPO, capture_output=True, text=True, timeout=120, check=False)
    self.assertNotEqual(result.returncode, 0)
    self.assertIn('--latent_size=0', result.stderr)
    self.assert_nothing_trained()


if __name__ == '__main__':
  tf.test.main()
