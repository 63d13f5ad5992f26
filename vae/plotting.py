"""Figures: loss curves, reconstructions, samples, latent space, sweeps.

Each function takes NumPy arrays, writes one PNG and returns its path. The
Agg backend is used, so no display is needed.
"""

import statistics
import textwrap
from typing import Mapping, Optional, Sequence, Tuple

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def _save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
  """Tiles [rows * cols, H, W, C] images into one array: [rows * H, cols * W]
  for one channel (or none), [rows * H, cols * W, C] for colour.

  Args:
    images: [rows * cols, H, W(, C)] images.
    rows: Rows of the tiling.
    cols: Columns of the tiling.
  """
  images = np.asarray(images)[:rows * cols]
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  h, w = images.shape[1:3]
  channels = images.shape[3:]
  grid = images.reshape(rows, cols, h, w, *channels).swapaxes(1, 2)
  return grid.reshape(rows * h, cols * w, *channels)


def _show(ax, image: np.ndarray, **kwargs):
  """Draws one image with values in [0, 1]: grey, or colour if 3 channels.

  Clipped, since a Gaussian's mean may stray outside [0, 1]. Pixels are
  drawn as blocks (nearest): sharp, and a third of the time to save of
  matplotlib's default smoothing."""
  image = np.clip(np.asarray(image), 0.0, 1.0)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  ax.imshow(image, cmap='gray', vmin=0, vmax=1, interpolation='nearest',
            **kwargs)


def loss_curves(steps: Sequence[int],
                curves: Mapping[str, Sequence[float]],
                path: str,
                title: str = 'Training loss',
                eval_steps: Sequence[int] = (),
                eval_curves: Optional[Mapping[str, Sequence[float]]] = None
                ) -> str:
  """Curves against step on log-log axes, as in the Sonnet notebook.

  `curves` are training lines; `eval_curves` (same names, at `eval_steps`)
  are drawn as points in the colour of their training line. Points that are
  not positive (a rate of exactly zero, say) cannot be shown on a log axis
  and are left out.

  Args:
    steps: The steps of the training lines.
    curves: Each training line by name.
    path: The file to write (PNG).
    title: The figure's title.
    eval_steps: The steps of the eval points.
    eval_curves: Eval points by the names of `curves`.
  """
  fig, ax = plt.subplots(figsize=(6, 4))

  def positive(xs, ys):
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    keep = (ys > 0) & np.isfinite(ys)
    return xs[keep], ys[keep]

  for label, values in curves.items():
    line, = ax.plot(*positive(steps, values), marker='.', label=f'{label} '
                    f'(train)')
    if eval_curves and label in eval_curves and len(eval_steps):
      ax.plot(*positive(eval_steps, eval_curves[label]), linestyle='none',
              marker='o', markerfacecolor='none', color=line.get_color(),
              label=f'{label} (eval)')
  ax.set_xscale('log')
  ax.set_yscale('log')
  ax.set_xlabel('training step')
  ax.set_ylabel('nats per example')
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)


def learning_curve(curves: Mapping[str, Tuple[Sequence[float],
                                             Sequence[float]]],
                   path: str, title: str = 'Learning curve',
                   ylabel: str = 'NLL (nats per example)',
                   quality: Optional[Tuple[float, float]] = None,
                   quality_label: str = '') -> str:
  """Lines of (epochs, values) by label against log epochs; `quality`
  (epoch, value) marks a point, labelled `quality_label`. The first epoch
  falls by hundreds of nats and the rest by a few: the y axis shows the
  values from the first epoch on (earlier ones run off its top).

  Args:
    curves: (epochs, values) by label.
    path: The file to write (PNG).
    title: The figure's title.
    ylabel: The y axis's label.
    quality: (epoch, value) of a point to mark, or None.
    quality_label: The marked point's label.
  """
  fig, ax = plt.subplots(figsize=(6, 4))
  shown, first = [], []
  for label, (epochs, values) in curves.items():
    ax.plot(epochs, values, marker='.', label=label)
    epochs, values = np.asarray(epochs), np.asarray(values)
    later = epochs >= 1 if np.any(epochs >= 1) else np.ones_like(epochs, bool)
    shown.append(values[later])
    first.append(epochs[later].min())
  if quality is not None:
    ax.plot(*quality, linestyle='none', marker='o', markersize=10,
            markerfacecolor='none', color='black', label=quality_label)
  low = min(v.min() for v in shown)
  high = max(v.max() for v in shown)
  margin = 0.05 * (high - low) + 0.5
  ax.set_ylim(low - margin, high + margin)
  ax.set_xscale('log')
  ax.set_xlim(left=min(first) / 1.5)
  ax.set_xlabel('epochs')
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)


