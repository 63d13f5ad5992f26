"""A run's data: its splits, loaded with errors that say what to do, and
the batches it evaluates on."""

from typing import NamedTuple, Optional, Tuple

from absl import logging
import tensorflow as tf

from vae import binarization
from vae import config as config_lib
from vae import data
from vae import errors


def load_examples(data_config: config_lib.DataConfig, split: str,
                  split_field: str = 'eval_split') -> data.Examples:
  """One split of the run's dataset; bad input becomes an `InputError`.

  Args:
    data_config: A `config.DataConfig`.
    split: The TFDS split string.
    split_field: The field that gave it, for messages.
  """
  given = f'--dataset={data_config.dataset} --{split_field}={split}'
  if data_config.data_dir is not None:
    given += f' --data_dir={data_config.data_dir}'
  try:
    return data.load(data_config.dataset, split, data_config.data_dir,
                     download=data_config.download)
  except data.DownloadError as e:
    raise errors.InputError(
        f'{given}: {e}\nOffline, with a folder of the IDX files:\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder\n'
        f'or, with only the test files (as in ../shared/data/mnist):\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder '
        f'--train_split=\'test[:9000]\' --eval_split=\'test[9000:]\'') from e
  except data.DataError as e:
    raise errors.InputError(f'{given}: {e}') from e


def eval_batches(examples: data.Examples, config: config_lib.Config
                 ) -> tf.data.Dataset:
  """An evaluated split in order, `(images, labels)`, binarised from the
  seed; as stored if `evaluated_splits` binarised it once.

  Args:
    examples: The split.
    config: A `config.Config`.
  """
  fixed = config.data.eval_binarization_seed is not None
  return data.batches(examples, config.train.eval_batch_size,
                      'none' if fixed else config.data.binarization,
                      train=False, seed=config.train.seed + 1, labels=True)


def evaluated_splits(config: config_lib.Config
                     ) -> Tuple[data.Examples, Optional[data.Examples]]:
  """The eval split and the validation split (None without one).

  With `--eval_binarization_seed` both are binarised once, the validation
  split first (`binarization.binarized_once`), so the eval split's bits depend on
  the validation split as in the code that fixed them; `eval_batches`
  then serves them as they are.

  Args:
    config: A `config.Config`.

  Raises:
    InputError: for a split that cannot be read.
  """
  eval_examples = load_examples(config.data, config.data.eval_split)
  validation = None
  if config.data.validation_split is not None:
    validation = load_examples(config.data, config.data.validation_split,
                               'validation_split')
  seed = config.data.eval_binarization_seed
  if seed is None:
    return eval_examples, validation
  if validation is None:
    return binarization.binarized_once([eval_examples], seed)[0], None
  validation, eval_examples = binarization.binarized_once(
      [validation, eval_examples], seed)
  return eval_examples, validation


def check_labels(examples: data.Examples, config: config_lib.Config,
                 split_field: str) -> None:
  """Refuses a split whose labels a `--conditional` model cannot take: no
  labels, or some outside [0, --label_classes).

  Args:
    examples: The split.
    config: A `config.Config`.
    split_field: The field that named the split, for the message.
  """
  given = (f'--conditional with --dataset={config.data.dataset} '
           f'--{split_field}={getattr(config.data, split_field)}')
  if 'label' not in examples.dataset.element_spec:
    raise errors.InputError(f'{given}: the examples have no labels, and a '
                            f'conditional VAE is given each one\'s label')
  labels = data.without_tuning_thread(examples.dataset.map(
      lambda ex: ex['label']).batch(examples.num_examples)).get_single_element()
  low, high = int(tf.reduce_min(labels)), int(tf.reduce_max(labels))
  classes = config.model.label_classes
  if low < 0 or high >= classes:
    raise errors.InputError(
        f'{given} --label_classes={classes}: the labels run from {low} to '
        f'{high}, outside [0, {classes}); pass --label_classes={high + 1} if '
        f'they are classes 0 to {high}')


class RunData(NamedTuple):
  """The splits of a run and the batches it evaluates on."""
  train_examples: data.Examples
  eval_examples: data.Examples
  eval_batches: tf.data.Dataset
  validation_batches: Optional[tf.data.Dataset]

  @property
  def image_shape(self):
    return self.train_examples.image_shape

  def first_eval_batch(self):
    """The eval split's first (images, labels), as NumPy arrays."""
    return tuple(t.numpy() for t in next(iter(self.eval_batches)))


def load_data(config: config_lib.Config, replicas: int = 1) -> RunData:
  """The splits of `config`, with the eval and validation batches.

  Args:
    config: A `config.Config`.
    replicas: The replicas the global batch is split among.

  Raises:
    InputError: for a split that cannot be read, or a global batch that
      does not split evenly across `replicas`.
  """
  train = config.train
  train_examples = load_examples(config.data, config.data.train_split,
                                 'train_split')
  eval_examples, validation = evaluated_splits(config)
  if train.batch_size % replicas:
    raise errors.InputError(
        f'--batch_size={train.batch_size} with --strategy={train.strategy}'
        f': the global batch must split evenly across the {replicas} '
        f'replicas; pass a multiple of {replicas}')
  if config.model.conditional:
    for field, examples in (('train_split', train_examples),
                            ('eval_split', eval_examples),
                            ('validation_split', validation)):
      if examples is not None:
        check_labels(examples, config, field)
  evaluated = eval_batches(eval_examples, config)
  validation_batches = None
  if validation is not None:
    validation_batches = eval_batches(validation, config)
  logging.info('Training on %d examples (%s), evaluating on %d; %d '
               'replica(s), %d examples each per step.',
               train_examples.num_examples, train_examples.source,
               eval_examples.num_examples, replicas,
               train.batch_size // replicas)
  return RunData(train_examples, eval_examples, evaluated,
                 validation_batches)
