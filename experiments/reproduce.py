"""Runs a published setup (a preset in vae/run/preset_files/) end to end.

  python -m experiments.reproduce --list
  python -m experiments.reproduce --preset=burda2016_vae
  python -m experiments.reproduce --preset=burda2016_vae --epochs_scale=0.01 \
      --data_dir=../shared/data/mnist --train_split='test[:9000]' \
      --eval_split='test[9000:]'

The preset gives the configuration and the budget in epochs, which become
steps for the training split at hand. --epochs_scale shortens the run (the
learning-rate staircase and warm-up keep their shape); any configuration
flag given on the command line overrides the preset's value. The run folder
(--output_dir, default runs/<preset>) holds what experiments.mnist writes,
plus preset.json: the paper, its number, and the epochs this run actually
trained (with `shortened` true when fewer than the paper's). Running the
same command again resumes.
"""

import os

from absl import flags

from experiments import run_flags
from vae import errors
from vae.run import folder as run_folder
from vae.run import inputs
from vae.run import presets
from vae.run import report
from vae.run import runner

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(run_flags)
flags.DEFINE_string('preset', None, 'The preset to run (--list names them).')
flags.DEFINE_boolean('list', False, 'Print the presets and their papers.')
flags.DEFINE_float('epochs_scale', 1.0, 'Train for this fraction of the '
                   'paper\'s epochs (0.01 for a laptop).')

PRESET_JSON = 'preset.json'


def listing() -> str:
  """Each preset: its name, paper, table and published number."""
  lines = []
  for name in presets.names():
    preset = presets.load(name)
    nll = preset.reported.get('test_nll')
    number = ('not checked' if nll is None else
              f'NLL {nll} (k = {preset.reported["eval_num_samples"]})')
    lines.append(f'{name}\n  {preset.paper}\n  {preset.table}: {number}; '
                 f'{preset.epochs:g} epochs')
  return '\n'.join(lines)


def overrides():
  """The configuration flags given on the command line, by name."""
  return {name: flag.value for name, flag in run_flags.config_flags().items()
          if flag.present}


def main(argv):
  del argv
  if FLAGS.list:
    print(listing())
    return
  if not FLAGS.preset:
    raise run_flags.InputError('pass --preset=NAME (--list names them)')
  try:
    preset = presets.load(FLAGS.preset)
  except ValueError as e:
    raise run_flags.InputError(str(e)) from e
  given = overrides()
  # The split's size turns the preset's epochs into steps.
  data_config = run_flags.config_from_values(
      {k: v for k, v in {**preset.config, **given}.items()
       if k in ('dataset', 'data_dir', 'download', 'train_split')}).data
  num_train = inputs.load_examples(data_config, data_config.train_split,
                                   'train_split').num_examples
  try:
    config = presets.make_config(preset, num_train, FLAGS.epochs_scale,
                                 given, flag_names=True)
  except ValueError as e:
    raise run_flags.InputError(f'--preset={preset.name}: {e}') from e
  output_dir = (FLAGS.output_dir if FLAGS['output_dir'].present
                else os.path.join('runs', preset.name))
  record = presets.record(preset, config, num_train, FLAGS.epochs_scale)
  with runner.Run(config, output_dir, FLAGS.restart) as run:
    run.train()  # (Which clears the folder first under --restart.)
    run_folder.write_json(os.path.join(run.output_dir, PRESET_JSON), record)
    summary = run.finish()
    print(report.closing_lines(run.output_dir, summary))
    print(comparison(record, summary))


def comparison(record, summary) -> str:
  """The published number beside this run's."""
  reported = record['reported'].get('test_nll')
  ours = summary.get('test_nll')
  line = (f'{record["preset"]}: {record["epochs_run"]:g} of the paper\'s '
          f'{record["paper_epochs"]:g} epochs on {record["train_examples"]} '
          'images.')
  if ours is None:
    why = summary.get('no_elbo') or '--eval_num_samples=0'
    return line + f' No test NLL ({why}).'
  line += f' Test NLL {ours:.2f} (k = {summary["eval_num_samples"]})'
  if record['dataset'] != record['paper_dataset']:
    return line + (f'; the paper\'s number is on {record["paper_dataset"]}, '
                   f'this run on {record["dataset"]}: not comparable.')
  if reported is None:
    return line + '; the paper\'s number was not checked for this preset.'
  return (line + f'; published {reported} (k = '
          f'{record["reported"]["eval_num_samples"]}), a gap of '
          f'{ours - reported:+.2f} nats.')


if __name__ == '__main__':
  # As experiments.mnist: bad input, divergence and a lost worker end in a
  # message, not a traceback.
  run_flags.run_main(main, (run_flags.InputError, FloatingPointError,
                            errors.WorkerLost))