def metrics_against(x_name: str, xs: Sequence[float],
                    values: Mapping[str, Sequence[Optional[float]]],
                    groups: Sequence[str], path: str) -> str:
  """A panel per metric: its value against x, a point per run and a line
  per group through the means of the runs at each x (seeds, say). Missing
  values (None) are left out.

  Args:
    x_name: The x axis's name.
    xs: Each run's x.
    values: Each metric's value per run (None: missing).
    groups: Each run's group.
    path: The file to write (PNG).
  """
  names = list(values)
  columns = min(3, len(names))
  rows = -(-len(names) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows),
                           squeeze=False)
  xs = np.asarray(xs, np.float64)
  for ax, name in zip(axes.flat, names):
    for group in dict.fromkeys(groups):  # In order, once each.
      keep = [i for i, g in enumerate(groups)
              if g == group and values[name][i] is not None]
      x = xs[keep]
      y = np.asarray([values[name][i] for i in keep], np.float64)
      points, = ax.plot(x, y, linestyle='none', marker='o', alpha=0.4)
      levels = np.unique(x)
      ax.plot(levels, [y[x == v].mean() for v in levels], marker='.',
              color=points.get_color(), label=group or None)
    if len(set(xs)) > 2 and np.all(xs > 0):
      ax.set_xscale('log')
    ax.set_xlabel(x_name)
    ax.set_title(name, fontsize=9)
    ax.grid(True, alpha=0.3)
    if any(groups):
      ax.legend(fontsize=7)
  for ax in list(axes.flat)[len(names):]:
    ax.axis('off')
  return _save(fig, path)


def labelled_grid(images: np.ndarray, rows: int, cols: int, path: str,
                  title: str, row_labels: Sequence[str] = (),
                  col_labels: Sequence[str] = ()) -> str:
  """A grid of images sized to its shape, rows and columns labelled.

  Args:
    images: [rows * cols, H, W(, C)] images.
    rows: Rows of the grid.
    cols: Columns of the grid.
    path: The file to write (PNG).
    title: The figure's title.
    row_labels: A label per row.
    col_labels: A label per column.
  """
  fig, ax = plt.subplots(figsize=(min(14, 0.7 * cols + 1.8),
                                  min(14, 0.7 * rows + 1.0)))
  _show(ax, tile(images, rows, cols))
  height, width = np.asarray(images).shape[1:3]
  ax.set_yticks((np.arange(len(row_labels)) + 0.5) * height, row_labels,
                fontsize=7)
  ax.set_xticks((np.arange(len(col_labels)) + 0.5) * width, col_labels,
                fontsize=7)
  for side in ax.spines.values():
    side.set_visible(False)
  ax.set_title(title, fontsize=9)
  return _save(fig, path)


def bars(names: Sequence[str], values: Sequence[float], path: str,
         title: str, ylabel: str) -> str:
  """One bar per name, in the order given.

  Args:
    names: A name per bar.
    values: A value per bar.
    path: The file to write (PNG).
    title: The figure's title.
    ylabel: The y axis's label.
  """
  fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(names) + 1.5), 3.5))
  ax.bar(range(len(values)), values)
  ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=9)
  ax.grid(True, axis='y', alpha=0.3)
  return _save(fig, path)


def reconstructions(inputs: np.ndarray, outputs: np.ndarray, path: str,
                    title: str = 'Inputs (top) and reconstructions (bottom)'
                    ) -> str:
  """Inputs above their reconstructions, one column per example. One
  tiled image on one axes: a subplot per image cost 0.6 s a figure.

  Args:
    inputs: [n, H, W(, C)] input images.
    outputs: Their reconstructions, alike.
    path: The file to write (PNG).
    title: The figure's title.
  """
  n = len(inputs)
  images = np.concatenate([np.asarray(inputs)[:n], np.asarray(outputs)[:n]])
  fig, ax = plt.subplots(figsize=(1.2 * n, 2.8))
  _show(ax, tile(images, 2, n))
  height = images.shape[1]
  ax.set_yticks([height / 2, 3 * height / 2], ['input', 'reconstruction'],
                fontsize=8)
  ax.set_xticks([])
  for side in ax.spines.values():
    side.set_visible(False)
  ax.set_title(title)
  return _save(fig, path)


