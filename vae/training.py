"""The compiled training step."""

from typing import Callable, NamedTuple, Optional, Union

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
                    jit_compile: bool = False,
                    objective: Optional[Callable[..., objectives.ELBOTerms]]
                    = None):
  """Returns `step(x, seed=None) -> StepMetrics`: one update, `tf.function`-ed.

  The loss is `model.elbo(x, beta, kl_samples, normalization, seed=seed)`
  unless `objective(x, seed)` gives other `ELBOTerms` (the IWAE bound,
  free bits, an autoencoder's loss); `beta`, `kl_samples` and
  `normalization` are then the objective's business.

  `seed`, a stateless seed of shape [2] (such as [run seed, step number]),
  fixes the step's draws of z, so a run resumed from a checkpoint repeats the
  uninterrupted run exactly; None uses the global random generator.

  The step is built once: pass a `tf.Variable` for `beta` (and the optimiser's
  learning rate) to change them without retracing. The loss is reduced with
  `tf.nn.compute_average_loss`, so under a `tf.distribute` strategy each
  replica divides by the global batch and the summed gradients equal those of
  one device on the whole batch.
  """
  if normalization not in objectives.NORMALIZATIONS:
    raise ValueError(f'normalization must be one of '
                     f'{objectives.NORMALIZATIONS}, got {normalization!r}')

  if objective is None:
    def objective(x, seed):
      return model.elbo(x, beta=beta, kl_samples=kl_samples,
                        normalization=normalization, seed=seed)

  def step(x: tf.Tensor, seed=None) -> StepMetrics:
    with tf.GradientTape() as tape:
      terms = objective(x, seed)
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
