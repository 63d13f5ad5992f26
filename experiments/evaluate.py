"""Re-evaluates a trained run from its folder, with no training flags.

  python -m experiments.evaluate --output_dir=runs/mnist
  python -m experiments.evaluate --output_dir=runs/mnist --source=saved_model

Rebuilds the model from OUTPUT_DIR/config.json and its newest checkpoint (or
loads OUTPUT_DIR/saved_model), runs the evaluation of `experiments.mnist`
again with the same seeds, redraws the figures (unless --nofigures), writes
OUTPUT_DIR/evaluation.json and prints each number beside the one training
reported in summary.json. With the run's own settings they agree to float
precision.

  python -m experiments.evaluate --output_dir=runs/mnist --ais_steps=1000 \
      --ais_chains=16 --ais_examples=500 --bdmc_examples=20

adds the test NLL by annealed importance sampling (`vae/ais.py`), and
BDMC's bounds on simulated data, to evaluation.json and summary.json.

  python -m experiments.evaluate --output_dir=runs/cvae --marginal_num_samples=1000

adds a --conditional run's -log p(x), its classes summed out
(`evaluation.marginal_log_likelihood`), as `test_nll_marginal`.
"""

import os
from typing import Dict

from absl import flags
from absl import logging
import tensorflow as tf

from experiments import run_flags
from vae import evaluation
from vae import export
from vae import metrics
from vae.run import annealing
from vae.run import build
from vae.run import checkpoints
from vae.run import figures
from vae.run import folder as run_folder
from vae.run import inputs
from vae.run import lock as run_lock
from vae.run import report
from vae.run import runner

# The flags this script shares with experiments.mnist (`run_flags`):
# --output_dir (the run to evaluate), --data_dir, --eval_split,
# --eval_num_samples, --metric_points_scale and --metrics. Unless given, all
# but the first are the run's own, from its config.json.
_SHARED = ('output_dir', 'data_dir', 'eval_split', 'eval_num_samples',
           'metric_points_scale', 'metrics')
# --figures, also a training flag, says here whether to draw them: by default
# yes, whatever the run did (--nofigures: the numbers only).
_OWN = ('figures',)
for _name in _SHARED + _OWN:
  flags.declare_key_flag(_name)
flags.DEFINE_enum('source', 'checkpoint', ['checkpoint', 'saved_model'],
                  'Reload the newest checkpoint, or the exported SavedModel.')
flags.DEFINE_string('figures_dir', None,
                    'Where figures go; default: OUTPUT_DIR/figures.')
flags.DEFINE_integer('ais_steps', 0, 'Also estimate the test NLL by annealed '
                     'importance sampling with this many intermediate '
                     'distributions (thousands for a tight estimate; '
                     'vae/ais.py). 0: not.', lower_bound=0)
flags.DEFINE_integer('ais_chains', 16, 'AIS chains per example.',
                     lower_bound=1)
flags.DEFINE_integer('ais_examples', 0, 'AIS on the first this many test '
                     'examples; 0: all.', lower_bound=0)
flags.DEFINE_integer('marginal_num_samples', 0, 'For a --conditional run: '
                     'also estimate -log p(x) = -log sum_y p(y) p(x|y), p(y) '
                     'uniform over its classes, each p(x|y) with this many '
                     'importance samples (the NLL\'s cost times the '
                     'classes). 0: not.', lower_bound=0)
flags.DEFINE_integer('marginal_examples', 0, 'The marginal NLL on the first '
                     'this many test examples; 0: all.', lower_bound=0)
flags.DEFINE_integer('bdmc_examples', 0, 'Also sandwich log p(x) between '
                     'BDMC\'s bounds on this many examples simulated from the '
                     'model, with --ais_steps and --ais_chains. 0: not.',
                     lower_bound=0)

