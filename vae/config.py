"""The typed configuration of a run: every default in one place, checked once.

`Config` has four frozen sections: `ModelConfig` (the parts), `ObjectiveConfig`
(the loss and its schedules), `DataConfig` and `TrainConfig`. Field names are
unique across the sections: they are the command line's flag names and the
keys of a run's `config.json` (`to_dict`, `from_dict`). Each field's metadata
holds its help text, its lower bound and, for a choice, the registry its
values come from, so the checks below and the command line read one source.

A field a `config.json` lacks (one written before the field existed) takes
its default, so a new field never stops old runs from resuming.
"""

import dataclasses
import math
import typing
from typing import Any, Dict, Optional, Tuple

from vae import build
from vae import data
from vae import decoders
from vae import distribute
from vae import encoders
from vae import hierarchy
from vae import metrics as metrics_lib
from vae import model as model_lib
from vae import objectives
from vae import priors
from vae import schedules


def _field(default, help: str, low=None, above=None, choices=None):  # pylint: disable=redefined-builtin
  """A field with its help, its bounds (value >= low, value > above) and
  its choices (a `registry.Registry` or a tuple)."""
  return dataclasses.field(
      default=default,
      metadata=dict(help=help, low=low, above=above, choices=choices))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The parts and their sizes. The defaults are the Sonnet notebook's."""
  model: str = _field('vae', 'The model.', choices=model_lib.MODELS)
  encoder: str = _field('mlp', 'The encoder network.',
                        choices=encoders.ENCODERS)
  decoder: str = _field('mlp', 'The decoder network.',
                        choices=decoders.DECODERS)
  hidden_sizes: Tuple[int, ...] = _field(
      (100, 100), 'Hidden layer sizes of the encoder and decoder MLPs.', low=1)
  activation: str = _field(
      'relu', 'Nonlinearity of the encoder, decoder and hierarchy networks '
      '(Burda et al. 2016 use tanh).', choices=tuple(encoders.ACTIVATIONS))
  conv_channels: Tuple[int, ...] = _field(
      (32, 64), 'Channels of the conv encoder\'s layers; the conv decoder '
      'uses them in reverse.', low=1)
  latent_size: int = _field(10, 'Dimensions of z (of the latent '
                            'variables, for categorical latents).', low=1)
  latent: str = _field('gaussian', 'The kind of latent variable.',
                       choices=build.LATENTS)
  latent_sizes: Tuple[int, ...] = _field(
      (), 'Sizes of several stochastic layers, bottom first (Burda et al. '
      '2016: 100,50); unset: one layer of --latent_size.', low=1)
  inference: str = _field(
      'bottom_up', 'How q(z|x) walks the layers of --latent_sizes: '
      'bottom_up (Burda et al. 2016) or ladder (Sønderby et al. 2016).',
      choices=hierarchy.INFERENCES)
  latent_hidden_sizes: Tuple[int, ...] = _field(
      (100, 100), 'Hidden sizes of the networks between stochastic layers.',
      low=1)
  posterior: str = _field('diagonal', 'The form of a Gaussian q(z|x).',
                          choices=encoders.POSTERIORS)
  flow_steps: int = _field(2, 'Flow steps of a flow posterior (--posterior='
                           'iaf or realnvp).', low=1)
  flow_hidden_sizes: Tuple[int, ...] = _field(
      (64, 64), 'Hidden layer sizes of each flow step\'s network.', low=1)
  prior: str = _field('normal', 'The prior p(z) of a Gaussian latent.',
                      choices=priors.PRIORS)
  prior_components: int = _field(
      10, 'Components of the mixture prior, pseudo-inputs of the VampPrior.',
      low=1)
  num_classes: int = _field(10, 'Classes of each categorical latent.', low=2)
  likelihood: str = _field('bernoulli', 'p(x|z).',
                           choices=decoders.LIKELIHOODS)
  mixture_components: int = _field(
      5, 'Logistics per pixel of the discretised logistic likelihood.',
      low=1)
  likelihood_scale: Optional[float] = _field(
      None, 'Fixed standard deviation of the Gaussian likelihood; unset: '
      'learned.', low=1e-6)
  codebook_size: int = _field(
      512, 'Codebook vectors K of the VQ-VAE.', low=2)
  embedding_dim: int = _field(
      64, 'Dimensions D of each VQ-VAE codebook vector.', low=1)
  commitment_cost: float = _field(
      0.25, 'Weight of the VQ-VAE\'s commitment loss ||z_e - sg(z_q)||^2 '
      '(van den Oord et al. 2017: 0.25).', low=0.0)
  codebook_decay: float = _field(
      0.99, 'Decay of the moving averages that keep the VQ-VAE\'s codebook.',
      above=0.0)
  pixelcnn_channels: int = _field(
      32, 'Channels of the VQ-VAE\'s PixelCNN prior.', low=1)
  pixelcnn_layers: int = _field(
      4, 'Masked 3x3 residual layers of the VQ-VAE\'s PixelCNN prior.',
      low=0)
  tc_weight: float = _field(
      6.0, 'The beta-TCVAE\'s weight of the total correlation (Chen et al. '
      '2018\'s beta; 1 is the ELBO).', low=0.0)
  dip_lambda_od: float = _field(
      10.0, 'DIP-VAE\'s weight of the off-diagonal covariance entries.',
      low=0.0)
  dip_lambda_d: Optional[float] = _field(
      None, 'DIP-VAE\'s weight of the diagonal\'s distance from 1; unset: '
      '10 --dip_lambda_od for DIP-VAE I, --dip_lambda_od for II '
      '(disentanglement_lib\'s).', low=0.0)
  capacity_max: float = _field(
      25.0, 'The annealed VAE\'s final capacity C in nats.', low=0.0)
  capacity_steps: int = _field(
      100000, 'Steps over which the annealed VAE\'s capacity grows to '
      '--capacity_max.', low=1)
  capacity_gamma: float = _field(
      1000.0, 'The annealed VAE\'s weight gamma of |KL - C|.', low=0.0)
  factor_gamma: float = _field(
      35.0, 'The FactorVAE\'s weight of its discriminator\'s total '
      'correlation (Kim and Mnih 2018 on dSprites: 35).', low=0.0)
  discriminator_hidden_sizes: Tuple[int, ...] = _field(
      (1000,) * 6, 'Hidden layers of the FactorVAE\'s discriminator '
      '(leaky ReLU).')
  discriminator_learning_rate: float = _field(
      1e-4, 'Adam learning rate of the FactorVAE\'s discriminator (beta1 '
      '0.5, beta2 0.9).', above=0.0)
  mixed_precision: bool = _field(
      False, 'Compute the encoder and decoder networks in bfloat16; '
      'variables, distributions and losses stay float32 (see BENCHMARKS.md).')

  @property
  def latent_dims(self) -> int:
    """The dimensions of z: latent_size, times num_classes if categorical."""
    return build.latent_dims(self)


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
  """The training loss, its weights and their schedules."""
  objective: str = _field('elbo', 'The training objective.',
                          choices=objectives.OBJECTIVES)
  beta: float = _field(0.01, 'Weight of the KL (rate) in the loss.', low=0.0)
  kl_samples: Optional[int] = _field(
      None, 'Monte Carlo samples for the KL; unset: analytic KL where there '
      'is one.', low=1)
  loss_normalization: str = _field(
      'per_example', 'per_example: loss = distortion + beta * rate, in nats '
      'per example (Higgins et al. 2017). notebook: the Sonnet notebook\'s '
      'mean over pixels + beta * mean over latents.',
      choices=objectives.NORMALIZATIONS)
  num_importance_samples: int = _field(5, 'k of the IWAE objective.', low=1)
  kl_warmup_steps: int = _field(
      0, 'Ramp beta linearly from 0 over this many steps; 0: no warm-up.',
      low=0)
  free_bits: float = _field(
      0.0, 'Free bits lambda in nats per latent dimension (per whole rate '
      'where the KL does not split by dimension); 0: off.', low=0.0)
  temperature: float = _field(
      1.0, 'Starting temperature of the Gumbel-softmax relaxation of '
      'categorical latents.', low=1e-3)
  min_temperature: float = _field(
      0.5, 'The temperature max(min, start * exp(-decay * step)) never goes '
      'below this.', low=1e-3)
  temperature_decay: float = _field(
      1e-4, 'Decay rate of the temperature schedule, per step.', low=0.0)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which data, from where, and how its pixels are served."""
  dataset: str = _field(
      'mnist', 'TFDS image dataset name, or sprites: dSprites\' factors '
      'drawn here without a network (one split, train, of 737,280 images: '
      'pass --train_split and --eval_split as slices of it).')
  data_dir: Optional[str] = _field(
      None, 'A folder of IDX files (t10k-images-idx3-ubyte.gz, ...), read '
      'without a network; or TFDS\'s data_dir. Default: $TFDS_DATA_DIR or '
      '~/tensorflow_datasets.')
  download: bool = _field(
      True, 'Let TFDS download the dataset when it is not on disk.')
  train_split: str = _field('train', 'TFDS split to train on.')
  eval_split: str = _field('test', 'TFDS split to evaluate on.')
  validation_split: Optional[str] = _field(
      None, 'TFDS split evaluated beside the eval split at every '
      'evaluation, to choose the model by (--early_stopping_steps), for '
      'example \'train[50000:]\' with --train_split=\'train[:50000]\'. '
      'Unset: none.')
  binarization: str = _field(
      'dynamic', 'dynamic: a fresh Bernoulli draw per pixel each time an '
      'image is served; static: threshold at 0.5; none: grey levels; '
      'dequantize: level k as (k + u) / 256, u ~ U[0, 1) fresh each time.',
      choices=data.BINARIZATIONS)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The optimiser, the budget, the devices and the run's cadence."""
  batch_size: int = _field(64, 'Global training batch size.', low=1)
  learning_rate: float = _field(
      1e-3, 'Adam learning rate (the first of --lr_schedule).', above=0.0)
  lr_schedule: str = _field(
      'constant', 'The learning rate over --training_steps. constant; '
      'burda: Burda et al. (2016)\'s staircase, 8 stages of 3^i parts of '
      'training at learning_rate * 10^(-i/7); cosine: down to 0 on a cosine.',
      choices=tuple(schedules.LEARNING_RATES))
  adam_epsilon: float = _field(
      1e-8, 'Adam\'s epsilon (Burda et al. 2016: 1e-4).', above=0.0)
  training_steps: int = _field(
      1024, 'Train until this step. Raise it and run again to train a '
      'finished run further.', low=1)
  prior_training_steps: Optional[int] = _field(
      None, 'The last this many of --training_steps train the VQ-VAE\'s '
      'prior on its codes (the encoder and codebook fixed); unset: half.',
      low=0)
  seed: int = _field(0, 'Seed for TensorFlow, NumPy and Python.', low=0)
  jit_compile: Optional[bool] = _field(
      None, 'Compile the training loop with XLA. Unset: on, except for conv '
      'networks on a CPU, where XLA is slower (see BENCHMARKS.md).')
  strategy: str = _field(
      'default', 'tf.distribute strategy. default: one device. mirrored: '
      'every GPU of this machine (or --cpu_devices logical CPUs). '
      'multi_worker: the cluster in TF_CONFIG. tpu: the TPU --tpu. '
      '--batch_size is the global batch, split evenly across replicas.',
      choices=distribute.STRATEGIES)
  cpu_devices: int = _field(
      1, 'Split the CPU into this many logical devices for '
      '--strategy=mirrored on a machine without GPUs.', low=1)
  tpu: Optional[str] = _field(
      None, 'With --strategy=tpu: the TPU\'s name or grpc:// address; '
      'unset: this TPU VM\'s own.')
  log_every: int = _field(
      100, 'Log every this many steps, besides at powers of two. The steps '
      'between two logs run in one compiled call.', low=1)
  eval_every: int = _field(
      1000, 'Evaluate the ELBO on the eval split every this many steps, '
      'besides at powers of two and at the end.', low=1)
  eval_batch_size: int = _field(500, 'Evaluation batch size.', low=1)
  eval_num_samples: int = _field(
      1000, 'Importance samples k of the test log-likelihood (the IWAE '
      'bound; papers use 5000). 0 skips it.', low=0)
  metric_points_scale: float = _field(
      1.0, 'On a dataset with ground-truth factors (--dataset=sprites), '
      'the disentanglement metrics draw this fraction of '
      'disentanglement_lib\'s numbers of points (1: its 10,000 training '
      'points, and so on; minutes on a CPU); 0 skips them.', low=0.0)
  metrics: Tuple[str, ...] = _field(
      metrics_lib.METRICS.names(), 'The disentanglement metrics a dataset '
      'with ground-truth factors gets; DCI\'s trees take most of their '
      'time. Empty: none.', choices=metrics_lib.METRICS)
  curve_num_samples: int = _field(
      0, 'Importance samples k of the NLL that each evaluation during '
      'training logs on the eval and validation splits (the learning '
      'curve); 0: the ELBO only.', low=0)
  early_stopping_steps: int = _field(
      0, 'Stop at the first evaluation this many steps or more after the '
      'best validation score (the NLL of --curve_num_samples, else the '
      'loss) and after --kl_warmup_steps, and report the best model. 0: '
      'train every step. Needs --validation_split.', low=0)
  eval_chunk_size: int = _field(
      20, 'Importance samples drawn at once: memory grows with this and '
      '--eval_batch_size, not with --eval_num_samples.', low=1)
  checkpoint_every: int = _field(
      500, 'Checkpoint every this many steps, and at the end. A killed run '
      'loses at most this many steps.', low=1)
  keep_checkpoints: int = _field(3, 'Checkpoints kept.', low=1)
  export: bool = _field(True, 'Export the trained model as a SavedModel.')
  figures: bool = _field(True, 'Draw the figures (figures/) at the end; '
                         'python -m experiments.evaluate draws them later.')


