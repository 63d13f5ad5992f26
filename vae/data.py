"""Image datasets: TFDS or local IDX files, scaled to [0, 1] and binarised.

Two sources give the same examples, `{'image': uint8 [H, W, C], 'label':
int64}`:

- TFDS (`tfds.load`): any image dataset, downloaded into `data_dir` (or
  `$TFDS_DATA_DIR`, or `~/tensorflow_datasets`) on first use.
- A local folder of the IDX files of MNIST, Fashion-MNIST or KMNIST
  (`vae/idx.py`), as torchvision and Keras users have on disk. This needs
  no network.

Both take TFDS split strings ('test[:9000]', 'train[:90%]+test'), resolved by
TFDS's own `ReadInstruction`.

A third source needs neither network nor files: datasets the project
generates (`GENERATED`), such as `sprites` (`factors.Sprites`, dSprites'
factor grid drawn procedurally). Its one split, 'train', is the whole grid
in an order fixed by `GENERATOR_SEED`, so any slice of it is a uniform
sample; only the slice asked for is drawn.
"""

import difflib
import os
import socket
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vae import binarization as binarization_lib
from vae import errors
from vae import factors
from vae import idx

# The ways of serving pixels, and `binarize` itself (`vae/binarization.py`).
BINARIZATIONS = binarization_lib.BINARIZATIONS
LEVELS = binarization_lib.LEVELS
binarize = binarization_lib.binarize
# The stored value of a white pixel, where it is not 255: the static
# binarisation of MNIST (Larochelle and Murray 2011) is stored as 0/1.
PIXEL_MAX = {'binarized_mnist': 1, 'dsprites': 1}
# Datasets drawn here, from their factors (`factors.FactorData`).
GENERATED = {'sprites': factors.Sprites}
GENERATOR_SEED = 0
# TFDS datasets of every combination of their factors: the features that
# are the factors, in order (`factor_data`).
TFDS_FACTORS = {
    'dsprites': ('label_shape', 'label_scale', 'label_orientation',
                 'label_x_position', 'label_y_position'),
    'shapes3d': ('label_floor_hue', 'label_wall_hue', 'label_object_hue',
                 'label_scale', 'label_shape', 'label_orientation'),
}
# TFDS fetches prepared datasets and most sources from Google Cloud Storage.
_DOWNLOAD_HOST = ('storage.googleapis.com', 443)


DataError = errors.DataError
DownloadError = errors.DownloadError


class Examples(NamedTuple):
  """A split of an image dataset, unbatched, as stored."""
  dataset: tf.data.Dataset  # {'image': uint8 [H, W, C], 'label': int64}.
  image_shape: Tuple[int, int, int]
  num_examples: int
  source: str  # Where the examples came from, for logs.
  pixel_max: int = 255  # The stored value of a white pixel.


def _resolve_split(split: str, sizes: Dict[str, int]):
  """TFDS's parse of a split string into absolute (name, start, stop) slices."""
  split_infos = {
      name: tfds.core.SplitInfo(name=name, shard_lengths=[size], num_bytes=0)
      for name, size in sizes.items()
  }
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(
        split_infos)
  except (ValueError, KeyError, AssertionError) as e:
    raise DataError(f'split {split!r} is not possible here: '
                    f'{str(e).rstrip(".")}. Available: {sizes}') from e
  return [(i.splitname, i.from_, i.to) for i in instructions]


def _load_idx(files: Dict[str, Tuple[str, str]], split: str, data_dir: str
              ) -> Examples:
  sizes = {name: idx.num_examples(images)
           for name, (images, _) in files.items()}
  images, labels = [], []
  arrays = {}
  for name, start, stop in _resolve_split(split, sizes):
    if name not in arrays:
      image_path, label_path = files[name]
      arrays[name] = (idx.read(image_path, 3), idx.read(label_path, 1))
      if len(arrays[name][0]) != len(arrays[name][1]):
        raise DataError(f'{image_path} holds {len(arrays[name][0])} images '
                        f'but {label_path} {len(arrays[name][1])} labels')
    images.append(arrays[name][0][start:stop])
    labels.append(arrays[name][1][start:stop])
  images = np.concatenate(images)[..., np.newaxis]
  labels = np.concatenate(labels).astype(np.int64)
  _check_not_empty(len(images), split)
  dataset = tf.data.Dataset.from_tensor_slices({'image': images,
                                                'label': labels})
  return Examples(dataset=dataset, image_shape=tuple(images.shape[1:]),
                  num_examples=len(images), source=f'IDX files in {data_dir}')


def _check_not_empty(num_examples: int, split: str):
  if num_examples < 1:
    raise DataError(f'split {split!r} selects no examples')


# --------------------------------------------------------------------- TFDS.


