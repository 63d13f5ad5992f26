"""The configuration's fields: four frozen sections, with every default.

`ModelConfig` (the parts), `ObjectiveConfig` (the loss and its schedules),
`DataConfig` and `TrainConfig`. Field names are unique across the sections:
they are the command line's flag names and the keys of a run's
`config.json`. Each field's metadata holds its help text, its bounds, the
registry its values come from (for a choice), whether every run reads it
(`is_global`; the other fields belong to the parts that declare them in
their registry line) and whether a resumed run may change it (`resumable`).
"""

import dataclasses
import textwrap
import typing
from typing import Any, Dict, Optional, Tuple

from vae import data
from vae import decoders
from vae import distribute
from vae import encoders
from vae import hierarchy
from vae import latents
from vae import metrics as metrics_lib
from vae import mmd
from vae import model as model_lib
from vae import models  # pylint: disable=unused-import (registers the zoo)
from vae import objectives
from vae import optimizers
from vae import planar_radial  # pylint: disable=unused-import (registers its posteriors)
from vae import priors
from vae import schedules
from vae import spherical  # pylint: disable=unused-import (registers its latent)
from vae import tighter_bounds  # pylint: disable=unused-import (registers its objectives)


def _field(default, help: str, low=None, above=None, choices=None,  # pylint: disable=redefined-builtin
           is_global: bool = False, resumable: bool = False, high=None):
  """A dataclass field and its metadata.

  Args:
    default: The default value.
    help: The help text, which becomes the flag's.
    low: The smallest value allowed (value >= low).
    above: A value the field's value must be above (value > above).
    high: The largest value allowed (value <= high).
    choices: A `registry.Registry` or a tuple of allowed values.
    is_global: Every run reads it, whatever its parts.
    resumable: A resumed run may change it: it does not change what is
      trained.

  Returns:
    A `dataclasses.field`.
  """
  return dataclasses.field(
      default=default,
      metadata=dict(help=help, low=low, above=above, high=high,
                    choices=choices,
                    is_global=is_global, resumable=resumable))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The parts and their sizes. The defaults are the Sonnet notebook's."""
  model: str = _field('vae', 'The model.', choices=model_lib.MODELS,
                      is_global=True)
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
                       choices=latents.LATENTS)
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
                           choices=decoders.LIKELIHOODS, is_global=True)
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
  mmd_weight: float = _field(
      10.0, 'The WAE\'s weight lambda of the MMD (Tolstikhin et al. 2018 '
      'on MNIST: 10).', low=0.0)
  mmd_kernel: str = _field(
      'imq', 'The MMD\'s kernel: imq (inverse multiquadratic) or rbf.',
      choices=mmd.KERNELS)
  mmd_bandwidth: float = _field(
      1.0, 'sigma of the MMD kernel\'s C = 2 d sigma^2 (the prior\'s '
      'scale).', above=0.0)
  mmd_scales: Tuple[float, ...] = _field(
      (1.0,), 'Multiples of the MMD kernel\'s C, one kernel each, summed '
      '(the WAE\'s code: .1,.2,.5,1,2,5,10).', above=0.0)
  info_alpha: float = _field(
      0.0, 'InfoVAE\'s alpha: the KL\'s weight is 1 - alpha.', high=1.0)
  info_lambda: float = _field(
      10.0, 'InfoVAE\'s lambda: the MMD\'s weight is alpha + lambda - 1.',
      low=0.0)
  geco_target: Optional[float] = _field(
      None, 'GECO\'s target distortion kappa, in nats per example (the '
      'constraint is distortion <= kappa); required with --model=geco.',
      above=0.0)
  geco_rate: float = _field(
      1e-4, 'GECO\'s step of log lambda per nat of the averaged '
      'constraint.', above=0.0)
  geco_decay: float = _field(
      0.99, 'GECO\'s moving-average decay of the constraint (Rezende and '
      'Viola 2018: 0.99).', low=0.0, high=0.999)
  conditional: bool = _field(
      False, 'A class-conditional VAE (Sohn et al. 2015): the encoder, the '
      'decoder and a learnt prior see the one-hot label, and the NLL is '
      '-log p(x|y).')
  label_classes: int = _field(
      10, 'The classes of the labels a --conditional model is given: the '
      'dataset\'s.', low=2)
  mixed_precision: bool = _field(
      False, 'Compute the encoder and decoder networks in bfloat16; '
      'variables, distributions and losses stay float32 (see BENCHMARKS.md).',
      is_global=True)

  @property
  def latent_dims(self) -> int:
    """The dimensions of z: latent_size, times num_classes if categorical."""
    return latents.latent_dims(self)


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
  num_importance_samples: int = _field(
      5, 'k of the IWAE objective (K of each group of MIWAE and PIWAE).',
      low=1)
  importance_groups: int = _field(
      1, 'M of MIWAE and PIWAE: groups of --num_importance_samples draws.',
      low=1)
  ciwae_beta: float = _field(
      0.5, 'The ELBO\'s weight in CIWAE; the IWAE bound\'s is the rest.',
      low=0.0, high=1.0)
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
      'pass --train_split and --eval_split as slices of it).', is_global=True)
  data_dir: Optional[str] = _field(
      None, 'A folder of IDX files (t10k-images-idx3-ubyte.gz, ...), read '
      'without a network; or TFDS\'s data_dir. Default: $TFDS_DATA_DIR or '
      '~/tensorflow_datasets.', is_global=True, resumable=True)
  download: bool = _field(
      True, 'Let TFDS download the dataset when it is not on disk.',
      is_global=True, resumable=True)
  train_split: str = _field('train', 'TFDS split to train on.', is_global=True)
  eval_split: str = _field('test', 'TFDS split to evaluate on.',
                           is_global=True)
  validation_split: Optional[str] = _field(
      None, 'TFDS split evaluated beside the eval split at every '
      'evaluation, to choose the model by (--early_stopping_steps), for '
      'example \'train[50000:]\' with --train_split=\'train[:50000]\'. '
      'Unset: none.', is_global=True)
  binarization: str = _field(
      'dynamic', 'dynamic: a fresh Bernoulli draw per pixel each time an '
      'image is served; static: threshold at 0.5; none: grey levels; '
      'dequantize: level k as (k + u) / 256, u ~ U[0, 1) fresh each time.',
      choices=data.BINARIZATIONS, is_global=True)
  eval_binarization_seed: Optional[int] = _field(
      None, 'With --binarization=dynamic: binarise the validation and eval '
      'splits once, before training, from NumPy\'s legacy stream of this '
      'seed, the validation split first (np.random.seed(777) then '
      'np.random.binomial, as the VampPrior and Exemplar VAE code fix '
      'theirs: 777). Unset: each evaluation draws the same bits from '
      '--seed.', low=0, is_global=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The optimiser, the budget, the devices and the run's cadence."""
  batch_size: int = _field(64, 'Global training batch size.', low=1,
                           is_global=True)
  learning_rate: float = _field(
      1e-3, 'Adam learning rate (the first of --lr_schedule).', above=0.0,
      is_global=True)
  lr_schedule: str = _field(
      'constant', 'The learning rate over --training_steps. constant; '
      'burda: Burda et al. (2016)\'s staircase, 8 stages of 3^i parts of '
      'training at learning_rate * 10^(-i/7); cosine: down to 0 on a cosine.',
      choices=tuple(schedules.LEARNING_RATES), is_global=True)
  optimizer: str = _field(
      'adam', 'adam; adam_normgrad: Adam on each parameter\'s gradient '
      'divided by its own L2 norm (the VampPrior code\'s AdamNormGrad).',
      choices=tuple(optimizers.OPTIMIZERS), is_global=True)
  adam_epsilon: float = _field(
      1e-8, 'Adam\'s epsilon (Burda et al. 2016: 1e-4).', above=0.0,
      is_global=True)
  training_steps: int = _field(
      1024, 'Train until this step. Raise it and run again to train a '
      'finished run further.', low=1, is_global=True, resumable=True)
  prior_training_steps: Optional[int] = _field(
      None, 'The last this many of --training_steps train the VQ-VAE\'s '
      'prior on its codes (the encoder and codebook fixed); unset: half.',
      low=0)
  seed: int = _field(0, 'Seed for TensorFlow, NumPy and Python.', low=0,
                     is_global=True)
  jit_compile: Optional[bool] = _field(
      None, 'Compile the training loop with XLA. Unset: on, except for conv '
      'networks on a CPU, where XLA is slower (see BENCHMARKS.md).',
      is_global=True, resumable=True)
  strategy: str = _field(
      'default', 'tf.distribute strategy. default: one device. mirrored: '
      'every GPU of this machine (or --cpu_devices logical CPUs). '
      'multi_worker: the cluster in TF_CONFIG. tpu: the TPU --tpu. '
      '--batch_size is the global batch, split evenly across replicas.',
      choices=distribute.STRATEGIES, is_global=True, resumable=True)
  cpu_devices: int = _field(
      1, 'Split the CPU into this many logical devices for '
      '--strategy=mirrored on a machine without GPUs.', low=1,
      is_global=True, resumable=True)
  tpu: Optional[str] = _field(
      None, 'With --strategy=tpu: the TPU\'s name or grpc:// address; '
      'unset: this TPU VM\'s own.', is_global=True, resumable=True)
  log_every: int = _field(
      100, 'Log every this many steps, besides at powers of two. The steps '
      'between two logs run in one compiled call.', low=1,
      is_global=True, resumable=True)
  eval_every: int = _field(
      1000, 'Evaluate the ELBO on the eval split every this many steps, '
      'besides at powers of two and at the end.', low=1,
      is_global=True, resumable=True)
  eval_batch_size: int = _field(500, 'Evaluation batch size.', low=1,
                                is_global=True, resumable=True)
  eval_num_samples: int = _field(
      1000, 'Importance samples k of the test log-likelihood (the IWAE '
      'bound; papers use 5000). 0 skips it.', low=0,
      is_global=True, resumable=True)
  metric_points_scale: float = _field(
      1.0, 'On a dataset with ground-truth factors (--dataset=sprites), '
      'the disentanglement metrics draw this fraction of '
      'disentanglement_lib\'s numbers of points (1: its 10,000 training '
      'points, and so on; minutes on a CPU); 0 skips them.', low=0.0,
      is_global=True, resumable=True)
  metrics: Tuple[str, ...] = _field(
      metrics_lib.METRICS.names(), 'The disentanglement metrics a dataset '
      'with ground-truth factors gets; DCI\'s trees take most of their '
      'time. Empty: none.', choices=metrics_lib.METRICS,
      is_global=True, resumable=True)
  curve_num_samples: int = _field(
      0, 'Importance samples k of the NLL that each evaluation during '
      'training logs on the eval and validation splits (the learning '
      'curve); 0: the ELBO only.', low=0, is_global=True)
  eval_ais_steps: int = _field(
      0, 'At the end, also estimate the eval split\'s NLL by annealed '
      'importance sampling with this many intermediate distributions '
      '(thousands for a tight estimate; vae/ais.py), beside the IWAE '
      'bound. 0: not. Needs a continuous latent.', low=0, is_global=True,
      resumable=True)
  eval_ais_chains: int = _field(
      16, 'With --eval_ais_steps: AIS chains per example.', low=1,
      is_global=True, resumable=True)
  eval_ais_examples: int = _field(
      0, 'With --eval_ais_steps: AIS on the first this many examples of '
      'the eval split; 0: all of them.', low=0, is_global=True,
      resumable=True)
  eval_bdmc_examples: int = _field(
      0, 'With --eval_ais_steps: also sandwich log p(x) between BDMC\'s '
      'bounds on this many examples simulated from the model. 0: not.',
      low=0, is_global=True, resumable=True)
  early_stopping_steps: int = _field(
      0, 'Stop at the first evaluation this many steps or more after the '
      'best validation score (the NLL of --curve_num_samples, else the '
      'loss) and after --kl_warmup_steps, and report the best model. 0: '
      'train every step. Needs --validation_split.', low=0, is_global=True)
  eval_chunk_size: int = _field(
      20, 'Importance samples drawn at once: memory grows with this and '
      '--eval_batch_size, not with --eval_num_samples.', low=1,
      is_global=True, resumable=True)
  checkpoint_every: int = _field(
      500, 'Checkpoint every this many steps, and at the end. A killed run '
      'loses at most this many steps.', low=1, is_global=True, resumable=True)
  keep_checkpoints: int = _field(3, 'Checkpoints kept.', low=1,
                                 is_global=True, resumable=True)
  export: bool = _field(True, 'Export the trained model as a SavedModel.',
                        is_global=True, resumable=True)
  figures: bool = _field(True, 'Draw the figures (figures/) at the end; '
                         'python -m experiments.evaluate draws them later.',
                         is_global=True, resumable=True)


SECTIONS = {'model': ModelConfig, 'objective': ObjectiveConfig,
            'data': DataConfig, 'train': TrainConfig}


def _document(cls) -> None:
  """Appends an Args: section to a section's docstring, from its fields'
  help texts, so help() and the flags say the same."""
  lines = ['', '', 'Args:']
  for f in dataclasses.fields(cls):
    lines += textwrap.wrap(f'{f.name}: {f.metadata["help"]}', width=76,
                           initial_indent='  ', subsequent_indent='    ',
                           break_long_words=False, break_on_hyphens=False)
  cls.__doc__ = cls.__doc__.rstrip() + '\n'.join(lines) + '\n'


for _section in SECTIONS.values():
  _document(_section)


def fields() -> Dict[str, Tuple[str, dataclasses.Field]]:
  """Every field by name: (its section, the dataclass field)."""
  return {f.name: (section, f) for section, cls in SECTIONS.items()
          for f in dataclasses.fields(cls)}


def values(config) -> Dict[str, Any]:
  """Every field of a `Config` by name, with its value.

  Args:
    config: A `config.Config`.
  """
  return {name: getattr(getattr(config, section), name)
          for name, (section, _) in fields().items()}


def text(value) -> str:
  """A value as the command line writes it: 100,100 for a list.

  Args:
    value: A field's value.
  """
  if isinstance(value, (tuple, list)):
    return ','.join(str(v) for v in value)
  return str(value)


def field_type(f: dataclasses.Field):
  """(base type, optional, is a tuple) of a field.

  Args:
    f: A field of a section.
  """
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
