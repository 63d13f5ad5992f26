"""Trains a beta-VAE on MNIST, evaluates it and draws its figures.

  python -m experiments.mnist --beta=0.01
  python -m experiments.mnist --data_dir=../shared/data/mnist \
      --train_split='test[:9000]' --eval_split='test[9000:]'

The model zoo's flags choose the networks, posterior, prior, likelihood,
latent, objective and dataset (--encoder=conv, --prior=vamp,
--latent=categorical, --objective=iwae, --dataset=cifar10, ...; see the
README's table); their defaults are the notebook's model.

Writes to --output_dir:
  config.json        the flags of the run;
  metrics.csv        the training log; eval_metrics.csv, the eval-set ELBO
                     during training;
  summary.json       the final numbers: test ELBO, rate, distortion, the
                     importance-sampled NLL, KL per dimension, active units;
  figures/*.png      loss curves, reconstructions, samples, latent space;
  checkpoints/       model, optimiser and step (batch s depends on s alone);
  saved_model/       the model with encode, decode and sample signatures;
  train/, eval/      TensorBoard summaries (tensorboard --logdir OUTPUT_DIR).

Running the same command again resumes from the last checkpoint and appends
to the logs; --restart starts afresh.

--strategy=mirrored|multi_worker|tpu trains data-parallel on every GPU, on a
cluster (TF_CONFIG) or on a TPU, as one device would on the same global
batch; under multi_worker, workers other than the chief write their logs and
checkpoints to OUTPUT_DIR/workers/<task>/. See the README.
"""

import contextlib
import csv
import math
import os
import random
import shutil
import time
from typing import Dict, List

from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

from experiments import common
from vae import data
from vae import decoders
from vae import distribute
from vae import encoders
from vae import evaluation
from vae import export
from vae import objectives
from vae import plotting
from vae import training

# Defaults are the Sonnet 2 notebook's.
flags.DEFINE_float('beta', 0.01, 'Weight of the KL (rate) in the loss.',
                   lower_bound=0.0)
flags.DEFINE_integer('latent_size', 10, 'Dimensions of z.', lower_bound=1)
flags.DEFINE_list('hidden_sizes', ['100', '100'],
                  'Hidden layer sizes of the encoder and decoder MLPs.')
flags.DEFINE_integer('batch_size', 64, 'Training batch size.', lower_bound=1)
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_integer('training_steps', 1024,
                     'Train until this step. Raise it and run again to train '
                     'a finished run further.', lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Seed for TensorFlow, NumPy and Python.',
                     lower_bound=0)
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
# The model zoo (see README): architectures, posteriors, priors, likelihoods,
# latents and objectives.
_D = common.MODEL_DEFAULTS
flags.DEFINE_enum('model', _D['model'], common.MODELS,
                  'vae; or autoencoder, a plain autoencoder baseline: a '
                  'deterministic encoder and no KL.')
flags.DEFINE_enum('encoder', _D['encoder'], common.NETWORKS,
                  'mlp (--hidden_sizes) or conv (--conv_channels, stride-2 '
                  '3x3 convolutions).')
flags.DEFINE_enum('decoder', _D['decoder'], common.NETWORKS,
                  'mlp (--hidden_sizes) or conv (transposed convolutions, '
                  '--conv_channels reversed).')
flags.DEFINE_list('conv_channels', _D['conv_channels'],
                  'Channels of the conv encoder\'s layers; the conv decoder '
                  'uses them in reverse.')
flags.DEFINE_enum('posterior', _D['posterior'], encoders.COVARIANCES,
                  'Covariance of the Gaussian posterior q(z|x).')
flags.DEFINE_enum('prior', _D['prior'], common.PRIORS,
                  'normal: N(0, I); mixture: a learnable mixture of '
                  '--prior_components Gaussians; vamp: the VampPrior with '
                  '--prior_components pseudo-inputs. The KL of mixture and '
                  'vamp is a Monte Carlo estimate.')
flags.DEFINE_integer('prior_components', _D['prior_components'],
                     'Components of the mixture prior, pseudo-inputs of the '
                     'VampPrior.', lower_bound=1)
flags.DEFINE_enum('likelihood', _D['likelihood'], decoders.LIKELIHOODS,
                  'p(x|z): bernoulli for binary pixels; gaussian or '
                  'continuous_bernoulli for grey levels (with '
                  '--binarization=none).')
flags.DEFINE_float('likelihood_scale', _D['likelihood_scale'],
                   'Fixed standard deviation of the Gaussian likelihood; '
                   'unset: learned.', lower_bound=1e-6)