def can_reach_download_host(timeout: float = 3.0) -> bool:
  """Whether TFDS's download host answers; False on a machine offline.

  Checked before a download because TFDS retries for minutes before it fails.

  Args:
    timeout: Seconds to wait for the connection.
  """
  try:
    with socket.create_connection(_DOWNLOAD_HOST, timeout=timeout):
      return True
  except OSError:
    return False


def _offline_hint(name: str) -> str:
  if name in idx.DATASETS:
    return (f'To work offline, put the IDX files ({name}\'s '
            f'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, '
            f't10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a '
            f'folder and pass that folder as data_dir.')
  return (f'To work offline, prepare {name!r} with TFDS on a machine with a '
          f'network and copy its data_dir here.')


def _tfds_builder(name: str, data_dir: Optional[str], download: bool):
  """TFDS's builder of `name`, prepared (downloaded if allowed)."""
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    close = difflib.get_close_matches(
        name, list(tfds.list_builders()) + list(GENERATED), n=3)
    hint = f' Did you mean {", ".join(map(repr, close))}?' if close else ''
    raise DataError(f'{name!r} is not a TFDS dataset.{hint} See '
                    f'https://www.tensorflow.org/datasets/catalog') from e
  where = builder.data_dir
  if not builder.is_prepared():
    if not download:
      raise DownloadError(f'{name!r} is not prepared in {where}, and downloading '
                      f'is off. {_offline_hint(name)}')
    if not can_reach_download_host():
      raise DownloadError(
          f'{name!r} is not in {where} and cannot be downloaded: '
          f'{_DOWNLOAD_HOST[0]} is unreachable (no network?). '
          f'{_offline_hint(name)}')
    try:
      builder.download_and_prepare()
    except OSError as e:  # requests' ConnectionError is an OSError.
      raise DownloadError(f'downloading {name!r} into {where} failed: {e}. '
                      f'{_offline_hint(name)}') from e
  return builder


def _load_tfds(name: str, split: str, data_dir: Optional[str],
               download: bool) -> Examples:
  builder = _tfds_builder(name, data_dir, download)
  where = builder.data_dir
  features = builder.info.features
  if 'image' not in features or len(features['image'].shape) != 3 or (
      None in features['image'].shape):
    raise DataError(f'{name!r} has no fixed-shape "image" feature; its '
                    f'features are {features}')
  splits = builder.info.splits
  if splits:
    try:
      num_examples = splits[split].num_examples
    except (ValueError, KeyError, AssertionError) as e:
      available = {k: v.num_examples for k, v in splits.items()}
      raise DataError(f'split {split!r} is not possible for {name!r}: '
                      f'{str(e).rstrip(".")}. Available: {available}') from e
  else:
    # No split metadata (as under tfds.testing.mock_data): count.
    num_examples = int(builder.as_dataset(split=split).reduce(
        0, lambda n, _: n + 1))
  _check_not_empty(num_examples, split)
  dataset = builder.as_dataset(split=split, shuffle_files=False)
  keys = [k for k in ('image', 'label') if k in features]
  dataset = dataset.map(lambda ex: {k: ex[k] for k in keys})
  return Examples(dataset=dataset,
                  image_shape=tuple(int(d) for d in features['image'].shape),
                  num_examples=num_examples, source=f'TFDS {name} in {where}',
                  pixel_max=PIXEL_MAX.get(name, 255))


# ---------------------------------------------------------------- Generated.


def _load_generated(name: str, split: str) -> Examples:
  """A split of a generated dataset; its labels are the first factor (the
  sprites' shape)."""
  data = GENERATED[name]()
  grid = factors.all_factors(data.factor_sizes)
  order = np.random.RandomState(GENERATOR_SEED).permutation(len(grid))
  chosen = np.concatenate([
      order[start:stop]
      for _, start, stop in _resolve_split(split, {'train': len(grid)})])
  _check_not_empty(len(chosen), split)
  rows = grid[chosen]
  images = np.concatenate([
      data.observations(rows[i:i + 10000]).astype(np.uint8)
      for i in range(0, len(rows), 10000)])
  dataset = tf.data.Dataset.from_tensor_slices(
      {'image': images, 'label': rows[:, 0].astype(np.int64)})
  return Examples(dataset=dataset, image_shape=tuple(images.shape[1:]),
                  num_examples=len(images),
                  source=f'{name}, drawn here (seed {GENERATOR_SEED})',
                  pixel_max=1)


# ---------------------------------------------------------------- Factors.


def has_factors(name: str) -> bool:
  """Whether the dataset `name` has ground-truth factors.

  Args:
    name: A dataset name (TFDS's, or one of `GENERATED`).
  """
  return name in GENERATED or name in TFDS_FACTORS


