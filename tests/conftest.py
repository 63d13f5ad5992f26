"""pytest set-up: absl flags count as parsed, as under absltest.main(); the
CPU is split into 2 logical devices, for the mirrored strategy's tests.

Tests that run the experiment scripts end to end, or train or compile
whole model families (every registered combination, XLA, 2 replicas
against one), are marked `slow`; the unit tests alone are
`python -m pytest -q -m 'not slow' tests`.
"""

import os
import shutil

from absl import flags
import pytest

# Before any test runs a TensorFlow op: later, the devices are fixed.
CPU_DEVICES = 2


def _is_xdist_controller(config) -> bool:
  """True in the process that hands tests to pytest-xdist's workers: it
  runs no test, so it need not pay for importing TensorFlow."""
  return (not hasattr(config, 'workerinput')
          and bool(getattr(config.option, 'numprocesses', None)))


def _share_the_cores(num_workers: int):
  """Gives each of `num_workers` processes its share of the cores, and the
  scripts it starts the same (they inherit the environment). TensorFlow
  sizes its op thread pool to every core, so two workers at full width run
  twice as many threads as cores: the unit tests took 63-72 s with one
  thread each against 74-75 s with two (2 cores, alternating runs)."""
  threads = max(1, (os.cpu_count() or 1) // num_workers)
  os.environ.setdefault('TF_NUM_INTRAOP_THREADS', str(threads))


def pytest_configure(config):
  # The `slow` marker is declared in pytest.ini.
  if _is_xdist_controller(config):
    return
  if hasattr(config, 'workerinput'):
    _share_the_cores(int(config.workerinput['workercount']))
  from vae import distribute  # pylint: disable=g-import-not-at-top
  flags.FLAGS.mark_as_parsed()
  distribute.split_cpu(CPU_DEVICES)


def pytest_collection_modifyitems(config, items):
  """The slow tests first: pytest-xdist hands out test classes in this
  order (pytest.ini turns off its own, which puts the classes of many tests
  first), so the long end-to-end classes start early and the last to end
  are short unit tests, not a 60 s class on one worker while the other
  idles. `tf.test.TestCase.test_session` is a helper that pytest would
  collect and skip in every class: it is left out, so that a skip means a
  test that could not run here."""
  helpers = [item for item in items if item.name == 'test_session']
  if helpers:
    config.hook.pytest_deselected(items=helpers)
    items[:] = [item for item in items if item.name != 'test_session']
  items.sort(key=lambda item: item.get_closest_marker('slow') is None)


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
