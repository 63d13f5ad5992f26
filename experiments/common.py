"""What training, evaluation and sweeps share: a run's files, model, figures.

No flags here: these functions take the run's configuration, the dict that
`experiments.mnist` writes to `config.json`, so `experiments.evaluate` can
rebuild a run from its folder alone.
"""

import csv
import json
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

from absl import app
import numpy as np
import tensorflow as tf
import tqdm

from vae import data
from vae import decoders
from vae import encoders
from vae import evaluation
from vae import export
from vae import model as model_lib
from vae import objectives
from vae import plotting
from vae import priors

# A run's folder.
CONFIG = 'config.json'
METRICS = 'metrics.csv'  # Training rows.
EVAL_METRICS = 'eval_metrics.csv'  # Eval-set rows during training.
SUMMARY = 'summary.json'
FIGURES = 'figures'
CHECKPOINTS = 'checkpoints'
SAVED_MODEL = 'saved_model'
TRAIN_EVENTS = 'train'  # TensorBoard event folders.
EVAL_EVENTS = 'eval'
RUN_FILES = (CONFIG, METRICS, EVAL_METRICS, SUMMARY)
RUN_FOLDERS = (FIGURES, CHECKPOINTS, SAVED_MODEL, TRAIN_EVENTS, EVAL_EVENTS)

METRIC_FIELDS = ('step', 'loss', 'elbo', 'rate', 'distortion',
                 'steps_per_second', 'elapsed_seconds')
EVAL_FIELDS = ('step', 'loss', 'elbo', 'rate', 'distortion')
FIGURE_FILES = ('loss_curves.png', 'reconstructions.png', 'samples.png',
                'latent_traversal.png', 'latent_means.png', 'manifold.png')


# The model-zoo choices and their defaults. A run's config.json from before a
# choice existed lacks its key; it means the default.
MODELS = ('vae', 'autoencoder')
NETWORKS = ('mlp', 'conv')
PRIORS = ('normal', 'mixture', 'vamp')
LATENTS = ('gaussian', 'categorical')
OBJECTIVES = ('elbo', 'iwae')
MODEL_DEFAULTS = {
    'model': 'vae',
    'encoder': 'mlp',
    'decoder': 'mlp',
    'conv_channels': ['32', '64'],
    'posterior': 'diagonal',
    'prior': 'normal',
    'prior_components': 10,
    'likelihood': 'bernoulli',
    'likelihood_scale': None,
    'latent': 'gaussian',
    'num_classes': 10,
    'temperature': 1.0,
    'min_temperature': 0.5,
    'temperature_decay': 1e-4,
    'objective': 'elbo',
    'num_importance_samples': 5,
    'kl_warmup_steps': 0,
    'free_bits': 0.0,
    'mixed_precision': False,
}


def setting(config: Dict, key: str):
  """`config[key]`, or the default of a model-zoo choice it predates."""
  return config[key] if key in config else MODEL_DEFAULTS[key]


class InputError(ValueError):
  """A flag or a run's folder asks for something impossible; says what."""


def run_main(main, errors=(InputError,)):
  """`app.run(main)`, with `errors` ending in a message, not a traceback."""
  try:
    app.run(main)
  except errors as e:
    raise SystemExit(f'Error: {e}') from e
  except KeyboardInterrupt:
    raise SystemExit(
        'Interrupted. Run the same command again to resume: a run continues '
        'from the last checkpoint in its --output_dir (--restart starts '
        'afresh).') from None


def progress(**kwargs) -> tqdm.tqdm:
  """A progress bar (done, rate, time left) on a terminal; silent when
  stderr is a file or a pipe, where the log lines report progress."""
  return tqdm.tqdm(file=sys.stderr, disable=None, dynamic_ncols=True,
                   **kwargs)


