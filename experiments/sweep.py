"""Runs `experiments.mnist` over a grid of flags and tabulates the results.

  python -m experiments.sweep --betas=0,0.01,0.1,1,4 \
      --latent_size_grid=2,10,32

Every flag of `experiments.mnist` has a grid flag here: its plural
(`--betas`, `--learning_rates`, `--seeds`, ...), or `--<flag>_grid` for
names that end in s or whose plural is a flag of its own
(`--training_steps_grid`, `--latent_size_grid`, since `--latent_sizes`
gives a hierarchy's layers; `--hidden_sizes_grid='100,100;500,500'`, list
values split by ';'). Flags of
`experiments.mnist` given as themselves (`--training_steps=2000`) apply to
every run. Each run trains in its own sub-folder of --output_dir; a run that
finished with the same flags is skipped, and an unfinished one resumes from
its checkpoint. --output_dir defaults to runs/sweep. Then the sweep writes:

  results.csv, results.md   test ELBO, NLL, rate, distortion and active units
                            per run, and the disentanglement metrics of runs
                            on a dataset with factors (--dataset=sprites);
  rate_distortion.png       one point per run in the rate-distortion plane;
  metrics_vs_beta.png       with --betas and those metrics: each metric
                            against beta, a line per value of the other
                            swept flags (the seeds' mean; each run a point).
"""

import csv
import itertools
import os
import subprocess
import sys
import time
from typing import Dict, List, Sequence, Tuple

from absl import flags
from absl import logging

from experiments import run_flags
from vae import config as config_lib
from vae import metrics
from vae import plotting
from vae.run import folder as run_folder
from vae.run import lock as run_lock

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(run_flags)  # --help lists them.
COLUMNS = ('test_elbo', 'test_nll', 'test_rate', 'test_distortion',
           'active_units', 'train_steps_per_second')
# The disentanglement metrics' summary keys, tabulated where runs have them.
METRIC_COLUMNS = metrics.summary_keys()
RESULTS_CSV = 'results.csv'
METRICS_VS_BETA = 'metrics_vs_beta.png'
RESULTS_MD = 'results.md'
RATE_DISTORTION = 'rate_distortion.png'
RUN_LOG = 'sweep.log'


# The order of the flags in a run's sub-folder name: that of the flags before
# the typed configuration, so the folders of earlier sweeps keep their
# names; newer fields follow in the configuration's order.
_NAME_ORDER = (
    'beta', 'latent_size', 'hidden_sizes', 'batch_size', 'learning_rate',
    'training_steps', 'seed', 'dataset', 'data_dir', 'download',
    'train_split', 'eval_split', 'binarization', 'loss_normalization',
    'kl_samples', 'model', 'encoder', 'decoder', 'conv_channels', 'posterior',
    'prior', 'prior_components', 'likelihood', 'likelihood_scale', 'latent',
    'num_classes', 'temperature', 'min_temperature', 'temperature_decay',
    'objective', 'num_importance_samples', 'kl_warmup_steps', 'free_bits',
    'mixed_precision', 'jit_compile', 'strategy', 'cpu_devices', 'tpu')


def _training_flags() -> Dict[str, flags.Flag]:
  """The configuration's flags, in `_NAME_ORDER`."""
  config_flags = run_flags.config_flags()
  rank = {name: i for i, name in enumerate(_NAME_ORDER)}
  return {name: config_flags[name] for name in sorted(
      config_flags, key=lambda n: rank.get(n, len(rank)))}


def grid_flag_name(name: str) -> str:
  plural = f'{name}s'
  if name.endswith('s') or plural in run_flags.config_flags():
    return f'{name}_grid'
  return plural


def _is_list_flag(flag: flags.Flag) -> bool:
  return isinstance(flag.default, list)


for _name, _flag in _training_flags().items():
  flags.DEFINE_string(
      grid_flag_name(_name), None,
      f'Values of --{_name} to sweep, separated by '
      f'{"; (each a comma-separated list)" if _is_list_flag(_flag) else ","}.')
DEFAULT_OUTPUT_DIR = 'runs/sweep'  # Unless --output_dir is given.