flags.DEFINE_enum('latent', _D['latent'], common.LATENTS,
                  'gaussian; or categorical: --latent_size one-hot '
                  'categoricals of --num_classes classes, trained through '
                  'the Gumbel-softmax relaxation.')
flags.DEFINE_integer('num_classes', _D['num_classes'],
                     'Classes of each categorical latent.', lower_bound=2)
flags.DEFINE_float('temperature', _D['temperature'],
                   'Starting temperature of the Gumbel-softmax relaxation '
                   'of categorical latents in training.',
                   lower_bound=1e-3)
flags.DEFINE_float('min_temperature', _D['min_temperature'],
                   'The temperature max(min, start * exp(-decay * step)) '
                   'never goes below this.', lower_bound=1e-3)
flags.DEFINE_float('temperature_decay', _D['temperature_decay'],
                   'r of the temperature schedule, per step.',
                   lower_bound=0.0)
flags.DEFINE_enum('objective', _D['objective'], common.OBJECTIVES,
                  'elbo: the (beta-)ELBO; iwae: the importance-weighted '
                  'bound with --num_importance_samples samples.')
flags.DEFINE_integer('num_importance_samples',
                     _D['num_importance_samples'],
                     'k of the IWAE training objective.', lower_bound=1)
flags.DEFINE_integer('kl_warmup_steps', _D['kl_warmup_steps'],
                     'Ramp beta linearly from 0 over this many steps; 0: '
                     'no warm-up.', lower_bound=0)
flags.DEFINE_float('free_bits', _D['free_bits'],
                   'Free bits lambda in nats per latent dimension (per '
                   'whole rate where the KL does not split by dimension); '
                   '0: off.', lower_bound=0.0)
flags.DEFINE_boolean('mixed_precision', _D['mixed_precision'],
                     'Compute the encoder and decoder networks in bfloat16; '
                     'variables, distributions and losses stay float32. '
                     'Fast on accelerators with bfloat16 units (see '
                     'BENCHMARKS.md).')
flags.DEFINE_boolean('jit_compile', None,
                     'Compile the training loop with XLA. Unset: on, except '
                     'for conv networks on a CPU, where XLA is slower (see '
                     'BENCHMARKS.md).')
flags.DEFINE_enum('strategy', 'default', distribute.STRATEGIES,
                  'tf.distribute strategy. default: one device. mirrored: '
                  'every GPU of this machine (or --cpu_devices logical '
                  'CPUs). multi_worker: the cluster in the TF_CONFIG '
                  'environment variable. tpu: the TPU --tpu. --batch_size '
                  'is the global batch, split evenly across replicas.')
flags.DEFINE_integer('cpu_devices', 1,
                     'Split the CPU into this many logical devices for '
                     '--strategy=mirrored on a machine without GPUs.',
                     lower_bound=1)
flags.DEFINE_string('tpu', None,
                    'With --strategy=tpu: the TPU\'s name or grpc:// '
                    'address; unset: this TPU VM\'s own.')
flags.DEFINE_integer('log_every', 100,
                     'Log every this many steps, besides at powers of two. '
                     'The steps between two logs run in one compiled call.',
                     lower_bound=1)
flags.DEFINE_integer('eval_every', 1000,
                     'Evaluate the ELBO on the eval split every this many '
                     'steps, besides at powers of two and at the end.',
                     lower_bound=1)
flags.DEFINE_integer('eval_batch_size', 500, 'Evaluation batch size.',
                     lower_bound=1)
flags.DEFINE_integer('eval_num_samples', 1000,
                     'Importance samples k of the test log-likelihood (the '
                     'IWAE bound; papers use 5000). 0 skips it.',
                     lower_bound=0)
flags.DEFINE_integer('eval_chunk_size', 20,
                     'Importance samples drawn at once: memory grows with '
                     'this and --eval_batch_size, not with '
                     '--eval_num_samples.', lower_bound=1)
flags.DEFINE_integer('checkpoint_every', 500,
                     'Checkpoint every this many steps, and at the end. A '
                     'killed run loses at most this many steps.',
                     lower_bound=1)
flags.DEFINE_integer('keep_checkpoints', 3, 'Checkpoints kept.', lower_bound=1)
flags.DEFINE_boolean('restart', False,
                     'Start afresh: delete the results, logs and checkpoints '
                     'of the earlier run in --output_dir instead of resuming '
                     'it.')
