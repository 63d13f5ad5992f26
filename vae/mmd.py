"""The maximum mean discrepancy between a batch of codes and draws from the
prior: the penalty of the WAE-MMD and of InfoVAE.

For a kernel k and n codes z_i against n prior draws z~_j, the unbiased
estimate of MMD^2(q(z), p(z)) (Gretton et al. 2012; Tolstikhin et al. 2018,
algorithm 2) is

  MMD^2_u = 1/(n(n-1)) sum_{i != j} k(z_i, z_j)
            + 1/(n(n-1)) sum_{i != j} k(z~_i, z~_j)
            - 2/n^2 sum_{i, j} k(z_i, z~_j).

Its mean over batches is MMD^2 itself, which is 0 when q(z) = p(z), so a
single batch's estimate may be negative. The kernels are those of the WAE
(Tolstikhin et al. 2018, section 4) with C = 2 d sigma^2 for codes of d
dimensions and a prior of scale sigma, summed over scales s of C:

  'imq': k(x, y) = sum_s s C / (s C + ||x - y||^2),
  'rbf': k(x, y) = sum_s exp(-||x - y||^2 / (s C)).

pythae's WAE_MMD and INFOVAE_MMD weigh the same kernels' sums by n times
this estimate: their `reg_weight` is this module's weight over the batch
size.
"""

from typing import Sequence

import tensorflow as tf

from vae import distribute

KERNELS = ('imq', 'rbf')


def squared_distances(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """[n, m] squared Euclidean distances between rows of x [n, d] and y
  [m, d].

  Args:
    x: [n, d] points.
    y: [m, d] points.
  """
  return tf.reduce_sum(tf.square(x[:, None, :] - y[None, :, :]), axis=-1)


def kernel(x: tf.Tensor, y: tf.Tensor, name: str, bandwidth: float = 1.0,
           scales: Sequence[float] = (1.0,)) -> tf.Tensor:
  """[n, m] kernel values k(x_i, y_j), summed over `scales`.

  Args:
    x: [n, d] points.
    y: [m, d] points.
    name: 'imq' (inverse multiquadratic) or 'rbf' (Gaussian).
    bandwidth: sigma of C = 2 d sigma^2: the prior's scale.
    scales: Multiples of C, one kernel each.
  """
  if name not in KERNELS:
    raise ValueError(f'kernel must be one of {KERNELS}, got {name!r}')
  if bandwidth <= 0 or not scales or min(scales) <= 0:
    raise ValueError(f'bandwidth and scales must be positive, got '
                     f'{bandwidth} and {tuple(scales)}')
  distances = squared_distances(x, y)
  base = 2.0 * tf.cast(tf.shape(x)[-1], x.dtype) * bandwidth**2
  total = tf.zeros_like(distances)
  for scale in scales:
    c = scale * base
    total += (c / (c + distances) if name == 'imq'
              else tf.exp(-distances / c))
  return total


def mmd_squared(z: tf.Tensor, prior_draws: tf.Tensor, name: str,
                bandwidth: float = 1.0,
                scales: Sequence[float] = (1.0,)) -> tf.Tensor:
  """The unbiased estimate MMD^2_u between codes z [n, d] and prior draws
  [n, d], a scalar.

  Args:
    z: [n, d] codes, n >= 2.
    prior_draws: [n, d] draws from p(z).
    name: The kernel, 'imq' or 'rbf'.
    bandwidth: sigma of the kernel's C = 2 d sigma^2.
    scales: Multiples of C, one kernel each.
  """
  n = tf.cast(tf.shape(z)[0], z.dtype)

  def within(a):  # The sum over pairs i != j.
    values = kernel(a, a, name, bandwidth, scales)
    return tf.reduce_sum(values) - tf.linalg.trace(values)

  cross = tf.reduce_sum(kernel(z, prior_draws, name, bandwidth, scales))
  return ((within(z) + within(prior_draws)) / (n * (n - 1.0))
          - 2.0 * cross / (n * n))


def batch_penalty(z: tf.Tensor, prior, seed, name: str,
                  bandwidth: float = 1.0,
                  scales: Sequence[float] = (1.0,)) -> tf.Tensor:
  """`mmd_squared` of a batch's codes against as many draws from `prior`,
  over the global batch under a strategy: every replica computes the
  estimate one device computes for the whole batch (its codes gathered
  with their gradients, `distribute.global_rows`, and the same draws from
  the same stateless seed).

  Args:
    z: This replica's codes, [rows, d].
    prior: p(z), a distribution with event shape [d].
    seed: A stateless seed [2] of the prior's draws.
    name: The kernel, 'imq' or 'rbf'.
    bandwidth: sigma of the kernel's C = 2 d sigma^2.
    scales: Multiples of C, one kernel each.
  """
  codes = distribute.global_rows(z)
  draws = tf.cast(prior.sample(tf.shape(codes)[0], seed=seed), codes.dtype)
  return mmd_squared(codes, draws, name, bandwidth, scales)
