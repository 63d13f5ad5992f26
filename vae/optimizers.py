"""Optimisers by name (`--optimizer`): Adam on TensorFlow's fused kernel, and
Adam on gradients normalised per parameter.

`Adam` is Sonnet's `snt.optimizers.Adam` (Kingma and Ba's Algorithm 1, with
epsilon added to the bias-corrected root), with the same state and
checkpoint names, but each dense update is one `ResourceApplyAdam` kernel
instead of about a dozen element-wise ops. That kernel adds its epsilon to
the root of the uncorrected second moment, so `Adam` passes
epsilon * sqrt(1 - beta2^t), which makes the two rules one in exact
arithmetic:

  alpha m_hat / (sqrt(v_hat) + eps)
    = alpha sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps sqrt(1 - b2^t))

(b1, b2: beta1, beta2). Without XLA (conv networks on a CPU, `tf.distribute`
runs), where nothing fuses Sonnet's ops, training is faster (BENCHMARKS.md:
1.2x for an MLP of [500, 500] in float32); under XLA the kernel lowers to
one fused loop, as Sonnet's ops fuse into one.

`AdamNormGrad` is the optimiser of Tomczak and Welling's VampPrior code
(github.com/jmtomczak/vae_vampprior, `utils/optimizer.py`) and of the
papers built on it (the Exemplar VAE's): before Adam's moments, each
parameter's gradient g is replaced by g / (||g||_2 + 1e-7), the L2 norm of
that one parameter tensor. Every tensor then steps on a gradient of norm
about 1 whatever its scale, so no layer's gradients dwarf another's.
"""

from typing import Callable, Dict, Optional, Sequence, Union

import sonnet as snt
from sonnet.src.optimizers import adam as snt_adam
from sonnet.src.optimizers import optimizer_utils
import tensorflow as tf

# The constant the VampPrior code adds to each gradient's norm.
NORM_EPSILON = 1e-7


def normalize(gradient: Optional[tf.Tensor],
              epsilon: float = NORM_EPSILON) -> Optional[tf.Tensor]:
  """`gradient / (||gradient||_2 + epsilon)`; None stays None.

  Args:
    gradient: One parameter's gradient (dense or `tf.IndexedSlices`).
    epsilon: Added to the norm, so a zero gradient stays zero.

  Returns:
    The normalised gradient, dense, of the gradient's shape.
  """
  if gradient is None:
    return None
  gradient = tf.convert_to_tensor(gradient)
  return gradient / (tf.norm(gradient) + epsilon)


class Adam(snt.optimizers.Adam):
  """Sonnet's Adam, each dense update one fused `ResourceApplyAdam` kernel.

  Its arguments, state (`step`, `m`, `v`) and sparse updates are Sonnet's,
  so checkpoints of either load into the other.

  Args:
    learning_rate: The step size (a float or a `tf.Variable`).
    beta1: The decay of the first moment.
    beta2: The decay of the second moment.
    epsilon: Adam's epsilon, added to the bias-corrected root as Sonnet
      adds it.
    name: The module's name.
  """

  def apply(self, updates: Sequence[Optional[tf.Tensor]],
            parameters: Sequence[tf.Variable]):
    """Takes Adam's step on each parameter with an update.

    Args:
      updates: The gradients, one per parameter (None: not updated).
      parameters: The variables, in the same order.

    Raises:
      ValueError: as Sonnet's `Adam.apply` does: empty or unequal lists,
        or an update of another dtype than its parameter.
    """
    optimizer_utils.check_distribution_strategy()
    optimizer_utils.check_updates_parameters(updates, parameters)
    self._initialize(parameters)
    self.step.assign_add(1)
    for update, param, m, v in zip(updates, parameters, self.m, self.v):
      if update is None:
        continue
      optimizer_utils.check_same_dtype(update, param)
      if isinstance(update, tf.IndexedSlices):
        self._sparse_apply(update, param, m, v)
        continue
      dtype = update.dtype
      step = tf.cast(self.step, dtype)
      beta1, beta2 = tf.cast(self.beta1, dtype), tf.cast(self.beta2, dtype)
      beta1_power, beta2_power = tf.pow(beta1, step), tf.pow(beta2, step)
      tf.raw_ops.ResourceApplyAdam(
          var=param.handle, m=m.handle, v=v.handle,
          beta1_power=beta1_power, beta2_power=beta2_power,
          lr=tf.cast(self.learning_rate, dtype), beta1=beta1, beta2=beta2,
          epsilon=tf.cast(self.epsilon, dtype) * tf.sqrt(1. - beta2_power),
          grad=update)

  def _sparse_apply(self, update: tf.IndexedSlices, param, m_var, v_var):
    """Sonnet's sparse step: only the rows in `update` move."""
    dtype = update.dtype
    values, indices = optimizer_utils.deduplicate_indexed_slices(update)
    delta, m, v = snt_adam.adam_update(
        g=values, alpha=tf.cast(self.learning_rate, dtype),
        beta_1=tf.cast(self.beta1, dtype), beta_2=tf.cast(self.beta2, dtype),
        epsilon=tf.cast(self.epsilon, dtype), t=tf.cast(self.step, dtype),
        m=m_var.sparse_read(indices), v=v_var.sparse_read(indices))
    param.scatter_sub(tf.IndexedSlices(delta, indices))
    m_var.scatter_update(tf.IndexedSlices(m, indices))
    v_var.scatter_update(tf.IndexedSlices(v, indices))


class AdamNormGrad(Adam):
  """Adam on each parameter's gradient divided by its own L2 norm.

  The moments, bias corrections and step are `Adam`'s; `apply` normalises
  every update with `normalize` first. Under `tf.distribute`
  the step applies the all-reduced gradient, so the norm is the global
  batch's, as on one device.

  Args:
    learning_rate: The step size (a float or a `tf.Variable`).
    beta1: The decay of the first moment.
    beta2: The decay of the second moment.
    epsilon: Adam's epsilon.
    name: The module's name.
  """

  def apply(self, updates: Sequence[Optional[tf.Tensor]],
            parameters: Sequence[tf.Variable]):
    """Normalises each update, then takes Adam's step.

    Args:
      updates: The gradients, one per parameter (None: not updated).
      parameters: The variables, in the same order.
    """
    super().apply([normalize(update) for update in updates], parameters)


Factory = Callable[..., snt.Optimizer]
# Each takes (learning_rate, epsilon=...).
OPTIMIZERS: Dict[str, Factory] = {
    'adam': Adam,
    'adam_normgrad': AdamNormGrad,
}


def make(name: str, learning_rate: Union[float, tf.Variable],
         epsilon: float = 1e-8) -> snt.Optimizer:
  """The optimiser `name` of `OPTIMIZERS`.

  Args:
    name: A key of `OPTIMIZERS`.
    learning_rate: Its step size.
    epsilon: Adam's epsilon.

  Raises:
    ValueError: for an unknown name, listing the known ones.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f'optimizer {name!r} is unknown; the optimizers are '
                     f'{", ".join(OPTIMIZERS)}')
  return OPTIMIZERS[name](learning_rate, epsilon=epsilon)
