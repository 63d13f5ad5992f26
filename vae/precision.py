"""Mixed precision: a network's arithmetic in bfloat16, its variables float32.

`cast_call(fn, x, tf.bfloat16)` runs `fn` (a Sonnet module's forward pass)
with `x` and every variable it reads cast to bfloat16, and casts the result
back to float32. The variables, their gradients, the optimiser's state, the
distributions and the losses stay float32. bfloat16 keeps float32's exponent
range, so unlike float16 it needs no loss scaling (Kalamkar et al. 2019);
its 8-bit mantissa is the price, paid in the matmuls and convolutions, where
accelerators run it several times faster.
"""

import functools
from typing import Callable, Tuple

from absl import logging
import sonnet as snt
import tensorflow as tf

# /proc/cpuinfo's flags of units that multiply bfloat16 matrices natively.
BFLOAT16_FLAGS = ('amx_bf16', 'avx512_bf16')


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


@functools.lru_cache(maxsize=None)
def cpu_bfloat16_units(cpuinfo: str = '/proc/cpuinfo') -> Tuple[str, ...]:
  """The CPU's bfloat16 matrix units (`BFLOAT16_FLAGS` it has): empty when
  it has none, or where /proc/cpuinfo cannot be read.

  Args:
    cpuinfo: The file to read the CPU's flags from.
  """
  try:
    with open(cpuinfo) as f:
      flags = set()
      for line in f:
        if line.startswith('flags'):
          flags.update(line.split(':', 1)[1].split())
  except OSError:
    return ()
  return tuple(flag for flag in BFLOAT16_FLAGS if flag in flags)


@functools.lru_cache(maxsize=None)
def warn_if_slow() -> bool:
  """Warns, once a process, that bfloat16 is slower than float32 on a
  machine with neither an accelerator nor the CPU's bfloat16 units; returns
  whether it warned."""
  if (tf.config.list_physical_devices('GPU')
      or tf.config.list_physical_devices('TPU') or cpu_bfloat16_units()):
    return False
  logging.warning(
      '--mixed_precision: this machine has no GPU, no TPU and no bfloat16 '
      'units in its CPU (%s in /proc/cpuinfo), so bfloat16 is emulated and '
      'training will be slower than in float32. It runs anyway.',
      ' or '.join(BFLOAT16_FLAGS))
  return True
