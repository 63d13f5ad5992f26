"""Runs a command on a simulated slow day: a CPU quota set to a matmul rate.

  sudo python tool/slow_day.py --rate=69 -- python -m pytest -q tests

This machine's speed moves up to 3x between days, and the suite's time
target is for the slowest day seen (a 2048^2 float32 matmul at 69 GFLOP/s).
Rather than scale a fast day's time by a guessed law, this puts the command
in a cgroup whose CPU quota brings the matmul (`tool/matmul_rate.py`) down
to --rate, and times it there. It measures the rate on the whole machine,
sets the quota to cores x rate / that, checks the rate inside the quota
(adjusting it until within 5%, four tries at most), runs the command
inside, and prints the rate inside again afterwards: other load during
the run shows there.

A quota throttles every process of the command alike, the way a shared
host's steal time does; whether a real slow day is that or something else
(a slower clock, less cache) is not known, so read the result as one model
of a slow day. Needs root and the cgroup `cpu` controller (v1 or v2).
"""

import argparse
import os
import re
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_PERIOD_US = 100_000


def _cgroup_dir(name: str) -> str:
  """Creates the cgroup and returns its folder (v1 `cpu` or v2)."""
  v1 = '/sys/fs/cgroup/cpu'
  root = v1 if os.path.isdir(v1) else '/sys/fs/cgroup'
  if root != v1 and not os.path.exists(os.path.join(root, 'cgroup.controllers')):
    sys.exit('Error: no cgroup cpu controller at /sys/fs/cgroup/cpu (v1) or '
             '/sys/fs/cgroup (v2); this tool needs one, and root.')
  folder = os.path.join(root, name)
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    sys.exit(f'Error: cannot create the cgroup {folder} ({e}); run this '
             'tool as root.')
  return folder


def _write(path: str, text: str) -> None:
  try:
    with open(path, 'w') as f:
      f.write(text)
  except OSError as e:
    sys.exit(f'Error: cannot write {path} ({e}); this tool needs root and '
             'the cgroup cpu controller (on cgroup v2, enabled in the '
             "parent's cgroup.subtree_control).")


def _set_quota(folder: str, cores: float) -> None:
  quota = max(1000, int(cores * _PERIOD_US))
  if os.path.exists(os.path.join(folder, 'cpu.cfs_quota_us')):  # v1
    _write(os.path.join(folder, 'cpu.cfs_period_us'), str(_PERIOD_US))
    _write(os.path.join(folder, 'cpu.cfs_quota_us'), str(quota))
  else:  # v2
    _write(os.path.join(folder, 'cpu.max'), f'{quota} {_PERIOD_US}')


def _run(command, folder=None, **kwargs):
  """Runs `command`, inside the cgroup at `folder` if given."""
  def enter():
    with open(os.path.join(folder, 'cgroup.procs'), 'w') as f:
      f.write(str(os.getpid()))
  return subprocess.run(command, preexec_fn=enter if folder else None,
                        check=False, **kwargs)


def matmul_rate(folder=None) -> float:
  """GFLOP/s of `tool/matmul_rate.py`, inside the cgroup if given."""
  out = _run([sys.executable, os.path.join(_HERE, 'matmul_rate.py')], folder,
             capture_output=True, text=True).stdout
  match = re.search(r'([\d.]+) GFLOP/s', out)
  if not match:
    sys.exit(f'Error: tool/matmul_rate.py printed no rate: {out!r}')
  return float(match.group(1))


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      usage='%(prog)s [--rate=GFLOPS] -- COMMAND...')
  parser.add_argument('--rate', type=float, default=69.0,
                      help='matmul GFLOP/s to simulate (default: 69, the '
                      'slowest day seen)')
  parser.add_argument('--name', default='vae_slow_day', help='cgroup name')
  parser.add_argument('command', nargs=argparse.REMAINDER)
  args = parser.parse_args()
  command = args.command[1:] if args.command[:1] == ['--'] else args.command
  if not command:
    parser.error('give the command to run after --')
  cores = os.cpu_count()
  full = matmul_rate()
  folder = _cgroup_dir(args.name)
  try:
    code = _measure(command, folder, cores, full, args.rate)
  finally:
    try:
      os.rmdir(folder)  # Empty again once its processes have ended.
    except OSError as e:
      print(f'Could not remove the cgroup {folder}: {e}', file=sys.stderr)
  sys.exit(code)


def _measure(command, folder, cores, full, rate) -> int:
  """Sets the quota to `rate`, runs `command` in it, returns its exit code."""
  share = cores * rate / full
  for attempt in range(4):  # The rate is not linear in the quota.
    _set_quota(folder, share)
    before = matmul_rate(folder)
    if abs(before / rate - 1) < 0.05 or attempt == 3:
      break
    share *= rate / before
  print(f'whole machine {full:.1f} GFLOP/s; quota {share:.2f} of {cores} '
        f'cores: {before:.1f} GFLOP/s', flush=True)
  start = time.time()
  code = _run(command, folder).returncode
  wall = time.time() - start
  after = matmul_rate(folder)
  print(f'exit {code}, {wall:.0f} s ({wall / 60:.1f} min) at {before:.1f} '
        f'GFLOP/s before and {after:.1f} after, inside the quota', flush=True)
  return code


if __name__ == '__main__':
  main()
