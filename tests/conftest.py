"""pytest set-up: absl flags count as parsed, as under absltest.main(); the
CPU is split into 2 logical devices, for the mirrored strategy's tests.

Tests that run the experiment scripts end to end, or compile whole model
families with XLA, are marked `slow`; the unit tests alone are
`python -m pytest -q -m 'not slow' tests`.
"""

from absl import flags

from vae import distribute

# Before any test runs a TensorFlow op: later, the devices are fixed.
CPU_DEVICES = 2


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: an end-to-end run of a script, or XLA compiles of '
      'whole model families')
  flags.FLAGS.mark_as_parsed()
  distribute.split_cpu(CPU_DEVICES)
