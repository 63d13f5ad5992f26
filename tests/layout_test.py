"""The layers of docs/extending.md: each package imports only from the
layers above it in that table, and scripts never import each other."""

import ast
import os

import tensorflow as tf

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The layers, lowest first: a module may import its own layer and those
# before it.
_LAYERS = ('vae', 'vae.models', 'vae.config', 'vae.run', 'experiments')


def _layer(module: str) -> int:
  """The index in _LAYERS of the package holding `module`."""
  package = module.split('.')
  for depth in (2, 1):
    name = '.'.join(package[:depth])
    if name in _LAYERS and (depth == 1 or len(package) > depth
                            or module == name):
      return _LAYERS.index(name)
  raise ValueError(module)


def _modules():
  """(module name, its path) of every module of vae/ and experiments/."""
  for top in ('vae', 'experiments'):
    for folder, _, files in os.walk(os.path.join(_REPO, top)):
      for name in files:
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          relative = os.path.relpath(path, _REPO)[:-len('.py')]
          yield relative.replace(os.sep, '.').replace('.__init__', ''), path


def _imports(path: str):
  """The project modules `path` imports."""
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        yield f'{node.module}.{alias.name}'
    elif isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name


class LayoutTest(tf.test.TestCase):

  def test_no_module_imports_a_layer_below_it(self):
    for module, path in _modules():
      own = _layer(module)
      for imported in _imports(path):
        if imported.split('.')[0] not in ('vae', 'experiments'):
          continue
        with self.subTest(module=module, imports=imported):
          self.assertLessEqual(_layer(imported), own)

  def test_scripts_never_import_each_other(self):
    for module, path in _modules():
      if not module.startswith('experiments.'):
        continue
      scripts = {f'experiments.{name}' for name in
                 ('mnist', 'evaluate', 'sweep', 'reproduce', 'benchmark')}
      for imported in _imports(path):
        with self.subTest(module=module, imports=imported):
          self.assertNotIn(imported, scripts - {module})

  def test_layers_are_told_apart(self):
    self.assertEqual(_layer('vae.priors'), 0)
    self.assertEqual(_layer('vae.models.vqvae'), 1)
    self.assertEqual(_layer('vae.models'), 1)
    self.assertEqual(_layer('vae.config.rules'), 2)
    self.assertEqual(_layer('vae.run.runner'), 3)
    self.assertEqual(_layer('experiments.run_flags'), 4)


if __name__ == '__main__':
  tf.test.main()
