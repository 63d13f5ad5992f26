"""A whole run from a `config.Config`: train, log, evaluate, checkpoint,
resume, export, summarise. No flags: a research script calls

  from vae import config, runner
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
import shutil
import signal
import sys
import time
from typing import Dict, Optional

from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf
import tqdm

from vae import config as config_lib
from vae import data
from vae import distribute
from vae import errors
from vae import evaluation
from vae import export
from vae import latents
from vae import model as model_lib
from vae import schedules
from vae import training
from vae.run import build
from vae.run import early_stopping
from vae.run import folder as run_folder
from vae.run import lock as run_lock
from vae.run import report
from vae.run import signals

InputError = run_folder.InputError


def progress(**kwargs) -> tqdm.tqdm:
  """A progress bar (done, rate, time left) on a terminal; silent when
  stderr is a file or a pipe, where the log lines report progress."""
  return tqdm.tqdm(file=sys.stderr, disable=None, dynamic_ncols=True,
                   **kwargs)


def make_strategy(train: config_lib.TrainConfig
                  ) -> Optional[tf.distribute.Strategy]:
  """The run's strategy, made before TensorFlow sets up its devices; None
  for the default (one device)."""
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
  all-reduce, which cannot sit inside a compiled replica step)."""
  if config.train.jit_compile is not None:
    return config.train.jit_compile
  if config_lib.reduces_across_replicas(config):
    return False
  conv = ('conv' in (config.model.encoder, config.model.decoder)
          or model_lib.MODELS.traits(config.model.model).get('conv', False))
  return not conv or bool(tf.config.list_physical_devices('GPU'))


def load_examples(data_config: config_lib.DataConfig, split: str,
                  split_field: str = 'eval_split') -> data.Examples:
  """One split of the run's dataset; bad input becomes an `InputError`."""
  given = f'--dataset={data_config.dataset} --{split_field}={split}'
  if data_config.data_dir is not None:
    given += f' --data_dir={data_config.data_dir}'
  try:
    return data.load(data_config.dataset, split, data_config.data_dir,
                     download=data_config.download)
  except data.DownloadError as e:
    raise InputError(
        f'{given}: {e}\nOffline, with a folder of the IDX files:\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder\n'
        f'or, with only the test files (as in ../shared/data/mnist):\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder '
        f'--train_split=\'test[:9000]\' --eval_split=\'test[9000:]\'') from e
  except data.DataError as e:
    raise InputError(f'{given}: {e}') from e


def eval_batches(examples: data.Examples, config: config_lib.Config
                 ) -> tf.data.Dataset:
  """The eval split in order, `(images, labels)`, binarised from the seed."""
  return data.batches(examples, config.train.eval_batch_size,
                      config.data.binarization, train=False,
                      seed=config.train.seed + 1, labels=True)


def evaluate_split(functions, batches, num_examples: int,
                   config: config_lib.Config, num_samples: int,
                   strategy: Optional[tf.distribute.Strategy] = None
                   ) -> evaluation.Results:
  """A run's full evaluation of its eval split, with a progress bar: the ELBO
  terms and the NLL from `num_samples` importance samples, drawn with the
  run's chunk size and seed, so training and re-evaluation agree (on any
  number of replicas: see `evaluation.evaluate`)."""
  total = math.ceil(num_examples / config.train.eval_batch_size)
  return evaluation.evaluate(
      functions,
      progress(iterable=batches, total=total, unit='batch', desc='evaluating'),
      num_samples=num_samples, chunk_size=config.train.eval_chunk_size,
      seed=config.train.seed, strategy=strategy)


def _collective_failure(error: tf.errors.OpError) -> str:
  """The line of a failed collective's error that says why it failed."""
  lines = [l.strip() for l in error.message.splitlines() if l.strip()]
  for i, line in enumerate(lines):
    if 'aborted by' in line:
      return ' '.join(lines[i:i + 2]) if line.endswith(':') else line
  return lines[-1] if lines else type(error).__name__


def _is_power_of_two(step: int) -> bool:
  return step & (step - 1) == 0