# Fields a resumed run may change: they do not change what is trained.
RESUMABLE = frozenset([
    'training_steps', 'log_every', 'eval_every', 'eval_batch_size',
    'eval_num_samples', 'eval_chunk_size', 'metric_points_scale', 'metrics',
    'checkpoint_every',
    'keep_checkpoints', 'export', 'figures', 'data_dir', 'download',
    'jit_compile',
    'strategy', 'cpu_devices', 'tpu'])
# Keys of a config.json from before the typed configuration that are not
# part of what a run is: they are read and dropped.
_NOT_CONFIG = frozenset(['output_dir', 'restart'])

SECTIONS = {'model': ModelConfig, 'objective': ObjectiveConfig,
            'data': DataConfig, 'train': TrainConfig}


def fields() -> Dict[str, Tuple[str, dataclasses.Field]]:
  """Every field by name: (its section, the dataclass field)."""
  return {f.name: (section, f) for section, cls in SECTIONS.items()
          for f in dataclasses.fields(cls)}


def field_type(f: dataclasses.Field):
  """(base type, optional, is a tuple) of a field."""
  hints = typing.get_type_hints(
      next(c for c in SECTIONS.values()
           if f.name in {g.name for g in dataclasses.fields(c)}))
  hint = hints[f.name]
  args = typing.get_args(hint)
  optional = type(None) in args
  if optional:
    hint = next(a for a in args if a is not type(None))
  if typing.get_origin(hint) is tuple:
    return typing.get_args(hint)[0], optional, True
  return hint, optional, False


