"""A whole run from a `config.Config`: train, log, evaluate, checkpoint,
resume, export, summarise. No flags: a research script calls

  from vae import config
  from vae.run import runner
  summary = runner.train_and_evaluate(config.make(beta=1.0), 'runs/mine')

The run's files are described in `vae/run/folder.py`. Running the same
configuration on the same folder again resumes from the newest checkpoint:
batch s and the seeds of step s depend only on the seed and s, so a resumed
run repeats the uninterrupted one exactly.
"""

import contextlib
import math
import os
import random
import signal
from typing import Dict, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import data
from vae import distribute
from vae import errors
from vae import evaluation
from vae import export
from vae import model as model_lib
from vae import training
from vae.run import annealing
from vae.run import build
from vae.run import checkpoints as checkpoints_lib
from vae.run import early_stopping
from vae.run import figures
from vae.run import folder as run_folder
from vae.run import inputs
from vae.run import lock as run_lock
from vae.run import metrics_log
from vae.run import progress
from vae.run import report
from vae.run import signals

InputError = errors.InputError


def make_strategy(train: config_lib.TrainConfig
                  ) -> Optional[tf.distribute.Strategy]:
  """The run's strategy, made before TensorFlow sets up its devices; None
  for the default (one device).

  Args:
    train: A `config.TrainConfig`.
  """
  if train.strategy == 'default' and train.cpu_devices == 1:
    return None
  try:
    return distribute.make_strategy(train.strategy, train.cpu_devices,
                                    train.tpu)
  except (ValueError, RuntimeError) as e:
    raise InputError(f'--strategy={train.strategy} --cpu_devices='
                     f'{train.cpu_devices}: {e}') from e


def uses_xla(config: config_lib.Config) -> bool:
  """Whether training compiles with XLA: `jit_compile`, or when unset, yes
  unless a conv network runs on a CPU (XLA's CPU convolutions are an order of
  magnitude slower than TensorFlow's own: see BENCHMARKS.md), or free bits
  trains on several replicas (its mean over the global batch is an
  all-reduce, which cannot sit inside a compiled replica step).

  Args:
    config: A `config.Config`.
  """
  if config.train.jit_compile is not None:
    return config.train.jit_compile
  if config_lib.reduces_across_replicas(config):
    return False
  conv = ('conv' in (config.model.encoder, config.model.decoder)
          or model_lib.MODELS.traits(config.model.model).get('conv', False))
  return not conv or bool(tf.config.list_physical_devices('GPU'))


def evaluate_split(functions, batches, num_examples: int,
                   config: config_lib.Config, num_samples: int,
                   strategy: Optional[tf.distribute.Strategy] = None
                   ) -> evaluation.Results:
  """A run's full evaluation of its eval split, with a progress bar: the ELBO
  terms and the NLL from `num_samples` importance samples, drawn with the
  run's chunk size and seed, so training and re-evaluation agree (on any
  number of replicas: see `evaluation.evaluate`).

  Args:
    functions: The model's `export.ModelFunctions`.
    batches: The split's `(images, labels)` batches.
    num_examples: The split's size, for the progress bar.
    config: A `config.Config`.
    num_samples: Importance samples of the NLL (0: none).
    strategy: The run's strategy, or None.
  """
  total = math.ceil(num_examples / config.train.eval_batch_size)
  return evaluation.evaluate(
      functions,
      progress.progress(iterable=batches, total=total, unit='batch',
                        desc='evaluating'),
      num_samples=num_samples, chunk_size=config.train.eval_chunk_size,
      seed=config.train.seed, strategy=strategy)


def _collective_failure(error: tf.errors.OpError) -> str:
  """The line of a failed collective's error that says why it failed."""
  lines = [l.strip() for l in error.message.splitlines() if l.strip()]
  for i, line in enumerate(lines):
    if 'aborted by' in line:
      return ' '.join(lines[i:i + 2]) if line.endswith(':') else line
  return lines[-1] if lines else type(error).__name__


