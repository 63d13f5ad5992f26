"""Binarisation: serving images in [0, 1] as the pixels a likelihood models.

`binarize` draws afresh at every call, from a stateless seed (training
batches, and the eval batches of most runs). `binarize_once` draws a whole
split once, from NumPy's legacy stream, the way Tomczak and Welling's
VampPrior code and its descendants (the Exemplar VAE's) fix their
validation and test sets: `np.random.seed(777)`, then
`np.random.binomial(1, x)` on the validation images and then on the test
images. NumPy's legacy `RandomState` gives the same bits on every machine,
so a test set binarised here is bit for bit the one those papers scored;
`binarized_once` does it to a dataset's splits (`data.Examples`).
"""

from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

BINARIZATIONS = ('dynamic', 'static', 'none', 'dequantize')
# The grey levels of 8-bit images, which 'dequantize' spreads over [0, 1).
LEVELS = 256


def binarize(images: tf.Tensor, binarization: str, seed=None,
             offset=0) -> tf.Tensor:
  """Binarises (or dequantises) float images in [0, 1].

  'dynamic' draws each pixel from Bernoulli(intensity), anew at every call
  (Burda et al. 2016); 'static' thresholds at 0.5; 'none' keeps grey levels.
  'dequantize' serves an 8-bit level k as (k + u) / 256, u ~ U[0, 1) anew
  at every call (uniform dequantisation, Theis et al. 2016): a density p on
  such data bounds the levels' probability, -log P(k) <= E_u[-log p] +
  D log 256 (`report.bits_per_dim`).
  `seed`, for draws: None for the stateful generator, or a stateless seed
  of shape [2], whose draws depend on nothing else. `offset` (with a seed)
  makes `images` the part of a larger batch that starts at that element:
  its pixels get the uniforms the whole batch would, without drawing the
  rest (the Philox stream is counter-based, one counter per 4 floats).

  Args:
    images: Float images in [0, 1].
    binarization: One of `BINARIZATIONS`.
    seed: None, or a stateless seed [2].
    offset: With a seed, the element of the larger batch `images` starts at.

  Returns:
    The images served, of their shape and dtype.

  Raises:
    ValueError: for an unknown `binarization`.
  """
  if binarization not in BINARIZATIONS:
    raise ValueError(
        f'binarization must be one of {BINARIZATIONS}, got {binarization!r}')
  if binarization in ('static', 'none'):
    return (tf.cast(images > 0.5, images.dtype) if binarization == 'static'
            else images)
  if seed is None:
    uniform = tf.random.uniform(tf.shape(images), dtype=images.dtype)
  elif isinstance(offset, int) and offset == 0:
    uniform = tf.random.stateless_uniform(tf.shape(images), seed=seed,
                                          dtype=images.dtype)
  else:
    uniform = _stateless_uniform_from(tf.shape(images), seed, offset,
                                      images.dtype)
  if binarization == 'dequantize':
    levels = tf.round(images * (LEVELS - 1))
    return (levels + uniform) / LEVELS
  return tf.cast(uniform < images, images.dtype)


def _stateless_uniform_from(shape, seed, offset, dtype) -> tf.Tensor:
  """Elements [offset, offset + prod(shape)) of the Philox stream of
  `tf.random.stateless_uniform` with `seed`, as a tensor of `shape`.

  The stream's element k comes from counter + k // 4 (4 32-bit words per
  Philox block, one per float32), so the part starts at the block holding
  `offset`. The counter that `StatelessRandomGetKeyCounter` derives from a
  seed has its low 64 bits 0, so adding the block number never carries.
  """
  if dtype != tf.float32:
    raise ValueError(f'offset draws are float32 only, got {dtype}')
  key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(
      seed=tf.cast(seed, tf.int64))
  offset = tf.cast(offset, tf.int64)
  skip = offset % 4
  size = tf.reduce_prod(tf.cast(shape, tf.int64))
  counter = tf.stack([counter[0] + tf.cast(offset // 4, tf.uint64),
                      counter[1]])
  flat = tf.raw_ops.StatelessRandomUniformV2(
      shape=tf.reshape(size + skip, [1]), key=key, counter=counter,
      alg=tf.raw_ops.StatelessRandomGetAlg(), dtype=dtype)
  return tf.reshape(flat[skip:], shape)


def binarize_once(splits: Sequence[np.ndarray], seed: int,
                  pixel_max: int = 255) -> List[np.ndarray]:
  """Each split binarised once, in order, from one legacy NumPy stream.

  Pixel p of a split is `RandomState(seed).binomial(1, p / pixel_max)`
  (float64 intensities, as `x / 255.` gives in NumPy), drawn in C order
  over the splits' images one after the other: the first split's draws
  decide where the second's start.

  Args:
    splits: uint8 images [n, H, W, C] of each split, in drawing order.
    seed: The seed of `np.random.RandomState` (777 in the VampPrior code).
    pixel_max: The stored value of a white pixel.

  Returns:
    The splits as uint8 arrays of 0 and 1, of their shapes.

  Raises:
    ValueError: for a split of values above `pixel_max`.
  """
  stream = np.random.RandomState(seed)
  binarised = []
  for images in splits:
    images = np.asarray(images)
    if images.size and images.max() > pixel_max:
      raise ValueError(f'binarize_once: pixels above pixel_max={pixel_max} '
                       f'(max {images.max()}); pass the stored white value')
    flat = images.reshape(len(images), -1) / float(pixel_max)
    binarised.append(stream.binomial(1, flat).astype(np.uint8)
                     .reshape(images.shape))
  return binarised


def binarized_once(splits: Sequence, seed: int) -> List:
  """Splits of a dataset binarised once, in order, from one NumPy stream.

  Their pixels become the 0/1 draws of `binarize_once` (the
  VampPrior code's fixed validation and test sets: seed 777, validation
  first), stored with `pixel_max` 1, so serving them with 'none' (or
  'dynamic', which keeps 0 and 1) gives those bits every time.

  Args:
    splits: `data.Examples` of one dataset, in drawing order.
    seed: The seed of NumPy's `RandomState`.

  Returns:
    A `data.Examples` per split, of the same images and labels, binarised.
  """
  arrays = [_as_arrays(examples) for examples in splits]
  pixel_max = {examples.pixel_max for examples in splits}
  if len(pixel_max) != 1:
    raise ValueError(f'binarized_once: the splits store white as '
                     f'{sorted(pixel_max)}; pass splits of one dataset')
  bits = binarize_once([images for images, _ in arrays],
                                        seed, pixel_max=pixel_max.pop())
  return [examples._replace(
      dataset=tf.data.Dataset.from_tensor_slices(
          {'image': images, 'label': labels}),
      source=f'{examples.source}, binarised once with NumPy seed {seed}',
      pixel_max=1)
          for examples, images, (_, labels) in zip(splits, bits, arrays)]


def _as_arrays(examples) -> Tuple[np.ndarray, np.ndarray]:
  """A split's images (uint8) and labels (int64, -1 without labels)."""
  images, labels = [], []
  for batch in examples.dataset.batch(4096).as_numpy_iterator():
    images.append(batch['image'])
    labels.append(batch['label'] if 'label' in batch else
                  np.full(len(batch['image']), -1, np.int64))
  return np.concatenate(images), np.concatenate(labels).astype(np.int64)
