"""Tests for vae/run/metrics_log.py."""

import numpy as np
import tensorflow as tf

from vae import objectives
from vae.run import folder as run_folder
from vae.run import metrics_log
from vae.run import progress


def _metrics(value):
  return objectives.ELBOTerms(*[tf.constant([value, value + 2.0])] * 4)


class LogTest(tf.test.TestCase):

  def test_training_state_columns_are_logged_and_kept_on_resume(self):
    folder = self.create_tempdir().full_path
    state = {'geco_multiplier': tf.Variable(2.5)}
    log = metrics_log.Log(folder, 0, state_fields=tuple(state))
    clock = progress.Clock(0.0)
    log.steps_row(10, _metrics(1.0), clock, {}, 20, state=state)
    state['geco_multiplier'].assign(0.5)
    log.steps_row(20, _metrics(3.0), clock, {}, 20, state=state)
    log.flush()
    rows = run_folder.read_rows(log.metrics_path)
    self.assertEqual([r['geco_multiplier'] for r in rows], [2.5, 0.5])
    self.assertEqual([r['loss'] for r in rows], [2.0, 4.0])
    # Resumed from step 10: the later row goes, the column stays.
    again = metrics_log.Log(folder, 10, state_fields=tuple(state))
    self.assertEqual([r['step'] for r in again.rows], [10])
    with open(again.metrics_path) as f:
      self.assertTrue(f.readline().strip().endswith(',geco_multiplier'))
    self.assertTrue(np.isfinite(again.rows[0]['geco_multiplier']))


if __name__ == '__main__':
  tf.test.main()