def factor_data(name: str, data_dir: Optional[str] = None,
                download: bool = True) -> Optional[factors.FactorData]:
  """The factors and observations of dataset `name` for the
  disentanglement metrics; None if it has none. A TFDS dataset's whole
  train split is read into memory (dSprites: 3 GB as bytes), as
  disentanglement_lib does.

  Args:
    name: A dataset name.
    data_dir: TFDS's data_dir (None: its default).
    download: Whether TFDS may download the dataset.
  """
  if name in GENERATED:
    return GENERATED[name]()
  if name not in TFDS_FACTORS:
    return None
  builder = _tfds_builder(name, data_dir, download)
  keys = TFDS_FACTORS[name]
  images, values = [], []
  for batch in builder.as_dataset(split='train', batch_size=10000,
                                  shuffle_files=False).as_numpy_iterator():
    images.append(batch['image'])
    values.append(np.stack([batch[k] for k in keys], axis=1))
  features = builder.info.features
  try:
    return factors.GridData(np.concatenate(images), np.concatenate(values),
                            keys, [features[k].num_classes for k in keys],
                            pixel_max=PIXEL_MAX.get(name, 255))
  except ValueError as e:
    raise DataError(f'{name!r} in {builder.data_dir}: {e}') from e


# ------------------------------------------------------------------ Loading.


def load(name: str = 'mnist',
         split: str = 'train',
         data_dir: Optional[str] = None,
         download: bool = True) -> Examples:
  """Loads a split of an image dataset, from IDX files or from TFDS.

  Args:
    name: a TFDS dataset name, or one of `GENERATED` (drawn here).
    split: a TFDS split string, such as 'train', 'test[:9000]' or
      'train[:90%]'.
    data_dir: a folder. If it holds IDX files and `name` is one of
      `idx.DATASETS`, they are read; otherwise it is TFDS's data_dir. None
      means TFDS's default (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
    download: whether TFDS may download and prepare the dataset.

  Returns:
    The split's `Examples`.

  Raises:
    DataError: with what is wrong and what to do.
  """
  if name in GENERATED:
    return _load_generated(name, split)
  if data_dir is None:
    return _load_tfds(name, split, data_dir, download)
  data_dir = os.path.expanduser(data_dir)
  if not os.path.isdir(data_dir):
    raise DataError(f'data_dir {data_dir!r} is not a folder. Point it at a '
                    f'folder holding the IDX files, or create it for TFDS to '
                    f'download into.')
  if name in idx.DATASETS:
    files = idx.find_files(data_dir, name)
    if files:
      return _load_idx(files, split, data_dir)
  try:
    return _load_tfds(name, split, data_dir, download)
  except DownloadError as e:
    if name not in idx.DATASETS:
      raise
    looked_for = ', '.join(f'{p}-images-idx3-ubyte[.gz]'
                           for p in idx.PREFIXES.values())
    raise DownloadError(f'{data_dir!r} holds no {name} data: no IDX files '
                        f'({looked_for} beside their labels) and no TFDS '
                        f'copy. {e}') from e


def _label(example) -> tf.Tensor:
  """The example's label, or -1 for datasets without one."""
  return example['label'] if 'label' in example else tf.constant(-1, tf.int64)


def batches(examples: Examples,
            batch_size: int,
            binarization: str = 'dynamic',
            train: bool = True,
            seed: Optional[int] = None,
            labels: bool = False,
            first_step: int = 0,
            num_replicas: int = 1,
            replicas: Optional[Sequence[int]] = None) -> tf.data.Dataset:
  """Batches of float32 images in [0, 1], [batch, H, W, C].

  Pixels are divided by `examples.pixel_max` (255, or 1 for datasets stored
  as 0/1 such as binarized_mnist).

  With `train`, the split is held in memory as one uint8 tensor and served
  forever in full batches from batch `first_step` on: global example number
  g = step * batch_size + j is example `index_shuffle(g mod N)` of epoch
  g // N, a fresh permutation per epoch from a stateless seed (seed, epoch).
  Batch `step` therefore depends on nothing but (seed, step): a resumed run
  sees the batches it would have seen, from `first_step` = the step it
  resumes at. Otherwise each example is served once, in order, and the last
  batch may be smaller.

  Binarisation runs per batch with a stateless seed (seed, batch number): the
  same seed gives the same pixels whatever the parallelism, and each epoch a
  fresh draw. With `labels`, elements are `(images, labels)`, labels int64
  [batch] (-1 for datasets without labels).

  Data parallelism (`train` only): `num_replicas` N splits each batch of
  `batch_size` into N parts of batch_size / N rows, part r for replica r,
  and the dataset serves, step after step, the parts of the replicas in
  `replicas` (default: all), one element each: a worker's input pipeline
  for its local replicas, in the order `tf.distribute` hands elements to
  them. Part r holds exactly rows [r b, (r+1) b) of the one-device batch,
  binarised alike (`binarize`'s offset), and only those rows are read.

  Args:
    examples: The split, as `load` gives it.
    batch_size: Examples per batch (the global batch with replicas).
    binarization: One of `BINARIZATIONS`.
    train: Serve shuffled full batches forever, rather than each example once
      in order.
    seed: The stateless seed of the shuffles and draws; None draws one.
    labels: Serve `(images, labels)` rather than images.
    first_step: With `train`, the batch to start at (a resumed run's step).
    num_replicas: With `train`, the replicas each batch is split among.
    replicas: The replicas whose parts this dataset serves; default all.
  """
  replicas = _checked_replicas(examples, batch_size, binarization, train,
                               first_step, num_replicas, replicas)
  if seed is None:
    seed = np.random.randint(2**31)
  seed = tf.constant(seed, tf.int64)
  pairs = examples.dataset.map(lambda ex: (ex['image'], _label(ex)))
  if train:
    dataset = _shuffled_parts(pairs, examples, batch_size, seed, first_step,
                              num_replicas, replicas)
  else:
    dataset = pairs.cache().batch(batch_size).enumerate().map(
        lambda i, pair: (i, tf.constant(0, tf.int64)) + pair)

  pixel_max = float(examples.pixel_max)

  def finish(i, offset, images, batch_labels):
    x = binarize(tf.cast(images, tf.float32) / pixel_max, binarization,
                 seed=tf.stack([seed, tf.cast(i, tf.int64)]),
                 offset=offset if num_replicas > 1 else 0)
    return (x, batch_labels) if labels else x

  dataset = dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
  return without_tuning_thread(dataset.prefetch(tf.data.AUTOTUNE))


