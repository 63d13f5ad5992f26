"""Tests for experiments/sweep.py: the grid, the table and skipping."""

import csv
import os
from unittest import mock

from absl import flags
from absl.testing import flagsaver
import pytest
import tensorflow as tf

from experiments import run_flags
from experiments import sweep
from tests import data_test
from tests import mnist_experiment_test
from vae.run import lock as run_lock

pytestmark = pytest.mark.slow


def parse(argv):
  flags.FLAGS(['sweep'] + list(argv))


class GridTest(tf.test.TestCase):

  @flagsaver.flagsaver
  def test_plural_and_grid_flags(self):
    parse(['--latent_size_grid=2,10,32', '--betas=0,0.01',
           '--hidden_sizes_grid=100,100;500,500'])
    self.assertEqual(sweep.grid(), [('beta', ['0', '0.01']),
                                    ('latent_size', ['2', '10', '32']),
                                    ('hidden_sizes', ['100,100', '500,500'])])
    self.assertEqual(
        sweep.run_name([('beta', '0.01'), ('hidden_sizes', '100,100')]),
        'beta-0.01_hidden_sizes-100-100')

  @flagsaver.flagsaver
  def test_fixed_flags_go_to_every_run(self):
    parse(['--betas=0,1', '--training_steps=7', '--jit_compile',
           '--hidden_sizes=32'])
    self.assertCountEqual(sweep.fixed_args(), [
        '--training_steps=7', '--jit_compile', '--hidden_sizes=32'])

  @flagsaver.flagsaver
  def test_bad_values_fail_before_any_run(self):
    parse(['--latent_size_grid=2,zero'])
    with self.assertRaisesRegex(run_flags.InputError,
                                "--latent_size_grid: 'zero' is not a value "
                                'of --latent_size'):
      sweep.grid()
    parse(['--latent_size_grid=2,0'])
    with self.assertRaisesRegex(run_flags.InputError, "'0' is not a value"):
      sweep.grid()

  @flagsaver.flagsaver
  def test_latent_sizes_is_not_the_old_latent_size_grid(self):
    parse(['--latent_sizes=2,10,32'])
    with self.assertRaisesRegex(run_flags.InputError,
                                'pass --latent_size_grid'):
      sweep.grid()

  @flagsaver.flagsaver
  def test_a_hierarchy_for_every_run_is_a_one_value_grid(self):
    parse(['--latent_sizes_grid=10,5'])
    self.assertEqual(sweep.grid(), [('latent_sizes', ['10,5'])])

  @flagsaver.flagsaver
  def test_a_flag_both_fixed_and_swept(self):
    parse(['--betas=0,1', '--beta=2'])
    with self.assertRaisesRegex(run_flags.InputError, '--beta and --betas'):
      sweep.grid()


class DisentanglementTablesTest(tf.test.TestCase):

  def test_metric_columns_and_figure_where_runs_have_them(self):
    output_dir = self.create_tempdir().full_path
    rows = [{'run': f'beta-{b}-seed-{s}', 'beta': b, 'seed': s,
             'status': 'trained', 'test_rate': 1.0, 'mig': 0.1 * b + s,
             'sap': None} for b in (1, 4) for s in (0, 1)]
    sweep.write_tables(rows, output_dir, ['beta', 'seed'])
    with open(os.path.join(output_dir, sweep.RESULTS_CSV)) as f:
      header = next(csv.reader(f))
    self.assertIn('mig', header)
    self.assertNotIn('sap', header)  # No run has it.
    self.assertNotIn('dci_completeness', header)
    sweep._metrics_vs_beta(rows, ['beta', 'seed'], output_dir)
    figure = os.path.join(output_dir, sweep.METRICS_VS_BETA)
    self.assertGreater(os.path.getsize(figure), 5000)
    # Without beta swept there is no such figure.
    other = self.create_tempdir().full_path
    sweep._metrics_vs_beta(rows, ['seed'], other)
    self.assertFalse(os.path.exists(os.path.join(other,
                                                 sweep.METRICS_VS_BETA)))


class RateDistortionTest(tf.test.TestCase):

  def test_runs_without_an_elbo_are_left_out_with_the_reason(self):
    rows = [{'run': 'model-vae', 'model': 'vae', 'test_rate': 5.0,
             'test_distortion': 90.0},
            {'run': 'model-wae_mmd', 'model': 'wae_mmd', 'test_rate': 0.0,
             'test_distortion': 80.0, 'no_elbo': 'point masses'}]
    path = os.path.join(self.create_tempdir().full_path, 'rd.png')
    with mock.patch.object(sweep.plotting, 'rate_distortion',
                           wraps=sweep.plotting.rate_distortion) as plot:
      sweep._rate_distortion(rows, ['model'], path)
    rates, distortions, names, _ = plot.call_args.args
    self.assertEqual((rates, distortions, names),
                     ([5.0], [90.0], ['model=vae']))
    self.assertEqual(plot.call_args.kwargs['note'], 'Left out, with no '
                     'rate: model=wae_mmd (point masses)')
    self.assertGreater(os.path.getsize(path), 5000)

  def test_conditional_runs_are_marked(self):
    rows = [{'run': 'beta-1', 'beta': 1.0, 'test_rate': 5.0,
             'test_distortion': 90.0, 'conditional': True}]
    path = os.path.join(self.create_tempdir().full_path, 'rd.png')
    with mock.patch.object(sweep.plotting, 'rate_distortion') as plot:
      sweep._rate_distortion(rows, ['beta'], path)
    self.assertEqual(plot.call_args.args[2], ['beta=1.0 (given y)'])
    self.assertIn('p(x|z, y)', plot.call_args.kwargs['note'])