def _parse(name: str, f: dataclasses.Field, value: Any):
  """`value` (from a flag, JSON or Python) as the field's type."""
  base, optional, is_tuple = field_type(f)
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
    raise ValueError(f'{name}={_text(value)}: must be '
                     f'{"a list of " if is_tuple else ""}{base.__name__}'
                     ) from e


def _check_field(name: str, f: dataclasses.Field, value: Any):
  """Raises a `ValueError` naming the field if `value` is out of bounds."""
  if value is None:
    return
  values = value if isinstance(value, tuple) else (value,)
  given = f'{name}={_text(value)}'
  for v in values:
    if isinstance(v, float) and not math.isfinite(v):
      raise ValueError(f'{given}: must be a finite number')
    low, above = f.metadata['low'], f.metadata['above']
    if low is not None and v < low:
      raise ValueError(f'{given}: must be at least {low:g}')
    if above is not None and v <= above:
      raise ValueError(f'{given}: must be above {above:g}')
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


def _text(value) -> str:
  """A value as the command line writes it: 100,100 for a list."""
  if isinstance(value, (tuple, list)):
    return ','.join(str(v) for v in value)
  return str(value)


@dataclasses.dataclass(frozen=True)
class Config:
  """A run's whole configuration; checked when it is made."""
  model: ModelConfig = ModelConfig()
  objective: ObjectiveConfig = ObjectiveConfig()
  data: DataConfig = DataConfig()
  train: TrainConfig = TrainConfig()

  def __post_init__(self):
    for section in SECTIONS:
      part = getattr(self, section)
      for f in dataclasses.fields(part):
        _check_field(f.name, f, getattr(part, f.name))
    for rule in RULES:
      rule(self)

  def to_dict(self) -> Dict[str, Any]:
    """Every field by name, as `config.json` holds them."""
    return {name: _jsonable(getattr(getattr(self, section), name))
            for name, (section, _) in fields().items()}

  def replace(self, **values) -> 'Config':
    """A copy with `values` (fields by name, any section) replaced."""
    return from_dict({**self.to_dict(), **values})


