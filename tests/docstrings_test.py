"""help() helps: every public class behind a registered part, and every
public class and function of every module of the library, names its
arguments, as Sonnet's docstrings do (Args:)."""

import importlib

import inspect
import pkgutil
import pydoc
import re

import tensorflow as tf

from vae import config as config_lib
from vae import decoders
from vae import encoders
from vae import model as model_lib
from vae import priors
from vae.run import build

_IMAGE_SHAPE = (8, 8, 1)


def _choices():
  """One configuration per registered part, at the defaults otherwise."""
  yield dict()
  yield dict(encoder='conv', decoder='conv', conv_channels=(4,))
  yield dict(encoder='gated_mlp', decoder='gated_mlp')
  yield dict(latent='categorical')
  yield dict(latent='von_mises_fisher')
  yield dict(latent_sizes=(3, 2))
  for name in encoders.POSTERIORS:
    yield dict(posterior=name)
  for name in priors.PRIORS:
    yield dict(prior=name)
  for name in decoders.LIKELIHOODS:
    yield dict(likelihood=name, binarization='none')
  for name in model_lib.MODELS:
    yield dict(model=name, **_REQUIRED.get(name, {}))


# The settings a model has no default for.
_REQUIRED = {'geco': dict(geco_target=100.0)}


def part_classes():
  """The public classes of vae/ that the registered parts are made of."""
  classes = set()
  for choices in _choices():
    config = config_lib.make(**choices)
    model = build.build(config.model, _IMAGE_SHAPE, seed=0)
    for module in (model,) + tuple(model.submodules):
      kind = type(module)
      if (kind.__module__.startswith('vae.')
          and not kind.__name__.startswith('_')):
        classes.add(kind)
  return sorted(classes, key=lambda kind: (kind.__module__, kind.__name__))


def documented(kind, shown: str):
  """The arguments the Args: section of `kind`'s docstring names, as
  help() shows it (`a:`, or `a, b, c:` for several alike)."""
  doc = inspect.getdoc(kind) or ''
  if 'Args:' not in doc or doc.split('Args:')[0] not in shown.replace(
      '\n |  ', '\n'):
    return set()
  section = doc.split('Args:', 1)[1]
  return {name for line in re.findall(r'^  ([\w, ]+):', section, re.M)
          for name in line.split(', ')}


class HelpTest(tf.test.TestCase):

  def test_help_on_every_part_shows_its_arguments(self):
    classes = part_classes()
    self.assertGreater(len(classes), 25)
    for kind in classes:
      arguments = [p for p in inspect.signature(kind.__init__).parameters
                   if p not in ('self', 'name', 'args', 'kwargs')]
      shown = pydoc.render_doc(kind, renderer=pydoc.plaintext)
      with self.subTest(f'{kind.__module__}.{kind.__name__}'):
        self.assertEqual(documented(kind, shown) >= set(arguments), True,
                         f'help() names {sorted(documented(kind, shown))} '
                         f'of {arguments}')


def library_modules():
  """Every module of the library, `vae` and its packages."""
  import vae  # pylint: disable=import-outside-toplevel
  return sorted(info.name for info in pkgutil.walk_packages(
      vae.__path__, prefix='vae.') if not info.ispkg)


def _arguments(value):
  """The arguments of a function, or of a class's constructor (but its
  module `name`, which Sonnet documents)."""
  function = value.__init__ if inspect.isclass(value) else value
  skip = ('self', 'name') if inspect.isclass(value) else ('self',)
  return [name for name, p in inspect.signature(function).parameters.items()
          if name not in skip
          and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def public_api(module_name: str):
  """(name, class or function) of a module's public API: what it defines
  and does not mark private; NamedTuples and errors explain themselves."""
  module = importlib.import_module(module_name)
  for name, value in vars(module).items():
    if (name.startswith('_') or getattr(value, '__module__', '') != module_name
        or not (inspect.isclass(value) or inspect.isfunction(value))):
      continue
    if inspect.isclass(value) and issubclass(value, (tuple, Exception)):
      continue
    yield f'{module_name}.{name}', value


class PublicApiTest(tf.test.TestCase):

  def test_every_public_class_and_function_names_its_arguments(self):
    checked = 0
    for module_name in library_modules():
      for name, value in public_api(module_name):
        arguments = _arguments(value)
        checked += 1
        with self.subTest(name):
          self.assertTrue(inspect.getdoc(value), 'no docstring')
          self.assertEqual(documented(value, inspect.getdoc(value)) >=
                           set(arguments), True,
                           f'Args: names '
                           f'{sorted(documented(value, inspect.getdoc(value)))}'
                           f' of {arguments}')
    self.assertGreater(checked, 250)


if __name__ == '__main__':
  tf.test.main()