class SweepTest(tf.test.TestCase):

  def test_runs_tabulates_and_skips_finished_runs(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    # Without XLA: each run is a process that would pay its compile.
    fixed = [f'--data_dir={mnist_dir}', '--training_steps=10',
             '--nojit_compile'] + mnist_experiment_test.TINY
    argv = ['--betas=0,1', f'--output_dir={output_dir}'] + fixed

    def run_sweep():
      with flagsaver.flagsaver():
        parse(argv)
        sweep.main(['sweep'])
      with open(os.path.join(output_dir, sweep.RESULTS_CSV)) as f:
        return list(csv.DictReader(f))

    # beta-0 trained by hand with the sweep's flags is a finished run of
    # the grid (and each run the sweep starts costs a process).
    mnist_experiment_test.run_main(
        fixed + ['--beta=0', f'--output_dir={output_dir}/beta-0'])
    rows = run_sweep()
    self.assertEqual([r['run'] for r in rows], ['beta-0', 'beta-1'])
    self.assertEqual([r['status'] for r in rows],
                     ['skipped (finished)', 'trained'])
    for row in rows:
      summary = mnist_experiment_test.read_summary(
          os.path.join(output_dir, row['run']))
      self.assertEqual(summary['beta'], float(row['beta']))
      self.assertEqual(float(row['test_elbo']), summary['test_elbo'])
      self.assertEqual(float(row['test_nll']), summary['test_nll'])
      self.assertEqual(int(row['active_units']), summary['active_units'])
    with open(os.path.join(output_dir, sweep.RESULTS_MD)) as f:
      table = f.read().splitlines()
    self.assertLen(table, 4)  # Header, rule, two runs.
    self.assertStartsWith(table[3], '| beta-1 | 1 | trained | ')
    figure = os.path.join(output_dir, sweep.RATE_DISTORTION)
    self.assertGreater(os.path.getsize(figure), 5000)

    log = os.path.join(output_dir, 'beta-1', 'metrics.csv')
    modified = os.path.getmtime(log)
    again = run_sweep()
    self.assertEqual([r['status'] for r in again], ['skipped (finished)'] * 2)
    self.assertEqual(os.path.getmtime(log), modified)
    self.assertEqual([r['test_elbo'] for r in again],
                     [r['test_elbo'] for r in rows])
    # Other flags make other runs: not finished, so not skipped.
    with flagsaver.flagsaver():
      parse(argv)
      self.assertTrue(sweep.is_finished(os.path.join(output_dir, 'beta-1'),
                                        [('beta', '1')]))
    with flagsaver.flagsaver():
      parse(argv + ['--learning_rate=0.01'])
      self.assertFalse(sweep.is_finished(os.path.join(output_dir, 'beta-1'),
                                         [('beta', '1')]))


class FailedRunTest(tf.test.TestCase):
  # A class of its own: pytest's workers take a class each.

  def test_failed_and_busy_runs_are_reported_and_tabulated(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    # batch_size 600 is more than the 500 training examples: run fails.
    # batch_size-32's folder is in use by another process (here, this one).
    # (SweepTest tabulates trained runs; none trains here.)
    busy = run_lock.lock(os.path.join(output_dir, 'batch_size-32'))
    with flagsaver.flagsaver():
      parse(['--batch_sizes=600,32', f'--data_dir={mnist_dir}',
             '--training_steps=5', '--train_split=test[:500]',
             '--eval_split=test[500:600]', '--eval_num_samples=5',
             '--nojit_compile', '--noexport', '--nofigures',
             f'--output_dir={output_dir}'])
      with self.assertRaisesRegex(
          run_flags.InputError,
          r'2 of 2 runs did not finish:\n  batch_size-600: failed \(exit 1\), '
          r'see \S+/batch_size-600/sweep\.log\n  batch_size-32: busy, in use '
          f'by process {os.getpid()} on .*; not touched\n.*Run the sweep '
          'again'):
        sweep.main(['sweep'])
    self.assertEqual(os.listdir(busy.folder), [run_lock.LOCK])
    busy.release()
    with open(os.path.join(output_dir, sweep.RESULTS_CSV)) as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([r['status'] for r in rows],
                     ['failed (exit 1)', 'busy'])
    with open(os.path.join(output_dir, 'batch_size-600', sweep.RUN_LOG)) as f:
      self.assertIn('batch_size 600 is larger than the 500', f.read())


if __name__ == '__main__':
  tf.test.main()
