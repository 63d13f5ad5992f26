"""Tests for experiments/evaluate.py: a run re-evaluated from its folder."""

import os
import shutil
import tempfile

from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized
import pytest
import numpy as np
import tensorflow as tf

from experiments import run_flags
from experiments import evaluate
from tests import data_test
from tests import mnist_experiment_test
from vae.run import lock as run_lock

pytestmark = pytest.mark.slow


def run_evaluate(argv):
  with flagsaver.flagsaver():
    flags.FLAGS(['evaluate'] + list(argv))
    evaluate.main(['evaluate'])


class EvaluateTest(tf.test.TestCase, parameterized.TestCase):
  """One run, trained on 2 replicas (conftest.py splits the CPU), evaluated
  on one device: a checkpoint moves between strategies."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.mnist_dir = data_test.MNIST_DIR
    cls.output_dir = tempfile.mkdtemp()
    if not os.path.isfile(os.path.join(cls.mnist_dir,
                                       't10k-images-idx3-ubyte.gz')):
      return  # Each test skips (or fails, in CI) in setUp.
    # Without XLA, whose compile time is not what is tested: evaluation does
    # not depend on how the run was trained.
    mnist_experiment_test.run_main(
        [f'--data_dir={cls.mnist_dir}', '--training_steps=30',
         '--nojit_compile', '--strategy=mirrored', '--cpu_devices=2',
         f'--output_dir={cls.output_dir}'] + mnist_experiment_test.TINY
        + ['--export', '--eval_ais_steps=10', '--eval_ais_chains=2',
           '--eval_ais_examples=5'])
    # As training wrote it: test_ais_and_bdmc... adds evaluate's numbers.
    cls.trained = mnist_experiment_test.read_summary(cls.output_dir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.output_dir, ignore_errors=True)
    super().tearDownClass()

  def setUp(self):
    super().setUp()
    data_test.require_mnist(self)

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
    self.assertEqual(reported['num_replicas'], 2)
    for name in mnist_experiment_test.FIGURES:
      self.assertGreater(os.path.getsize(os.path.join(figures, name)), 1000)

  def test_other_sample_count_without_figures(self):
    run_evaluate([f'--output_dir={self.output_dir}', '--eval_num_samples=3',
                  '--nofigures'])
    now = mnist_experiment_test.read_summary(self.output_dir,
                                             evaluate.EVALUATION)
    self.assertEqual(now['eval_num_samples'], 3)
    # The run drew none either (TINY): evaluate drew none.
    self.assertFalse(os.path.exists(os.path.join(self.output_dir,
                                                 'figures')))

  def test_ais_and_bdmc_beside_the_iwae_bound(self):
    run_evaluate([f'--output_dir={self.output_dir}', '--nofigures',
                  '--eval_num_samples=1000', '--ais_steps=300',
                  '--ais_chains=4', '--ais_examples=6', '--bdmc_examples=3'])
    now = mnist_experiment_test.read_summary(self.output_dir,
                                             evaluate.EVALUATION)
    self.assertEqual((now['ais_steps'], now['ais_chains'],
                      now['ais_examples'], now['ais_iwae_samples']),
                     (300, 4, 6, 1000))
    # A trained model (30 steps), enough steps: AIS's NLL is below the
    # IWAE bound's at k = 1000 on the same six digits (the bound is loose
    # by q's mismatch; AIS's by the annealing, which 300 steps nearly
    # close on this decoder). Measured: 245.2 against 256.1. And p(x) of
    # binary pixels is at most 1: a path of the wrong sign gave -245.4.
    self.assertLess(now['test_nll_ais'], now['ais_iwae_nll'])
    self.assertGreater(now['test_nll_ais'], 0)
    self.assertGreater(now['test_nll_ais_stderr'], 0)
    # A stochastic sandwich, 0.28 wide here; the wrong sign gave -0.75.
    self.assertGreater(now['bdmc_gap'], -0.5)
    reported = mnist_experiment_test.read_summary(self.output_dir)
    self.assertEqual(reported['test_nll_ais'], now['test_nll_ais'])
    with self.assertRaisesRegex(run_flags.InputError, 'source=checkpoint'):
      run_evaluate([f'--output_dir={self.output_dir}', '--nofigures',
                    '--source=saved_model', '--ais_steps=2'])

  def test_the_runs_own_ais_beside_its_iwae_bound(self):
    # --eval_ais_steps at the end of training, on 2 replicas' weights.
    self.assertEqual((self.trained['ais_steps'], self.trained['ais_chains'],
                      self.trained['ais_examples']), (10, 2, 5))
    self.assertEqual(self.trained['ais_iwae_samples'], 20)  # TINY's k.
    # Both estimate the NLL of the same 5 digits (a few hundred nats): far
    # apart only if they were not the same examples or the same model.
    self.assertAllClose(self.trained['test_nll_ais'],
                        self.trained['ais_iwae_nll'], rtol=0.1)
    self.assertNotIn('bdmc_gap', self.trained)

  def test_training_flags_are_refused(self):
    with self.assertRaisesRegex(run_flags.InputError,
                                '--beta: evaluate reads the training flags'):
      run_evaluate([f'--output_dir={self.output_dir}', '--beta=2'])

  def test_folder_without_a_run(self):
    empty = self.create_tempdir().full_path
    with self.assertRaisesRegex(run_flags.InputError, 'has no config.json'):
      run_evaluate([f'--output_dir={empty}'])

  def test_busy_run_is_refused_and_untouched(self):
    before = sorted(os.listdir(self.output_dir))
    with run_lock.lock(self.output_dir):  # As a training process would.
      with self.assertRaisesRegex(
          run_lock.BusyError, f'^--output_dir={self.output_dir} is in use by '
          f'process {os.getpid()} '):
        run_evaluate([f'--output_dir={self.output_dir}'])
    self.assertEqual(sorted(os.listdir(self.output_dir)), before)

  def test_missing_saved_model(self):
    saved_model = os.path.join(self.output_dir, 'saved_model')
    moved = os.path.join(self.output_dir, 'moved')
    os.rename(saved_model, moved)
    try:
      with self.assertRaisesRegex(run_flags.InputError,
                                  'saved_model does not exist.*checkpoint'):
        run_evaluate([f'--output_dir={self.output_dir}',
                      '--source=saved_model'])
    finally:
      os.rename(moved, saved_model)

  def test_resumes_on_one_device(self):
    resumed = self.create_tempdir().full_path
    shutil.copytree(self.output_dir, resumed, dirs_exist_ok=True)
    mnist_experiment_test.run_main(
        [f'--data_dir={self.mnist_dir}', '--training_steps=40',
         '--nojit_compile', f'--output_dir={resumed}']
        + mnist_experiment_test.TINY)
    summary = mnist_experiment_test.read_summary(resumed)
    self.assertEqual((summary['resumed_from_step'], summary['num_replicas']),
                     (30, 1))
    steps = [r['step'] for r in mnist_experiment_test.read_metrics(resumed)]
    self.assertEqual(steps[-3:], [30, 32, 40])


if __name__ == '__main__':
  tf.test.main()
