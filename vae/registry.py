"""Registries of parts: a name chosen in a configuration, to its constructor.

Each part module keeps its own registry (`encoders.ENCODERS`,
`encoders.POSTERIORS`, `decoders.DECODERS`, `decoders.LIKELIHOODS`,
`priors.PRIORS`, `objectives.OBJECTIVES`, `model.MODELS`). An entry is a
factory `factory(config, parts) -> part`, where `config` is the run's
`config.ModelConfig` (or `config.Config` for objectives) and `parts` the
`build.Parts` built so far. A new part is one class and one line:

  PRIORS.register('laplace', lambda c, parts: Laplace(c.latent_size),
                  'a factorised Laplace(0, 1)')

The configuration's choices, the command line's allowed values and the tests
that sweep every part read the names from here.
"""

from typing import Any, Callable, Dict, Tuple

Factory = Callable[..., Any]


class Registry:
  """Named factories of one kind of part."""

  def __init__(self, kind: str):
    self.kind = kind
    self._factories: Dict[str, Factory] = {}
    self._help: Dict[str, str] = {}
    self._traits: Dict[str, Dict[str, Any]] = {}

  def register(self, name: str, factory: Factory, help: str = '',  # pylint: disable=redefined-builtin
               **traits):
    """Adds `factory` under `name`, with its one-line `help` and any
    `traits` the builder asks of it (`traits(name)`); returns `factory`."""
    if name in self._factories:
      raise ValueError(f'{self.kind} {name!r} is registered already')
    self._factories[name] = factory
    self._help[name] = help
    self._traits[name] = traits
    return factory

  def traits(self, name: str) -> Dict[str, Any]:
    self.check(name)
    return self._traits[name]

  def names(self) -> Tuple[str, ...]:
    return tuple(self._factories)

  def __contains__(self, name: str) -> bool:
    return name in self._factories

  def __iter__(self):
    return iter(self._factories)

  def check(self, name: str, field: str = ''):
    """Raises a `ValueError` that lists the known names, unless `name` is
    one."""
    if name not in self._factories:
      raise ValueError(
          f'{field or self.kind}={name}: unknown {self.kind}; the known '
          f'ones are {", ".join(self._factories)}')

  def get(self, name: str) -> Factory:
    self.check(name)
    return self._factories[name]

  def build(self, name: str, *args, **kwargs):
    """The part `name`, made by its factory from `args`."""
    return self.get(name)(*args, **kwargs)

  def describe(self) -> str:
    """'name: help; ...' for a command line's help text."""
    return '; '.join(f'{n}: {h}' if h else n for n, h in self._help.items())
