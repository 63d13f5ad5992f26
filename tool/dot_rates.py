"""Matmul rates of TensorFlow's own kernel (oneDNN) and of XLA, per dtype.

  python tool/dot_rates.py

For each shape (L's layers and the 2048-cube) and each of float32 and
bfloat16, times a compiled `tf.while_loop` of matmuls without XLA and with
it, and prints the best of 3 rounds in GFLOP/s. Each matmul's input depends
on the previous one's result, so none is hoisted out of the loop.
"""

import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf

# (m, k, n): L's first layer, its hidden layer, its first layer's weight
# gradient, and the ceiling's cube; with the matmuls each loop runs.
SHAPES = (((128, 784, 500), 500), ((128, 500, 500), 500),
          ((784, 128, 500), 500), ((2048, 2048, 2048), 10))


def rate(m: int, k: int, n: int, reps: int, dtype: tf.DType,
         jit_compile: bool) -> float:
  """GFLOP/s of `reps` chained m x k by k x n matmuls, best of 3."""
  a = tf.cast(tf.random.normal([m, k]), dtype)
  b = tf.cast(tf.random.normal([k, n]), dtype)

  def body(i, total):
    # 0 * total makes each matmul depend on the last.
    product = tf.matmul(a + tf.cast(total, dtype) * 0, b)
    return i + 1, total + tf.cast(product[0, 0], tf.float32)

  loop = tf.function(
      lambda: tf.while_loop(lambda i, _: i < reps, body, (0, 0.0))[1],
      jit_compile=jit_compile, autograph=False)
  loop().numpy()  # Compiles.
  best = 0.0
  for _ in range(3):
    start = time.perf_counter()
    loop().numpy()
    best = max(best, 2 * m * k * n * reps / (time.perf_counter() - start))
  return best / 1e9


def main():
  print('m x k x n | dtype | TensorFlow kernel | XLA')
  for (m, k, n), reps in SHAPES:
    for dtype in (tf.float32, tf.bfloat16):
      kernel, xla = (rate(m, k, n, reps, dtype, jit) for jit in (False, True))
      print(f'{m} x {k} x {n} | {dtype.name} | {kernel:.0f} | {xla:.0f}')


if __name__ == '__main__':
  main()