def _checked_replicas(examples: Examples, batch_size: int, binarization: str,
                      train: bool, first_step: int, num_replicas: int,
                      replicas: Optional[Sequence[int]]) -> List[int]:
  """`batches`' arguments checked; the replicas served, all by default."""
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive, got {batch_size}')
  if binarization not in BINARIZATIONS:
    raise ValueError(
        f'binarization must be one of {BINARIZATIONS}, got {binarization!r}')
  if train and batch_size > examples.num_examples:
    raise DataError(f'batch_size {batch_size} is larger than the '
                    f'{examples.num_examples} training examples')
  if num_replicas < 1 or batch_size % num_replicas:
    raise ValueError(f'a batch of {batch_size} does not split into '
                     f'num_replicas={num_replicas} equal parts')
  replicas = list(range(num_replicas) if replicas is None else replicas)
  if not replicas or not all(0 <= r < num_replicas for r in replicas):
    raise ValueError(f'replicas must be some of 0..{num_replicas - 1}, got '
                     f'{replicas}')
  if not train and (num_replicas > 1 or first_step):
    raise ValueError('num_replicas and first_step are for training batches')
  return replicas


def _shuffled_parts(pairs: tf.data.Dataset, examples: Examples,
                    batch_size: int, seed: tf.Tensor, first_step: int,
                    num_replicas: int, replicas: List[int]
                    ) -> tf.data.Dataset:
  """Training's `(step, pixel offset, images, labels)` elements: the parts
  `replicas` of each global batch from `first_step` on, from the (image,
  label) `pairs` of `examples`, held in memory (see `batches`)."""
  n = examples.num_examples
  part_size = batch_size // num_replicas
  pixels = part_size * int(np.prod(examples.image_shape))
  all_images, all_labels = without_tuning_thread(
      pairs.batch(n)).get_single_element()
  parts = tf.constant(replicas, tf.int64)

  def gather(element):
    step = element // len(replicas) + first_step
    part = tf.gather(parts, element % len(replicas))
    g = (step * batch_size + part * part_size
         + tf.range(part_size, dtype=tf.int64))
    epoch, position = g // n, g % n
    # batch_size <= n, so a batch spans at most two epochs.
    def shuffled(e):
      return tf.random.experimental.index_shuffle(
          position, tf.stack([seed, e]), n - 1)
    index = tf.where(epoch == epoch[0], shuffled(epoch[0]),
                     shuffled(epoch[0] + 1))
    return (step, part * pixels, tf.gather(all_images, index),
            tf.gather(all_labels, index))

  return tf.data.Dataset.counter().map(gather,
                                       num_parallel_calls=tf.data.AUTOTUNE)


def without_tuning_thread(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """`dataset` without tf.data's autotuning thread: parallel maps run on
  every core, and prefetching sizes its buffer as it goes.

  Deleting an iterator waits for that thread, which sleeps between tunings
  for up to a minute and can miss the wake-up (TensorFlow 2.21): deletions
  stalled for tens of seconds, wherever the garbage collector happened to
  free an iterator. `batches`'s pipeline is a gather from memory and a
  binarisation, with nothing worth tuning.

  Args:
    dataset: A `tf.data.Dataset`.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)
