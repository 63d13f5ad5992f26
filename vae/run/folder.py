"""A run's folder: its files and their safe writing.

  config.json        the run's `config.Config` (`config.to_dict`);
  metrics.csv        training rows; eval_metrics.csv, eval-set rows;
  summary.json       the final numbers;
  figures/           the figures;
  checkpoints/       model, optimiser and step; best/ in it, the model of
                     the best validation score (`checkpoints`);
  saved_model/       the export;
  train/, eval/      TensorBoard summaries;
  run.lock           there while a process has the folder (`run_lock`).
"""

import csv
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence

from vae import config as config_lib
from vae import errors
from vae import objectives

CONFIG = 'config.json'
METRICS = 'metrics.csv'  # Training rows.
EVAL_METRICS = 'eval_metrics.csv'  # Eval-set rows during training.
SUMMARY = 'summary.json'
FIGURES = 'figures'
CHECKPOINTS = 'checkpoints'
BEST = 'best'  # In CHECKPOINTS: the best validation score's weights.
SAVED_MODEL = 'saved_model'
TRAIN_EVENTS = 'train'  # TensorBoard event folders.
EVAL_EVENTS = 'eval'
# Inside the run's folder, each worker of a cluster but the chief writes its
# logs and checkpoints to a folder of its own here.
WORKERS = 'workers'
RUN_FILES = (CONFIG, METRICS, EVAL_METRICS, SUMMARY)
RUN_FOLDERS = (FIGURES, CHECKPOINTS, SAVED_MODEL, TRAIN_EVENTS, EVAL_EVENTS)

# The columns of the CSVs: the objective's terms (`objectives.ELBOTerms`),
# the one representation of them from the step to the files.
TERMS = ('loss', 'elbo', 'rate', 'distortion')
assert set(TERMS) == set(objectives.ELBOTerms._fields)
# elapsed_seconds is the wall time since the run began; training_seconds
# leaves out evaluating and checkpointing (and compiling's first call).
METRIC_FIELDS = ('step',) + TERMS + ('steps_per_second', 'elapsed_seconds',
                                     'training_seconds')
# nll and the validation columns are logged when the run asks for them
# (--curve_num_samples, --validation_split); empty otherwise.
EVAL_FIELDS = ('step',) + TERMS + ('nll', 'validation_loss',
                                   'validation_elbo', 'validation_nll',
                                   'epoch', 'training_seconds')


InputError = errors.InputError  # Defined without TensorFlow (`run_lock`).


def write_json(path: str, obj):
  """Writes through a temporary file, so a crash never leaves half a file.

  Args:
    path: The file.
    obj: What to write, JSON-serialisable.
  """
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def read_json(path: str) -> Dict:
  """The JSON object in `path`.

  Args:
    path: The file.
  """
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f'cannot read {path}: {e}') from e


def read_config(output_dir: str) -> config_lib.Config:
  """The `Config` of the run in `output_dir`; fields its config.json lacks
  (written before they existed) take their defaults.

  Args:
    output_dir: A run folder.
  """
  path = os.path.join(output_dir, CONFIG)
  try:
    return config_lib.from_dict(read_json(path))
  except InputError:
    raise
  except ValueError as e:
    raise InputError(f'{path}: {e}') from e


def read_rows(path: str) -> List[Dict[str, float]]:
  """A metrics CSV as rows of floats; [] when there is none. Empty cells
  (a column not logged) are left out of their row.

  Args:
    path: The CSV file.
  """
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    return [{k: float(v) for k, v in row.items() if v not in ('', None)}
            for row in csv.DictReader(f)]


def write_rows(path: str, fields: Sequence[str], rows: List[Dict]):
  """Writes a metrics CSV whole, through a temporary file.

  Args:
    path: The CSV file.
    fields: Its columns, in order.
    rows: The rows, by column name.
  """
  tmp = path + '.tmp'
  with open(tmp, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: (int(v) if k == 'step' else v) for k, v in r.items()}
                     for r in rows)
  os.replace(tmp, path)


def append_row(path: str, fields: Sequence[str], row: Dict):
  """Appends one row to a metrics CSV that `write_rows` began.

  Args:
    path: The CSV file.
    fields: Its columns, in order.
    row: The row, by column name.
  """
  with open(path, 'a', newline='') as f:
    csv.DictWriter(f, fieldnames=fields).writerow(
        {k: (int(v) if k == 'step' else v) for k, v in row.items()})


def earlier_run(output_dir: str, config: config_lib.Config,
                restart: bool) -> bool:
  """Whether `output_dir` holds a run to resume; refuses to mix two runs.

  Args:
    output_dir: The run folder.
    config: The `Config` of the run starting there.
    restart: Whether the user asked to start over (`--restart`).
  """
  if restart or not os.path.isdir(output_dir):
    return False
  if not os.path.exists(os.path.join(output_dir, CONFIG)):
    found = [f for f in RUN_FILES + RUN_FOLDERS
             if os.path.exists(os.path.join(output_dir, f))]
    if found:
      raise InputError(
          f'--output_dir={output_dir} holds results ({", ".join(found)}) '
          f'but no {CONFIG}, so they cannot be resumed. Pass another '
          f'--output_dir, or --restart to replace them.')
    return False
  changed = config_lib.changed(read_config(output_dir), config)
  if changed:
    raise InputError(
        f'--output_dir={output_dir} holds a run with other flags, so this '
        'command cannot resume it:\n  ' + '\n  '.join(changed) + '\nPass '
        'another --output_dir, or --restart to replace that run.')
  return True


def clear(output_dir: str):
  """Deletes an earlier run's files, and only those.

  Args:
    output_dir: The run folder.
  """
  for name in RUN_FILES:
    path = os.path.join(output_dir, name)
    if os.path.exists(path):
      os.remove(path)
  for name in RUN_FOLDERS:
    shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)


def worker_dir(output_dir: str, task: Optional[Dict]) -> str:
  """Where this process writes: `output_dir` for the chief (or a single
  process, `task` None); a folder of its own inside it for other workers.

  Args:
    output_dir: The run folder.
    task: This worker's `TF_CONFIG` task, or None.
  """
  if task is None:
    return output_dir
  return os.path.join(output_dir, WORKERS, f'{task["type"]}-{task["index"]}')
