"""The documentation cannot rot: every command that runs a script parses
and makes a valid configuration, and every Python block runs.

In README.md, RESULTS.md, BENCHMARKS.md and docs/*.md:
- each `python -m experiments.NAME ...` line of a fenced `sh` block has its
  flags looked up among that script's and parsed, and, for the scripts that
  train, turned into a `Config` (which refuses what the command line would
  refuse), without training;
- each fenced `python` block runs, from the repository's root, on the
  offline MNIST split (one that is a script of examples/ runs in
  examples_test); a fenced `py` block is an excerpt and is compiled.
"""

import glob
import importlib
import os
import re
import shlex

from absl import flags
from absl.testing import parameterized
import pytest
import tensorflow as tf

from experiments import run_flags
from tests import data_test
from vae.run import presets

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DOCS = sorted([os.path.join(_REPO, name) for name in
                ('README.md', 'RESULTS.md', 'BENCHMARKS.md')]
               + glob.glob(os.path.join(_REPO, 'docs', '*.md')))
_SCRIPTS = ('mnist', 'evaluate', 'sweep', 'reproduce', 'benchmark')
# Flags every absl program has.
_ABSL_MODULES = ('absl.flags', 'absl.logging', 'absl.app')
FLAGS = flags.FLAGS
# `name.py`, `config.json`: files, not attributes.
_FILE_ENDINGS = ('py', 'json', 'csv', 'md', 'png', 'gif', 'txt')


def _blocks(path: str, language: str):
  """The fenced blocks of `language` in the Markdown file at `path`."""
  text = open(path, encoding='utf-8').read()
  return re.findall(rf'^ *```{language}\n(.*?)^ *```', text, re.M | re.S)


def _commands(block: str):
  """The `python -m experiments.NAME` commands of a shell block, each as
  (NAME, its arguments up to a pipe or another command); an argument
  holding a shell variable (`$seed`) is left out, as it has no value before
  the shell runs."""
  joined = re.sub(r'\\\n\s*', ' ', block)
  for line in joined.splitlines():
    line = line.split(' #')[0].strip()
    match = re.search(r'python -m experiments\.(\w+)(.*)', line)
    if match:
      args = shlex.split(match.group(2))
      ends = [i for i, arg in enumerate(args)
              if arg in ('|', '||', '&&', ';', '>', '2>', '&')]
      yield match.group(1), [arg for arg in args[:min(ends or [len(args)])]
                             if '$' not in arg]


def _cases():
  for path in _DOCS:
    name = os.path.relpath(path, _REPO)
    for block in _blocks(path, 'sh'):
      for script, argv in _commands(block):
        yield f'{name}: {script} {" ".join(argv)}', script, argv


def _script_flags(script: str):
  """The flags `python -m experiments.<script>` takes."""
  importlib.import_module(f'experiments.{script}')
  by_module = FLAGS.flags_by_module_dict()
  modules = (f'experiments.{script}', 'experiments.run_flags') + _ABSL_MODULES
  return {f.name: f for module in modules for f in by_module.get(module, ())}


def _parse(argv, known):
  """Flag values by name from `argv`, each parsed by its flag; raises
  `ValueError` naming an unknown flag."""
  values = {}
  for arg in argv:
    if not arg.startswith('-'):
      raise ValueError(f'{arg}: not a flag')
    name, _, value = arg.lstrip('-').partition('=')
    if name not in known and name.startswith('no') and name[2:] in known:
      name, value = name[2:], 'false'
    if name not in known:
      raise ValueError(f'--{name}: no such flag')
    flag = known[name]
    if not value and flag.boolean:
      value = 'true'
    values[name] = flag.parser.parse(value)
  return values


def _config_values(given):
  """The configuration fields among `given`, over every field's default."""
  return {**{name: flag.value for name, flag in
             run_flags.config_flags().items()},
          **{k: v for k, v in given.items() if k in run_flags.config_flags()}}