def grid() -> List[Tuple[str, List[str]]]:
  """[(flag name, its values as command-line strings)] of the swept flags."""
  if FLAGS['latent_sizes'].present:
    # Before hierarchies, the sweep's --latent_sizes swept --latent_size.
    raise run_flags.InputError(
        '--latent_sizes gives the layers of one hierarchy, which a sweep '
        'takes as --latent_sizes_grid (one value: every run); to sweep '
        '--latent_size, pass --latent_size_grid.')
  swept = []
  for name, flag in _training_flags().items():
    text = FLAGS[grid_flag_name(name)].value
    if text is None:
      continue
    separator = ';' if _is_list_flag(flag) else ','
    values = [v.strip() for v in text.split(separator) if v.strip()]
    if not values:
      raise run_flags.InputError(f'--{grid_flag_name(name)} lists no values')
    if flag.present:
      raise run_flags.InputError(
          f'--{name} and --{grid_flag_name(name)} are both given: sweep it or '
          f'fix it, not both')
    for value in values:  # Bad values fail now, not in run 7 of 15.
      try:
        config_lib.check_field(name, flag.parser.parse(value))
      except (ValueError, flags.Error) as e:
        raise run_flags.InputError(
            f'--{grid_flag_name(name)}: {value!r} is not a value of --{name}: '
            f'{e}') from e
    swept.append((name, values))
  return swept


def fixed_args() -> List[str]:
  """The training flags given on the command line, for every run."""
  return [flag.serialize() for flag in _training_flags().values()
          if flag.present]


def run_name(assignment: Sequence[Tuple[str, str]]) -> str:
  """A sub-folder name such as 'beta-0.01_latent_size-2'."""
  if not assignment:
    return 'run'
  return '_'.join(f'{name}-{value.replace(",", "-").replace("/", "-")}'
                  for name, value in assignment)


def _expected_config(assignment) -> config_lib.Config:
  """The configuration of the run of these flags."""
  training_flags = _training_flags()
  values = {name: flag.value for name, flag in training_flags.items()}
  for name, value in assignment:
    values[name] = training_flags[name].parser.parse(value)
  return run_flags.config_from_values(values)


def is_finished(run_dir: str, assignment) -> bool:
  """Whether `run_dir` holds a finished run of exactly these flags."""
  summary_path = os.path.join(run_dir, run_folder.SUMMARY)
  config_path = os.path.join(run_dir, run_folder.CONFIG)
  if not (os.path.exists(summary_path) and os.path.exists(config_path)):
    return False
  try:
    config = run_folder.read_config(run_dir)
    summary = run_folder.read_json(summary_path)
  except run_flags.InputError:
    return False
  expected = _expected_config(assignment)
  return (not config_lib.changed(config, expected)
          and summary.get('steps') == expected.train.training_steps)


