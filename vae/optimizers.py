"""Optimisers by name (`--optimizer`): Sonnet's Adam, and Adam on gradients
normalised per parameter.

`AdamNormGrad` is the optimiser of Tomczak and Welling's VampPrior code
(github.com/jmtomczak/vae_vampprior, `utils/optimizer.py`) and of the
papers built on it (the Exemplar VAE's): before Adam's moments, each
parameter's gradient g is replaced by g / (||g||_2 + 1e-7), the L2 norm of
that one parameter tensor. Every tensor then steps on a gradient of norm
about 1 whatever its scale, so no layer's gradients dwarf another's.
"""

from typing import Callable, Dict, Optional, Sequence, Union

import sonnet as snt
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


class AdamNormGrad(snt.optimizers.Adam):
  """Adam on each parameter's gradient divided by its own L2 norm.

  The moments, bias corrections and step are Sonnet's `Adam`; `apply`
  normalises every update with `normalize` first. Under `tf.distribute`
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
    'adam': snt.optimizers.Adam,
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