def write_json(path: str, obj):
  """Writes through a temporary file, so a crash never leaves half a file."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def read_json(path: str) -> Dict:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f'cannot read {path}: {e}') from e


def read_rows(path: str) -> List[Dict[str, float]]:
  """A metrics CSV as rows of floats; [] when there is none."""
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _checkpoint_number(path: str) -> int:
  return int(path.rsplit('-', 1)[-1])


def restore_newest(checkpoint: tf.train.Checkpoint, directory: str,
                   partial: bool = False) -> int:
  """Restores the newest checkpoint in `directory`; returns its step.

  `checkpoint` must have a `step` variable. The newest is found from the
  files, not from the `checkpoint` state file, so moving a damaged one away
  falls back to the one before. With `partial`, parts of the checkpoint that
  `checkpoint` lacks (the optimiser, say, when evaluating) are ignored.
  Returns 0 when there is no checkpoint.
  """
  paths = sorted((p[:-len('.index')] for p in tf.io.gfile.glob(
      os.path.join(directory, 'ckpt-*.index'))), key=_checkpoint_number)
  if not paths:
    return 0
  try:
    status = checkpoint.read(paths[-1])
    if partial:
      status.expect_partial()
    status.assert_existing_objects_matched()
  except Exception as e:  # pylint: disable=broad-except
    # A damaged file fails in many ways (OpError, IndexError, ValueError...).
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    then = (f'uses {os.path.basename(paths[-2])}' if len(paths) > 1
            else 'starts afresh')
    raise InputError(
        f'cannot restore the checkpoint {paths[-1]}: {reason}\nIt may be '
        f'truncated (a full disk, a copy cut short). Move {paths[-1]}.* out '
        f'of {directory} and run again: the run then {then}. Or, to '
        f'train afresh, pass --restart.') from e
  return int(checkpoint.step.numpy())


def load_examples(config: Dict, split: str,
                  split_flag: str = 'eval_split') -> data.Examples:
  """One split of the run's dataset; bad input becomes an `InputError`."""
  flags_used = f'--dataset={config["dataset"]} --{split_flag}={split}'
  if config.get('data_dir') is not None:
    flags_used += f' --data_dir={config["data_dir"]}'
  try:
    return data.load(config['dataset'], split, config.get('data_dir'),
                     download=config.get('download', True))
  except data.DownloadError as e:
    raise InputError(
        f'{flags_used}: {e}\nOffline, with a folder of the IDX files:\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder\n'
        f'or, with only the test files (as in ../shared/data/mnist):\n'
        f'  python -m experiments.mnist --data_dir=/path/to/idx_folder '
        f'--train_split=\'test[:9000]\' --eval_split=\'test[9000:]\'') from e
  except data.DataError as e:
    raise InputError(f'{flags_used}: {e}') from e


def eval_batches(examples: data.Examples, config: Dict) -> tf.data.Dataset:
  """The eval split in order, `(images, labels)`, binarised from the seed."""
  return data.batches(examples, config['eval_batch_size'],
                      config['binarization'], train=False,
                      seed=config['seed'] + 1, labels=True)


def check_config(config: Dict):
  """Refuses combinations of choices that mean nothing, saying why."""
  get = lambda key: setting(config, key)
  non_default = lambda key: get(key) != MODEL_DEFAULTS[key]

  def refuse(keys, why):
    given = ' '.join(f'--{k}={get(k)}' for k in keys)
    raise InputError(f'{given}: {why}')

  if get('model') == 'autoencoder':
    for key in ('posterior', 'prior', 'latent', 'objective', 'free_bits',
                'kl_warmup_steps'):
      if non_default(key):
        refuse(['model', key], 'a plain autoencoder has a deterministic '
               'encoder and no prior or KL; drop --' + key + '.')
    if config.get('kl_samples') is not None:
      refuse(['model', 'kl_samples'], 'an autoencoder has no KL.')
  if get('latent') == 'categorical':
    if get('objective') == 'iwae':
      refuse(['latent', 'objective'], 'the IWAE bound needs q(z|x) at each '
             'sample, and the relaxed samples that carry the gradients have '
             'no categorical probability; train on the ELBO.')
    if non_default('posterior'):
      refuse(['latent', 'posterior'], '--posterior chooses the covariance '
             'of a Gaussian latent; a categorical latent has none.')
    if non_default('prior'):
      refuse(['latent', 'prior'], 'a categorical latent has the uniform '
             'categorical prior; --prior chooses among Gaussian priors.')
  if get('objective') == 'iwae':
    if get('free_bits'):
      refuse(['objective', 'free_bits'], 'free bits applies to the KL of the '
             'ELBO; the IWAE bound has no separate KL term.')
    if config.get('kl_samples') is not None:
      refuse(['objective', 'kl_samples'], 'the IWAE bound uses '
             '--num_importance_samples draws, not a separate KL estimate.')
    if config.get('loss_normalization', 'per_example') != 'per_example':
      refuse(['objective', 'loss_normalization'], 'the notebook '
             'normalisation is defined for the ELBO only.')
  if (get('likelihood') != 'bernoulli'
      and config.get('binarization', 'none') != 'none'):
    refuse(['likelihood', 'binarization'], 'a density over grey levels on '
           'binary pixels grows without bound as it sharpens on 0 and 1; '
           'pass --binarization=none to model the grey levels.')
  if get('likelihood') != 'gaussian' and get('likelihood_scale') is not None:
    refuse(['likelihood', 'likelihood_scale'], '--likelihood_scale fixes '
           'the scale of the Gaussian likelihood only.')
  if _reduces_across_replicas(config) and config.get('jit_compile'):
    refuse(['strategy', 'free_bits', 'jit_compile'], 'free bits takes the '
           'KL\'s mean over the global batch, an all-reduce between the '
           'replicas, which cannot run inside an XLA-compiled replica step; '
           'drop --jit_compile.')
  if get('temperature') < get('min_temperature'):
    refuse(['temperature', 'min_temperature'], 'the temperature schedule '
           'starts at --temperature and falls to --min_temperature: the '
           'start must not be below the end.')