flags.DEFINE_boolean('export', True,
                     'Export the trained model as a SavedModel.')
flags.DEFINE_string('output_dir', 'runs/mnist', 'Where results are written.')

FLAGS = flags.FLAGS

# Flags a resumed run may change: they do not change what is trained.
RESUMABLE_FLAGS = frozenset([
    'training_steps', 'log_every', 'eval_every', 'eval_batch_size',
    'eval_num_samples', 'eval_chunk_size', 'checkpoint_every',
    'keep_checkpoints', 'restart', 'export', 'output_dir', 'data_dir',
    'download', 'jit_compile', 'strategy', 'cpu_devices', 'tpu'])

InputError = common.InputError
# Inside --output_dir, each worker of a cluster but the chief writes its logs
# and checkpoints to a folder of its own here.
WORKERS = 'workers'


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


def _is_power_of_two(step: int) -> bool:
  return step & (step - 1) == 0


def training_flags() -> Dict[str, flags.Flag]:
  """This script's flags by name."""
  # absl files the flags under this module's name, or argv[0] when run as
  # __main__: ask it where --beta lives.
  return {f.name: f for f in FLAGS.get_flags_for_module(
      FLAGS.find_module_defining_flag('beta'))}


def flag_values() -> Dict:
  """This script's flags by name, as config.json holds them."""
  return {name: f.value for name, f in training_flags().items()}


def changed_flags(earlier: Dict, config: Dict) -> List[str]:
  """The flags of `config` that change what `earlier` trained, described."""
  # A run from before a model-zoo flag existed used its default.
  earlier = {**common.MODEL_DEFAULTS, **earlier}
  return [f'--{k}: {earlier.get(k)!r} then, {v!r} now'
          for k, v in sorted(config.items())
          if k not in RESUMABLE_FLAGS and earlier.get(k) != v]


def _earlier_run(output_dir: str, config: Dict, restart: bool) -> bool:
  """Whether there is a run to resume; refuses to mix two different runs."""
  if restart or not os.path.isdir(output_dir):
    return False
  config_path = os.path.join(output_dir, common.CONFIG)
  if not os.path.exists(config_path):
    found = [f for f in common.RUN_FILES + common.RUN_FOLDERS
             if os.path.exists(os.path.join(output_dir, f))]
    if found:
      raise InputError(
          f'--output_dir={output_dir} holds results ({", ".join(found)}) '
          f'but no {common.CONFIG}, so they cannot be resumed. Pass another '
          f'--output_dir, or --restart to replace them.')
    return False
  changed = changed_flags(common.read_json(config_path), config)
  if changed:
    raise InputError(
        f'--output_dir={output_dir} holds a run with other flags, so this '
        'command cannot resume it:\n  ' + '\n  '.join(changed) + '\nPass '
        'another --output_dir, or --restart to replace that run.')
  return True


def _clear(output_dir: str):
  """Deletes an earlier run's files, and only those."""
  for name in common.RUN_FILES:
    path = os.path.join(output_dir, name)
    if os.path.exists(path):
      os.remove(path)
  for name in common.RUN_FOLDERS:
    shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)


def _keep_rows(rows: List[Dict], last_step: int) -> List[Dict]:
  """Log rows up to the checkpoint; later ones are trained again."""
  return [r for r in rows if r['step'] <= last_step]


def _write_rows(path: str, fields, rows: List[Dict]):
  tmp = path + '.tmp'
  with open(tmp, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: (int(v) if k == 'step' else v) for k, v in r.items()}
                     for r in rows)
  os.replace(tmp, path)


def _eval_row(step: int, results: evaluation.Results, config: Dict,
              image_shape) -> Dict:
  return dict(step=step, loss=common.test_loss(results, config, image_shape),
              elbo=results.elbo, rate=results.rate,
              distortion=results.distortion)


def _image_summaries(functions, eval_images: np.ndarray, seed: int):
  """Reconstructions (input beside output) and a grid of prior samples."""
  inputs = eval_images[:8]
  outputs = functions.reconstruct(tf.constant(inputs),
                                  tf.constant([seed, 0]))['mean']
  tf.summary.image('reconstructions',
                   tf.clip_by_value(tf.concat([inputs, outputs], axis=2), 0,
                                    1), max_outputs=8)
  if hasattr(functions, 'sample'):  # An autoencoder has no prior.
    samples = functions.sample(tf.constant(64), tf.constant([seed, 1]))
    grid = plotting.tile(np.clip(samples['mean'].numpy(), 0, 1), 8, 8)
    tf.summary.image('samples', grid.reshape(1, *grid.shape[:2], -1))


