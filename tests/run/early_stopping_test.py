"""Tests for vae/run/early_stopping.py, the learning curve and time to quality
(vae/run/report.py), and a run that stops early (vae/run/runner.py)."""

import os

import pytest
import tensorflow as tf

from tests import data_test
from vae import config as config_lib
from vae.run import checkpoints
from vae.run import early_stopping
from vae.run import figures
from vae.run import report
from vae.run import runner


def _rows(scores, column='validation_loss', every=10):
  return [{'step': every * (i + 1), column: v} for i, v in enumerate(scores)]


class EarlyStoppingTest(tf.test.TestCase):

  def test_criterion(self):
    self.assertEqual(early_stopping.criterion(0), 'validation_loss')
    self.assertEqual(early_stopping.criterion(100), 'validation_nll')

  def test_best_is_the_lowest_and_the_earliest_of_equals(self):
    rows = _rows([5.0, 3.0, 4.0, 3.0, 6.0])
    self.assertEqual(early_stopping.best(rows, 'validation_loss'), (20, 3.0))
    self.assertEqual(early_stopping.best(rows, 'validation_loss', up_to=10),
                     (10, 5.0))
    self.assertIsNone(early_stopping.best([], 'validation_loss'))
    # Rows without the column (logged before it existed) do not count.
    self.assertEqual(early_stopping.best(
        rows + [{'step': 60.0}], 'validation_loss'), (20, 3.0))

  def test_stops_at_the_first_evaluation_patience_after_the_best(self):
    # Steps 10..70; the best is step 20 until step 70 beats it.
    rows = _rows([5.0, 3.0, 4.0, 3.5, 3.2, 3.1, 2.0])
    stop = lambda patience, **kw: early_stopping.stop_step(
        rows, 'validation_loss', patience, **kw)
    self.assertEqual(stop(30), 50)  # 50 - 20 >= 30.
    self.assertEqual(stop(21), 50)
    self.assertEqual(stop(20), 40)
    self.assertIsNone(stop(50))  # Step 70 improves before 20 + 50.
    self.assertIsNone(stop(0))  # No early stopping.
    # Counting from the end of a warm-up at step 40: 40 + 30 = 70 (it
    # stops at 70 although 70 is the best: the rule looks at the best up
    # to each row, and 70 - max(70, 40) = 0, so not there).
    self.assertIsNone(stop(30, counts_from=40))
    self.assertEqual(stop(20, counts_from=40), 60)

  def test_nan_scores_never_count_as_best(self):
    rows = _rows([5.0, float('nan'), 6.0, 7.0])
    self.assertEqual(early_stopping.best(rows, 'validation_loss'), (10, 5.0))
    self.assertEqual(early_stopping.stop_step(rows, 'validation_loss', 30),
                     40)


class TimeToQualityTest(tf.test.TestCase):

  def test_first_evaluation_within_two_nats_of_the_last(self):
    nlls = [300.0, 150.0, 104.5, 101.9, 101.0, 100.0]
    rows = [{'step': s, 'nll': v, 'epoch': s / 10, 'training_seconds': s / 2}
            for s, v in zip((1, 2, 4, 8, 16, 32), nlls)]
    rows.append({'step': 64, 'elbo': -99.0})  # The final row: no curve.
    quality = report.time_to_quality(rows)
    # The first within 100 + 2 is 101.9, at step 8.
    self.assertEqual(quality['time_to_quality_step'], 8)
    self.assertEqual(quality['time_to_quality_seconds'], 4.0)
    self.assertEqual(quality['time_to_quality_epoch'], 0.8)
    self.assertEqual(quality['curve_final_nll'], 100.0)
    self.assertEqual(report.time_to_quality(rows, nats=5.0)
                     ['time_to_quality_step'], 4)
    self.assertEqual(report.time_to_quality([{'step': 1, 'elbo': -9.0}]), {})

  def test_learning_curve_figure(self):
    rows = [{'step': s, 'nll': 200.0 / s, 'validation_nll': 210.0 / s,
             'epoch': s / 4, 'training_seconds': float(s)}
            for s in (1, 2, 4, 8)]
    path = os.path.join(self.create_tempdir().full_path, 'curve.png')
    self.assertEqual(figures.learning_curve(rows, path, 100), path)
    self.assertGreater(os.path.getsize(path), 1000)
    self.assertIsNone(figures.learning_curve(
        [{'step': 1, 'elbo': -1.0}], path + '2', 100))


@pytest.mark.slow
class EarlyStoppedRunTest(tf.test.TestCase):
  """A small run on real MNIST that stops early."""

  def _config(self, mnist_dir):
    # A learning rate high enough for the validation loss to wobble, and
    # a patience of two evaluations.
    return config_lib.make(
        data_dir=mnist_dir, train_split='test[:500]',
        validation_split='test[500:600]', eval_split='test[600:700]',
        batch_size=16, learning_rate=0.02, training_steps=400,
        log_every=10, eval_every=10, early_stopping_steps=20,
        eval_num_samples=10, jit_compile=False, export=False,
        figures=False)

  def test_reports_the_best_validation_weights_and_stays_stopped(self):
    mnist_dir = data_test.require_mnist(self)
    config = self._config(mnist_dir)
    output_dir = self.create_tempdir().full_path
    with runner.Run(config, output_dir) as run:
      run.train()
      rows = [dict(r) for r in run.log.eval_rows]
      summary = run.finish()
    stop = summary['stopped_early_at_step']
    self.assertIsNotNone(stop, msg='the run was meant to stop early')
    self.assertLess(stop, 400)
    scored = [r for r in rows if r['step'] <= stop]
    best = min(scored, key=lambda r: r['validation_loss'])
    self.assertGreaterEqual(stop - best['step'], 20)
    self.assertTrue(all(r['validation_loss'] > best['validation_loss']
                        for r in scored if r['step'] > best['step']))
    self.assertEqual(summary['evaluated_step'], best['step'])
    self.assertEqual(max(r['step'] for r in rows), stop)
    # The reported numbers are the best step's weights', not the last's:
    # the final evaluation repeats the ELBO its periodic one logged.
    last = next(r for r in rows if r['step'] == stop)
    self.assertAllClose(summary['test_elbo'], best['elbo'], rtol=1e-5)
    self.assertNotAllClose(summary['test_elbo'], last['elbo'], rtol=1e-3)
    self.assertEqual(checkpoints.newest_step(
        os.path.join(output_dir, 'checkpoints', 'best')), best['step'])
    self.assertEqual(checkpoints.newest_step(
        os.path.join(output_dir, 'checkpoints')), stop)
    # Run again: it resumes at the stop, trains nothing, reports alike.
    with runner.Run(config, output_dir) as again:
      self.assertEqual(again.start_step, stop)
      again.train()
      self.assertEqual(max(r['step'] for r in again.log.rows), stop)
      summary_again = again.finish()
    self.assertAllClose(summary_again['test_elbo'], summary['test_elbo'])
    self.assertEqual(summary_again['evaluated_step'], best['step'])


if __name__ == '__main__':
  tf.test.main()