def write_tables(rows: List[Dict], output_dir: str, swept_names: List[str]):
  """results.csv and results.md, one row per run."""
  fields = ['run'] + swept_names + ['status'] + list(COLUMNS) + [
      k for k in METRIC_COLUMNS if any(r.get(k) is not None for r in rows)]
  with open(os.path.join(output_dir, RESULTS_CSV), 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fields, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)

  def cell(value):
    if value is None:
      return '-'
    if isinstance(value, float):
      return f'{value:.2f}'
    return str(value)

  lines = ['| ' + ' | '.join(fields) + ' |',
           '|' + '|'.join(['---'] * len(fields)) + '|']
  lines += ['| ' + ' | '.join(cell(r.get(k)) for k in fields) + ' |'
            for r in rows]
  with open(os.path.join(output_dir, RESULTS_MD), 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main(argv):
  if len(argv) > 1:
    raise run_flags.InputError(f'unexpected arguments: {" ".join(argv[1:])}')
  swept = grid()
  names = [name for name, _ in swept]
  assignments = [list(zip(names, values))
                 for values in itertools.product(*(v for _, v in swept))]
  output_dir = (FLAGS.output_dir if FLAGS['output_dir'].present
                else DEFAULT_OUTPUT_DIR)
  with run_lock.lock(output_dir):  # One sweep writes its tables at a time.
    _sweep(assignments, names, output_dir)


def _train(run_dir: str, args: List[str]) -> int:
  """Runs experiments.mnist with `args`, its output in RUN_LOG; the exit
  code."""
  with open(os.path.join(run_dir, RUN_LOG), 'a') as log:
    log.write(f'$ python -m experiments.mnist {" ".join(args)}\n')
    log.flush()
    return subprocess.call(
        [sys.executable, '-m', 'experiments.mnist'] + args, stdout=log,
        stderr=subprocess.STDOUT)


def _run_one(assignment, run_dir: str, fixed: List[str]) -> Tuple[str, str]:
  """Trains one run of the grid unless it is finished or busy; its status
  for the table, and what to do about it if it did not finish."""
  busy = run_lock.holder(run_dir)
  if busy:
    return 'busy', f'in use by {busy}; not touched'
  if is_finished(run_dir, assignment):
    return 'skipped (finished)', ''
  os.makedirs(run_dir, exist_ok=True)
  code = _train(run_dir, fixed + [f'--{k}={v}' for k, v in assignment]
                + [f'--output_dir={run_dir}'])
  if code == 0:
    return 'trained', ''
  return f'failed (exit {code})', f'see {os.path.join(run_dir, RUN_LOG)}'


def _sweep(assignments, names: List[str], output_dir: str):
  """Trains every run of the grid in turn, then writes the tables."""
  fixed = fixed_args() + ([f'--verbosity={FLAGS.verbosity}']
                          if FLAGS['verbosity'].present else [])
  logging.info('Sweeping %d runs into %s; every run gets %s', len(assignments),
               output_dir, ' '.join(fixed) or 'the defaults')
  rows, unfinished = [], []
  for i, assignment in enumerate(assignments, 1):
    name = run_name(assignment)
    run_dir = os.path.join(output_dir, name)
    logging.info('[%d/%d] %s...', i, len(assignments), name)
    start = time.perf_counter()
    status, note = _run_one(assignment, run_dir, fixed)
    row = {'run': name, **dict(assignment), 'status': status}
    logging.info('[%d/%d] %s: %s (%.0f s).', i, len(assignments), name,
                 f'{status}, {note}' if note else status,
                 time.perf_counter() - start)
    if note:
      unfinished.append(f'{name}: {status}, {note}')
    if not note:  # Finished: trained now or before.
      summary = run_folder.read_json(os.path.join(run_dir,
                                                  run_folder.SUMMARY))
      row.update({k: summary.get(k) for k in COLUMNS + METRIC_COLUMNS})
      row['no_elbo'] = summary.get('no_elbo')
      row['conditional'] = 'conditional_on' in summary
    rows.append(row)

  write_tables(rows, output_dir, names)
  done = [r for r in rows if r.get('test_rate') is not None]
  _rate_distortion(done, names, os.path.join(output_dir, RATE_DISTORTION))
  logging.info('Wrote %s, %s and %s in %s', RESULTS_CSV, RESULTS_MD,
               RATE_DISTORTION, output_dir)
  _metrics_vs_beta(done, names, output_dir)
  if unfinished:
    raise run_flags.InputError(
        f'{len(unfinished)} of {len(rows)} runs did not finish:\n  '
        + '\n  '.join(unfinished) + '\nThe tables list the others. Run the '
        'sweep again to retry these (a busy one once its process ends): '
        'finished runs are skipped.')


def _rate_distortion(rows: List[Dict], names: List[str], path: str) -> str:
  """The finished runs in the rate-distortion plane. A run with no ELBO
  (a WAE's or an autoencoder's point-mass codes) has no rate to place it
  by: it is left out, and the figure says so and why. A conditional run's
  rate and distortion are of p(x|y): its label says 'given y'."""
  label = lambda r: (' '.join(f'{k}={r[k]}' for k in names) or r['run']) + (
      ' (given y)' if r.get('conditional') else '')
  placed = [r for r in rows if not r.get('no_elbo')]
  left_out = [r for r in rows if r.get('no_elbo')]
  notes = []
  if left_out:
    notes.append(f'Left out, with no rate: {", ".join(map(label, left_out))}'
                 f' ({left_out[0]["no_elbo"]})')
  if any(r.get('conditional') for r in placed):
    notes.append('Given y: a conditional VAE\'s rate KL(q(z|x, y) || '
                 'p(z|y)) and distortion -log p(x|z, y)')
  note = '. '.join(notes)
  return plotting.rate_distortion(
      [r['test_rate'] for r in placed],
      [r['test_distortion'] for r in placed], [label(r) for r in placed],
      path, note=note)


def _metrics_vs_beta(rows: List[Dict], names: List[str], output_dir: str):
  """metrics_vs_beta.png, when beta is swept and runs have the metrics."""
  shown = [k for k in METRIC_COLUMNS if any(r.get(k) is not None
                                            for r in rows)]
  if 'beta' not in names or not shown:
    return
  groups = [n for n in names if n not in ('beta', 'seed')]
  plotting.metrics_against(
      'beta', [float(r['beta']) for r in rows],
      {k: [r.get(k) for r in rows] for k in shown},
      [' '.join(f'{n}={r[n]}' for n in groups) for r in rows],
      os.path.join(output_dir, METRICS_VS_BETA))
  logging.info('Wrote %s', METRICS_VS_BETA)


def run():
  run_flags.run_main(main)


if __name__ == '__main__':
  run()
