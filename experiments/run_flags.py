"""The command line of a run: one flag per `vae.config` field, defined once.

Each field of `config.Config` is a flag of the same name, with the field's
default and help; a choice's allowed values are its registry's names. The
scripts read them with `config_from_flags`, the one place flags become a
configuration. `--output_dir` and `--restart` say where the run goes.
"""

import dataclasses
import sys
from typing import Dict

from absl import app
from absl import flags

from vae import config as config_lib
from vae import errors as errors_lib
from vae.run import console
from vae.run import folder as run_folder

FLAGS = flags.FLAGS
InputError = run_folder.InputError


def _define(name: str, field: dataclasses.Field):
  base, _, is_tuple = config_lib.field_type(field)
  default, help_text = field.default, field.metadata['help']
  choices = field.metadata['choices']
  if choices is not None:
    described = getattr(choices, 'describe', lambda: '')()
    help_text = f'{help_text} {described}'.strip()
  if is_tuple:
    flags.DEFINE_list(name, [str(v) for v in default], help_text)
  elif choices is not None:
    flags.DEFINE_enum(name, default, list(choices), help_text)
  elif base is bool:
    flags.DEFINE_boolean(name, default, help_text)
  elif base is int:
    flags.DEFINE_integer(name, default, help_text)
  elif base is float:
    flags.DEFINE_float(name, default, help_text)
  else:
    flags.DEFINE_string(name, default, help_text)


for _name, (_, _field) in config_lib.fields().items():
  _define(_name, _field)
flags.DEFINE_string('output_dir', 'runs/mnist', 'Where results are written.')
flags.DEFINE_boolean('restart', False,
                     'Start afresh: delete the results, logs and checkpoints '
                     'of the earlier run in --output_dir instead of resuming '
                     'it.')


def config_flags() -> Dict[str, flags.Flag]:
  """The flags of the configuration's fields, by name."""
  return {name: FLAGS[name] for name in config_lib.fields()}


def config_from_values(values: Dict) -> config_lib.Config:
  """A `Config` from flag values by name; bad values raise `InputError`
  naming the flag."""
  try:
    return config_lib.from_dict(values, flag_names=True)
  except ValueError as e:
    raise InputError(str(e)) from e


def config_from_flags() -> config_lib.Config:
  """The `Config` the command line asks for."""
  return config_from_values({name: flag.value
                             for name, flag in config_flags().items()})


def run_main(main, errors=(InputError,)):
  """`app.run(main)`, with `errors` ending in a message, not a traceback, and
  the output `vae.console` describes."""

  def configured_main(argv):
    console.configure_logging(FLAGS.verbosity)
    return main(argv)

  try:
    app.run(configured_main)
  except errors_lib.Stopped as e:
    print(e, file=sys.stderr)
    raise SystemExit(e.exit_code) from e
  except errors as e:
    raise SystemExit(f'Error: {e}') from e
  except KeyboardInterrupt:
    raise SystemExit(
        'Interrupted. Run the same command again to resume: a run continues '
        'from the last checkpoint in its --output_dir (--restart starts '
        'afresh).') from None