def _jsonable(value):
  return list(value) if isinstance(value, tuple) else value


def from_dict(values: Dict[str, Any]) -> Config:
  """The `Config` of `values` (fields by name); missing fields take their
  defaults. Raises `ValueError` naming an unknown or bad field."""
  known = fields()
  unknown = sorted(set(values) - set(known) - _NOT_CONFIG)
  if unknown:
    raise ValueError(f'unknown configuration fields: {", ".join(unknown)}; '
                     f'the known ones are {", ".join(sorted(known))}')
  sections = {section: {} for section in SECTIONS}
  for name, value in values.items():
    if name in known:
      section, f = known[name]
      sections[section][name] = _parse(name, f, value)
  return Config(**{s: SECTIONS[s](**v) for s, v in sections.items()})


def check_field(name: str, value: Any):
  """`value` of field `name`, parsed; a `ValueError` if it is no value of
  the field (whatever the other fields are)."""
  _, f = fields()[name]
  value = _parse(name, f, value)
  _check_field(name, f, value)
  return value


def make(**values) -> Config:
  """`from_dict(values)`: a config from fields by name."""
  return from_dict(values)


def changed(earlier: Config, now: Config):
  """The fields `now` changes from `earlier` that change what is trained,
  described as `--name: then, now`."""
  then, current = earlier.to_dict(), now.to_dict()
  return [f'--{k}: {then[k]!r} then, {v!r} now'
          for k, v in sorted(current.items())
          if k not in RESUMABLE and then[k] != v]


