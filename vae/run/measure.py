"""What the speed benchmark measures with: resident memory, the FLOPs of a
function's matmuls and convolutions, and the machine's matmul ceiling."""

import os
import resource
import threading
import time
from typing import Callable

import numpy as np
import tensorflow as tf

# Ops whose FLOPs are counted: 2 * multiply-adds.
_MATMULS = ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3')
_CONVS = ('Conv2D', 'Conv2DBackpropInput')


# ----------------------------------------------------------------- Memory.


def resident_bytes() -> int:
  """This process's resident memory now (Linux), else its peak so far."""
  try:
    with open('/proc/self/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
  except (OSError, ValueError, IndexError):
    return peak_resident_bytes()


def peak_resident_bytes() -> int:
  """The process's peak resident memory so far, in bytes."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if os.uname().sysname == 'Darwin' else peak * 1024


class PeakMemory:
  """Samples resident memory in a thread; `.peak` is the most seen.

  Args:
    interval: Seconds between samples.
  """

  def __init__(self, interval: float = 0.002):
    self._interval = interval
    self._stop = threading.Event()
    self.peak = 0

  def _run(self):
    while not self._stop.is_set():
      self.peak = max(self.peak, resident_bytes())
      time.sleep(self._interval)

  def __enter__(self):
    self.peak = resident_bytes()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, resident_bytes())


# ------------------------------------------------------------------ FLOPs.


def _flops_of_op(op) -> int:
  """2 x the multiply-adds of a matmul or convolution; 0 for other ops."""
  if op.type not in _MATMULS + _CONVS:
    return 0
  if not all(t.shape.is_fully_defined()
             for t in list(op.inputs) + list(op.outputs)):
    raise ValueError(f'{op.name} has an unknown shape: pass fully defined '
                     'specs')
  if op.type in _MATMULS:
    out = op.outputs[0].shape
    a = op.inputs[0].shape
    transpose = (op.get_attr('transpose_a') if op.type == 'MatMul'
                 else op.get_attr('adj_x'))
    contracted = a[-2] if transpose else a[-1]
    return 2 * int(np.prod(out)) * int(contracted)
  if op.type == 'Conv2D':  # Each output: kh * kw * C_in multiply-adds.
    kh, kw, c_in, _ = op.inputs[1].shape
    return 2 * int(np.prod(op.outputs[0].shape)) * kh * kw * c_in
  # Conv2DBackpropInput, a transposed convolution: each input position
  # spreads a kh x kw x C_out kernel over C_in channels.
  kh, kw, c_big, _ = op.inputs[1].shape
  return 2 * int(np.prod(op.inputs[2].shape)) * kh * kw * c_big


def forward_flops(fn: Callable, *specs: tf.TensorSpec) -> int:
  """FLOPs of the matmuls and convolutions of `fn`'s forward pass.

  Traces `fn` for `specs` (fully defined shapes) and counts 2 x the
  multiply-adds of every MatMul, BatchMatMul, Conv2D and transposed
  convolution in the graph, from their shapes. Elementwise work is left
  out: it is small beside these for the models here.

  Args:
    fn: The function to trace.
    specs: A `tf.TensorSpec` per argument.
  """
  graph = tf.function(fn).get_concrete_function(*specs).graph
  return sum(_flops_of_op(op) for op in graph.get_operations())


def matmul_ceiling(n: int, dtype: tf.DType = tf.float32,
                   seconds: float = 2.0) -> float:
  """GFLOP/s of n x n matmuls in `dtype`, the best of several timings.

  Args:
    n: The matrices' size.
    dtype: Their dtype.
    seconds: How long to time.
  """
  a = tf.cast(tf.random.normal([n, n]), dtype)
  b = tf.cast(tf.random.normal([n, n]), dtype)
  matmul = tf.function(tf.linalg.matmul)
  matmul(a, b).numpy()
  best = 0.0
  deadline = time.perf_counter() + seconds
  while time.perf_counter() < deadline or not best:
    start = time.perf_counter()
    c = matmul(a, b)
    c = matmul(c, b)  # Two in a row; one read back.
    c[0, 0].numpy()
    best = max(best, 2 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
  return best
