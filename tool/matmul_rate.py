"""Prints this machine's float32 matmul rate, to quote beside a timing.

  python tool/matmul_rate.py

The rate of 2048 x 2048 `tf.linalg.matmul`s, the ceiling
`experiments.benchmark` measures (`vae.run.measure.matmul_ceiling`). This
machine's rate moves up to 5x between days, so a suite's time means little
without it.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from vae.run import measure  # pylint: disable=g-import-not-at-top,wrong-import-position

SIZE = 2048

if __name__ == '__main__':
  print(f'{SIZE}x{SIZE} float32 matmul: '
        f'{measure.matmul_ceiling(SIZE):.1f} GFLOP/s')
