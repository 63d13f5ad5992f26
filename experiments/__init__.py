"""Experiment scripts: the only place where absl flags live.

Imported before any script, so TensorFlow is imported quietly first
(`vae.console`; `--verbosity=1` shows everything).
"""

import sys

from vae.run import console

console.before_tensorflow(sys.argv)
