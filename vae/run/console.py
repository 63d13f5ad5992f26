"""What a script prints: its own progress and results, and TensorFlow's
warnings and errors, without TensorFlow's start-up and INFO chatter.

By default:
- TensorFlow's C++ logger is off (`TF_CPP_MIN_LOG_LEVEL=3`, unless the
  environment sets it): its lines are CUDA probes, CPU-feature notes, XLA and
  checkpoint-sharding INFO. A C++ error that stops a run still reaches Python
  as an exception with its message, and fatal errors are always printed.
- The lines TensorFlow writes while it is imported (absl's pre-init notice
  and the CUDA-driver probe, which ignore that level) are dropped.
- TensorFlow's Python logger shows warnings and errors, not INFO (SavedModel
  renames, "Assets written to").
- The scripts' own INFO lines are plain: time and message.

`--verbosity=1` (absl's flag, also `-v=1`) restores all of it. This module
imports nothing heavy: `before_tensorflow` must run before TensorFlow is.
"""

import contextlib
import logging
import os
import sys
from typing import Sequence

_VERBOSITY_FLAGS = ('--verbosity', '-verbosity', '--v', '-v')


def verbose(argv: Sequence[str]) -> bool:
  """Whether the command line asks for everything (absl's `--verbosity` or
  `-v` at 1 or more), read before the flags are parsed.

  Args:
    argv: The command line.
  """
  value = None
  for i, arg in enumerate(argv):
    name, equals, text = arg.partition('=')
    if name in _VERBOSITY_FLAGS:
      value = text if equals else (argv[i + 1] if i + 1 < len(argv) else '')
  try:
    return value is not None and int(value) >= 1
  except ValueError:
    return False  # absl refuses it when it parses the flags.


@contextlib.contextmanager
def _stderr_dropped():
  """Sends file descriptor 2 (C++ and Python alike) to /dev/null."""
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def before_tensorflow(argv: Sequence[str]):
  """Quiets TensorFlow's C++ logger and imports TensorFlow without its
  start-up lines, unless `argv` asks for everything. Does nothing once
  TensorFlow is imported: its C++ logger has read the level by then.

  Args:
    argv: The command line.
  """
  if 'tensorflow' in sys.modules:
    return
  if verbose(argv):
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'
    return
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  # An import that fails raises after stderr is back, with its message.
  with _stderr_dropped():
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import


class _PlainFormatter(logging.Formatter):
  """'12:03:04 message'; warnings and errors name their level."""

  def __init__(self):
    super().__init__('%(asctime)s %(message)s', datefmt='%H:%M:%S')

  def format(self, record: logging.LogRecord) -> str:
    text = super().format(record)
    if record.levelno <= logging.INFO:
      return text
    time, _, message = text.partition(' ')
    return f'{time} {record.levelname}: {message}'


# Packages whose INFO lines (through absl or `logging`) are chatter here.
_CHATTY = ('tensorflow', 'tensorflow_probability', 'tensorflow_datasets',
           'tf_keras', 'keras', 'sonnet')


def _ours(record: logging.LogRecord) -> bool:
  """Whether an INFO record comes from outside the chatty libraries."""
  parts = record.pathname.replace(os.sep, '/').split('/')
  return not any(name in parts for name in _CHATTY)


def configure_logging(verbosity: int):
  """After the flags are parsed (`verbosity`, absl's flag): plain lines, and
  INFO only from the project and the user's code; with 1 or more, absl's and
  TensorFlow's own format and lines.

  Args:
    verbosity: absl's `--verbosity`.
  """
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  if verbosity >= 1:
    return
  handler = absl_logging.get_absl_handler()
  handler.setFormatter(_PlainFormatter())
  handler.addFilter(lambda r: r.levelno > logging.INFO or _ours(r))
  logging.getLogger('tensorflow').setLevel(logging.WARNING)