# The combinations that mean nothing, refused with the reason.


def _flag_value(value) -> str:
  """A value as the command line writes it: lists comma-separated."""
  if isinstance(value, (list, tuple)):
    return ','.join(str(v) for v in value)
  return str(value)


def _refuse(config: Config, names, why: str):
  values = config.to_dict()
  given = ' '.join(f'--{k}={_flag_value(values[k])}' for k in names)
  raise ValueError(f'{given}: {why}')


def _default(config: Config, name: str) -> bool:
  section, f = fields()[name]
  return getattr(getattr(config, section), name) == f.default


def _autoencoder_rules(config: Config):
  if config.model.model != 'autoencoder':
    return
  for name in ('posterior', 'prior', 'latent', 'objective', 'free_bits',
               'kl_warmup_steps'):
    # It trains on the autoencoder objective whatever --objective says.
    if name == 'objective' and config.objective.objective == 'autoencoder':
      continue
    if not _default(config, name):
      _refuse(config, ['model', name], 'a plain autoencoder has a '
              'deterministic encoder and no prior or KL; drop --' + name + '.')
  if config.objective.kl_samples is not None:
    _refuse(config, ['model', 'kl_samples'], 'an autoencoder has no KL.')


def _categorical_rules(config: Config):
  if config.model.latent != 'categorical':
    return
  if _importance_weighted(config):
    _refuse(config, ['latent', 'objective'], 'the IWAE bound needs q(z|x) '
            'at each sample, and the relaxed samples that carry the '
            'gradients have no categorical probability; train on the ELBO.')
  if not _default(config, 'posterior'):
    _refuse(config, ['latent', 'posterior'], '--posterior chooses the '
            'covariance of a Gaussian latent; a categorical latent has none.')
  if not _default(config, 'prior'):
    _refuse(config, ['latent', 'prior'], 'a categorical latent has the '
            'uniform categorical prior; --prior chooses among Gaussian '
            'priors.')


