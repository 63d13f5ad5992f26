"""Data with ground-truth factors of variation, for the disentanglement
metrics (`vae/metrics/`).

A `FactorData` has discrete factors, factor k taking `factor_sizes[k]`
values 0..n_k - 1, and renders the observation of any factor values. The
metrics draw factors, fix some, and compare the representations of what is
rendered, as disentanglement_lib's `GroundTruthData` does
(`sample_factors`, `sample_observations_from_factors`).

`Sprites` is the project's own dSprites (Matthey et al. 2017,
github.com/deepmind/dsprites-dataset), made procedurally as dSprites itself
was: white shapes on black at 64x64, over dSprites' factors and values,

  shape        3   square, ellipse, heart
  scale        6   0.5 to 1, evenly spaced
  orientation 40   0 to 2 pi (not included), evenly spaced
  x, y        32   0 to 1 each, evenly spaced, across the canvas

737,280 images in all. A pixel is white when its centre lies inside the
shape moved to (x, y), turned by the orientation and scaled. As in
dSprites, the square repeats every quarter turn and the ellipse every half
turn, so their orientations are not all distinguishable. The shapes and
their sizes are this module's own (dSprites gives no formula); the factor
grid is dSprites'.
"""

import math
from typing import Protocol, Sequence, Tuple

import numpy as np


class FactorData(Protocol):
  """Discrete factors and the observations they render."""
  factor_names: Tuple[str, ...]
  factor_sizes: Tuple[int, ...]

  def observations(self, factors: np.ndarray) -> np.ndarray:
    """[n, ...] float32 observations of [n, num_factors] factor indices."""


def sample_factors(data: FactorData, num: int,
                   rng: np.random.RandomState) -> np.ndarray:
  """[num, num_factors] factor indices, each uniform over its values.

  Args:
    data: The factors' dataset.
    num: The rows to draw.
    rng: The NumPy generator to draw with.
  """
  return np.stack([rng.randint(size, size=num)
                   for size in data.factor_sizes], axis=1)


def all_factors(sizes: Sequence[int]) -> np.ndarray:
  """Every combination of factor values, [prod(sizes), len(sizes)], the
  last factor changing fastest (dSprites' order).

  Args:
    sizes: The number of values of each factor.
  """
  grids = np.meshgrid(*[np.arange(n) for n in sizes], indexing='ij')
  return np.stack([g.ravel() for g in grids], axis=1)


# Each shape's implicit function f(u, v) <= 0 inside, in a frame where the
# shape at scale 1 spans about [-1, 1].
def _square(u, v):
  return np.maximum(np.abs(u), np.abs(v)) - 0.8


def _ellipse(u, v):
  return (u / 1.0)**2 + (v / 0.5)**2 - 1.0


def _heart(u, v):
  # The heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, pointing down, made to
  # span about [-1, 1] with its centre of mass near the origin.
  x, y = u * 1.15, -v * 1.15 + 0.15
  return (x**2 + y**2 - 1.0)**3 - x**2 * y**3


class Sprites:
  """dSprites' factors, rendered procedurally (see the module's doc)."""
  factor_names = ('shape', 'scale', 'orientation', 'x', 'y')
  factor_sizes = (3, 6, 40, 32, 32)
  image_shape = (64, 64, 1)
  shapes = ('square', 'ellipse', 'heart')
  _IMPLICIT = (_square, _ellipse, _heart)
  # At scale 1 a shape spans about 2 * 0.16 of the canvas; x and y keep it
  # inside.
  _SIZE = 0.16
  _WINDOW = 28

  def values(self, factors: np.ndarray) -> Tuple[np.ndarray, ...]:
    """(shape index, scale, angle, x, y) of factor indices, as numbers."""
    factors = np.asarray(factors)
    shape, scale, angle, x, y = (factors[:, k] for k in range(5))
    return (shape, 0.5 + 0.1 * scale, 2 * math.pi * angle / 40, x / 31,
            y / 31)

  def observations(self, factors: np.ndarray) -> np.ndarray:
    """[n, 64, 64, 1] float32 images, 0 or 1, of [n, 5] factor indices.

    Only a window of `_WINDOW` pixels around each sprite is computed (a
    sprite reaches at most 12 pixels from its centre): 5 times fewer
    pixels than the canvas."""
    shape, scale, angle, x, y = (v.astype(np.float32) if v.dtype.kind == 'f'
                                 else v for v in self.values(factors))
    n = len(shape)
    height, width = self.image_shape[:2]
    margin = self._SIZE * 1.1
    centre = np.stack([margin + y * (1 - 2 * margin),
                       margin + x * (1 - 2 * margin)], axis=1)  # rows, cols
    # The window's first row and column, inside the canvas.
    corner = np.clip(np.round(centre * [height, width]).astype(int)
                     - self._WINDOW // 2, 0,
                     [height - self._WINDOW, width - self._WINDOW])
    steps = np.arange(self._WINDOW)
    rows = corner[:, :1] + steps  # [n, window]
    cols = corner[:, 1:] + steps
    dy = ((rows + 0.5) / height - centre[:, :1])[:, :, None]
    dx = ((cols + 0.5) / width - centre[:, 1:])[:, None, :]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    size = (self._SIZE * scale)[:, None, None]
    u = (cos * dx + sin * dy) / size
    v = (-sin * dx + cos * dy) / size
    inside = np.zeros(u.shape, bool)
    for index, implicit in enumerate(self._IMPLICIT):
      chosen = shape == index
      if chosen.any():
        inside[chosen] = implicit(u[chosen], v[chosen]) <= 0
    images = np.zeros((n, height, width, 1), np.float32)
    images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :],
           0] = inside
    return images


class GridData:
  """Stored observations of every combination of their factors (TFDS's
  `dsprites` and `shapes3d`), looked up by factor values.

  Args:
    images: [n, H, W, C] uint8 images, `pixel_max` for white.
    factors: [n, num_factors] factor indices of each image.
    factor_names, factor_sizes: of the factors, in `factors`' order.
    pixel_max: The stored value of a white pixel.
  """

  def __init__(self, images: np.ndarray, factors: np.ndarray,
               factor_names: Sequence[str], factor_sizes: Sequence[int],
               pixel_max: int = 255):
    self.factor_names = tuple(factor_names)
    self.factor_sizes = tuple(int(n) for n in factor_sizes)
    self.image_shape = tuple(images.shape[1:])
    self._images = images
    self._pixel_max = float(pixel_max)
    self._index = np.full(int(np.prod(self.factor_sizes)), -1, np.int64)
    self._index[self._flat(factors)] = np.arange(len(factors))
    missing = int(np.sum(self._index < 0))
    if missing:
      raise ValueError(
          f'the data hold {len(factors)} images but {missing} of the '
          f'{len(self._index)} combinations of their factors '
          f'{dict(zip(self.factor_names, self.factor_sizes))} have none: the '
          'metrics need an image of each (the whole dataset, not a slice)')

  def _flat(self, factors: np.ndarray) -> np.ndarray:
    return np.ravel_multi_index(np.asarray(factors).T, self.factor_sizes)

  def observations(self, factors: np.ndarray) -> np.ndarray:
    return (self._images[self._index[self._flat(factors)]]
            .astype(np.float32) / self._pixel_max)