class Cadence:
  """Which steps log, evaluate and checkpoint. The last step evaluates
  during training too when the run logs a learning curve or a validation
  split (`finish` evaluates it in any case)."""

  def __init__(self, train: config_lib.TrainConfig, curve: bool = False):
    self._train = train
    self._curve = curve

  def evaluates(self, step: int) -> bool:
    if step == self._train.training_steps:
      return self._curve
    return step < self._train.training_steps and (
        _is_power_of_two(step) or step % self._train.eval_every == 0)

  def checkpoints(self, step: int) -> bool:
    return (step % self._train.checkpoint_every == 0
            or step == self._train.training_steps)

  def logs(self, step: int) -> bool:
    return (_is_power_of_two(step) or step % self._train.log_every == 0
            or self.evaluates(step) or self.checkpoints(step))

  def next_log(self, step: int) -> int:
    """The first step after `step` that logs; multiples of log_every log,
    so it is at most log_every steps away."""
    return next(s for s in range(step + 1, step + 1 + self._train.log_every)
                if self.logs(s))


class Log:
  """The run's metric rows, in the CSVs and TensorBoard."""

  def __init__(self, output_dir: str, start_step: int):
    self.metrics_path = os.path.join(output_dir, run_folder.METRICS)
    self.eval_path = os.path.join(output_dir, run_folder.EVAL_METRICS)
    # Rows up to the checkpoint; later ones are trained again.
    keep = lambda rows: [r for r in rows if r['step'] <= start_step]
    self.rows = keep(run_folder.read_rows(self.metrics_path))
    self.eval_rows = keep(run_folder.read_rows(self.eval_path))
    run_folder.write_rows(self.metrics_path, run_folder.METRIC_FIELDS,
                          self.rows)
    run_folder.write_rows(self.eval_path, run_folder.EVAL_FIELDS,
                          self.eval_rows)
    self.train_writer = tf.summary.create_file_writer(
        os.path.join(output_dir, run_folder.TRAIN_EVENTS))
    self.eval_writer = tf.summary.create_file_writer(
        os.path.join(output_dir, run_folder.EVAL_EVENTS))

  def train_row(self, row: Dict, scalars: Dict[str, tf.Tensor]):
    """Appends a metrics.csv row; `scalars` go to TensorBoard beside it."""
    self.rows.append(row)
    run_folder.append_row(self.metrics_path, run_folder.METRIC_FIELDS, row)
    with self.train_writer.as_default(step=row['step']):
      for name in run_folder.TERMS:
        tf.summary.scalar(name, row[name])
      for name, value in scalars.items():
        tf.summary.scalar(name, value)

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


class Clock:
  """Training speed, leaving out the first call (it compiles) and the time
  spent evaluating and saving."""

  def __init__(self, elapsed_before: float, training_before: float = 0.0):
    self._start = time.perf_counter()
    self._elapsed_before = elapsed_before
    self._training_before = training_before
    self._timed_from = None  # (time, step) when the first call ended.
    self._paused = 0.0
    self._paused_at = None  # While paused: when it began.
    self.steps_timed = 0

  def tick(self, step: int) -> float:
    """Called after each call to training; returns steps per second (NaN
    until a second call has been timed)."""
    now = time.perf_counter()
    if self._timed_from is None:
      self._timed_from = (now, step)
    self.steps_timed = step - self._timed_from[1]
    return (self.steps_timed / (now - self._timed_from[0] - self._paused)
            if self.steps_timed else float('nan'))

  def elapsed(self) -> float:
    return self._elapsed_before + time.perf_counter() - self._start

  def training_seconds(self) -> float:
    """Seconds spent training (its first call's compile included) over
    the whole run, resumed or not; while paused, up to the pause."""
    now = self._paused_at or time.perf_counter()
    return self._training_before + now - self._start - self._paused

  @contextlib.contextmanager
  def paused(self):
    self._paused_at = time.perf_counter()
    try:
      yield
    finally:
      self._paused += time.perf_counter() - self._paused_at
      self._paused_at = None

  def steps_per_second(self) -> Optional[float]:
    if self._timed_from is None or not self.steps_timed:
      return None
    seconds = time.perf_counter() - self._timed_from[0] - self._paused
    return self.steps_timed / seconds if seconds else None