def _objective_rules(config: Config):
  if (config.objective.objective == 'autoencoder'
      and config.model.model != 'autoencoder'):
    _refuse(config, ['model', 'objective'], 'the autoencoder objective '
            'trains a plain autoencoder: pass --model=autoencoder.')


def _importance_weighted(config: Config) -> bool:
  """Whether the objective is an estimate of the IWAE bound."""
  return objectives.OBJECTIVES.traits(config.objective.objective).get(
      'importance_weighted', False)


def _iwae_rules(config: Config):
  if not _importance_weighted(config):
    return
  if config.objective.free_bits:
    _refuse(config, ['objective', 'free_bits'], 'free bits applies to the '
            'KL of the ELBO; the IWAE bound has no separate KL term.')
  if config.objective.kl_samples is not None:
    _refuse(config, ['objective', 'kl_samples'], 'the IWAE bound uses '
            '--num_importance_samples draws, not a separate KL estimate.')
  if config.objective.loss_normalization != 'per_example':
    _refuse(config, ['objective', 'loss_normalization'], 'the notebook '
            'normalisation is defined for the ELBO only.')


def _unused(config: Config, owner: str, names, why: str):
  """Refuses fields of `names` set while `owner`'s value has no use for
  them, saying `why`."""
  for name in names:
    if not _default(config, name):
      _refuse(config, [owner, name], f'--{name} {why}')


def _holding_refused(config: Config, owner: str, weights: str):
  """Refuses an objective that holds q's parameters fixed, when
  `weights` (network weights) are among them."""
  if objectives.OBJECTIVES.traits(config.objective.objective).get(
      'holds_posterior'):
    _refuse(config, [owner, 'objective'], 'this objective holds q(z|x)\'s '
            f'parameters fixed inside log q(z|x), and {weights} are network '
            'weights it cannot hold; train with --objective=iwae.')