def make_train_loop(config: config_lib.Config, parts: build.Training,
                    run_data: inputs.RunData, start_step: int,
                    strategy: Optional[tf.distribute.Strategy] = None):
  """`train(first_step, num_steps) -> metrics`: every step from
  `start_step` on, phase by phase, each phase's steps between two log rows
  in one compiled call.

  Args:
    config: A `config.Config`.
    parts: The run's `build.Training`.
    run_data: The run's `inputs.RunData`.
    start_step: The step training starts (or resumes) at.
    strategy: The run's strategy, or None.
  """
  train = config.train

  def phase_loop(phase: training.Phase, start: int):
    def train_batches(num_replicas=1, replicas=None):
      return data.batches(run_data.train_examples, train.batch_size,
                          config.data.binarization, train=True,
                          seed=train.seed, first_step=start,
                          num_replicas=num_replicas, replicas=replicas,
                          labels=config.model.conditional)

    try:
      iterator = iter(distribute.distribute_batches(strategy, train_batches)
                      if strategy else train_batches())
    except data.DataError as e:
      raise InputError(f'--batch_size={train.batch_size} with '
                       f'--train_split={config.data.train_split}: {e}') from e
    return training.make_train_loop(
        phase.trains, parts.optimizers[phase.name], iterator, train.seed,
        steps_per_call=train.log_every, jit_compile=uses_xla(config),
        objective=phase.objective, schedule=parts.assign_schedules,
        after=phase.after, strategy=strategy)

  loops, first = [], 0
  for phase in parts.phases:
    if phase.last_step > max(first, start_step):
      loops.append((phase.last_step,
                    phase_loop(phase, max(first, start_step))))
    first = phase.last_step
  return training.in_phases(loops)


