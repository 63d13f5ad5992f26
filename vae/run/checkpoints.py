"""A run's checkpoints: the newest training state, and the best weights.

`checkpoints/` holds the model, the optimisers and the step, every
`--checkpoint_every` steps; `checkpoints/best/` the model of the best
validation score so far (`early_stopping`). The newest checkpoint is found
from the files, not from TensorFlow's `checkpoint` state file, so moving a
damaged one away falls back to the one before.
"""

import os
from typing import Dict, List, Optional

import sonnet as snt
import tensorflow as tf

from vae import errors
from vae.run import folder as run_folder


def _checkpoint_number(path: str) -> int:
  return int(path.rsplit('-', 1)[-1])


def checkpoint_paths(directory: str) -> List[str]:
  """The checkpoints in `directory` (from their files, not from the
  `checkpoint` state file), oldest first.

  Args:
    directory: A checkpoint folder.
  """
  return sorted((p[:-len('.index')] for p in tf.io.gfile.glob(
      os.path.join(directory, 'ckpt-*.index'))), key=_checkpoint_number)


def newest_step(directory: str) -> int:
  """The step of the newest checkpoint in `directory`; 0 if none.

  Args:
    directory: A checkpoint folder.
  """
  paths = checkpoint_paths(directory)
  return _checkpoint_number(paths[-1]) if paths else 0


def restore_newest(checkpoint: tf.train.Checkpoint, directory: str,
                   partial: bool = False,
                   at_most: Optional[int] = None) -> int:
  """Restores the newest checkpoint in `directory` (of step `at_most` or
  less, if given); returns its step.

  `checkpoint` must have a `step` variable. The newest is found from the
  files, not from the `checkpoint` state file, so moving a damaged one away
  falls back to the one before. With `partial`, parts of the checkpoint that
  `checkpoint` lacks (the optimiser, say, when evaluating) are ignored.
  Returns 0 when there is no checkpoint.

  Args:
    checkpoint: The `tf.train.Checkpoint` to restore into.
    directory: A checkpoint folder.
    partial: Ignore what the checkpoint holds and `checkpoint` lacks.
    at_most: The newest step to consider; None for any.
  """
  paths = [p for p in checkpoint_paths(directory)
           if at_most is None or _checkpoint_number(p) <= at_most]
  if not paths:
    return 0
  try:
    status = checkpoint.read(paths[-1])
    if partial:
      status.expect_partial()
    status.assert_existing_objects_matched()
  except Exception as e:  # pylint: disable=broad-except
    # A damaged file fails in many ways (OpError, IndexError, ValueError...).
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    then = (f'uses {os.path.basename(paths[-2])}' if len(paths) > 1
            else 'starts afresh')
    raise errors.InputError(
        f'cannot restore the checkpoint {paths[-1]}: {reason}\nIt may be '
        f'truncated (a full disk, a copy cut short). Move {paths[-1]}.* out '
        f'of {directory} and run again: the run then {then}. Or, to '
        f'train afresh, pass --restart.') from e
  return int(checkpoint.step.numpy())


class Checkpoints:
  """The checkpoints of one run's folder.

  Args:
    output_dir: The run's folder.
    model: The model whose variables are saved and restored.
    optimizers: The optimisers by name, saved beside the model (none, to
      restore weights only).
    keep: How many checkpoints to keep.
  """

  def __init__(self, output_dir: str, model: snt.Module,
               optimizers: Optional[Dict[str, snt.Optimizer]] = None,
               keep: int = 3):
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    # No data iterator: batch s depends only on the seed and s, so a run
    # resumed at step s (under any strategy) starts there.
    self.checkpoint = tf.train.Checkpoint(model=model, **(optimizers or {}),
                                          step=self.step)
    self.directory = os.path.join(output_dir, run_folder.CHECKPOINTS)
    self.best_checkpoint = tf.train.Checkpoint(model=model, step=self.step)
    self.best_directory = os.path.join(self.directory, run_folder.BEST)
    self._keep = keep

  def newest_step(self) -> int:
    """The step of the newest checkpoint; 0 if none."""
    return newest_step(self.directory)

  def latest(self) -> Optional[str]:
    """The newest checkpoint's path, if there is one."""
    paths = checkpoint_paths(self.directory)
    return paths[-1] if paths else None

  def restore(self, at_most: Optional[int] = None, best: bool = False
              ) -> int:
    """Restores the newest checkpoint; its step, 0 if none.

    Parts the checkpoint has and this one lacks (the data iterator of older
    runs, the optimisers when evaluating) are ignored.

    Args:
      at_most: Take the newest of this step or less.
      best: Restore the best validation score's weights instead.

    Raises:
      InputError: if the checkpoint cannot be read, saying what to do.
    """
    if best:
      return restore_newest(self.best_checkpoint, self.best_directory,
                            partial=True, at_most=at_most)
    return restore_newest(self.checkpoint, self.directory, partial=True,
                          at_most=at_most)

  def restore_best(self, expected: Optional[int], eval_path: str) -> int:
    """Restores the best validation score's weights; their step.

    Args:
      expected: The step the run's eval rows give the best score at (None:
        they give none).
      eval_path: Where those rows are, for the error.

    Raises:
      InputError: if the weights are of another step than `expected`.
    """
    step = self.restore(best=True)
    if step != expected:
      raise errors.InputError(
          f'{self.best_directory} holds the weights of step {step}, but '
          f'{eval_path} gives the best validation score at step '
          f'{expected}: the run folder was changed by hand. Run again with '
          '--restart to train it afresh.')
    return step

  def save(self, step: int):
    """Saves the training state of `step`, keeping the newest `keep`."""
    self._save(self.checkpoint, self.directory, step, self._keep)

  def save_best(self, step: int):
    """Saves the weights of `step` as the best so far."""
    self._save(self.best_checkpoint, self.best_directory, step, 1)

  def _save(self, checkpoint: tf.train.Checkpoint, directory: str,
            step: int, keep: int):
    self.step.assign(step)
    # Made at each save: it reads the folder's state file then, so a folder
    # cleared by --restart since the run was made is seen as it is.
    manager = tf.train.CheckpointManager(checkpoint, directory,
                                         max_to_keep=keep)
    manager.save(checkpoint_number=step)