def _flow_rules(config: Config):
  traits = encoders.POSTERIORS.traits(config.model.posterior)
  if config.model.latent_size < traits.get('min_latent_size', 1):
    _refuse(config, ['posterior', 'latent_size'], 'this posterior needs '
            f'--latent_size of at least {traits["min_latent_size"]}.')
  if config.model.prior == 'vamp' and not traits.get('vamp_component', True):
    _refuse(config, ['posterior', 'prior'], 'the VampPrior evaluates '
            'q(z|u_k) of every pseudo-input at each z, and this posterior '
            'does not broadcast z against them; use --posterior=iaf.')
  if not traits.get('flow'):
    _unused(config, 'posterior', ('flow_steps', 'flow_hidden_sizes'),
            'shapes a flow posterior; pass --posterior=iaf or realnvp, or '
            'drop it.')
    return
  _holding_refused(config, 'posterior', 'a flow\'s parameters')


def _hierarchy_rules(config: Config):
  sizes = config.model.latent_sizes
  if len(sizes) == 1:
    _refuse(config, ['latent_sizes'], 'a hierarchy needs two or more '
            f'layers; one layer is --latent_size={sizes[0]}.')
  if not sizes:
    _unused(config, 'latent_sizes', ('inference', 'latent_hidden_sizes'),
            'shapes a hierarchy; give its layers with --latent_sizes.')
    return
  _unused(config, 'latent_sizes', ('latent', 'latent_size', 'posterior',
                                   'prior'),
          'does not apply: a hierarchy has Gaussian layers of '
          '--latent_sizes, diagonal posteriors and the hierarchical prior.')
  _holding_refused(config, 'latent_sizes', 'a hierarchy\'s upper layers')


def _likelihood_rules(config: Config):
  likelihood = config.model.likelihood
  traits = decoders.LIKELIHOODS.traits(likelihood)
  binarization = config.data.binarization
  if traits.get('discrete_levels') and binarization != 'none':
    _refuse(config, ['likelihood', 'binarization'], f'this likelihood '
            f'models {traits["discrete_levels"]} grey levels, which only '
            '--binarization=none serves.')
  if traits.get('density') and binarization not in ('none', 'dequantize'):
    _refuse(config, ['likelihood', 'binarization'], 'a density over grey '
            'levels on binary pixels grows without bound as it sharpens on '
            '0 and 1; pass --binarization=none to model the grey levels, '
            'or dequantize for bits per dimension.')
  if likelihood != 'discretized_logistic':
    _unused(config, 'likelihood', ('mixture_components',), 'shapes the '
            'discretised logistic likelihood only.')
  if likelihood != 'gaussian' and config.model.likelihood_scale is not None:
    _refuse(config, ['likelihood', 'likelihood_scale'], '--likelihood_scale '
            'fixes the scale of the Gaussian likelihood only.')


def reduces_across_replicas(config: Config) -> bool:
  """Whether the step needs an all-reduce inside it, on a strategy other
  than the default: free bits' mean over the global batch, or a model's
  (the VQ-VAE's codebook statistics)."""
  return config.train.strategy != 'default' and (
      bool(config.objective.free_bits)
      or model_lib.MODELS.traits(config.model.model).get(
          'reduces_across_replicas', False))


def _strategy_rules(config: Config):
  if reduces_across_replicas(config) and config.train.jit_compile:
    owner = ('free_bits' if config.objective.free_bits else 'model')
    _refuse(config, ['strategy', owner, 'jit_compile'], 'this step sums '
            'over the global batch (free bits\' mean KL, the VQ-VAE\'s '
            'codebook statistics, the disentangling models\' penalties and '
            'the FactorVAE\'s discriminator update): an '
            'all-reduce between the replicas, which '
            'cannot run inside an XLA-compiled replica step; drop '
            '--jit_compile.')


_VQVAE_FIELDS = ('codebook_size', 'embedding_dim', 'commitment_cost',
                 'codebook_decay', 'pixelcnn_channels', 'pixelcnn_layers',
                 'prior_training_steps')
