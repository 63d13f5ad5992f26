"""Trains a beta-VAE on MNIST, then evaluates it and draws its figures.

  python -m experiments.mnist --beta=0.01
  python -m experiments.mnist --data_dir=../shared/data/mnist \
      --train_split='test[:9000]' --eval_split='test[9000:]'

Writes to --output_dir: config.json, metrics.csv (the training log),
summary.json (the final numbers) and figures/*.png.
"""

import csv
import json
import math
import os
import random
import time
from typing import List

from absl import app
from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import data
from vae import decoders
from vae import encoders
from vae import model as model_lib
from vae import objectives
from vae import plotting
from vae import priors
from vae import training

# Defaults are the Sonnet 2 notebook's.
flags.DEFINE_float('beta', 0.01, 'Weight of the KL (rate) in the loss.',
                   lower_bound=0.0)
flags.DEFINE_integer('latent_size', 10, 'Dimensions of z.', lower_bound=1)
flags.DEFINE_list('hidden_sizes', ['100', '100'],
                  'Hidden layer sizes of the encoder and decoder MLPs.')
flags.DEFINE_integer('batch_size', 64, 'Training batch size.', lower_bound=1)
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_integer('training_steps', 1024, 'Number of training steps.',
                     lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Seed for TensorFlow, NumPy and Python.')
flags.DEFINE_string('dataset', 'mnist', 'TFDS image dataset name.')
flags.DEFINE_string(
    'data_dir', None,
    'A folder of IDX files (t10k-images-idx3-ubyte.gz, ...), read without a '
    'network; or TFDS\'s data_dir. Default: $TFDS_DATA_DIR or '
    '~/tensorflow_datasets.')
flags.DEFINE_boolean('download', True,
                     'Let TFDS download the dataset when it is not on disk.')
flags.DEFINE_string('train_split', 'train', 'TFDS split to train on.')
flags.DEFINE_string('eval_split', 'test', 'TFDS split to evaluate on.')
flags.DEFINE_enum('binarization', 'dynamic', data.BINARIZATIONS,
                  'dynamic: a fresh Bernoulli draw per pixel each time an '
                  'image is served; static: threshold at 0.5; none: grey '
                  'levels as targets, as in the notebook.')
flags.DEFINE_enum('loss_normalization', 'per_example', objectives.NORMALIZATIONS,
                  'per_example: loss = distortion + beta * rate, in nats per '
                  'example (Higgins et al. 2017). notebook: the Sonnet '
                  'notebook\'s mean over pixels + beta * mean over latents.')
flags.DEFINE_integer('kl_samples', None,
                     'Monte Carlo samples for the KL; unset: analytic KL.',
                     lower_bound=1)
flags.DEFINE_boolean('jit_compile', False,
                     'Compile the training step with XLA.')
flags.DEFINE_integer('log_every', 100,
                     'Log every this many steps, besides at powers of two.',
                     lower_bound=1)
flags.DEFINE_integer('eval_batch_size', 500, 'Evaluation batch size.',
                     lower_bound=1)
flags.DEFINE_string('output_dir', 'runs/mnist', 'Where results are written.')
flags.DEFINE_boolean('overwrite', False,
                     'Replace the results of an earlier run in --output_dir.')

FLAGS = flags.FLAGS

_RESULT_FILES = ('config.json', 'metrics.csv', 'summary.json')
_METRIC_FIELDS = ('step', 'loss', 'elbo', 'rate', 'distortion',
                  'steps_per_second', 'elapsed_seconds')


class InputError(ValueError):
  """A flag asks for something impossible; the message names it."""


@flags.validator('hidden_sizes',
                 message='--hidden_sizes must be positive integers, such as '
                 '100,100')
def _check_hidden_sizes(values):
  try:
    return all(int(v) > 0 for v in values)
  except ValueError:
    return False


@flags.validator('learning_rate', message='--learning_rate must be positive')
def _check_learning_rate(value):
  return value > 0 and math.isfinite(value)


def _should_log(step: int, log_every: int, last_step: int) -> bool:
  return (step & (step - 1) == 0) or step % log_every == 0 or step == last_step


def _check_output_dir(output_dir: str, overwrite: bool) -> List[str]:
  """The paths of an earlier run's results, if --overwrite may replace them."""
  existing = [f for f in _RESULT_FILES
              if os.path.exists(os.path.join(output_dir, f))]
  if existing and not overwrite:
    raise InputError(
        f'--output_dir={output_dir} already holds the results of a run '
        f'({", ".join(existing)}). Pass another --output_dir, or --overwrite '
        f'to replace them.')
  return [os.path.join(output_dir, f) for f in existing]


def _load(split_flag: str, split: str) -> data.Examples:
  flags_used = f'--dataset={FLAGS.dataset} --{split_flag}={split}'
  if FLAGS.data_dir is not None:
    flags_used += f' --data_dir={FLAGS.data_dir}'
  try:
    return data.load(FLAGS.dataset, split, FLAGS.data_dir,
                     download=FLAGS.download)
  except data.DownloadError as e:
    raise InputError(
        f'{flags_used}: {e}\nOffline, with a folder of the IDX files:\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder\n'
        f'or, with only the test files (as in ../shared/data/mnist):\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder '
        f'--train_split=\'test[:9000]\' --eval_split=\'test[9000:]\'') from e
  except data.DataError as e:
    raise InputError(f'{flags_used}: {e}') from e


def _write_json(path: str, obj):
  """Writes through a temporary file, so a crash never leaves half a file."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def _figures(vae, eval_images, metrics_rows, figures_dir, beta, latent_size):
  os.makedirs(figures_dir, exist_ok=True)
  steps = [r['step'] for r in metrics_rows]
  plotting.loss_curves(
      steps,
      {name: [r[name] for r in metrics_rows]
       for name in ('loss', 'distortion', 'rate')},
      os.path.join(figures_dir, 'loss_curves.png'),
      title=f'loss = distortion + {beta:g} rate (train, nats per example)')
  inputs = eval_images[:10]
  outputs = vae(inputs).likelihood.mean().numpy()
  plotting.reconstructions(inputs, outputs,
                           os.path.join(figures_dir, 'reconstructions.png'))
  samples = vae.sample(100).mean().numpy()
  plotting.image_grid(samples, 10, 10,
                      os.path.join(figures_dir, 'samples.png'),
                      title='Means of p(x|z), z ~ prior')
  if latent_size >= 2:
    span = 2.0
    codes = plotting.traversal_codes(latent_size, (0, 1), 10, span)
    plotting.image_grid(
        vae.decoder(codes).mean().numpy(), 10, 10,
        os.path.join(figures_dir, 'latent_traversal.png'),
        title=f'Latent traversal: z[0] and z[1] in [{-span:g}, {span:g}], '
        f'others 0',
        xlabel='z[0]', ylabel='z[1]', extent=(-span, span, -span, span))


def main(argv):
  del argv
  output_dir = FLAGS.output_dir
  stale_results = _check_output_dir(output_dir, FLAGS.overwrite)
  hidden_sizes = [int(v) for v in FLAGS.hidden_sizes]
  # First: the datasets' shuffles read the global seed when they are built.
  tf.random.set_seed(FLAGS.seed)
  np.random.seed(FLAGS.seed)
  random.seed(FLAGS.seed)

  # Everything that can be wrong with the input fails here, before training.
  train_examples = _load('train_split', FLAGS.train_split)
  eval_examples = _load('eval_split', FLAGS.eval_split)
  try:
    train_batches = data.batches(train_examples, FLAGS.batch_size,
                                 FLAGS.binarization, train=True,
                                 seed=FLAGS.seed)
  except data.DataError as e:
    raise InputError(f'--batch_size={FLAGS.batch_size} with '
                     f'--train_split={FLAGS.train_split}: {e}') from e
  eval_batches = data.batches(eval_examples, FLAGS.eval_batch_size,
                              FLAGS.binarization, train=False,
                              seed=FLAGS.seed + 1)
  logging.info('Training on %d examples (%s), evaluating on %d.',
               train_examples.num_examples, train_examples.source,
               eval_examples.num_examples)

  vae = model_lib.VAE(
      encoder=encoders.MLPEncoder(hidden_sizes, FLAGS.latent_size,
                                  name='encoder'),
      decoder=decoders.MLPDecoder(hidden_sizes, train_examples.image_shape,
                                  name='decoder'),
      prior=priors.StandardNormal(FLAGS.latent_size, name='prior'))
  optimizer = snt.optimizers.Adam(FLAGS.learning_rate)
  step_fn = training.make_train_step(
      vae, optimizer, beta=FLAGS.beta, kl_samples=FLAGS.kl_samples,
      normalization=FLAGS.loss_normalization, jit_compile=FLAGS.jit_compile)

  os.makedirs(output_dir, exist_ok=True)
  for path in stale_results:  # --overwrite: no old summary beside a new log.
    os.remove(path)
  # absl files the flags under this module's name, or argv[0] when run as
  # __main__: ask it where --beta lives.
  config = {f.name: f.value for f in FLAGS.get_flags_for_module(
      FLAGS.find_module_defining_flag('beta'))}
  _write_json(os.path.join(output_dir, 'config.json'), config)

  metrics_path = os.path.join(output_dir, 'metrics.csv')
  metrics_rows = []
  pending = []  # Step metrics since the last log, still as tensors.
  start = time.perf_counter()
  timed_from = None  # When step 1, which compiles, had finished.
  num_steps = FLAGS.training_steps
  with open(metrics_path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=_METRIC_FIELDS)
    writer.writeheader()
    iterator = iter(train_batches)
    for step in range(1, num_steps + 1):
      pending.append(step_fn(next(iterator)))
      if step == 1:
        pending[0].loss.numpy()  # Wait for the compiling step to finish.
        timed_from = time.perf_counter()
      if not _should_log(step, FLAGS.log_every, num_steps):
        continue
      means = {name: float(np.mean([getattr(m, name) for m in pending]))
               for name in training.StepMetrics._fields}
      now = time.perf_counter()
      steps_per_second = ((step - 1) / (now - timed_from)
                          if step > 1 else float('nan'))
      row = dict(step=step, **means, steps_per_second=steps_per_second,
                 elapsed_seconds=now - start)
      writer.writerow(row)
      f.flush()
      metrics_rows.append(row)
      pending = []
      logging.info('step %d: loss %.3f, elbo %.3f, rate %.3f, distortion '
                   '%.3f (%.0f steps/s)', step, means['loss'], means['elbo'],
                   means['rate'], means['distortion'], steps_per_second)
      if not all(math.isfinite(v) for v in means.values()):
        raise FloatingPointError(
            f'training diverged: the loss became {means["loss"]} between '
            f'step {metrics_rows[-2]["step"] if len(metrics_rows) > 1 else 0} '
            f'and step {step}. The log up to here is in {metrics_path}. Try a '
            f'lower --learning_rate (now {FLAGS.learning_rate}).')
  train_seconds = time.perf_counter() - timed_from

  eval_step = training.make_eval_step(vae, beta=FLAGS.beta,
                                      kl_samples=FLAGS.kl_samples,
                                      normalization=FLAGS.loss_normalization)
  test = training.evaluate(eval_step, eval_batches)
  logging.info('eval on %s: elbo %.3f, rate %.3f, distortion %.3f',
               FLAGS.eval_split, test.elbo, test.rate, test.distortion)

  eval_images = next(iter(eval_batches)).numpy()
  _figures(vae, eval_images, metrics_rows, os.path.join(output_dir, 'figures'),
           FLAGS.beta, FLAGS.latent_size)

  summary = {
      'steps': num_steps,
      'train_loss': metrics_rows[-1]['loss'],
      'train_elbo': metrics_rows[-1]['elbo'],
      'train_rate': metrics_rows[-1]['rate'],
      'train_distortion': metrics_rows[-1]['distortion'],
      'test_loss': test.loss,
      'test_elbo': test.elbo,
      'test_rate': test.rate,
      'test_distortion': test.distortion,
      'train_steps_per_second': ((num_steps - 1) / train_seconds
                                 if num_steps > 1 else None),
      'train_examples': train_examples.num_examples,
      'eval_examples': eval_examples.num_examples,
      'train_split': FLAGS.train_split,
      'eval_split': FLAGS.eval_split,
      'beta': FLAGS.beta,
      'loss_normalization': FLAGS.loss_normalization,
  }
  _write_json(os.path.join(output_dir, 'summary.json'), summary)
  logging.info('Wrote %s', output_dir)


def run():
  """Runs main; bad input and divergence end in a message, not a traceback."""
  try:
    app.run(main)
  except (InputError, FloatingPointError) as e:
    raise SystemExit(f'Error: {e}') from e


if __name__ == '__main__':
  run()
