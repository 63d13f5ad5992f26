"""The disentanglement field's figures of a model with Gaussian latents:

  kl_per_dimension.png        KL(q(z_d|x) || p(z_d)) on the eval split, per
                              dimension, largest first;
  traversal_by_kl.png         each dimension (a row, largest KL first,
                              labelled with its KL)
                              swept through the prior's 5% to 95%
                              quantiles, the others at an eval image's
                              posterior mean;
  traversal_by_kl.gif         the same as an animation: frame t shows every
                              dimension at the t-th value, there and back;
  interpolation.png           the decoded straight line between the
                              posterior means of two eval images of
                              different labels, the images at its ends.
"""

import os
import statistics
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image
import tensorflow as tf

from vae import plotting

NUM_VALUES = 10


def order_by_kl(kl_per_dimension: Sequence[float]) -> np.ndarray:
  """Dimension indices, largest KL first (ties by index).

  Args:
    kl_per_dimension: The KL of each dimension.
  """
  kl = np.asarray(kl_per_dimension, np.float64)
  return np.lexsort((np.arange(len(kl)), -kl))


def quantile_values(num: int = NUM_VALUES, low: float = 0.05,
                    high: float = 0.95) -> np.ndarray:
  """The standard Normal's quantiles at `num` evenly spaced levels.

  Args:
    num: The number of levels.
    low: The lowest level.
    high: The highest level.
  """
  normal = statistics.NormalDist()
  return np.array([normal.inv_cdf(u) for u in np.linspace(low, high, num)],
                  np.float32)


def traversal_codes(base: np.ndarray, order: Sequence[int],
                    values: np.ndarray) -> np.ndarray:
  """[len(order) * len(values), latent] codes: row r sweeps dimension
  order[r] through `values`, every other dimension at `base`.

  Args:
    base: [latent] the code the rows start from.
    order: The dimension each row sweeps.
    values: The values each sweeps through.
  """
  codes = np.tile(np.asarray(base, np.float32),
                  (len(order), len(values), 1))
  for row, dim in enumerate(order):
    codes[row, :, dim] = values
  return codes.reshape(-1, len(base))


def interpolation_codes(start: np.ndarray, end: np.ndarray,
                        num: int = NUM_VALUES) -> np.ndarray:
  """[num, latent]: start, end and the evenly spaced points between.

  Args:
    start: [latent] the first code.
    end: [latent] the last code.
    num: Codes in all, both ends included.
  """
  t = np.linspace(0.0, 1.0, num, dtype=np.float32)[:, None]
  return (1 - t) * start[None] + t * end[None]


def _other_label(labels: np.ndarray) -> int:
  """The first eval image whose label differs from the first's (1 when
  the split has no labels or one label)."""
  different = np.flatnonzero(labels != labels[0])
  return int(different[0]) if labels[0] >= 0 and len(different) else 1


def _save_gif(frames: List[np.ndarray], path: str) -> str:
  """Frames of [H, W] or [H, W, 3] values in [0, 1], 100 ms each, looped,
  each pixel drawn 3 times as wide and high."""
  images = [Image.fromarray(np.kron(
      np.uint8(np.clip(f, 0, 1) * 255), np.ones((3, 3) + (1,) * (f.ndim - 2),
                                                 np.uint8)))
            for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=100,
                 loop=0)
  return path


def write(functions, kl_per_dimension: Optional[Sequence[float]],
          posterior_means: np.ndarray, labels: np.ndarray,
          eval_images: np.ndarray, figures_dir: str) -> List[str]:
  """The figures above (without KL per dimension, the bars and the order
  by index); returns their paths.

  Args:
    functions: The model's `export.ModelFunctions`.
    kl_per_dimension: The eval set's KL per dimension, or None.
    posterior_means: [n, latent] eval posterior means.
    labels: [n] their labels.
    eval_images: Eval images [n, H, W, C] to encode.
    figures_dir: The folder to write into.
  """
  path = lambda name: os.path.join(figures_dir, name)
  latent = posterior_means.shape[1]
  written = []
  kl = (np.asarray(kl_per_dimension) if kl_per_dimension is not None
        else None)
  order = order_by_kl(kl) if kl is not None else np.arange(latent)
  if kl is not None:
    written.append(plotting.bars(
        [f'z[{d}]' for d in order], kl[order], path('kl_per_dimension.png'),
        title='KL per latent dimension on the eval split, largest first',
        ylabel='nats per example'))
  decode = lambda codes: np.clip(functions.decode(
      tf.constant(codes))['mean'].numpy(), 0, 1)
  values = quantile_values()
  images = decode(traversal_codes(posterior_means[0], order, values))
  written.append(plotting.labelled_grid(
      images, len(order), len(values), path('traversal_by_kl.png'),
      title='Each dimension through the prior\'s 5%-95% quantiles',
      row_labels=[f'z[{d}]' + ('' if kl is None else f' {kl[d]:.2f}')
                  for d in order],
      col_labels=[f'{v:.2f}' for v in values]))
  by_value = images.reshape(len(order), len(values), *images.shape[1:])
  columns = int(np.ceil(np.sqrt(len(order))))
  frames = []
  for t in list(range(len(values))) + list(range(len(values) - 2, 0, -1)):
    frame = np.zeros((columns * columns,) + images.shape[1:], np.float32)
    frame[:len(order)] = by_value[:, t]
    frames.append(plotting.tile(frame, columns, columns))
  written.append(_save_gif(frames, path('traversal_by_kl.gif')))
  other = _other_label(np.asarray(labels)[:len(eval_images)])
  line = decode(interpolation_codes(posterior_means[0],
                                    posterior_means[other]))
  strip = np.concatenate([eval_images[:1], line, eval_images[other:other + 1]])
  written.append(plotting.labelled_grid(
      strip, 1, len(strip), path('interpolation.png'),
      title='Two eval images at the ends; between, the decoded straight '
      'line between their posterior means',
      col_labels=['x1'] + [f'{t:.2f}' for t in np.linspace(0, 1, len(line))]
      + ['x2']))
  return written