class Run:
  """One run: its data, model, optimisers, checkpoints and files.

  Made from a `config.Config` and a folder, whose lock (`run_lock`) it holds
  until `close` (or the end of its `with` block). Everything that can be
  wrong with the input fails while it is made, before anything is written;
  then its files are opened (under `restart`, the earlier run's are
  deleted first). `train` trains to `training_steps`; `finish` evaluates
  the model as it is, draws, exports and writes the summary. Each works
  whether or not the other ran; `train_and_evaluate` calls both.

  Args:
    config: The run's configuration.
    output_dir: Its folder: a run there with the same configuration is
      resumed.
    restart: Replace the run in `output_dir` instead of resuming it.

  Raises:
    InputError: for data that cannot be read, a folder that holds another
      run or a damaged checkpoint, a batch the replicas cannot share.
    run_lock.BusyError: if another process has the folder.
  """

  def __init__(self, config: config_lib.Config, output_dir: str,
               restart: bool = False):
    self.config = config
    # First, before any TensorFlow op: it may split the CPU.
    self.strategy = make_strategy(config.train)
    self.replicas = distribute.num_replicas(self.strategy)
    self.chief = distribute.is_chief()
    self.output_dir = run_folder.worker_dir(
        output_dir, None if self.chief else distribute.task())
    # Held until `close`: one process per folder (each worker its own).
    self._lock = run_lock.lock(self.output_dir)
    try:
      resuming = run_folder.earlier_run(self.output_dir, config, restart)
      # The datasets read the global seed when they are built.
      tf.random.set_seed(config.train.seed)
      np.random.seed(config.train.seed)
      random.seed(config.train.seed)
      self.data = inputs.load_data(config, self.replicas)
      self.image_shape = self.data.image_shape
      self.parts = build.training_parts(config, self.image_shape,
                                        self.strategy)
      self.model = self.parts.model
      annealing.check_run(self.model, config.train)  # Now, not at the end.
      self.functions = build.model_functions(self.model, config,
                                             self.image_shape)
      self.checkpoints = checkpoints_lib.Checkpoints(
          self.output_dir, self.model, self.parts.optimizers,
          keep=config.train.keep_checkpoints)
      # Every worker's value of an int; None for a single process.
      self._per_worker = (distribute.per_worker(self.strategy)
                          if config.train.strategy == 'multi_worker'
                          else None)
      self.start_step = self._restore(resuming)
      self.step = self.start_step  # The step the model's weights are of.
      self._train = make_train_loop(config, self.parts, self.data,
                                    self.start_step, self.strategy)
      # From here on, files are written.
      if restart:
        run_folder.clear(self.output_dir)
      run_folder.write_json(os.path.join(self.output_dir, run_folder.CONFIG),
                            config.to_dict())
      self.log = metrics_log.Log(self.output_dir, self.start_step,
                                 state_fields=tuple(self.parts.state()))
    except BaseException:
      self.close()
      raise
    if self.start_step:
      logging.info('Resuming %s from step %d.', self.output_dir,
                   self.start_step)
    self.clock = progress.Clock.resuming(self.log.rows)
    self.eval_images, self.eval_labels = self.data.first_eval_batch()
    self.train_steps_per_second = None  # Measured by `train`.

  def close(self):
    """Lets go of the run folder (the process's end does too)."""
    self._lock.release()

  def __enter__(self) -> 'Run':
    return self

  def __exit__(self, *exc_info):
    self.close()

  def _restore(self, resuming: bool) -> int:
    newest = self.checkpoints.newest_step() if resuming else 0
    # Workers resume together, from the newest step they all saved: one
    # killed while saving may lack the others' newest.
    at_most = min(self._per_worker(newest)) if self._per_worker else None
    if not resuming:
      return 0
    step = self.checkpoints.restore(at_most=at_most)
    _check_not_past_the_end(step, self.config.train.training_steps,
                            self.output_dir)
    return step

  def _save_checkpoint(self, step: int):
    self.checkpoints.save(step)
    if self.chief:
      with self.log.eval_writer.as_default(step=step):
        figures.image_summaries(self.functions, self.eval_images,
                                self.config.train.seed, self.eval_labels)

  def _criterion(self) -> str:
    return early_stopping.criterion(self.config.train.curve_num_samples)

  def _evaluate(self, step: int):
    """Evaluates the eval split (and the validation split) during training;
    keeps the weights if their validation score is the best so far."""
    row = report.curve_row(step, self.functions, self.data, self.config,
                           self.strategy)
    row['training_seconds'] = self.clock.training_seconds()
    column = self._criterion()
    if column in row and early_stopping.best(
        self.log.eval_rows + [row], column).step == step:
      # Before the row: a run killed between the two evaluates again.
      self.checkpoints.save_best(step)
    self.log.eval_row(row)

  def _restore_best(self) -> int:
    """Puts the best validation score's weights in the model; its step."""
    best = early_stopping.best(self.log.eval_rows, self._criterion())
    step = self.checkpoints.restore_best(best and best.step,
                                         self.log.eval_path)
    logging.info('Evaluating the best validation score\'s weights, of step '
                 '%d.', step)
    return step

  def _stop_step(self) -> Optional[int]:
    """The step early stopping ended training at, if it has."""
    config = self.config
    return early_stopping.stop_step(
        self.log.eval_rows, self._criterion(),
        config.train.early_stopping_steps,
        counts_from=config.objective.kl_warmup_steps)

  def train(self):
    """Trains from the newest step to `training_steps`, or to the step early
    stopping ends it at."""
    config = self.config
    num_steps = config.train.training_steps
    cadence = progress.Cadence(config.train, curve=bool(
        config.train.curve_num_samples or config.data.validation_split))
    bar = progress.progress(total=num_steps, initial=self.start_step,
                            unit='step', desc='training')
    step = self.start_step
    with (cluster_errors(self._per_worker, self.checkpoints.latest),
          signals.Requests(self._per_worker) as stops):
      if (step and cadence.evaluates(step)
          and all(r['step'] != step for r in self.log.eval_rows)):
        self._evaluate(step)  # A kill came between checkpoint and row.
      while step < num_steps and self._stop_step() is None:
        first, step = step + 1, cadence.next_log(step)
        metrics = self._train(first, step - first + 1)
        self.step = step
        bar.update(step - first + 1)
        self._log_step(first, step, metrics, bar)
        with self.clock.paused():
          self._between_calls(step, cadence, stops, bar)
    bar.close()
    self.train_steps_per_second = self.clock.steps_per_second()
    if self.start_step == num_steps:
      logging.info('%s is trained to step %d already: evaluating it again.',
                   self.output_dir, num_steps)

  def _between_calls(self, step: int, cadence: progress.Cadence,
                     stops: signals.Requests, bar):
    """Checkpoints and evaluates at `step` as the cadence says; checkpoints
    and stops if a stop was asked for."""
    stop = stops.agreed()
    if stop or cadence.checkpoints(step):
      self._save_checkpoint(step)
    if stop:
      bar.close()
      raise stopped(step, *stop, self.config.train.training_steps,
                    self.checkpoints.latest())
    if cadence.evaluates(step):
      self._evaluate(step)
      if self._stop_step() == step:
        if not cadence.checkpoints(step):
          self._save_checkpoint(step)
        logging.info('Stopping early at step %d: the best validation score '
                     'is %d steps older.', step, step - early_stopping.best(
                         self.log.eval_rows, self._criterion()).step)

  def _log_step(self, first: int, step: int, metrics, bar):
    """Logs the means of steps `first`..`step`; stops on divergence."""
    means = self.log.steps_row(step, metrics, self.clock,
                               self.parts.scalars(),
                               self.config.train.training_steps,
                               state=self.parts.state())
    # An autoencoder's elbo is NaN by definition: check what it trains.
    if not all(math.isfinite(means[k])
               for k in ('loss', 'rate', 'distortion')):
      bar.close()
      raise FloatingPointError(
          f'training diverged: the loss became {means["loss"]} between '
          f'step {first - 1} and step {step}. The log up to here is in '
          f'{self.log.metrics_path}; the last good checkpoint is '
          f'{self.checkpoints.latest()}. Try --restart with a lower '
          f'--learning_rate (now {self.config.train.learning_rate}).')

  def finish(self) -> Dict:
    """Evaluates the model as it is (the ELBO as in training, and the NLL;
    under early stopping, the best validation score's weights), draws the
    figures, exports it and writes summary.json; returns the summary."""
    config = self.config
    step = self.step
    if config.train.early_stopping_steps:
      step = self._restore_best()
    logging.info('Evaluating on %s (%d importance samples per image)...',
                 config.data.eval_split, config.train.eval_num_samples)
    with cluster_errors(self._per_worker, self.checkpoints.latest):
      results = evaluate_split(self.functions, self.data.eval_batches,
                               self.data.eval_examples.num_examples, config,
                               config.train.eval_num_samples, self.strategy)
    self.log.final_row(report.eval_row(step, results, config,
                                       self.image_shape), results,
                       config.data.eval_split)
    # Other workers keep their logs and checkpoints only.
    if self.chief and config.train.figures:
      figures.write_figures(
          self.functions, results, self.eval_images, self.log.rows,
          self.log.eval_rows,
          os.path.join(self.output_dir, run_folder.FIGURES), config)
    if config.train.export and self.chief:
      export.save(self.functions,
                  os.path.join(self.output_dir, run_folder.SAVED_MODEL))
    summary = report.run_summary(
        config, results, self.image_shape, self.log.rows, self.log.eval_rows,
        self._facts())
    if self.chief:
      summary.update(report.disentanglement(self.functions, config))
      summary.update(annealing.of_run(self.model, self.data.eval_batches,
                                      config.train))
    run_folder.write_json(os.path.join(self.output_dir, run_folder.SUMMARY),
                          summary)
    return summary

  def _facts(self) -> report.RunFacts:
    tau = self.parts.schedules.temperature
    return report.RunFacts(
        start_step=self.start_step,
        steps_per_second=self.train_steps_per_second,
        jit_compile=uses_xla(self.config), num_replicas=self.replicas,
        train_examples=self.data.train_examples.num_examples,
        temperature=float(tau.numpy()) if tau is not None else None,
        checkpoint=self.checkpoints.latest())


