"""Gated dense layers: h(x) * sigmoid(g(x)), two linear maps of one input.

The hidden layers of Tomczak and Welling (2018)'s VampPrior networks and of
the models built on their code (the Exemplar VAE's): `GatedDense` is their
`utils/nn.py` layer (the gated linear unit of Dauphin et al. 2017, with no
nonlinearity on h), and `GatedMLP` a stack of them. Their weights start
from He et al. (2015)'s normal, stddev sqrt(2 / fan_in), as that code's
`he_init` does; the biases start at zero.
"""

from typing import Optional, Sequence

import sonnet as snt
import tensorflow as tf


def he_normal() -> snt.initializers.Initializer:
  """He et al. (2015)'s initialiser: N(0, 2 / fan_in), not truncated."""
  return snt.initializers.VarianceScaling(2.0, 'fan_in',
                                          'normal')


class GatedDense(snt.Module):
  """`h(x) * sigmoid(g(x))`, h and g linear maps to `output_size` units.

  Args:
    output_size: The units of the layer.
    w_init: The weights' initialiser; default `he_normal()`.
    name: The module's name.

  Raises:
    ValueError: for a size below 1.
  """

  def __init__(self,
               output_size: int,
               w_init: Optional[snt.initializers.Initializer] = None,
               name: Optional[str] = None):
    super().__init__(name=name)
    if output_size < 1:
      raise ValueError(f'output_size must be positive, got {output_size}')
    w_init = w_init or he_normal()
    self._h = snt.Linear(output_size, w_init=w_init, name='h')
    self._g = snt.Linear(output_size, w_init=w_init, name='g')

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    return self._h(x) * tf.sigmoid(self._g(x))


class GatedMLP(snt.Module):
  """`GatedDense` layers of `output_sizes`, one after the other.

  Args:
    output_sizes: The units of each layer.
    w_init: The weights' initialiser; default `he_normal()`.
    name: The module's name.

  Raises:
    ValueError: for an empty or non-positive size.
  """

  def __init__(self,
               output_sizes: Sequence[int],
               w_init: Optional[snt.initializers.Initializer] = None,
               name: Optional[str] = None):
    super().__init__(name=name)
    output_sizes = [int(size) for size in output_sizes]
    if not output_sizes or any(size < 1 for size in output_sizes):
      raise ValueError(f'output_sizes must be positive, got {output_sizes}')
    self._layers = [GatedDense(size, w_init, name=f'gated_{i}')
                    for i, size in enumerate(output_sizes)]

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    for layer in self._layers:
      x = layer(x)
    return x