FLAGS = flags.FLAGS
EVALUATION = 'evaluation.json'
_COMPARED = ('test_elbo', 'test_nll', 'test_nll_ais', 'test_nll_marginal',
             'test_rate', 'test_distortion', 'test_loss',
             'active_units') + metrics.summary_keys()


def load_functions(output_dir: str, config, image_shape, source: str):
  """The run's model functions, the step they were trained to, and the
  model (None from a SavedModel)."""
  if source == 'saved_model':
    path = os.path.join(output_dir, run_folder.SAVED_MODEL)
    if not os.path.isdir(path):
      raise run_flags.InputError(
          f'{path} does not exist: the run was not exported (or not '
          f'finished). Use --source=checkpoint.')
    try:
      return export.load(path), None, None
    except (OSError, ValueError, tf.errors.OpError) as e:
      raise run_flags.InputError(
          f'cannot load the SavedModel {path}: {e}') from e
  model = build.build(config.model, image_shape, seed=config.train.seed)
  saved = checkpoints.Checkpoints(output_dir, model)
  # A run that stops early reports the best validation score's weights.
  best = bool(config.train.early_stopping_steps)
  step = saved.restore(best=best)
  if not step:
    raise run_flags.InputError(
        f'{saved.best_directory if best else saved.directory} holds no '
        f'checkpoint: train the run first (python -m experiments.mnist '
        f'--output_dir={output_dir}).')
  return build.model_functions(model, config, image_shape), step, model


def compare(reported: Dict, now: Dict) -> str:
  """A table of each number as training reported it and as evaluated now."""
  lines = [f'{"":18}{"training":>12}{"now":>12}{"difference":>12}']
  for key in _COMPARED:
    then, value = reported.get(key), now.get(key)
    if value is None:
      continue
    if then is None:
      lines.append(f'{key:18}{"-":>12}{value:12.4f}')
    else:
      lines.append(f'{key:18}{then:12.4f}{value:12.4f}{value - then:12.2e}')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise run_flags.InputError(
        f'unexpected arguments: {" ".join(argv[1:])}')
  training_flags = [f'--{name}' for name, f in run_flags.config_flags().items()
                    if f.present and name not in _SHARED + _OWN]
  if FLAGS['restart'].present:
    training_flags.append('--restart')
  if training_flags:
    raise run_flags.InputError(
        f'{", ".join(training_flags)}: evaluate reads the training flags from '
        f'the run\'s config.json; it takes only '
        f'{", ".join("--" + name for name in _SHARED + _OWN)}, --source, '
        f'--figures_dir and the AIS flags.')
  output_dir = FLAGS.output_dir
  if not os.path.exists(os.path.join(output_dir, run_folder.CONFIG)):
    raise run_flags.InputError(
        f'--output_dir={output_dir} has no {run_folder.CONFIG}: is it a '
        f'training run\'s folder?')
  with run_lock.lock(output_dir):  # It writes there: not while training.
    _evaluate(output_dir)


