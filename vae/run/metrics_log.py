"""A run's metric rows: metrics.csv and eval_metrics.csv, and TensorBoard."""

import os
from typing import Dict, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from vae import evaluation
from vae.run import folder as run_folder
from vae.run import progress


class Log:
  """The run's metric rows, in the CSVs and TensorBoard.

  Args:
    output_dir: The run folder.
    start_step: The step the run (re)starts at: rows after it are dropped.
    state_fields: metrics.csv's columns of the model's training state
      (`build.Training.state`), after the run's own.
  """

  def __init__(self, output_dir: str, start_step: int,
               state_fields: Sequence[str] = ()):
    self.fields = run_folder.METRIC_FIELDS + tuple(state_fields)
    self.metrics_path = os.path.join(output_dir, run_folder.METRICS)
    self.eval_path = os.path.join(output_dir, run_folder.EVAL_METRICS)
    # Rows up to the checkpoint; later ones are trained again.
    keep = lambda rows: [r for r in rows if r['step'] <= start_step]
    self.rows = keep(run_folder.read_rows(self.metrics_path))
    self.eval_rows = keep(run_folder.read_rows(self.eval_path))
    run_folder.write_rows(self.metrics_path, self.fields, self.rows)
    run_folder.write_rows(self.eval_path, run_folder.EVAL_FIELDS,
                          self.eval_rows)
    self.train_writer = tf.summary.create_file_writer(
        os.path.join(output_dir, run_folder.TRAIN_EVENTS))
    self.eval_writer = tf.summary.create_file_writer(
        os.path.join(output_dir, run_folder.EVAL_EVENTS))

  def train_row(self, row: Dict, scalars: Dict[str, tf.Tensor]):
    """Appends a metrics.csv row; `scalars` go to TensorBoard beside it."""
    self.rows.append(row)
    run_folder.append_row(self.metrics_path, self.fields, row)
    with self.train_writer.as_default(step=row['step']):
      for name in run_folder.TERMS:
        tf.summary.scalar(name, row[name])
      for name, value in scalars.items():
        tf.summary.scalar(name, value)

  def steps_row(self, step: int, metrics, clock: progress.Clock,
                scalars: Dict[str, tf.Tensor], num_steps: int,
                state: Optional[Dict[str, tf.Variable]] = None
                ) -> Dict[str, float]:
    """Logs the means of `metrics` (the terms of the steps up to `step`)
    with the clock's speed, and the training `state` as it is at `step`;
    returns the means."""
    means = {name: float(np.mean(getattr(metrics, name).numpy()))
             for name in run_folder.TERMS}
    steps_per_second = clock.tick(step)
    row = dict(step=step, **means, steps_per_second=steps_per_second,
               elapsed_seconds=clock.elapsed(),
               training_seconds=clock.training_seconds(),
               **{name: float(value.numpy())
                  for name, value in (state or {}).items()})
    scalars = dict(scalars)
    if clock.steps_timed:
      scalars['steps_per_second'] = steps_per_second
    self.train_row(row, scalars)
    speed = (f' ({steps_per_second:.0f} steps/s, '
             f'{(num_steps - step) / steps_per_second:.0f} s left)'
             if clock.steps_timed else '')
    logging.info('step %d/%d: loss %.3f, elbo %.3f, rate %.3f, distortion '
                 '%.3f%s', step, num_steps, means['loss'], means['elbo'],
                 means['rate'], means['distortion'], speed)
    return means

  def final_row(self, row: Dict, results: evaluation.Results, split: str):
    """Logs the final evaluation's row, with its NLL and active units."""
    nll = {} if results.nll is None else {'nll': results.nll}
    self.eval_row(row, dict(nll, active_units=results.active_units))
    logging.info('eval on %s: elbo %.3f, nll %s, rate %.3f, distortion %.3f, '
                 '%d active units', split, results.elbo,
                 'n/a' if results.nll is None else f'{results.nll:.3f}',
                 results.rate, results.distortion, results.active_units)
    self.flush()

  def eval_row(self, row: Dict, scalars: Optional[Dict] = None):
    """Logs an eval row; the columns of an earlier row of its step that
    `row` lacks are kept."""
    step = row['step']
    earlier = [r for r in self.eval_rows if r['step'] == step]
    row = {**(earlier[0] if earlier else {}), **row}
    self.eval_rows[:] = sorted(
        [r for r in self.eval_rows if r['step'] != step] + [row],
        key=lambda r: r['step'])
    run_folder.write_rows(self.eval_path, run_folder.EVAL_FIELDS,
                          self.eval_rows)
    with self.eval_writer.as_default(step=step):
      for name in run_folder.TERMS:
        tf.summary.scalar(name, row[name])
      for name in ('validation_loss', 'validation_elbo', 'validation_nll'):
        if name in row:
          tf.summary.scalar(name, row[name])
      if 'nll' in row:  # The final evaluation's k may differ: apart.
        tf.summary.scalar('curve_nll', row['nll'])
      for name, value in (scalars or {}).items():
        tf.summary.scalar(name, value)

  def flush(self):
    self.train_writer.flush()
    self.eval_writer.flush()
