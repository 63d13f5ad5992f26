"""pytest set-up: absl flags count as parsed, as under absltest.main(); the
CPU is split into 2 logical devices, for the mirrored strategy's tests.

Tests that run the experiment scripts end to end are marked `e2e`; the unit
tests alone are `python -m pytest -q -m 'not e2e' tests`.
"""

from absl import flags

from vae import distribute

# Before any test runs a TensorFlow op: later, the devices are fixed.
CPU_DEVICES = 2


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'e2e: runs an experiment script end to end (slow)')
  flags.FLAGS.mark_as_parsed()
  distribute.split_cpu(CPU_DEVICES)
