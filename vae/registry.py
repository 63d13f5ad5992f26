"""Registries of parts: a name chosen in a configuration, to its constructor.

Each part module keeps its own registry (`encoders.ENCODERS`,
`encoders.POSTERIORS`, `decoders.DECODERS`, `decoders.LIKELIHOODS`,
`priors.PRIORS`, `latents.LATENTS`, `objectives.OBJECTIVES`,
`model.MODELS`). An entry is a factory `factory(config, parts) -> part`,
where `config` is the run's `config.ModelConfig` (or `config.ObjectiveConfig`
for objectives) and `parts` the `Parts` built so far, with the
configuration fields the factory reads. A new part is its class and one
line:

  PRIORS.register('student_t', lambda c, parts: StudentT(c.latent_size,
                                                         c.prior_df),
                  'a factorised Student-t', fields=('latent_size', 'prior_df'),
                  analytic_kl=False)

The configuration's choices, the command line's allowed values and the tests
that sweep every part read the names from here; the configuration refuses a
field set away from its default when no chosen part declares it
(`vae/config/rules.py`).
"""

import types
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Tuple

import tensorflow as tf

Factory = Callable[..., Any]


class Parts(NamedTuple):
  """What a part's factory may use besides its fields: the data's shape,
  the seed, the networks' compute dtype, and the parts built before it
  (`build.build` fills them in order; a part made from keywords gets these
  defaults but for those given)."""
  image_shape: Optional[Tuple[int, ...]] = None
  seed: Optional[int] = None
  compute_dtype: tf.DType = tf.float32
  head: Optional[Callable] = None
  encoder: Optional[Callable] = None
  likelihood: Optional[Callable] = None
  decoder: Optional[Callable] = None
  prior: Any = None


class Registry:
  """Named factories of one kind of part.

  Args:
    kind: What the parts are ('prior'), for error messages.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._factories: Dict[str, Factory] = {}
    self._help: Dict[str, str] = {}
    self._fields: Dict[str, Tuple[str, ...]] = {}
    self._fixed: Dict[str, Dict[str, Any]] = {}
    self._traits: Dict[str, Dict[str, Any]] = {}

  def register(self, name: str, factory: Factory, help: str = '',  # pylint: disable=redefined-builtin
               fields: Tuple[str, ...] = (),
               fixed: Mapping[str, Any] = None, override: bool = False,
               **traits) -> Factory:
    """Adds `factory` under `name`.

    Args:
      name: The part's name, its value on the command line.
      factory: `factory(config, parts) -> part`.
      help: One line for the command line's help.
      fields: The configuration fields the factory reads. A choice among them
        (`prior`, say) brings in the fields of the part chosen there.
      fixed: Values the part needs of other fields: a field set to another
        value is refused, and so is one left at a default that differs when
        a chosen part reads it (the autoencoder's objective, a disentangling
        model's diagonal posterior). A fixed choice does not bring in the
        fields of the part it names: list those in `fields`.
      override: Replace a part registered under `name` already (as when a
        notebook cell runs again).
      **traits: What the builder and the configuration's rules ask of the
        part (`traits(name)`).

    Returns:
      `factory`.

    Raises:
      ValueError: if `name` is registered already and not `override`.
    """
    if name in self._factories and not override:
      raise ValueError(f'{self.kind} {name!r} is registered already: pass '
                       'override=True to replace it')
    self._factories[name] = factory
    self._help[name] = help
    self._fields[name] = tuple(fields)
    self._fixed[name] = dict(fixed or {})
    self._traits[name] = traits
    return factory

  def traits(self, name: str) -> Dict[str, Any]:
    """The traits `name` was registered with."""
    self.check(name)
    return self._traits[name]

  def fields(self, name: str) -> Tuple[str, ...]:
    """The configuration fields part `name` reads."""
    self.check(name)
    return self._fields[name]

  def fixed(self, name: str) -> Dict[str, Any]:
    """The fields part `name` sets itself, with their values."""
    self.check(name)
    return self._fixed[name]

  def names(self) -> Tuple[str, ...]:
    """The registered names, in their order of registration."""
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
    """The factory of `name`."""
    self.check(name)
    return self._factories[name]

  def build(self, name: str, *args, **kwargs):
    """The part `name`, made by its factory from `args`.

    Called with keywords alone, it makes the part from its settings, as
    code that has no configuration would:
    `PRIORS.build('mixture', latent_size=8, prior_components=10)`. The
    keywords are the part's declared fields (`fields(name)`), and the
    parts it is made with (`encoder=`, `image_shape=`, `seed=` ...).

    Raises:
      ValueError: naming the settings missing or unknown to the part.
    """
    if args or not kwargs:
      return self.get(name)(*args, **kwargs)
    fields = self.fields(name)
    missing = [f for f in fields if f not in kwargs]
    unknown = sorted(set(kwargs) - set(fields) - set(Parts._fields))
    if missing or unknown:
      raise ValueError(
          f'{self.kind} {name!r} is made from its fields '
          f'{", ".join(fields) or "(none)"} and the parts '
          f'{", ".join(Parts._fields)}; '
          + '; '.join(what for what in (
              missing and f'missing: {", ".join(missing)}',
              unknown and f'unknown: {", ".join(unknown)}') if what))
    settings = types.SimpleNamespace(
        **{f: kwargs[f] for f in fields}, **self.fixed(name))
    parts = Parts(**{k: v for k, v in kwargs.items() if k in Parts._fields})
    return self.get(name)(settings, parts)

  def describe(self) -> str:
    """'name: help; ...' for a command line's help text."""
    return '; '.join(f'{n}: {h}' if h else n for n, h in self._help.items())