class Run:
  """One run: its data, model, optimiser, checkpoints and files.

  Made from a `config.Config` and a folder, whose lock (`run_lock`) it holds
  until `close` (or the end of its `with` block). Everything that can be
  wrong with the input fails while it is made, before anything is written;
  `train` then trains to `training_steps` and `finish` evaluates, draws,
  exports and writes the summary. `train_and_evaluate` does all three.
  """

  def __init__(self, config: config_lib.Config, output_dir: str,
               restart: bool = False):
    self.config = config
    self.restart = restart
    # First, before any TensorFlow op: it may split the CPU.
    self.strategy = make_strategy(config.train)
    self.replicas = distribute.num_replicas(self.strategy)
    self.chief = distribute.is_chief()
    self.output_dir = run_folder.worker_dir(
        output_dir, None if self.chief else distribute.task())
    # Held until `close`: one process per folder (each worker its own).
    self._lock = run_lock.lock(self.output_dir)
    try:
      self._resuming = run_folder.earlier_run(self.output_dir, config,
                                              restart)
      seed = config.train.seed
      # The datasets read the global seed when they are built.
      tf.random.set_seed(seed)
      np.random.seed(seed)
      random.seed(seed)
      self._load_data()
      self._build()
      # Every worker's value of an int; None for a single process.
      self._per_worker = (distribute.per_worker(self.strategy)
                          if config.train.strategy == 'multi_worker'
                          else None)
      self.start_step = self._restore()
      self._train = self._make_train_loop()
    except BaseException:
      self.close()
      raise

  def close(self):
    """Lets go of the run folder (the process's end does too)."""
    self._lock.release()

  def __enter__(self) -> 'Run':
    return self

  def __exit__(self, *exc_info):
    self.close()

  def _load_data(self):
    config, train = self.config, self.config.train
    self.train_examples = load_examples(config.data, config.data.train_split,
                                        'train_split')
    self.eval_examples = load_examples(config.data, config.data.eval_split)
    self.image_shape = self.train_examples.image_shape
    if train.batch_size % self.replicas:
      raise InputError(
          f'--batch_size={train.batch_size} with --strategy={train.strategy}'
          f': the global batch must split evenly across the {self.replicas} '
          f'replicas; pass a multiple of {self.replicas}')
    self.eval_batches = eval_batches(self.eval_examples, config)
    self.validation_batches = None
    if config.data.validation_split is not None:
      self.validation_batches = eval_batches(
          load_examples(config.data, config.data.validation_split,
                        'validation_split'), config)
    logging.info('Training on %d examples (%s), evaluating on %d; %d '
                 'replica(s), %d examples each per step.',
                 self.train_examples.num_examples, self.train_examples.source,
                 self.eval_examples.num_examples, self.replicas,
                 train.batch_size // self.replicas)

  def _build(self):
    config = self.config
    # Variables, the optimiser's included, are created in the strategy's
    # scope: one copy per replica.
    with (self.strategy.scope() if self.strategy
          else contextlib.nullcontext()):
      self.model = build.build(config.model, self.image_shape,
                               seed=config.train.seed)
      # Variables, so the compiled step never retraces as they change.
      self.schedules = schedules.make(
          config.objective, categorical=config.model.latent == 'categorical')
      self.phases = build.phases(config, self.model, self.schedules.beta,
                                 self.schedules.temperature)
      self.learning_rate, lr_assign = schedules.make_learning_rate(
          config.train)
      # A model's own schedule (the annealed VAE's capacity), if it has one.
      self.assign_schedules = schedules.both(
          self.schedules.assign, lr_assign,
          getattr(self.model, 'assign_step', None))
      # One optimiser per phase, by its name in the checkpoint.
      self.optimizers = {phase.name: snt.optimizers.Adam(
          self.learning_rate, epsilon=config.train.adam_epsilon)
                         for phase in self.phases}
    self.functions = build.model_functions(self.model, config.model,
                                           self.image_shape)
    # The checkpoint holds no data iterator: batch s depends only on the
    # seed and s, so a run resumed at step s (under any strategy) starts
    # there.
    self.checkpoint = tf.train.Checkpoint(
        model=self.model, **self.optimizers,
        step=tf.Variable(0, dtype=tf.int64, trainable=False, name='step'))
    self.checkpoint_dir = os.path.join(self.output_dir,
                                       run_folder.CHECKPOINTS)
    # The weights of the best validation score so far.
    self.best_checkpoint = tf.train.Checkpoint(model=self.model,
                                               step=self.checkpoint.step)
    self.best_dir = os.path.join(self.checkpoint_dir, run_folder.BEST)

  def _restore(self) -> int:
    newest = (run_folder.newest_step(self.checkpoint_dir) if self._resuming
              else 0)
    # Workers resume together, from the newest step they all saved: one
    # killed while saving may lack the others' newest.
    at_most = min(self._per_worker(newest)) if self._per_worker else None
    if not self._resuming:
      return 0
    # partial: a checkpoint from before the strategies also holds the data
    # iterator, which is no longer needed; everything here must still match.
    step = run_folder.restore_newest(self.checkpoint, self.checkpoint_dir,
                                     partial=True, at_most=at_most)
    num_steps = self.config.train.training_steps
    if step > num_steps:
      raise InputError(
          f'--output_dir={self.output_dir} holds a run trained to step '
          f'{step}, past --training_steps={num_steps}. Pass '
          f'--training_steps={step} or more to resume it, or evaluate it '
          f'with python -m experiments.evaluate '
          f'--output_dir={self.output_dir}.')
    return step

  def _make_train_loop(self):
    """The training of every step from `start_step` on, phase by phase."""
    loops, first = [], 0
    for phase in self.phases:
      if phase.last_step > max(first, self.start_step):
        loops.append((phase.last_step, self._phase_loop(
            phase, max(first, self.start_step))))
      first = phase.last_step
    return training.in_phases(loops)

  def _phase_loop(self, phase: training.Phase, start_step: int):
    """The compiled loop of `phase`, its batches from step start_step + 1."""
    config, train = self.config, self.config.train

    def train_batches(num_replicas=1, parts=None):
      return data.batches(self.train_examples, train.batch_size,
                          config.data.binarization, train=True,
                          seed=train.seed, first_step=start_step,
                          num_replicas=num_replicas, replicas=parts)

    try:
      iterator = iter(
          distribute.distribute_batches(self.strategy, train_batches)
          if self.strategy else train_batches())
    except data.DataError as e:
      raise InputError(f'--batch_size={train.batch_size} with '
                       f'--train_split={config.data.train_split}: {e}') from e
    # The steps between two log rows run in one call, without Python.
    return training.make_train_loop(
        phase.trains, self.optimizers[phase.name], iterator, train.seed,
        steps_per_call=train.log_every, jit_compile=uses_xla(config),
        objective=phase.objective, schedule=self.assign_schedules,
        after=phase.after,
        strategy=self.strategy)

  def _open_files(self):
    """From here on, files are written."""
    if self.restart:
      run_folder.clear(self.output_dir)
    run_folder.write_json(os.path.join(self.output_dir, run_folder.CONFIG),
                          self.config.to_dict())
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self.checkpoint_dir,
        max_to_keep=self.config.train.keep_checkpoints)
    self.best_manager = tf.train.CheckpointManager(
        self.best_checkpoint, self.best_dir, max_to_keep=1)
    self.log = Log(self.output_dir, self.start_step)
    if self.start_step:
      logging.info('Resuming %s from step %d.', self.output_dir,
                   self.start_step)
    self.eval_images = next(iter(self.eval_batches))[0].numpy()

  def _save_checkpoint(self, step: int):
    self.checkpoint.step.assign(step)
    self.manager.save(checkpoint_number=step)
    if self.chief:
      with self.log.eval_writer.as_default(step=step):
        report.image_summaries(self.functions, self.eval_images,
                               self.config.train.seed)

  def _evaluate(self, step: int):
    """Evaluates the eval split (and the validation split) during training;
    keeps the weights if their validation score is the best so far."""
    config, k = self.config, self.config.train.curve_num_samples
    evaluate = lambda batches: evaluation.evaluate(
        self.functions, batches, num_samples=k,
        chunk_size=config.train.eval_chunk_size, seed=config.train.seed,
        strategy=self.strategy)
    results = evaluate(self.eval_batches)
    row = report.eval_row(step, results, config, self.image_shape)
    if k:
      row['nll'] = results.nll
    if self.validation_batches is not None:
      row.update(report.validation_columns(
          evaluate(self.validation_batches), config, self.image_shape))
    row.update(epoch=step * config.train.batch_size
               / self.train_examples.num_examples,
               training_seconds=self.clock.training_seconds())
    column = early_stopping.criterion(k)
    if column in row and early_stopping.best(
        self.log.eval_rows + [row], column).step == step:
      # Before the row: a run killed between the two evaluates again.
      self.checkpoint.step.assign(step)
      self.best_manager.save(checkpoint_number=step)
    self.log.eval_row(row)

  def _best(self) -> Optional[early_stopping.Best]:
    return early_stopping.best(
        self.log.eval_rows,
        early_stopping.criterion(self.config.train.curve_num_samples))

  def _restore_best(self) -> int:
    """Puts the best validation score's weights in the model; its step."""
    best = self._best()
    step = run_folder.restore_newest(self.best_checkpoint, self.best_dir,
                                     partial=True)
    if best is None or step != best.step:
      raise InputError(
          f'{self.best_dir} holds the weights of step {step}, but '
          f'{self.log.eval_path} gives the best validation score at step '
          f'{best and best.step}: the run folder was changed by hand. Run '
          f'again with --restart to train it afresh.')
    logging.info('Evaluating the best validation score\'s weights, of step '
                 '%d.', step)
    return step

  def _stop_step(self) -> Optional[int]:
    """The step early stopping ended training at, if it has."""
    config = self.config
    return early_stopping.stop_step(
        self.log.eval_rows,
        early_stopping.criterion(config.train.curve_num_samples),
        config.train.early_stopping_steps,
        counts_from=config.objective.kl_warmup_steps)

  def _scalars(self) -> Dict[str, tf.Tensor]:
    """TensorBoard's training scalars beside the terms."""
    scalars = {'learning_rate': self.learning_rate,  # As --lr_schedule says.
               'beta': self.schedules.beta}  # Ramps over a KL warm-up.
    if self.schedules.temperature is not None:
      scalars['temperature'] = self.schedules.temperature
    return scalars

  def train(self):
    """Trains from the restored step to `training_steps`."""
    self._open_files()
    config = self.config
    num_steps = config.train.training_steps
    cadence = Cadence(config.train, curve=bool(
        config.train.curve_num_samples or config.data.validation_split))
    rows = self.log.rows
    last = rows[-1] if rows else {}
    # A run logged before training_seconds: its wall time stands in.
    self.clock = Clock(last.get('elapsed_seconds', 0.0),
                       last.get('training_seconds',
                                last.get('elapsed_seconds', 0.0)))
    bar = progress(total=num_steps, initial=self.start_step, unit='step',
                   desc='training')
    step = self.start_step
    with self._cluster_errors(), signals.Requests(self._per_worker) as stops:
      if (step and cadence.evaluates(step)
          and all(r['step'] != step for r in self.log.eval_rows)):
        self._evaluate(step)  # A kill came between checkpoint and row.
      while step < num_steps and self._stop_step() is None:
        first, step = step + 1, cadence.next_log(step)
        metrics = self._train(first, step - first + 1)
        bar.update(step - first + 1)
        self._log_step(first, step, metrics, bar)
        with self.clock.paused():
          self._between_calls(step, cadence, stops, bar)
    bar.close()
    self.train_steps_per_second = self.clock.steps_per_second()
    if self.start_step == num_steps:
      logging.info('%s is trained to step %d already: evaluating it again.',
                   self.output_dir, num_steps)

  def _between_calls(self, step: int, cadence: Cadence,
                     stops: signals.Requests, bar):
    """Checkpoints and evaluates at `step` as the cadence says; checkpoints
    and stops if a stop was asked for."""
    stop = stops.agreed()
    if stop or cadence.checkpoints(step):
      self._save_checkpoint(step)
    if stop:
      bar.close()
      raise self._stopped(step, *stop)
    if cadence.evaluates(step):
      self._evaluate(step)
      if self._stop_step() == step:
        if not cadence.checkpoints(step):
          self._save_checkpoint(step)
        logging.info('Stopping early at step %d: the best validation score '
                     'is %d steps older.', step,
                     step - self._best().step)

  def _stopped(self, step: int, signum: int,
               worker: Optional[int]) -> errors.Stopped:
    by = signal.Signals(signum).name
    if worker is not None:
      by += f' to worker {worker}'
    return errors.Stopped(
        f'Stopped by {by} at step {step} of '
        f'{self.config.train.training_steps}, with a checkpoint: '
        f'{self.manager.latest_checkpoint}. Run the same command again to '
        f'resume from it (on every worker of a cluster).',
        exit_code=128 + signum)

  @contextlib.contextmanager
  def _cluster_errors(self):
    """Under multi_worker, a worker lost mid-collective ends this one with
    `errors.WorkerLost` (TensorFlow notices within seconds when a worker's
    process dies, and within a minute, from its missed heartbeats, when its
    machine does)."""
    try:
      yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.DeadlineExceededError) as e:
      if not self._per_worker:
        raise
      reason = _collective_failure(e)
      raise errors.WorkerLost(
          f'lost a worker of the cluster: {reason}\nThe newest checkpoint '
          f'here: {self.manager.latest_checkpoint or "none yet"}. Run the same command again on every worker: '
          f'they resume from the newest step all of them saved.') from e

  def _log_step(self, first: int, step: int, metrics, bar):
    """Logs the means of steps `first`..`step`; stops on divergence."""
    means = {name: float(np.mean(getattr(metrics, name).numpy()))
             for name in run_folder.TERMS}
    steps_per_second = self.clock.tick(step)
    row = dict(step=step, **means, steps_per_second=steps_per_second,
               elapsed_seconds=self.clock.elapsed(),
               training_seconds=self.clock.training_seconds())
    scalars = self._scalars()
    if self.clock.steps_timed:
      scalars['steps_per_second'] = steps_per_second
    self.log.train_row(row, scalars)
    num_steps = self.config.train.training_steps
    speed = (f' ({steps_per_second:.0f} steps/s, '
             f'{(num_steps - step) / steps_per_second:.0f} s left)'
             if self.clock.steps_timed else '')
    logging.info('step %d/%d: loss %.3f, elbo %.3f, rate %.3f, distortion '
                 '%.3f%s', step, num_steps, means['loss'], means['elbo'],
                 means['rate'], means['distortion'], speed)
    # An autoencoder's elbo is NaN by definition: check what it trains.
    if not all(math.isfinite(means[k])
               for k in ('loss', 'rate', 'distortion')):
      bar.close()
      raise FloatingPointError(
          f'training diverged: the loss became {means["loss"]} between '
          f'step {first - 1} and step {step}. The log up to here is in '
          f'{self.log.metrics_path}; the last good checkpoint is '
          f'{self.manager.latest_checkpoint}. Try --restart with a lower '
          f'--learning_rate (now {self.config.train.learning_rate}).')

  def finish(self) -> Dict:
    """The final evaluation (the ELBO as in training, and the NLL), the
    figures, the export and summary.json; returns the summary."""
    config = self.config
    num_steps = config.train.training_steps
    if config.train.early_stopping_steps:
      num_steps = self._restore_best()
    logging.info('Evaluating on %s (%d importance samples per image)...',
                 config.data.eval_split, config.train.eval_num_samples)
    with self._cluster_errors():
      results = evaluate_split(self.functions, self.eval_batches,
                               self.eval_examples.num_examples, config,
                               config.train.eval_num_samples, self.strategy)
    nll = {} if results.nll is None else {'nll': results.nll}
    self.log.eval_row(report.eval_row(num_steps, results, config,
                                      self.image_shape),
                      dict(nll, active_units=results.active_units))
    logging.info('eval on %s: elbo %.3f, nll %s, rate %.3f, distortion %.3f, '
                 '%d active units', config.data.eval_split, results.elbo,
                 'n/a' if results.nll is None else f'{results.nll:.3f}',
                 results.rate, results.distortion, results.active_units)
    self.log.flush()
    # Other workers keep their logs and checkpoints only.
    if self.chief and config.train.figures:
      report.write_figures(
          self.functions, results, self.eval_images, self.log.rows,
          self.log.eval_rows,
          os.path.join(self.output_dir, run_folder.FIGURES), config)
    if config.train.export and self.chief:
      self._export()
    summary = self._summary(results)
    if self.chief:
      summary.update(self._disentanglement())
    run_folder.write_json(os.path.join(self.output_dir, run_folder.SUMMARY),
                          summary)
    return summary

  def _disentanglement(self) -> Dict:
    """The disentanglement metrics, on a dataset with factors."""
    if not data.has_factors(self.config.data.dataset):
      return {}
    logging.info('Disentanglement metrics (%g of disentanglement_lib\'s '
                 'points)...', self.config.train.metric_points_scale)
    scores = report.disentanglement_summary(self.functions, self.config)
    logging.info('Disentanglement: %s', ', '.join(
        f'{k} {v:.3f}' for k, v in scores.items()))
    return scores

  def _export(self):
    saved_model = os.path.join(self.output_dir, run_folder.SAVED_MODEL)
    export.save(self.functions, saved_model + '.tmp')
    shutil.rmtree(saved_model, ignore_errors=True)
    os.replace(saved_model + '.tmp', saved_model)

  def _summary(self, results: evaluation.Results) -> Dict:
    config, last = self.config, self.log.rows[-1]
    tau = self.schedules.temperature
    return {
        'steps': config.train.training_steps,
        **self._curve_summary(),
        'resumed_from_step': self.start_step,
        **{f'train_{name}': last[name] for name in run_folder.TERMS},
        **report.results_summary(results, config, self.image_shape),
        'train_steps_per_second': self.train_steps_per_second,
        'jit_compile': uses_xla(config),
        'strategy': config.train.strategy,
        'num_replicas': self.replicas,
        'replica_batch_size': config.train.batch_size // self.replicas,
        'task': distribute.task(),
        'train_examples': self.train_examples.num_examples,
        'train_split': config.data.train_split,
        'eval_split': config.data.eval_split,
        'beta': config.objective.beta,
        'latent_size': config.model.latent_size,
        'model': config.model.model,
        'latent_dims': latents.latent_dims(config.model, self.image_shape),
        'temperature': float(tau.numpy()) if tau is not None else None,
        'loss_normalization': config.objective.loss_normalization,
        'checkpoint': self.manager.latest_checkpoint,
    }


  def _curve_summary(self) -> Dict:
    """What the eval rows say: the best validation score (and the model
    reported when stopping early), and the time to quality."""
    summary = {}
    k = self.config.train.curve_num_samples
    if self.config.data.validation_split is not None:
      best = self._best()
      summary.update(best_validation_step=best.step,
                     best_validation_score=best.value,
                     validation_criterion=early_stopping.criterion(k))
    if self.config.train.early_stopping_steps:
      summary.update(stopped_early_at_step=self._stop_step(),
                     evaluated_step=self._best().step)
    if k:
      summary.update(report.time_to_quality(self.log.eval_rows))
    return summary


def train_and_evaluate(config: config_lib.Config, output_dir: str,
                       restart: bool = False) -> Dict:
  """Trains the run of `config` in `output_dir` (resuming the one there, or
  replacing it with `restart`), evaluates it and writes its files; returns
  the summary. Raises `InputError` on bad input before writing anything,
  `FloatingPointError` if training diverges, `run_lock.BusyError` if another
  process has the folder, `errors.Stopped` (after a checkpoint) on SIGTERM or
  Ctrl-C, `errors.WorkerLost` when a worker of a cluster is lost."""
  with Run(config, output_dir, restart) as run:
    run.train()
    return run.finish()