def latent_dims(config: Dict) -> int:
  """The dimensions of z: --latent_size, times --num_classes if categorical."""
  if setting(config, 'latent') == 'categorical':
    return config['latent_size'] * setting(config, 'num_classes')
  return config['latent_size']


def temperature(config: Dict, step: int) -> float:
  """The relaxed categorical's temperature at `step` (Jang et al. 2017,
  section 4): max(min_temperature, temperature * exp(-decay * step))."""
  return max(setting(config, 'min_temperature'),
             setting(config, 'temperature')
             * math.exp(-setting(config, 'temperature_decay') * step))


def kl_weight(config: Dict, step: int) -> float:
  """beta at `step`: ramped linearly from 0 over --kl_warmup_steps."""
  warmup = setting(config, 'kl_warmup_steps')
  if warmup and step < warmup:
    return config['beta'] * step / warmup
  return config['beta']


def schedule(config: Dict, beta: tf.Variable,
             tau: Optional[tf.Variable] = None
             ) -> Optional[Callable[[tf.Tensor], None]]:
  """`assign(step)`: sets `beta` and `tau` to `kl_weight` and `temperature`
  at `step` (a tensor), inside a compiled training loop; None when neither
  changes during training."""
  warmup = setting(config, 'kl_warmup_steps')
  if not warmup and tau is None:
    return None

  def assign(step: tf.Tensor):
    s = tf.cast(step, tf.float64)
    if warmup:
      target = config['beta']
      beta.assign(tf.cast(tf.where(s < warmup, target * s / warmup, target),
                          beta.dtype))
    if tau is not None:
      start = tf.constant(setting(config, 'temperature'), tf.float64)
      decay = tf.constant(setting(config, 'temperature_decay'), tf.float64)
      tau.assign(tf.cast(tf.maximum(
          tf.constant(setting(config, 'min_temperature'), tf.float64),
          start * tf.exp(-decay * s)), tau.dtype))

  return assign


def _reduces_across_replicas(config: Dict) -> bool:
  """Whether the loss needs an all-reduce inside the step: free bits' mean
  over the global batch, on a strategy other than the default."""
  return (config.get('strategy', 'default') != 'default'
          and bool(setting(config, 'free_bits')))


def uses_xla(config: Dict) -> bool:
  """Whether training compiles with XLA: --jit_compile, or when unset, yes
  unless a conv network runs on a CPU (XLA's CPU convolutions are an order of
  magnitude slower than TensorFlow's own: see BENCHMARKS.md), or free bits
  trains on several replicas (its mean over the global batch is an
  all-reduce, which cannot sit inside a compiled replica step)."""
  if config.get('jit_compile') is not None:
    return bool(config['jit_compile'])
  if _reduces_across_replicas(config):
    return False
  conv = 'conv' in (setting(config, 'encoder'), setting(config, 'decoder'))
  return not conv or bool(tf.config.list_physical_devices('GPU'))


