"""A run's whole configuration, `Config`, and its values in and out.

A `Config` is made from fields by name (`make`, `from_dict`: flag strings,
JSON or Python values), checked when it is made (each field's bounds and
choices, then `rules.check`), and written back as `to_dict` for a run's
`config.json`. A field a `config.json` lacks (one written before the field
existed) takes its default, so a new field never stops old runs from
resuming.
"""

import dataclasses
import math
import re
from typing import Any, Dict, FrozenSet, List

from vae.config import sections
from vae.config import rules
from vae.config.sections import (DataConfig, ModelConfig, ObjectiveConfig,  # pylint: disable=g-multiple-import
                               TrainConfig)

# Keys of a config.json from before the typed configuration that are not
# part of what a run is: they are read and dropped.
_NOT_CONFIG = frozenset(['output_dir', 'restart'])


def _parse(name: str, f: dataclasses.Field, value: Any):
  """`value` (from a flag, JSON or Python) as the field's type."""
  base, optional, is_tuple = sections.field_type(f)
  if value is None:
    if optional:
      return None
    raise ValueError(f'{name}=None: must be set')
  try:
    if is_tuple:
      if isinstance(value, str):
        value = [v for v in value.split(',') if v.strip()]
      return tuple(base(v) for v in value)
    if base is bool:
      if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise ValueError(value)
      return bool(value)
    if base is int and isinstance(value, float) and not value.is_integer():
      raise ValueError(value)
    return base(value)
  except (TypeError, ValueError) as e:
    raise ValueError(f'{name}={sections.text(value)}: must be '
                     f'{"a list of " if is_tuple else ""}{base.__name__}'
                     ) from e


def _check_field(name: str, f: dataclasses.Field, value: Any):
  """Raises a `ValueError` naming the field if `value` is out of bounds."""
  if value is None:
    return
  values = value if isinstance(value, tuple) else (value,)
  given = f'{name}={sections.text(value)}'
  for v in values:
    if isinstance(v, float) and not math.isfinite(v):
      raise ValueError(f'{given}: must be a finite number')
    low, above = f.metadata['low'], f.metadata['above']
    if low is not None and v < low:
      raise ValueError(f'{given}: must be at least {low:g}')
    if above is not None and v <= above:
      raise ValueError(f'{given}: must be above {above:g}')
    high = f.metadata.get('high')
    if high is not None and v > high:
      raise ValueError(f'{given}: must be at most {high:g}')
    _check_choice(name, f.metadata['choices'], v)


def _check_choice(name: str, choices, value):
  """Raises a `ValueError` listing the known `choices` (a registry, a
  tuple or None: any) unless `value` is one."""
  if choices is None:
    return
  if hasattr(choices, 'check'):
    choices.check(value, name)
  elif value not in choices:
    raise ValueError(f'{name}={value}: unknown; the known ones are '
                     f'{", ".join(choices)}')


@dataclasses.dataclass(frozen=True)
class Config:
  """A run's whole configuration; checked when it is made.

  Args:
    model: The parts and their sizes.
    objective: The training loss and its schedules.
    data: Which data, and how its pixels are served.
    train: The optimiser, the budget, the devices and the run's cadence.

  Raises:
    ValueError: naming the field, for a value out of its bounds or choices,
      a field that no chosen part reads, or a combination that means
      nothing (`vae/config/rules.py`).
  """
  model: ModelConfig = ModelConfig()
  objective: ObjectiveConfig = ObjectiveConfig()
  data: DataConfig = DataConfig()
  train: TrainConfig = TrainConfig()

  def __post_init__(self):
    for section in sections.SECTIONS:
      part = getattr(self, section)
      for f in dataclasses.fields(part):
        _check_field(f.name, f, getattr(part, f.name))
    rules.check(self)

  def to_dict(self) -> Dict[str, Any]:
    """Every field by name, as `config.json` holds them."""
    return {name: _jsonable(getattr(getattr(self, section), name))
            for name, (section, _) in sections.fields().items()}

  def replace(self, **values) -> 'Config':
    """A copy with `values` (fields by name, any section) replaced."""
    return from_dict({**self.to_dict(), **values})


def _jsonable(value):
  return list(value) if isinstance(value, tuple) else value


def from_dict(values: Dict[str, Any], flag_names: bool = False) -> Config:
  """The `Config` of `values`.

  Args:
    values: Fields by name; a missing field takes its default.
    flag_names: Name the fields in errors as the command line's flags
      (`--beta=-1.0`); by default as fields (`beta=-1.0`), for code.

  Returns:
    The checked `Config`.

  Raises:
    ValueError: naming an unknown or bad field, or a meaningless
      combination.
  """
  try:
    return _from_dict(values)
  except ValueError as e:
    raise ValueError(_names(str(e), flag_names)) from e


def _names(message: str, flag_names: bool) -> str:
  """`message`, whose fields are flags (`--beta`) but for a leading field
  (`beta=-1.0: ...`), with every field named as a flag or as a field."""
  known = sections.fields()
  if flag_names:
    first = message.split('=', 1)[0]
    return f'--{message}' if first in known else message
  return re.sub(r'--(\w+)', lambda m: (m.group(1) if m.group(1) in known
                                       else m.group(0)), message)


def _from_dict(values: Dict[str, Any]) -> Config:
  known = sections.fields()
  unknown = sorted(set(values) - set(known) - _NOT_CONFIG)
  if unknown:
    raise ValueError(f'unknown configuration fields: {", ".join(unknown)}; '
                     f'the known ones are {", ".join(sorted(known))}')
  by_section = {section: {} for section in sections.SECTIONS}
  for name, value in values.items():
    if name in known:
      section, f = known[name]
      by_section[section][name] = _parse(name, f, value)
  return Config(**{s: sections.SECTIONS[s](**v)
                   for s, v in by_section.items()})


def make(**values) -> Config:
  """`from_dict(values)`: a config from fields by name."""
  return from_dict(values)


def check_field(name: str, value: Any):
  """`value` of field `name`, parsed.

  Args:
    name: A field's name.
    value: Its value, or its text from a flag.

  Raises:
    ValueError: if it is no value of the field (whatever the other fields
      are).
  """
  _, f = sections.fields()[name]
  value = _parse(name, f, value)
  _check_field(name, f, value)
  return value


def changed(earlier: Config, now: Config) -> List[str]:
  """The fields `now` changes from `earlier` that change what is trained
  (those not `resumable`), described as `--name: then, now`.

  Args:
    earlier: The `Config` a run was made with.
    now: The `Config` it is run again with.
  """
  then, current = earlier.to_dict(), now.to_dict()
  known = sections.fields()
  return [f'--{k}: {then[k]!r} then, {v!r} now'
          for k, v in sorted(current.items())
          if not known[k][1].metadata['resumable'] and then[k] != v]


def fields_read(**values) -> FrozenSet[str]:
  """The fields read by the parts that `values` choose.

  Args:
    **values: Fields by name; the others take their defaults.

  Returns:
    The names of the global fields and of those the chosen parts declare.
  """
  known = sections.fields()
  typed = {name: f.default for name, (_, f) in known.items()}
  typed.update({name: _parse(name, known[name][1], value)
                for name, value in values.items()})
  return frozenset(rules.reading(typed).read)
