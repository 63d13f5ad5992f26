"""Schedules of the loss's weights over training steps, each written once.

- KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): beta ramps
  linearly from 0 to its value over `warmup_steps`.
- The Gumbel-softmax temperature (Jang et al. 2017, section 4):
  max(minimum, start * exp(-decay * step)).

They are TensorFlow ops in float64, so the same code runs eagerly (for the
value at a step) and inside the compiled training loop (assigning the
variables the objective reads, so it never retraces).
"""

from typing import Callable, NamedTuple, Optional

import tensorflow as tf


def kl_weight(step, beta: float, warmup_steps: int) -> tf.Tensor:
  """beta at `step`: beta * step / warmup_steps until warmup_steps, then
  beta; beta throughout if warmup_steps is 0."""
  s = tf.cast(step, tf.float64)
  beta = tf.constant(beta, tf.float64)
  if not warmup_steps:
    return beta
  return tf.where(s < warmup_steps, beta * s / warmup_steps, beta)


def temperature(step, start: float, minimum: float, decay: float
                ) -> tf.Tensor:
  """max(minimum, start * exp(-decay * step))."""
  s = tf.cast(step, tf.float64)
  return tf.maximum(tf.constant(minimum, tf.float64),
                    tf.constant(start, tf.float64)
                    * tf.exp(-tf.constant(decay, tf.float64) * s))


class Schedules(NamedTuple):
  """The variables the objective reads, and `assign(step)`, which sets them
  to their values at `step` (None when neither changes in training)."""
  beta: tf.Variable
  temperature: Optional[tf.Variable]
  assign: Optional[Callable[[tf.Tensor], None]]


def make(config, categorical: bool) -> Schedules:
  """The schedules of a `config.ObjectiveConfig`, as variables at step 0;
  the temperature only for a `categorical` latent. Make them in a
  strategy's scope to train under it."""
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