# What the VQ-VAE has no use for: its own conv networks, code and loss.
_NOT_VQVAE = ('encoder', 'decoder', 'hidden_sizes', 'latent', 'latent_size',
              'latent_sizes', 'posterior', 'prior', 'prior_components',
              'num_classes', 'objective', 'beta', 'kl_samples',
              'loss_normalization', 'num_importance_samples',
              'kl_warmup_steps', 'free_bits', 'temperature')


def _vqvae_rules(config: Config):
  if config.model.model != 'vqvae':
    _unused(config, 'model', _VQVAE_FIELDS, 'shapes the VQ-VAE only; pass '
            '--model=vqvae or drop it.')
    return
  _unused(config, 'model', _NOT_VQVAE, 'does not apply to the VQ-VAE: its '
          'networks are convolutions of --conv_channels, its code a map of '
          '--codebook_size indices, its loss the reconstruction plus '
          '--commitment_cost times the commitment, and its prior a PixelCNN '
          'trained over the last --prior_training_steps.')
  steps = config.train.prior_training_steps
  if steps is not None and steps >= config.train.training_steps:
    _refuse(config, ['prior_training_steps', 'training_steps'], 'the '
            'prior trains on the codes of a trained autoencoder: leave it '
            'steps before, with --prior_training_steps below '
            '--training_steps.')


def _schedule_rules(config: Config):
  if config.objective.temperature < config.objective.min_temperature:
    _refuse(config, ['temperature', 'min_temperature'], 'the temperature '
            'schedule starts at --temperature and falls to '
            '--min_temperature: the start must not be below the end.')


def _validation_rules(config: Config):
  train = config.train
  if train.early_stopping_steps and config.data.validation_split is None:
    _refuse(config, ['early_stopping_steps'], 'early stopping chooses the '
            'model on a validation split: pass --validation_split, for '
            'example \'train[50000:]\' with --train_split=\'train[:50000]\'.')
  if train.early_stopping_steps and model_lib.MODELS.traits(
      config.model.model).get('phased'):
    _refuse(config, ['model', 'early_stopping_steps'], 'this model trains '
            'in phases (the VQ-VAE\'s prior after its autoencoder); '
            'stopping the first would skip the rest.')
  if train.curve_num_samples and config.model.model == 'autoencoder':
    _refuse(config, ['model', 'curve_num_samples'], 'an autoencoder has no '
            'likelihood to estimate.')


# What a disentangling model needs (`disentangling` trait: the fields of
# its own) and what it has no use for: it trains on its own loss of the
# distortion and the rate (--beta and its schedules unused).
_DISENTANGLING_NEEDS = {'latent': 'gaussian', 'posterior': 'diagonal',
                        'prior': 'normal', 'objective': 'elbo',
                        'loss_normalization': 'per_example'}
_NOT_DISENTANGLING = ('beta', 'kl_warmup_steps', 'free_bits', 'latent_sizes')


def _disentangling_rules(config: Config):
  own = model_lib.MODELS.traits(config.model.model).get('disentangling', ())
  others = {f for name in model_lib.MODELS
            for f in model_lib.MODELS.traits(name).get('disentangling', ())}
  _unused(config, 'model', sorted(others - set(own)), 'shapes another '
          'disentangling model; drop it or pass that --model.')
  if not own:
    return
  values = config.to_dict()
  for name, needed in _DISENTANGLING_NEEDS.items():
    if values[name] != needed:
      _refuse(config, ['model', name], f'the disentangling models are built '
              f'for a diagonal Gaussian posterior, the factorised N(0, I) '
              f'prior and the ELBO\'s terms: pass --{name}={needed}.')
  _unused(config, 'model', _NOT_DISENTANGLING, 'does not apply: this model '
          'trains on its own loss of the distortion and the rate; its '
          'weights are its own flags.')


RULES = (_autoencoder_rules, _objective_rules, _categorical_rules,
         _iwae_rules, _flow_rules, _hierarchy_rules,
         _likelihood_rules, _strategy_rules, _schedule_rules, _vqvae_rules,
         _validation_rules, _disentangling_rules)