def build_model(config: Dict, image_shape: Sequence[int]):
  """The run's model, with its variables created (so a checkpoint can fill
  them in at once): a `model.VAE`, or a `model.Autoencoder` for
  model=autoencoder."""
  get = lambda key: setting(config, key)
  check_config(config)
  hidden_sizes = [int(v) for v in config['hidden_sizes']]
  latent_size = config['latent_size']
  seed = config.get('seed')
  head = prior = None
  if get('model') == 'autoencoder':
    head = encoders.DeterministicPosterior(latent_size, name='posterior')
  elif get('latent') == 'categorical':
    head = encoders.CategoricalPosterior(latent_size, get('num_classes'),
                                         name='posterior')
    prior = priors.UniformCategorical(latent_size, get('num_classes'),
                                      name='prior')
  channels = [int(c) for c in get('conv_channels')]
  # Mixed precision: the networks compute in bfloat16, all else is float32.
  dtype = tf.bfloat16 if get('mixed_precision') else tf.float32
  if get('encoder') == 'conv':
    encoder = encoders.ConvEncoder(latent_size, channels,
                                   covariance=get('posterior'), head=head,
                                   compute_dtype=dtype, name='encoder')
  else:
    encoder = encoders.MLPEncoder(hidden_sizes, latent_size,
                                  covariance=get('posterior'), head=head,
                                  compute_dtype=dtype, name='encoder')
  likelihood = {
      'bernoulli': lambda: decoders.BernoulliLikelihood(name='likelihood'),
      'continuous_bernoulli': lambda: decoders.ContinuousBernoulliLikelihood(
          name='likelihood'),
      'gaussian': lambda: decoders.GaussianLikelihood(
          get('likelihood_scale'), name='likelihood'),
  }[get('likelihood')]()
  if get('decoder') == 'conv':
    decoder = decoders.ConvDecoder(image_shape, channels[::-1],
                                   likelihood=likelihood, compute_dtype=dtype,
                                   name='decoder')
  else:
    decoder = decoders.MLPDecoder(hidden_sizes, image_shape,
                                  likelihood=likelihood, compute_dtype=dtype,
                                  name='decoder')
  if get('model') == 'autoencoder':
    model = model_lib.Autoencoder(encoder, decoder)
  else:
    if prior is None:
      prior = {
          'normal': lambda: priors.StandardNormal(latent_size, name='prior'),
          'mixture': lambda: priors.MixtureOfGaussians(
              latent_size, get('prior_components'), seed=seed, name='prior'),
          'vamp': lambda: priors.VampPrior(
              encoder, get('prior_components'), image_shape, seed=seed,
              name='prior'),
      }[get('prior')]()
    model = model_lib.VAE(encoder, decoder, prior)
  model(tf.zeros([1, *image_shape]))
  if model.prior is not None:
    model.prior_distribution()  # The VampPrior's encoder call, say.
  return model


def objective(model, config: Dict, beta: tf.Variable,
              tau: Optional[tf.Variable] = None):
  """The run's training objective, `objective(x, seed) -> ELBOTerms`.

  `beta` and `tau` (the temperature of a categorical latent's relaxation)
  are variables a schedule changes without retracing.
  """
  get = lambda key: setting(config, key)
  if get('model') == 'autoencoder':
    return lambda x, seed: model.loss_terms(x, config['loss_normalization'])
  if get('objective') == 'iwae':
    return lambda x, seed: model.iwae(x, get('num_importance_samples'),
                                      beta=beta, seed=seed)
  return lambda x, seed: model.elbo(
      x, beta=beta, kl_samples=config.get('kl_samples'),
      normalization=config['loss_normalization'],
      free_bits=get('free_bits'),
      temperature=tau if get('latent') == 'categorical' else None, seed=seed)


def model_functions(model, config: Dict, image_shape: Sequence[int]
                    ) -> export.ModelFunctions:
  return export.ModelFunctions(model, image_shape, latent_dims(config))


def test_loss(results: evaluation.Results, config: Dict,
              image_shape: Sequence[int]) -> float:
  """The beta-weighted loss of the eval set, as training weighs it."""
  return float(objectives.weighted_loss(
      results.distortion, results.rate, config['beta'],
      config['loss_normalization'], num_pixels=int(np.prod(image_shape)),
      latent_size=latent_dims(config)))


def evaluate_split(functions, batches, num_examples: int, config: Dict,
                   num_samples: int,
                   strategy: Optional[tf.distribute.Strategy] = None
                   ) -> evaluation.Results:
  """A run's full evaluation of its eval split, with a progress bar: the ELBO
  terms and the NLL from `num_samples` importance samples, drawn with the
  run's chunk size and seed, so training and re-evaluation agree (on any
  number of replicas: see `evaluation.evaluate`)."""
  total = math.ceil(num_examples / config['eval_batch_size'])
  return evaluation.evaluate(
      functions,
      progress(iterable=batches, total=total, unit='batch', desc='evaluating'),
      num_samples=num_samples, chunk_size=config['eval_chunk_size'],
      seed=config['seed'], strategy=strategy)


