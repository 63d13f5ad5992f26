"""pytest set-up: absl flags count as parsed, as under absltest.main(); the
CPU is split into 2 logical devices, for the mirrored strategy's tests."""

from absl import flags

from vae import distribute

# Before any test runs a TensorFlow op: later, the devices are fixed.
CPU_DEVICES = 2


def pytest_configure(config):
  del config
  flags.FLAGS.mark_as_parsed()
  distribute.split_cpu(CPU_DEVICES)
