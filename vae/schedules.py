"""Schedules of the loss's weights over training steps, each written once.

- KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): beta ramps
  linearly from 0 to its value over `warmup_steps`.
- The Gumbel-softmax temperature (Jang et al. 2017, section 4):
  max(minimum, start * exp(-decay * step)).
- The learning rate (`LEARNING_RATES`), over the run's `training_steps`:
  constant; Burda et al.'s staircase (2016, section 5: 3^i epochs at
  lr * 10^(-i/7), i = 0..7, so its 8 stages take 1, 3, ..., 2187 of 3280
  parts of training); or a cosine decay to 0 (Loshchilov and Hutter 2017,
  without restarts).

They are TensorFlow ops in float64, so the same code runs eagerly (for the
value at a step) and inside the compiled training loop (assigning the
variables the objective reads, so it never retraces).
"""

import math
from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf

# Burda et al.'s stages: stage i lasts 3^i parts of the 3280 (epochs there).
BURDA_STAGES = 8
_BURDA_ENDS = np.cumsum([3 ** i for i in range(BURDA_STAGES)])  # 1 .. 3280


def kl_weight(step, beta: float, warmup_steps: int) -> tf.Tensor:
  """beta at `step`: beta * step / warmup_steps until warmup_steps, then
  beta; beta throughout if warmup_steps is 0.

  Args:
    step: The training step (a tensor inside a compiled loop).
    beta: The weight after the warm-up.
    warmup_steps: The steps of the linear ramp from 0; 0: none.

  Returns:
    beta at `step`, float32.
  """
  s = tf.cast(step, tf.float64)
  beta = tf.constant(beta, tf.float64)
  if not warmup_steps:
    return beta
  return tf.where(s < warmup_steps, beta * s / warmup_steps, beta)


def temperature(step, start: float, minimum: float, decay: float
                ) -> tf.Tensor:
  """max(minimum, start * exp(-decay * step)).

  Args:
    step: The training step.
    start: The temperature at step 0.
    minimum: The floor it never goes below.
    decay: The exponential decay rate per step.
  """
  s = tf.cast(step, tf.float64)
  return tf.maximum(tf.constant(minimum, tf.float64),
                    tf.constant(start, tf.float64)
                    * tf.exp(-tf.constant(decay, tf.float64) * s))


def _progress(step, total_steps: int) -> tf.Tensor:
  """(step - 1) / total_steps in float64: 0 at the first step, the part of
  training done before `step`."""
  return (tf.cast(step, tf.float64) - 1.0) / total_steps


def burda_stage(step, total_steps: int) -> tf.Tensor:
  """The stage i (0..7) of Burda et al.'s staircase that step s (from 1)
  of `total_steps` is in: the stages' ends are at 1, 4, 13, ..., 3280 of
  3280 parts of training.

  Args:
    step: The training step.
    total_steps: The run's training steps.
  """
  done = _progress(step, total_steps) * float(_BURDA_ENDS[-1])
  ends = tf.constant(_BURDA_ENDS[:-1], tf.float64)
  return tf.reduce_sum(tf.cast(done >= ends, tf.int32))


LEARNING_RATES = {
    'constant': lambda step, base, total: tf.constant(base, tf.float64),
    'burda': lambda step, base, total: base * tf.pow(
        tf.constant(10.0, tf.float64),
        -tf.cast(burda_stage(step, total), tf.float64) / 7.0),
    'cosine': lambda step, base, total: base * 0.5 * (
        1.0 + tf.cos(math.pi * _progress(step, total))),
}


def learning_rate(step, base: float, schedule: str, total_steps: int
                  ) -> tf.Tensor:
  """The learning rate of step `step` (from 1) of `total_steps` under
  `schedule`, one of `LEARNING_RATES`, starting from `base`.

  Args:
    step: The training step.
    base: The first learning rate.
    schedule: A name in `LEARNING_RATES`.
    total_steps: The run's training steps.
  """
  return LEARNING_RATES[schedule](step, base, total_steps)


class Schedules(NamedTuple):
  """The variables the objective reads, and `assign(step)`, which sets them
  to their values at `step` (None when neither changes in training)."""
  beta: tf.Variable
  temperature: Optional[tf.Variable]
  assign: Optional[Callable[[tf.Tensor], None]]


def make(config, categorical: bool) -> Schedules:
  """The schedules of a `config.ObjectiveConfig`, as variables at step 0;
  the temperature only for a `categorical` latent. Make them in a
  strategy's scope to train under it.

  Args:
    config: An `ObjectiveConfig`.
    categorical: Whether the latent is categorical (it has a temperature).
  """
  beta_at = lambda s: kl_weight(s, config.beta, config.kl_warmup_steps)
  tau_at = lambda s: temperature(s, config.temperature,
                                 config.min_temperature,
                                 config.temperature_decay)
  beta = tf.Variable(tf.cast(beta_at(0), tf.float32), trainable=False,
                     name='beta')
  tau = None
  if categorical:
    tau = tf.Variable(tf.cast(tau_at(0), tf.float32), trainable=False,
                      name='temperature')
  if not config.kl_warmup_steps and tau is None:
    return Schedules(beta, tau, None)

  def assign(step: tf.Tensor):
    if config.kl_warmup_steps:
      beta.assign(tf.cast(beta_at(step), beta.dtype))
    if tau is not None:
      tau.assign(tf.cast(tau_at(step), tau.dtype))

  return Schedules(beta, tau, assign)


def make_learning_rate(train_config):
  """(the learning rate, `assign(step)` or None) of a `config.TrainConfig`:
  a float when constant; else a variable, which `assign(step)` sets in the
  training loop before step `step` (make it in a strategy's scope to train
  under it). A constant rate stays a float so that the optimiser, which
  tracks a variable, checkpoints exactly what it did before schedules
  existed: older runs still resume.

  Args:
    train_config: A `TrainConfig`.
  """
  if train_config.lr_schedule == 'constant':
    return train_config.learning_rate, None
  at = lambda s: learning_rate(s, train_config.learning_rate,
                               train_config.lr_schedule,
                               train_config.training_steps)
  variable = tf.Variable(tf.cast(at(1), tf.float32), trainable=False,
                         name='learning_rate')
  return variable, lambda step: variable.assign(tf.cast(at(step),
                                                        variable.dtype))


def both(*assigns: Optional[Callable[[tf.Tensor], None]]
         ) -> Optional[Callable[[tf.Tensor], None]]:
  """One `assign(step)` running each of `assigns` that is not None; None
  if all are."""
  assigns = [a for a in assigns if a is not None]
  if not assigns:
    return None

  def assign(step):
    for a in assigns:
      a(step)

  return assign