def image_grid(images: np.ndarray, rows: int, cols: int, path: str,
               title: str, xlabel: Optional[str] = None,
               ylabel: Optional[str] = None,
               extent: Optional[Sequence[float]] = None) -> str:
  """A grid of images, such as samples from the prior or a traversal.

  Args:
    images: [rows * cols, H, W(, C)] images.
    rows: Rows of the grid.
    cols: Columns of the grid.
    path: The file to write (PNG).
    title: The figure's title.
    xlabel: The x axis's label, if any.
    ylabel: The y axis's label, if any.
    extent: The axes' (left, right, bottom, top) in data units; None hides the
      ticks.
  """
  fig, ax = plt.subplots(figsize=(7, 7))
  _show(ax, tile(images, rows, cols), extent=extent)
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

  Args:
    latent_size: The dimensions of z.
    dims: The two dimensions traversed.
    grid_size: Points along each.
    span: The half-width of the range.
  """
  if latent_size < 2:
    raise ValueError(f'a traversal needs latent_size >= 2, got {latent_size}')
  values = np.linspace(-span, span, grid_size, dtype=np.float32)
  xx, yy = np.meshgrid(values, values[::-1])
  z = np.zeros([grid_size * grid_size, latent_size], np.float32)
  z[:, dims[0]] = xx.ravel()
  z[:, dims[1]] = yy.ravel()
  return z


def manifold_codes(grid_size: int = 15, low: float = 0.05,
                   high: float = 0.95) -> np.ndarray:
  """A [grid_size**2, 2] grid of codes through the inverse Normal CDF.

  Evenly spaced quantiles u in [low, high] map to z = Phi^-1(u), so the grid
  covers the prior's mass evenly, as in `keras-modular-vae.txt`. Rows run
  from high z[1] at the top to low, as in `traversal_codes`.

  Args:
    grid_size: Points along each dimension.
    low: The lowest quantile.
    high: The highest quantile.
  """
  normal = statistics.NormalDist()
  values = np.array([normal.inv_cdf(u)
                     for u in np.linspace(low, high, grid_size)], np.float32)
  xx, yy = np.meshgrid(values, values[::-1])
  return np.stack([xx.ravel(), yy.ravel()], axis=1)


def project_2d(points: np.ndarray):
  """Points in 2-D: the first two columns, or the top two principal axes.

  Returns (points [n, 2], axis names, fraction of variance shown).

  Args:
    points: [n, d] points.
  """
  points = np.asarray(points, np.float64)
  if points.shape[1] <= 2:
    if points.shape[1] == 1:
      points = np.concatenate([points, np.zeros_like(points)], axis=1)
    return points, ('z[0]', 'z[1]'), 1.0
  centred = points - points.mean(axis=0)
  _, singular, axes = np.linalg.svd(centred, full_matrices=False)
  explained = float(np.sum(singular[:2]**2) / max(np.sum(singular**2), 1e-30))
  return centred @ axes[:2].T, ('principal axis 1', 'principal axis 2'), \
      explained


def latent_scatter(posterior_means: np.ndarray, labels: np.ndarray,
                   path: str, title: str = 'Posterior means of the eval set'
                   ) -> str:
  """The eval set's posterior means in 2-D, coloured by label.

  With more than two latent dimensions, the means are projected on their two
  principal axes (PCA); the title says how much variance that keeps.

  Args:
    posterior_means: [n, latent] means of q(z|x).
    labels: [n] int labels (-1: none).
    path: The file to write (PNG).
    title: The figure's title.
  """
  points, (xlabel, ylabel), explained = project_2d(posterior_means)
  labels = np.asarray(labels)
  fig, ax = plt.subplots(figsize=(6, 5.5))
  if np.all(labels < 0):  # No labels: one colour.
    ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5)
  else:
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, s=4,
                         alpha=0.6, cmap='tab10', vmin=-0.5, vmax=9.5)
    fig.colorbar(scatter, ax=ax, ticks=range(10), label='label')
  if explained < 1.0:
    title = f'{title}\n(PCA of {posterior_means.shape[1]} dimensions, ' \
        f'{100 * explained:.0f}% of the variance)'
  ax.set_title(title)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  return _save(fig, path)


def rate_distortion(rates: Sequence[float], distortions: Sequence[float],
                    names: Sequence[str], path: str,
                    title: str = 'Rate-distortion plane (eval set)',
                    note: str = '') -> str:
  """One point per run in the (rate, distortion) plane, as in Alemi et al.

  Dashed lines are equal ELBO (rate + distortion constant); runs to the lower
  left are better, and beta trades one for the other along a curve.

  Args:
    rates: Each run's rate (nats).
    distortions: Each run's distortion (nats).
    names: Each run's name.
    path: The file to write (PNG).
    title: The figure's title.
    note: A line under the plot (the runs left out, and why).
  """
  rates = np.asarray(rates, np.float64)
  distortions = np.asarray(distortions, np.float64)
  fig, ax = plt.subplots(figsize=(7, 5.5))
  ax.scatter(rates, distortions, zorder=3)
  for r, d, name in zip(rates, distortions, names):
    ax.annotate(name, (r, d), textcoords='offset points', xytext=(4, 4),
                fontsize=7)
  if len(rates):
    totals = rates + distortions
    span = np.array([0.0, max(rates.max(), 1.0) * 1.1])
    for total in np.linspace(totals.min(), totals.max(), 4):
      ax.plot(span, total - span, linestyle='--', color='grey', linewidth=0.7,
              zorder=1)
    ax.set_xlim(0, span[1])
    ax.set_ylim(max(0.0, distortions.min() * 0.9), distortions.max() * 1.05)
  ax.set_xlabel('rate: KL(q(z|x) || p(z)), nats')
  ax.set_ylabel('distortion: -log p(x|z), nats')
  ax.set_title(title + '\ndashed: equal ELBO')
  ax.grid(True, alpha=0.3)
  if note:  # Under the axis label; the layout makes room for it.
    ax.text(0.0, -0.14, textwrap.fill(note, 100), transform=ax.transAxes,
            fontsize=7, va='top')
  return _save(fig, path)