def check_command(script: str, argv):
  """Raises if `python -m experiments.<script> argv` would be refused for
  its flags."""
  if script not in _SCRIPTS:
    raise ValueError(f'experiments.{script}: no such script')
  given = _parse(argv, _script_flags(script))
  if script == 'mnist':
    run_flags.config_from_values(_config_values(given))
  elif script == 'reproduce' and 'preset' in given:
    preset = presets.load(given['preset'])
    overrides = {k: v for k, v in given.items()
                 if k in run_flags.config_flags()}
    presets.make_config(preset, 9000, overrides=overrides)


class CommandsTest(tf.test.TestCase, parameterized.TestCase):

  def test_the_docs_have_commands(self):
    self.assertGreater(len(list(_cases())), 20)

  @parameterized.named_parameters(_cases())
  def test_command_parses_and_makes_a_config(self, script, argv):
    check_command(script, argv)

  @parameterized.parameters(
      (['--betta=0.1'], '--betta: no such flag'),
      (['--beta=x'], 'could not convert'),
      (['--prior_components=5'], 'applies to --prior=mixture or vamp'),
      (['--preset=burda2016_vae'], '--preset: no such flag'),
  )
  def test_a_bad_command_is_caught(self, argv, message):
    with self.assertRaisesRegex(ValueError, message):
      check_command('mnist', argv)


def _library_modules():
  """Every module of the library by its last name, some names twice."""
  modules = {}
  for path in glob.glob(os.path.join(_REPO, 'vae', '**', '*.py'),
                        recursive=True):
    relative = os.path.relpath(path, _REPO)[:-len('.py')]
    name = relative.replace(os.sep, '.').replace('.__init__', '')
    modules.setdefault(name.split('.')[-1], []).append(
        importlib.import_module(name))
  return modules


class NamesTest(tf.test.TestCase):

  def test_every_module_attribute_named_in_the_docs_exists(self):
    # `objectives.elbo`, `runner.Run`, `priors.PRIORS`: a renamed function
    # or class in any doc fails here.
    modules = _library_modules()
    found = 0
    for path in _DOCS:
      text = open(path, encoding='utf-8').read()
      for module, attribute in re.findall(r'`(\w+)\.(\w+)[`(]', text):
        if module not in modules or attribute in _FILE_ENDINGS:
          continue
        found += 1
        with self.subTest(f'{os.path.relpath(path, _REPO)}: '
                          f'{module}.{attribute}'):
          self.assertTrue(any(hasattr(m, attribute)
                              for m in modules[module]))
    self.assertGreater(found, 50)


class PythonBlocksTest(tf.test.TestCase):

  def test_excerpts_compile(self):
    for path in _DOCS:
      for i, block in enumerate(_blocks(path, 'py')):
        compile(_dedent(block), f'{path}, excerpt {i}', 'exec')


def _dedent(block: str) -> str:
  lines = block.splitlines()
  indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
  return '\n'.join(l[indent:] for l in lines) + '\n'


def _python_cases():
  """The python blocks, but those that are a script of examples/ (which
  examples_test runs)."""
  examples = {open(path, encoding='utf-8').read() for path in
              glob.glob(os.path.join(_REPO, 'examples', '*.py'))}
  for path in _DOCS:
    for i, block in enumerate(_blocks(path, 'python')):
      if block not in examples:
        yield f'{os.path.relpath(path, _REPO)}_{i}', _dedent(block)


@pytest.mark.slow  # The blocks train models, a few hundred steps each.
class RunnableBlocksTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(_python_cases())
  def test_block_runs(self, block):
    mnist = data_test.require_mnist(self)
    block = block.replace("'../shared/data/mnist'", repr(mnist))
    cwd = os.getcwd()
    os.chdir(_REPO)
    try:
      exec(compile(block, 'block', 'exec'), {'__name__': '__doc_block__'})  # pylint: disable=exec-used
    finally:
      os.chdir(cwd)


if __name__ == '__main__':
  tf.test.main()
