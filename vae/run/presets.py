"""Published setups as presets: one configuration file per paper's setup.

A preset is a JSON file in `vae/run/preset_files/` (its name is the file's):

  paper, table   where the setup and its number are published;
  dataset        the dataset of that number (TFDS's name; mnist unless said);
  reported       {"test_nll": nats, "eval_num_samples": k} as published,
                 with "spread" (the ± of the table) where it gives one
                 (test_nll null where it was not checked; see "note");
  epochs         the paper's training budget, in passes over its data;
  kl_warmup_epochs  a KL warm-up in epochs (0 if none);
  early_stopping_epochs  the patience of early stopping in epochs (0 if
                 none; the config then names its --validation_split);
  differs        what this codebase does differently, said plainly;
  config         fields of `config.Config` (any field not given keeps its
                 default), checked as any configuration is.

`make_config` turns epochs into steps for the data at hand (epochs x
examples / batch size), scaled by `epochs_scale` to shorten a run: the
learning-rate staircase and the warm-up are fractions of the run, so a
shortened run keeps their shape. The patience of early stopping is not
scaled: it measures the noise of the validation score, not the budget.
"""

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional

from vae import config as config_lib

FOLDER = os.path.join(os.path.dirname(__file__), 'preset_files')


@dataclasses.dataclass(frozen=True)
class Preset:
  """A published setup: its citation, its number, its budget and its fields.

  Args:
    name: The file's name, without .json.
    paper: The citation.
    table: Where in the paper the number is.
    reported: {"test_nll": nats or None, "eval_num_samples": k, ...} as
      published.
    epochs: The paper's training budget in epochs.
    differs: What this codebase does differently.
    config: Fields of `config.Config` by name.
    kl_warmup_epochs: The KL warm-up in epochs (0: none).
    early_stopping_epochs: The patience of early stopping in epochs (0: none).
    dataset: The dataset of the published number.
  """
  name: str
  paper: str
  table: str
  reported: Dict[str, Any]
  epochs: float
  differs: str
  config: Dict[str, Any]
  kl_warmup_epochs: float = 0.0
  early_stopping_epochs: float = 0.0
  dataset: str = 'mnist'


def names() -> List[str]:
  """Every preset's name, sorted."""
  return sorted(f[:-len('.json')] for f in os.listdir(FOLDER)
                if f.endswith('.json'))


def load(name: str) -> Preset:
  """The preset `name`; a `ValueError` naming the known ones if none.

  Args:
    name: A preset's name.
  """
  path = os.path.join(FOLDER, f'{name}.json')
  if not os.path.exists(path):
    raise ValueError(f'--preset={name}: unknown; the presets are '
                     f'{", ".join(names())}')
  with open(path) as f:
    values = json.load(f)
  try:
    return Preset(name=name, **values)
  except TypeError as e:
    raise ValueError(f'{path}: {e}') from e


def steps(epochs: float, num_examples: int, batch_size: int) -> int:
  """Training steps of `epochs` passes over `num_examples` (at least 1).

  Args:
    epochs: Passes over the data.
    num_examples: The training split's size.
    batch_size: Examples per step.
  """
  return max(1, math.ceil(epochs * num_examples / batch_size))


def make_config(preset: Preset, num_train_examples: int,
                epochs_scale: float = 1.0,
                overrides: Optional[Dict[str, Any]] = None,
                flag_names: bool = False) -> config_lib.Config:
  """The preset's `Config` for a training split of `num_train_examples`:
  its fields with `overrides` (fields by name) over them; its epochs (times
  `epochs_scale`) as `training_steps` and its warm-up as `kl_warmup_steps`,
  in batches of the resulting batch size; its patience as
  `early_stopping_steps`, evaluating every epoch, else about 20 evaluations
  over the run. An override of any of these wins. Errors name the fields
  as flags with `flag_names` (`config.from_dict`).

  Args:
    preset: The preset.
    num_train_examples: The training split's size.
    epochs_scale: The fraction of the paper's epochs to train.
    overrides: Fields by name over the preset's.
    flag_names: Name fields as flags in errors.
  """
  if not epochs_scale > 0:
    raise ValueError(f'--epochs_scale={epochs_scale}: must be positive')
  overrides = overrides or {}
  values = {**preset.config, **overrides}
  # Epochs count in the batches actually trained on (an overridden size).
  batch_size = values.get('batch_size', config_lib.TrainConfig.batch_size)
  derived = {'training_steps': steps(preset.epochs * epochs_scale,
                                     num_train_examples, batch_size)}
  if preset.kl_warmup_epochs:
    derived['kl_warmup_steps'] = steps(
        preset.kl_warmup_epochs * epochs_scale, num_train_examples,
        batch_size)
  if preset.early_stopping_epochs:
    derived['early_stopping_steps'] = steps(
        preset.early_stopping_epochs, num_train_examples, batch_size)
    derived['eval_every'] = steps(1, num_train_examples, batch_size)
  else:
    derived['eval_every'] = max(
        1, values.get('training_steps', derived['training_steps']) // 20)
  values.update({k: v for k, v in derived.items() if k not in overrides})
  return config_lib.from_dict(values, flag_names=flag_names)


def record(preset: Preset, config: config_lib.Config,
           num_train_examples: int, epochs_scale: float) -> Dict[str, Any]:
  """What a run of `preset` writes beside its results (`preset.json`):
  the citation, the published number, and the budget it actually ran.

  Args:
    preset: The preset.
    config: The run's `Config`.
    num_train_examples: The training split's size.
    epochs_scale: The fraction of the paper's epochs asked for.
  """
  epochs_run = (config.train.training_steps * config.train.batch_size
                / num_train_examples)
  return {
      'preset': preset.name, 'paper': preset.paper, 'table': preset.table,
      'reported': preset.reported, 'differs': preset.differs,
      'paper_dataset': preset.dataset, 'dataset': config.data.dataset,
      'paper_epochs': preset.epochs, 'epochs_scale': epochs_scale,
      'epochs_run': epochs_run, 'training_steps': config.train.training_steps,
      'train_examples': num_train_examples,
      'shortened': epochs_run < preset.epochs,
  }
