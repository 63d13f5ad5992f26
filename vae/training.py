"""The compiled training step and the evaluation loop."""

from typing import Iterable, NamedTuple, Optional, Union

import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import model as model_lib
from vae import objectives


class StepMetrics(NamedTuple):
  """Means over the batch of one step, in nats per example."""
  loss: tf.Tensor
  elbo: tf.Tensor
  rate: tf.Tensor
  distortion: tf.Tensor


def make_train_step(model: model_lib.VAE,
                    optimizer: snt.Optimizer,
                    beta: Union[float, tf.Variable] = 1.0,
                    kl_samples: Optional[int] = None,
                    normalization: str = 'per_example',
                    jit_compile: bool = False):
  """Returns `step(x) -> StepMetrics`, one optimiser update, `tf.function`-ed.

  The step is built once: pass a `tf.Variable` for `beta` (and the optimiser's
  learning rate) to change them without retracing. The loss is reduced with
  `tf.nn.compute_average_loss`, so under a `tf.distribute` strategy each
  replica divides by the global batch and the summed gradients equal those of
  one device on the whole batch.
  """
  if normalization not in objectives.NORMALIZATIONS:
    raise ValueError(f'normalization must be one of '
                     f'{objectives.NORMALIZATIONS}, got {normalization!r}')

  def step(x: tf.Tensor) -> StepMetrics:
    with tf.GradientTape() as tape:
      terms = model.elbo(x, beta=beta, kl_samples=kl_samples,
                         normalization=normalization)
      loss = tf.nn.compute_average_loss(terms.loss)
    # Read after the forward pass: Sonnet creates variables on first call.
    variables = model.trainable_variables
    gradients = tape.gradient(loss, variables)
    optimizer.apply(gradients, variables)
    return StepMetrics(loss=tf.reduce_mean(terms.loss),
                       elbo=tf.reduce_mean(terms.elbo),
                       rate=tf.reduce_mean(terms.rate),
                       distortion=tf.reduce_mean(terms.distortion))

  return tf.function(step, jit_compile=jit_compile)


def make_eval_step(model: model_lib.VAE,
                   beta: Union[float, tf.Variable] = 1.0,
                   kl_samples: Optional[int] = None,
                   normalization: str = 'per_example'):
  """Returns `eval_step(x) -> ELBOTerms` per example, for any batch size.

  `reduce_retracing` makes the second batch shape (a last, partial batch)
  trace a function for any batch size, instead of one per size.
  """
  return tf.function(
      lambda x: model.elbo(x, beta=beta, kl_samples=kl_samples,
                           normalization=normalization),
      reduce_retracing=True)


def evaluate(eval_step, batches: Iterable[tf.Tensor]) -> objectives.ELBOTerms:
  """Means of the per-example terms over every example in `batches`.

  Batches may differ in size (a last, partial batch counts by its size).
  Returns an `ELBOTerms` of Python floats.
  """
  sums = None
  count = 0
  for x in batches:
    terms = eval_step(x)
    batch_sums = np.array([np.sum(t, dtype=np.float64) for t in terms])
    sums = batch_sums if sums is None else sums + batch_sums
    count += int(terms.elbo.shape[0])
  if not count:
    raise ValueError('evaluate got no examples')
  return objectives.ELBOTerms(*(float(s / count) for s in sums))
