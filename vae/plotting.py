"""Figures: loss curves, reconstructions, prior samples and latent traversals.

Each function takes NumPy arrays, writes one PNG and returns its path. The
Agg backend is used, so no display is needed.
"""

from typing import Mapping, Optional, Sequence

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def _save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _image_grid(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
  """Tiles [rows * cols, H, W, C] images into one [rows * H, cols * W] array."""
  images = np.asarray(images)[:rows * cols]
  h, w = images.shape[1:3]
  images = images[..., 0] if images.ndim == 4 else images
  grid = images.reshape(rows, cols, h, w).transpose(0, 2, 1, 3)
  return grid.reshape(rows * h, cols * w)


def loss_curves(steps: Sequence[int],
                curves: Mapping[str, Sequence[float]],
                path: str,
                title: str = 'Training loss') -> str:
  """Curves against step on log-log axes, as in the Sonnet notebook.

  Points that are not positive (a rate of exactly zero, say) cannot be shown
  on a log axis and are left out.
  """
  fig, ax = plt.subplots(figsize=(6, 4))
  steps = np.asarray(steps, dtype=np.float64)
  for label, values in curves.items():
    values = np.asarray(values, dtype=np.float64)
    keep = (values > 0) & np.isfinite(values)
    ax.plot(steps[keep], values[keep], marker='.', label=label)
  ax.set_xscale('log')
  ax.set_yscale('log')
  ax.set_xlabel('training step')
  ax.set_ylabel('nats per example')
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend()
  return _save(fig, path)


def reconstructions(inputs: np.ndarray, outputs: np.ndarray, path: str,
                    title: str = 'Inputs (top) and reconstructions (bottom)'
                    ) -> str:
  """Inputs above their reconstructions, one column per example."""
  n = len(inputs)
  fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.8), squeeze=False)
  for i in range(n):
    for row, images in enumerate((inputs, outputs)):
      axes[row, i].imshow(np.squeeze(images[i], -1), cmap='gray', vmin=0,
                          vmax=1)
      axes[row, i].axis('off')
  axes[0, 0].set_title('input', fontsize=8, loc='left')
  axes[1, 0].set_title('reconstruction', fontsize=8, loc='left')
  fig.suptitle(title)
  return _save(fig, path)


def image_grid(images: np.ndarray, rows: int, cols: int, path: str,
               title: str, xlabel: Optional[str] = None,
               ylabel: Optional[str] = None,
               extent: Optional[Sequence[float]] = None) -> str:
  """A grid of images, such as samples from the prior or a traversal."""
  fig, ax = plt.subplots(figsize=(7, 7))
  ax.imshow(_image_grid(images, rows, cols), cmap='gray', vmin=0, vmax=1,
            extent=extent)
  ax.set_title(title)
  if xlabel or ylabel:
    ax.set_xlabel(xlabel or '')
    ax.set_ylabel(ylabel or '')
  else:
    ax.axis('off')
  return _save(fig, path)


def traversal_codes(latent_size: int, dims: Sequence[int] = (0, 1),
                    grid_size: int = 10, span: float = 2.0) -> np.ndarray:
  """Codes on a grid_size x grid_size grid over two dimensions, others 0.

  Row r, column c holds z[dims[0]] = xs[c], z[dims[1]] = ys[r] with xs, ys
  evenly spaced in [-span, span]; ys run from +span at the top row down to
  -span, so the image grid reads like a plot.
  """
  if latent_size < 2:
    raise ValueError(f'a traversal needs latent_size >= 2, got {latent_size}')
  values = np.linspace(-span, span, grid_size, dtype=np.float32)
  xx, yy = np.meshgrid(values, values[::-1])
  z = np.zeros([grid_size * grid_size, latent_size], np.float32)
  z[:, dims[0]] = xx.ravel()
  z[:, dims[1]] = yy.ravel()
  return z
