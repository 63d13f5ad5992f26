"""Two checkouts' training speed, from benchmark runs that take turns.

  git worktree add ../baseline <commit>
  python tool/ab_benchmark.py --baseline=../baseline --rounds=3 -- \\
      --data_dir=../shared/data/mnist --train_split='test[:9000]' \\
      --mixed_precision

Runs `experiments.benchmark` with the flags after `--`, in the baseline
checkout and in this one by turns (baseline first), `--rounds` times each.
Each run measures the training loops and, of the slower ways, only the loop
with XLA the other way (`--compare=xla_toggled`); the memory and IWAE parts
are skipped (`--memory_steps=0 --iwae_samples=`). Flags after `--` override
these. Speed on a shared machine moves between minutes, so only runs
that alternate compare fairly.

Prints, for every configuration, precision and way, the median steps/s of
each checkout, their ratio, and the ratio to the baseline's float32 row of
the same configuration and way; then the median matmul ceilings of each
side. Writes the runs' JSON and the medians to `--output`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Key = Tuple[str, str, str]  # (config, precision, way)


def run_benchmark(checkout: str, args: List[str], output: str) -> Dict:
  """One `experiments.benchmark` run in `checkout`; its JSON."""
  # The defaults first: a flag given again in `args` wins.
  command = [sys.executable, '-m', 'experiments.benchmark',
             '--compare=xla_toggled', '--memory_steps=0', '--iwae_samples=',
             *args, f'--output={output}']
  subprocess.run(command, cwd=checkout, check=True,
                 stdout=subprocess.DEVNULL)
  with open(output) as f:
    return json.load(f)


def medians(runs: List[Dict]) -> Dict[Key, float]:
  """The median steps/s of each (config, precision, way) over `runs`."""
  rates: Dict[Key, List[float]] = {}
  for run in runs:
    for row in run['rows']:
      key = (row['config'], row['precision'], row['way'])
      rates.setdefault(key, []).append(row['steps_per_second'])
  return {key: statistics.median(values) for key, values in rates.items()}


def ceiling(runs: List[Dict], name: str) -> Optional[float]:
  """The median of the runs' `name` (a ceiling); None where none has it."""
  values = [run[name] for run in runs if run.get(name)]
  return statistics.median(values) if values else None


def table(old: Dict[Key, float], new: Dict[Key, float]) -> List[Dict]:
  """A row per key of either side, with the ratios."""
  rows = []
  for key in sorted(set(old) | set(new)):
    config, precision, way = key
    base32 = old.get((config, 'float32', way))
    rows.append(dict(
        config=config, precision=precision, way=way,
        baseline=old.get(key), new=new.get(key),
        ratio=new[key] / old[key] if key in new and key in old else None,
        over_baseline_float32=(new[key] / base32 if key in new and base32
                               else None)))
  return rows


def _cell(value) -> str:
  if value is None:
    return '-'
  return f'{value:,.1f}' if value >= 10 else f'{value:.2f}'


def _parse(argv: List[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n', 1)[0],
      usage='%(prog)s --baseline=DIR [--rounds=N] [--output=F] -- FLAGS')
  parser.add_argument('--baseline', required=True,
                      help='The checkout to compare with.')
  parser.add_argument('--rounds', type=int, default=3,
                      help='Runs of each checkout.')
  parser.add_argument('--output', default='ab_benchmark.json',
                      help='Where the runs and the medians go.')
  parser.add_argument('benchmark_flags', nargs='*',
                      help="experiments.benchmark's flags, after --.")
  args = parser.parse_args(argv)
  if args.rounds < 1:
    parser.error('--rounds must be at least 1')
  if not os.path.isdir(os.path.join(args.baseline, 'experiments')):
    parser.error(f'--baseline={args.baseline} is not a checkout of this '
                 'project (no experiments/ folder): make one with git '
                 'worktree add')
  return args


def main(argv: List[str]):
  flags = _parse(argv)
  args = flags.benchmark_flags
  folder = os.path.abspath(flags.output) + '.runs'
  os.makedirs(folder, exist_ok=True)
  runs = {'baseline': [], 'new': []}
  checkouts = {'baseline': os.path.abspath(flags.baseline), 'new': HERE}
  for r in range(flags.rounds):
    for side, checkout in checkouts.items():
      print(f'round {r + 1} of {flags.rounds}: {side} ({checkout})',
            flush=True)
      runs[side].append(run_benchmark(
          checkout, args, os.path.join(folder, f'{side}_{r}.json')))
  rows = table(medians(runs['baseline']), medians(runs['new']))
  print('\nconfig | precision | way | baseline | new | new / baseline | '
        'new / baseline float32')
  print('--- | --- | --- | --- | --- | --- | ---')
  for row in rows:
    print(' | '.join([row['config'], row['precision'], row['way']]
                     + [_cell(row[k]) for k in ('baseline', 'new', 'ratio',
                                                'over_baseline_float32')]))
  ceilings = {side: {name: ceiling(side_runs, name) for name in
                     ('ceiling_gflops', 'bfloat16_ceiling_gflops')}
              for side, side_runs in runs.items()}
  for side, values in ceilings.items():
    print(f'{side}: median ceilings, GFLOP/s: float32 '
          f'{_cell(values["ceiling_gflops"])}, bfloat16 '
          f'{_cell(values["bfloat16_ceiling_gflops"])}')
  with open(flags.output, 'w') as f:
    json.dump(dict(checkouts=checkouts, args=args, rows=rows,
                   ceilings=ceilings, runs=runs), f, indent=1)
  print(f'Wrote {flags.output}')


if __name__ == '__main__':
  main(sys.argv[1:])
