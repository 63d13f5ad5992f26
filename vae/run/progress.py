"""A run's pace: which steps log, evaluate and checkpoint, its clock, and
its progress bar. Nothing here holds TensorFlow state."""

import contextlib
import sys
import time
from typing import Dict, List, Optional

import tqdm

from vae import config as config_lib


def progress(**kwargs) -> tqdm.tqdm:
  """A progress bar (done, rate, time left) on a terminal; silent when
  stderr is a file or a pipe, where the log lines report progress."""
  return tqdm.tqdm(file=sys.stderr, disable=None, dynamic_ncols=True,
                   **kwargs)


def _is_power_of_two(step: int) -> bool:
  return step & (step - 1) == 0


class Cadence:
  """Which steps log, evaluate and checkpoint. The last step evaluates
  during training too when the run logs a learning curve or a validation
  split (`finish` evaluates it in any case).

  Args:
    train: A `config.TrainConfig`.
    curve: Whether the run logs a learning curve or a validation split.
  """

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


class Clock:
  """Training speed, leaving out the first call (it compiles) and the time
  spent evaluating and saving.

  Args:
    elapsed_before: Wall seconds of the run before this process (resumed).
    training_before: Training seconds before this process.
  """

  def __init__(self, elapsed_before: float, training_before: float = 0.0):
    self._start = time.perf_counter()
    self._elapsed_before = elapsed_before
    self._training_before = training_before
    self._timed_from = None  # (time, step) when the first call ended.
    self._paused = 0.0
    self._paused_at = None  # While paused: when it began.
    self.steps_timed = 0

  @classmethod
  def resuming(cls, rows: List[Dict[str, float]]) -> 'Clock':
    """The clock of a run whose training rows so far are `rows`."""
    last = rows[-1] if rows else {}
    # A run logged before training_seconds: its wall time stands in.
    return cls(last.get('elapsed_seconds', 0.0),
               last.get('training_seconds', last.get('elapsed_seconds', 0.0)))

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
