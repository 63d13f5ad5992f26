"""Mixed precision: a network's arithmetic in bfloat16, its variables float32.

`cast_call(fn, x, tf.bfloat16)` runs `fn` (a Sonnet module's forward pass)
with `x` and every variable it reads cast to bfloat16, and casts the result
back to float32. The variables, their gradients, the optimiser's state, the
distributions and the losses stay float32. bfloat16 keeps float32's exponent
range, so unlike float16 it needs no loss scaling (Kalamkar et al. 2019);
its 8-bit mantissa is the price, paid in the matmuls and convolutions, where
accelerators run it several times faster.
"""

from typing import Callable

import sonnet as snt
import tensorflow as tf


def cast_call(fn: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor,
              dtype: tf.DType) -> tf.Tensor:
  """`fn(x)` computed in `dtype`, returned in x's dtype.

  Variables are read through `snt.custom_variable_getter`, which casts them;
  they must exist already (Sonnet creates them in the input's dtype on the
  first call, so make that call in float32).

  Args:
    fn: The network.
    x: Its input.
    dtype: The compute dtype; float32 calls `fn` as it is.
  """
  if dtype == x.dtype:
    return fn(x)

  def cast(value):
    return tf.cast(value, dtype) if value.dtype.is_floating else value

  with snt.custom_variable_getter(cast):
    y = fn(tf.cast(x, dtype))
  return tf.cast(y, x.dtype)
