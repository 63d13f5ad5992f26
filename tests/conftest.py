"""pytest set-up: absl flags count as parsed, as under absltest.main(); the
CPU is split into 2 logical devices, for the mirrored strategy's tests.

Tests that run the experiment scripts end to end, or compile whole model
families with XLA, are marked `slow`; the unit tests alone are
`python -m pytest -q -m 'not slow' tests`.
"""

import shutil

from absl import flags
import pytest

from vae import distribute

# Before any test runs a TensorFlow op: later, the devices are fixed.
CPU_DEVICES = 2


def pytest_configure(config):
  del config  # The `slow` marker is declared in pytest.ini.
  flags.FLAGS.mark_as_parsed()
  distribute.split_cpu(CPU_DEVICES)


@pytest.fixture(scope='session')
def trained_runs(tmp_path_factory):
  """`train(argv) -> folder`: a copy of the run of `experiments.mnist`'s
  flags `argv`, trained once a session whatever the number of tests that ask
  for it; each caller gets a folder of its own to resume, damage or
  restart."""
  # Imported here: the experiment defines its flags on import.
  from tests import mnist_experiment_test  # pylint: disable=g-import-not-at-top
  trained = {}

  def train(argv) -> str:
    key = tuple(argv)
    if key not in trained:
      trained[key] = str(tmp_path_factory.mktemp('trained'))
      mnist_experiment_test.run_main(
          list(argv) + [f'--output_dir={trained[key]}'])
    copy = str(tmp_path_factory.mktemp('copy'))
    shutil.copytree(trained[key], copy, dirs_exist_ok=True)
    return copy

  return train


@pytest.fixture
def share_runs(request, trained_runs):
  """Gives a `tf.test.TestCase` class the session's `trained_runs`."""
  request.cls.trained_runs = staticmethod(trained_runs)