def _strategy():
  """The --strategy, made before TensorFlow sets up its devices; None for
  the default (one device)."""
  if FLAGS.strategy == 'default' and FLAGS.cpu_devices == 1:
    return None
  try:
    return distribute.make_strategy(FLAGS.strategy, FLAGS.cpu_devices,
                                    FLAGS.tpu)
  except (ValueError, RuntimeError) as e:
    raise InputError(f'--strategy={FLAGS.strategy} --cpu_devices='
                     f'{FLAGS.cpu_devices}: {e}') from e


def _worker_dir(output_dir: str) -> str:
  """Where this process writes: --output_dir for the chief (or a single
  process); a folder of its own inside it for every other worker."""
  if distribute.is_chief():
    return output_dir
  task = distribute.task()
  return os.path.join(output_dir, WORKERS, f'{task["type"]}-{task["index"]}')


def main(argv):
  del argv
  config = flag_values()
  common.check_config(config)
  # First, before any TensorFlow op: it may split the CPU.
  strategy = _strategy()
  replicas = distribute.num_replicas(strategy)
  output_dir = _worker_dir(FLAGS.output_dir)
  chief = distribute.is_chief()
  seed = FLAGS.seed
  resuming = _earlier_run(output_dir, config, FLAGS.restart)
  # The datasets read the global seed when they are built.
  tf.random.set_seed(seed)
  np.random.seed(seed)
  random.seed(seed)

  # Everything that can be wrong with the input fails here, before anything
  # is written.
  train_examples = common.load_examples(config, FLAGS.train_split,
                                        'train_split')
  eval_examples = common.load_examples(config, FLAGS.eval_split)
  image_shape = train_examples.image_shape
  if FLAGS.batch_size % replicas:
    raise InputError(
        f'--batch_size={FLAGS.batch_size} with --strategy={FLAGS.strategy}: '
        f'the global batch must split evenly across the {replicas} '
        f'replicas; pass a multiple of {replicas}')
  eval_batches = common.eval_batches(eval_examples, config)
  logging.info('Training on %d examples (%s), evaluating on %d; %d '
               'replica(s), %d examples each per step.',
               train_examples.num_examples, train_examples.source,
               eval_examples.num_examples, replicas,
               FLAGS.batch_size // replicas)

  # Variables, the optimiser's included, are created in the strategy's
  # scope: one copy per replica.
  with strategy.scope() if strategy else contextlib.nullcontext():
    vae = common.build_model(config, image_shape)
    optimizer = snt.optimizers.Adam(FLAGS.learning_rate)
    # Schedules: beta ramps up over the KL warm-up; a categorical latent's
    # temperature falls. Variables, so the compiled step never retraces.
    beta = tf.Variable(common.kl_weight(config, 0), trainable=False,
                       dtype=tf.float32, name='beta')
    temperature = None
    if FLAGS.latent == 'categorical':
      temperature = tf.Variable(common.temperature(config, 0),
                                trainable=False, dtype=tf.float32,
                                name='temperature')
  functions = common.model_functions(vae, config, image_shape)
  # The checkpoint holds no data iterator: batch s depends only on the seed
  # and s, so a run resumed at step s (under any strategy) starts there.
  checkpoint = tf.train.Checkpoint(
      model=vae, optimizer=optimizer,
      step=tf.Variable(0, dtype=tf.int64, trainable=False, name='step'))
  checkpoint_dir = os.path.join(output_dir, common.CHECKPOINTS)
  num_steps = FLAGS.training_steps
  # partial: a checkpoint from before this version also holds the data
  # iterator, which is no longer needed; everything here must still match.
  start_step = (common.restore_newest(checkpoint, checkpoint_dir,
                                      partial=True) if resuming else 0)
  if start_step > num_steps:
    raise InputError(
        f'--output_dir={output_dir} holds a run trained to step '
        f'{start_step}, past --training_steps={num_steps}. Pass '
        f'--training_steps={start_step} or more to resume it, or evaluate it '
        f'with python -m experiments.evaluate --output_dir={output_dir}.')

  def train_batches(num_replicas=1, parts=None):
    return data.batches(train_examples, FLAGS.batch_size, FLAGS.binarization,
                        train=True, seed=seed, first_step=start_step,
                        num_replicas=num_replicas, replicas=parts)

  try:
    iterator = iter(distribute.distribute_batches(strategy, train_batches)
                    if strategy else train_batches())
  except data.DataError as e:
    raise InputError(f'--batch_size={FLAGS.batch_size} with '
                     f'--train_split={FLAGS.train_split}: {e}') from e
  # The steps between two log rows run in one call, without Python.
  train = training.make_train_loop(
      vae, optimizer, iterator, seed, steps_per_call=FLAGS.log_every,
      jit_compile=common.uses_xla(config),
      objective=common.objective(vae, config, beta, temperature),
      schedule=common.schedule(config, beta, temperature), strategy=strategy)

  # From here on, files are written.
  if FLAGS.restart:
    _clear(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  common.write_json(os.path.join(output_dir, common.CONFIG), config)
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                       max_to_keep=FLAGS.keep_checkpoints)
  metrics_path = os.path.join(output_dir, common.METRICS)
  eval_path = os.path.join(output_dir, common.EVAL_METRICS)
  metrics_rows = _keep_rows(common.read_rows(metrics_path), start_step)
  eval_rows = _keep_rows(common.read_rows(eval_path), start_step)
  _write_rows(metrics_path, common.METRIC_FIELDS, metrics_rows)
  _write_rows(eval_path, common.EVAL_FIELDS, eval_rows)
  if start_step:
    logging.info('Resuming %s from step %d.', output_dir, start_step)
  train_writer = tf.summary.create_file_writer(
      os.path.join(output_dir, common.TRAIN_EVENTS))
  eval_writer = tf.summary.create_file_writer(
      os.path.join(output_dir, common.EVAL_EVENTS))
  eval_images = next(iter(eval_batches))[0].numpy()

  def record_eval(step, results):
    """Logs eval results as the row of `step` (replacing an earlier one)."""
    row = _eval_row(step, results, config, image_shape)
    eval_rows[:] = [r for r in eval_rows if r['step'] != step] + [row]
    _write_rows(eval_path, common.EVAL_FIELDS, eval_rows)
    with eval_writer.as_default(step=step):
      for name in ('loss', 'elbo', 'rate', 'distortion'):
        tf.summary.scalar(name, row[name])

  def save_checkpoint(step):
    checkpoint.step.assign(step)
    manager.save(checkpoint_number=step)
    if chief:
      with eval_writer.as_default(step=step):
        _image_summaries(functions, eval_images, seed)

  start = time.perf_counter()
  elapsed_before = metrics_rows[-1]['elapsed_seconds'] if metrics_rows else 0.0
  timed_from = None  # (time, step) when the first call, which compiles, ended.
  not_training = 0.0  # Seconds since then spent evaluating and saving.
  bar = common.progress(total=num_steps, initial=start_step, unit='step',
                        desc='training')

  def is_eval_step(step):
    return step < num_steps and (_is_power_of_two(step)
                                 or step % FLAGS.eval_every == 0)

  def is_checkpoint_step(step):
    return step % FLAGS.checkpoint_every == 0 or step == num_steps

  def is_log_step(step):
    return (_is_power_of_two(step) or step % FLAGS.log_every == 0
            or is_eval_step(step) or is_checkpoint_step(step))

  step = start_step
  with open(metrics_path, 'a', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=common.METRIC_FIELDS)
    while step < num_steps:
      # Train to the next step that logs; multiples of log_every log, so a
      # call never runs more than log_every steps.
      first = step + 1
      step = next(s for s in range(first, first + FLAGS.log_every)
                  if is_log_step(s))
      metrics = train(first, step - first + 1)
      means = {name: float(np.mean(getattr(metrics, name).numpy()))
               for name in training.StepMetrics._fields}
      bar.update(step - first + 1)
      now = time.perf_counter()
      if timed_from is None:
        timed_from = (now, step)
      steps_timed = step - timed_from[1]
      steps_per_second = (steps_timed / (now - timed_from[0] - not_training)
                          if steps_timed else float('nan'))
      row = dict(step=step, **means, steps_per_second=steps_per_second,
                 elapsed_seconds=elapsed_before + now - start)
      writer.writerow(row)
      f.flush()
      metrics_rows.append(row)
      with train_writer.as_default(step=step):
        for name in training.StepMetrics._fields:
          tf.summary.scalar(name, means[name])
        tf.summary.scalar('learning_rate', FLAGS.learning_rate)
        tf.summary.scalar('beta', beta)  # Ramps over a KL warm-up.
        if temperature is not None:
          tf.summary.scalar('temperature', temperature)
        if steps_timed:
          tf.summary.scalar('steps_per_second', steps_per_second)
      seconds_left = ((num_steps - step) / steps_per_second
                      if steps_timed else float('nan'))
      logging.info('step %d/%d: loss %.3f, elbo %.3f, rate %.3f, distortion '
                   '%.3f (%.0f steps/s, %.0f s left)', step, num_steps,
                   means['loss'], means['elbo'], means['rate'],
                   means['distortion'], steps_per_second, seconds_left)
      # An autoencoder's elbo is NaN by definition: check what it trains.
      if not all(math.isfinite(means[k])
                 for k in ('loss', 'rate', 'distortion')):
        bar.close()
        last_saved = manager.latest_checkpoint
        raise FloatingPointError(
            f'training diverged: the loss became {means["loss"]} between '
            f'step {first - 1} and step {step}. The log up to here is in '
            f'{metrics_path}; the last good checkpoint is {last_saved}. Try '
            f'--restart with a lower --learning_rate (now '
            f'{FLAGS.learning_rate}).')
      paused_at = time.perf_counter()
      if is_checkpoint_step(step):
        save_checkpoint(step)
      if is_eval_step(step):
        record_eval(step, evaluation.evaluate(functions, eval_batches,
                                              seed=seed, strategy=strategy))
      not_training += time.perf_counter() - paused_at
  bar.close()
  train_seconds = (time.perf_counter() - timed_from[0] - not_training
                   if timed_from is not None else None)
  steps_timed = step - timed_from[1] if timed_from is not None else 0
  if start_step == num_steps:
    logging.info('%s is trained to step %d already: evaluating it again.',
                 output_dir, num_steps)

  # The final evaluation: the ELBO as during training, and the NLL.
  logging.info('Evaluating on %s (%d importance samples per image)...',
               FLAGS.eval_split, FLAGS.eval_num_samples)
  results = common.evaluate_split(functions, eval_batches,
                                 eval_examples.num_examples, config,
                                 FLAGS.eval_num_samples, strategy)
  record_eval(num_steps, results)
  test = common.results_summary(results, config, image_shape)
  logging.info('eval on %s: elbo %.3f, nll %s, rate %.3f, distortion %.3f, '
               '%d active units', FLAGS.eval_split, results.elbo,
               'n/a' if results.nll is None else f'{results.nll:.3f}',
               results.rate, results.distortion, results.active_units)
  with eval_writer.as_default(step=num_steps):
    if results.nll is not None:
      tf.summary.scalar('nll', results.nll)
    tf.summary.scalar('active_units', results.active_units)
  train_writer.flush()
  eval_writer.flush()

  if chief:  # Other workers keep their logs and checkpoints only.
    common.write_figures(functions, results, eval_images, metrics_rows,
                         eval_rows, os.path.join(output_dir, common.FIGURES),
                         config)
  if FLAGS.export and chief:
    saved_model = os.path.join(output_dir, common.SAVED_MODEL)
    export.save(functions, saved_model + '.tmp')
    shutil.rmtree(saved_model, ignore_errors=True)
    os.replace(saved_model + '.tmp', saved_model)

  last = metrics_rows[-1]
  summary = {
      'steps': num_steps,
      'resumed_from_step': start_step,
      'train_loss': last['loss'],
      'train_elbo': last['elbo'],
      'train_rate': last['rate'],
      'train_distortion': last['distortion'],
      **test,
      'train_steps_per_second': (steps_timed / train_seconds
                                 if train_seconds and steps_timed else None),
      'jit_compile': common.uses_xla(config),
      'strategy': FLAGS.strategy,
      'num_replicas': replicas,
      'replica_batch_size': FLAGS.batch_size // replicas,
      'task': distribute.task(),
      'train_examples': train_examples.num_examples,
      'train_split': FLAGS.train_split,
      'eval_split': FLAGS.eval_split,
      'beta': FLAGS.beta,
      'latent_size': FLAGS.latent_size,
      'model': FLAGS.model,
      'latent_dims': common.latent_dims(config),
      'temperature': (float(temperature.numpy())
                      if temperature is not None else None),
      'loss_normalization': FLAGS.loss_normalization,
      'checkpoint': manager.latest_checkpoint,
  }
  common.write_json(os.path.join(output_dir, common.SUMMARY), summary)
  logging.info('Wrote %s', output_dir)


def run():
  """Runs main; bad input and divergence end in a message, not a traceback."""
  common.run_main(main, (InputError, FloatingPointError))


if __name__ == '__main__':
  run()