def _evaluate(output_dir: str):
  """Evaluates the run in `output_dir`, writes its files, prints the table."""
  config = run_folder.read_config(output_dir)
  given = {name: FLAGS[name].value for name in _SHARED[1:]
           if FLAGS[name].present}
  config = run_flags.config_from_values({**config.to_dict(), **given})
  split = config.data.eval_split
  num_samples = config.train.eval_num_samples
  examples, _ = inputs.evaluated_splits(config)
  functions, step, model = load_functions(
      output_dir, config, examples.image_shape, FLAGS.source)
  _check_annealed(model)
  if FLAGS.marginal_num_samples and not config.model.conditional:
    raise run_flags.InputError(
        f'--marginal_num_samples={FLAGS.marginal_num_samples}: the run is '
        f'not --conditional; its test_nll is already -log p(x)')
  logging.info('Evaluating %s (%s%s) on %s, %d importance samples.',
               output_dir, FLAGS.source, f', step {step}' if step else '',
               split, num_samples)
  batches = inputs.eval_batches(examples, config)
  results = runner.evaluate_split(functions, batches, examples.num_examples,
                                  config, num_samples)
  now = report.results_summary(results, config, examples.image_shape)
  now.update(report.disentanglement_summary(functions, config))
  now.update(source=FLAGS.source, step=step, eval_split=split)
  annealed = _annealed(model, batches, config)
  annealed.update(_marginal(functions, batches, config))
  now.update(annealed)
  run_folder.write_json(os.path.join(output_dir, EVALUATION), now)

  wrote = [os.path.join(output_dir, EVALUATION)]
  if FLAGS.figures:  # True unless --nofigures: the field's default.
    wrote.append(_figures(output_dir, functions, results, batches, config))

  summary_path = os.path.join(output_dir, run_folder.SUMMARY)
  reported = (run_folder.read_json(summary_path)
              if os.path.exists(summary_path) else {})
  print(compare(reported, now))
  if annealed and reported:  # Beside the run's IWAE NLL.
    run_folder.write_json(summary_path, {**reported, **annealed})
    wrote.append(summary_path)
  logging.info('Wrote %s', ' and '.join(wrote))


def _check_annealed(model) -> None:
  """Refuses the AIS and BDMC flags, before any evaluation, unless they and
  the model allow them."""
  if not (FLAGS.ais_steps or FLAGS.bdmc_examples):
    return
  if model is None:
    raise run_flags.InputError(
        '--ais_steps and --bdmc_examples need the model\'s densities: use '
        '--source=checkpoint, and give --ais_steps')
  if not FLAGS.ais_steps:
    raise run_flags.InputError(
        '--bdmc_examples: give the steps of its chains with --ais_steps')
  annealing.check(model, f'--ais_steps={FLAGS.ais_steps}')


def _annealed(model, batches, config) -> Dict:
  """The AIS and BDMC numbers the flags ask for (`_check_annealed` first)."""
  if not FLAGS.ais_steps:
    return {}
  return annealing.summary(model, batches, annealing.Settings(
      FLAGS.ais_steps, FLAGS.ais_chains, FLAGS.ais_examples,
      FLAGS.bdmc_examples, config.train.eval_num_samples, config.train.seed))


def _marginal(functions, batches, config) -> Dict:
  """A conditional run's -log p(x) on the split (or its first
  --marginal_examples), if --marginal_num_samples asks for it."""
  if not FLAGS.marginal_num_samples:
    return {}
  total, count = 0.0, 0
  for i, (x, _) in enumerate(batches):
    if FLAGS.marginal_examples:
      x = x[:FLAGS.marginal_examples - count]
    if not len(x):
      break
    total += float(tf.reduce_sum(evaluation.marginal_log_likelihood(
        functions, x, FLAGS.marginal_num_samples, seed=(config.train.seed,
                                                        i))))
    count += len(x)
  logging.info('-log p(x) (uniform p(y), k = %d per class) on %d examples: '
               '%.3f', FLAGS.marginal_num_samples, count, -total / count)
  return {'test_nll_marginal': -total / count,
          'marginal_num_samples': FLAGS.marginal_num_samples,
          'marginal_examples': count}


def _figures(output_dir: str, functions, results, batches, config) -> str:
  """Draws the run's figures into --figures_dir; returns that folder."""
  metrics = run_folder.read_rows(os.path.join(output_dir, run_folder.METRICS))
  eval_rows = run_folder.read_rows(
      os.path.join(output_dir, run_folder.EVAL_METRICS))
  figures_dir = FLAGS.figures_dir or os.path.join(output_dir,
                                                  run_folder.FIGURES)
  eval_images = next(iter(batches))[0].numpy()
  figures.write_figures(functions, results, eval_images, metrics, eval_rows,
                       figures_dir, config)
  return figures_dir


def run():
  run_flags.run_main(main)


if __name__ == '__main__':
  run()
