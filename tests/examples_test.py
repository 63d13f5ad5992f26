"""The scripts of examples/ run, from the repository's root, on the offline
MNIST split; the README's library example is examples/own_loop.py."""

import glob
import os
import re

from absl.testing import parameterized
import pytest
import tensorflow as tf

from tests import data_test

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(_REPO, 'examples', '*.py')))


def read(path: str) -> str:
  return open(path, encoding='utf-8').read()


class ReadmeTest(tf.test.TestCase):

  def test_the_readme_shows_the_own_loop_example(self):
    blocks = re.findall(r'```python\n(.*?)```',
                        read(os.path.join(_REPO, 'README.md')), re.S)
    self.assertIn(read(os.path.join(_REPO, 'examples', 'own_loop.py')),
                  blocks)

  def test_there_are_examples(self):
    self.assertEqual(
        {os.path.basename(p) for p in EXAMPLES},
        {'own_loop.py', 'custom_encoder.py', 'evaluate_and_compare.py',
         'load_saved_model.py'})


@pytest.mark.slow  # Each trains a small model for a few hundred steps.
class ExamplesRunTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (os.path.basename(path)[:-3], path) for path in EXAMPLES)
  def test_example_runs(self, path):
    mnist = data_test.require_mnist(self)
    source = read(path).replace("'../shared/data/mnist'", repr(mnist))
    cwd = os.getcwd()
    os.chdir(_REPO)
    try:
      exec(compile(source, path, 'exec'), {'__name__': '__main__'})  # pylint: disable=exec-used
    finally:
      os.chdir(cwd)