def results_summary(results: evaluation.Results, config: Dict,
                    image_shape: Sequence[int]) -> Dict:
  """The eval-set numbers of `summary.json`."""
  kl = results.kl_per_dimension
  return {
      'test_loss': test_loss(results, config, image_shape),
      # None for an autoencoder, which has no ELBO.
      'test_elbo': results.elbo if math.isfinite(results.elbo) else None,
      'test_rate': results.rate,
      'test_distortion': results.distortion,
      'test_nll': results.nll,
      'eval_num_samples': results.num_samples,
      'test_kl_per_dimension': None if kl is None else [float(v) for v in kl],
      'active_units': results.active_units,
      'active_unit_threshold': evaluation.ACTIVE_UNIT_THRESHOLD,
      'unit_variances': [float(v) for v in results.unit_variances],
      'eval_examples': results.num_examples,
  }


def write_figures(functions, results: evaluation.Results,
                  eval_images: np.ndarray, metrics_rows: List[Dict],
                  eval_rows: List[Dict], figures_dir: str, config: Dict,
                  seed: Optional[int] = None) -> List[str]:
  """Draws every figure of a run into `figures_dir`; returns their paths.

  `functions` are the model's `export.ModelFunctions` (or the SavedModel);
  random draws use stateless seeds from `seed`, so the figures repeat.
  """
  os.makedirs(figures_dir, exist_ok=True)
  seed = config['seed'] if seed is None else seed
  latent_size = config['latent_size']
  # Traversals and the manifold decode Gaussian codes around the prior's 0.
  gaussian_codes = (setting(config, 'model') == 'vae'
                    and setting(config, 'latent') == 'gaussian')
  path = lambda name: os.path.join(figures_dir, name)
  written = []
  names = ('loss', 'distortion', 'rate')
  written.append(plotting.loss_curves(
      [r['step'] for r in metrics_rows],
      {n: [r[n] for r in metrics_rows] for n in names},
      path('loss_curves.png'),
      title=('autoencoder: loss = distortion (nats per example)'
             if setting(config, 'model') == 'autoencoder' else
             f'loss = distortion + {config["beta"]:g} rate (nats per '
             f'example)'),
      eval_steps=[r['step'] for r in eval_rows],
      eval_curves={n: [r[n] for r in eval_rows] for n in names}))
  inputs = eval_images[:10]
  outputs = functions.reconstruct(tf.constant(inputs),
                                  tf.constant([seed, 0]))['mean'].numpy()
  written.append(plotting.reconstructions(inputs, outputs,
                                          path('reconstructions.png')))
  if hasattr(functions, 'sample'):  # An autoencoder has no prior.
    samples = functions.sample(tf.constant(100), tf.constant([seed, 1]))
    written.append(plotting.image_grid(
        samples['mean'].numpy(), 10, 10, path('samples.png'),
        title='Samples: means of p(x|z), z ~ p(z)'))
  written.append(plotting.latent_scatter(
      results.posterior_means, results.labels, path('latent_means.png'),
      title=f'Posterior means E[z|x] of {results.num_examples} eval images'))
  if gaussian_codes and latent_size >= 2:
    span = 2.0
    codes = plotting.traversal_codes(latent_size, (0, 1), 10, span)
    written.append(plotting.image_grid(
        functions.decode(tf.constant(codes))['mean'].numpy(), 10, 10,
        path('latent_traversal.png'),
        title=f'Latent traversal: z[0] and z[1] in [{-span:g}, {span:g}], '
        f'others 0', xlabel='z[0]', ylabel='z[1]',
        extent=(-span, span, -span, span)))
  if gaussian_codes and latent_size == 2:
    grid_size = 15
    codes = plotting.manifold_codes(grid_size)
    low, high = float(codes[:, 0].min()), float(codes[:, 0].max())
    written.append(plotting.image_grid(
        functions.decode(tf.constant(codes))['mean'].numpy(), grid_size,
        grid_size, path('manifold.png'),
        title='2-D manifold: z = inverse Normal CDF of a grid on '
        '[0.05, 0.95]^2', xlabel='z[0]', ylabel='z[1]',
        extent=(low, high, low, high)))
  return written