def _check_not_past_the_end(step: int, num_steps: int, output_dir: str):
  """Refuses to resume a run trained beyond `num_steps`."""
  if step > num_steps:
    raise InputError(
        f'--output_dir={output_dir} holds a run trained to step {step}, '
        f'past --training_steps={num_steps}. Pass --training_steps={step} '
        f'or more to resume it, or evaluate it with python -m '
        f'experiments.evaluate --output_dir={output_dir}.')


def stopped(step: int, signum: int, worker: Optional[int], num_steps: int,
            checkpoint: Optional[str]) -> errors.Stopped:
  """The error a run ends with when a signal stops it at `step`.

  Args:
    step: The step the run stopped at.
    signum: The signal.
    worker: The worker that got it, or None.
    num_steps: The run's training steps.
    checkpoint: The checkpoint written, or None.
  """
  by = signal.Signals(signum).name
  if worker is not None:
    by += f' to worker {worker}'
  return errors.Stopped(
      f'Stopped by {by} at step {step} of {num_steps}, with a checkpoint: '
      f'{checkpoint}. Run the same command again to resume from it (on every '
      'worker of a cluster).', exit_code=128 + signum)


@contextlib.contextmanager
def cluster_errors(per_worker, latest_checkpoint):
  """Under multi_worker (`per_worker` set), a worker lost mid-collective
  ends this one with `errors.WorkerLost` (TensorFlow notices within seconds
  when a worker's process dies, and within a minute, from its missed
  heartbeats, when its machine does).

  Args:
    per_worker: `distribute.per_worker`'s gather under multi_worker, else None.
    latest_checkpoint: A function giving the newest checkpoint's path, for the
      message.
  """
  try:
    yield
  except (tf.errors.UnavailableError, tf.errors.AbortedError,
          tf.errors.CancelledError, tf.errors.DeadlineExceededError) as e:
    if not per_worker:
      raise
    raise errors.WorkerLost(
        f'lost a worker of the cluster: {_collective_failure(e)}\nThe '
        f'newest checkpoint here: {latest_checkpoint() or "none yet"}. Run '
        'the same command again on every worker: they resume from the '
        'newest step all of them saved.') from e


def train_and_evaluate(config: config_lib.Config, output_dir: str,
                       restart: bool = False) -> Dict:
  """Trains the run of `config` in `output_dir`, evaluates it and writes its
  files.

  Args:
    config: The run's configuration.
    output_dir: Its folder; a run there with the same configuration is
      resumed.
    restart: Replace the run in `output_dir` instead of resuming it.

  Returns:
    The summary (`summary.json`).

  Raises:
    InputError: on bad input, before anything is written.
    FloatingPointError: if training diverges.
    run_lock.BusyError: if another process has the folder.
    errors.Stopped: after a checkpoint, on SIGTERM or Ctrl-C.
    errors.WorkerLost: when a worker of a cluster is lost.
  """
  with Run(config, output_dir, restart) as run:
    run.train()
    return run.finish()
