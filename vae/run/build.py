"""Builds a model and its training objective from a configuration.

The composition of the parts each module registers (`vae/registry.py`):

  head (q(z|x)'s form) -> encoder -> likelihood -> decoder -> prior -> model

in that order, each factory given the `Parts` built before it, so a prior
can share the encoder (the VampPrior does). `LATENTS` says, per kind of
latent variable, which posterior head and which prior it has.
"""

import contextlib
import dataclasses
import types
from typing import (Callable, Dict, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import conditional
from vae import config as config_lib
from vae import decoders
from vae import encoders
from vae import export
from vae import latents
from vae import model as model_lib
from vae import models  # pylint: disable=unused-import (registers the zoo)
from vae import objectives
from vae import optimizers as optimizers_lib
from vae import precision
from vae import registry
from vae import schedules as schedules_lib
from vae import training


# What a part's factory may use besides its fields (`registry.Parts`).
Parts = registry.Parts


def _networks(config, parts: Parts, made_from) -> Parts:
  """`parts` with the posterior head, encoder, decoder and prior of a
  model composed from the registries, their factories given `made_from`
  (`settings(config)`)."""
  point_mass = model_lib.MODELS.traits(config.model).get('point_mass_code')
  if point_mass:
    head = encoders.DeterministicPosterior(config.latent_size,
                                           name='posterior')
  else:
    head = latents.LATENTS.build(config.latent, made_from, parts)
  parts = parts._replace(head=head)
  parts = parts._replace(
      encoder=encoders.ENCODERS.build(config.encoder, made_from, parts))
  decoder = decoders.DECODERS.build(config.decoder, made_from, parts)
  to_decoder = (None if point_mass else
                latents.LATENTS.traits(config.latent).get('decoder'))
  parts = parts._replace(
      decoder=to_decoder(made_from, decoder) if to_decoder else decoder)
  if not point_mass:
    parts = parts._replace(
        prior=latents.LATENTS.traits(config.latent)['prior'](made_from,
                                                            parts))
  return parts


def _section(config, name: str, function: str):
  """Refuses a whole `Config` where its section `name` belongs."""
  if isinstance(config, config_lib.Config):
    raise ValueError(f'{function} takes the {name} section of a '
                     f'configuration, config.{name}, not the whole Config: '
                     f'pass config.{name}')


def settings(config) -> types.SimpleNamespace:
  """What the factories of a `config.ModelConfig`'s parts get: the fields
  its chosen parts declare (`config.fields_read`), as keyword construction
  (`registry.Registry.build(name, **settings)`) gives them, and nothing
  else: a factory that reads a field it does not declare fails here.

  Args:
    config: A `config.ModelConfig`.
  """
  values = {f.name: getattr(config, f.name)
            for f in dataclasses.fields(config)}
  read = config_lib.fields_read(**values)
  return types.SimpleNamespace(
      **{name: value for name, value in values.items() if name in read})


def build(config, image_shape: Sequence[int], seed: Optional[int] = None):
  """The model of a `config.ModelConfig`, its variables created (so a
  checkpoint can fill them in at once).

  Args:
    config: The `ModelConfig` (`config.model` of a run's `Config`).
    image_shape: [height, width, channels] of the images.
    seed: The seed of the parts' initial draws.

  Returns:
    The model, as `model.MODELS` makes it.

  Raises:
    ValueError: for a whole `Config` in place of its model section.
  """
  _section(config, 'model', 'build.build')
  made_from = settings(config)
  # Mixed precision: the networks compute in bfloat16, all else is float32.
  if config.mixed_precision:
    precision.warn_if_slow()
  parts = Parts(image_shape=tuple(int(d) for d in image_shape), seed=seed,
                compute_dtype=(tf.bfloat16 if config.mixed_precision
                               else tf.float32))
  parts = parts._replace(likelihood=decoders.LIKELIHOODS.build(
      config.likelihood, made_from, parts))
  # A model with `own_networks` (the VQ-VAE) builds its own from the parts.
  if not model_lib.MODELS.traits(config.model).get('own_networks'):
    parts = _networks(config, parts, made_from)
  model = model_lib.MODELS.build(config.model, made_from, parts)
  built = conditional.view(model)  # Given a label, if it takes one.
  built(tf.zeros([1, *parts.image_shape]))
  if model.prior is not None:
    # Creates what a prior makes on first use: the VampPrior's encoder
    # call, a hierarchy's conditionals (no random draw: the same weights).
    built.prior_distribution().log_prob(
        tf.zeros([1, latents.latent_dims(config, parts.image_shape)]))
  return model


def objective(config, model, beta: tf.Variable,
              temperature: Optional[tf.Variable] = None):
  """`objective(x, seed=None) -> ELBOTerms` of an `config.ObjectiveConfig`
  (a stateless `seed` [2] makes its draws repeat); of a conditional model,
  `objective((images, labels), seed=None)`.

  `beta` and `temperature` (of a categorical latent's relaxation) are
  variables a schedule changes without retracing. A model with an
  `objective` of its own (the autoencoder) trains on that; a model with a
  `regularized_loss(terms, posterior, seed)` (the disentangling models,
  the WAE, InfoVAE, GECO) trains on what that makes of the objective's
  terms and q(z|x), which both get from one pass of the encoder.

  Args:
    config: A `config.ObjectiveConfig`.
    model: The model it trains.
    beta: The KL weight, a variable.
    temperature: A categorical latent's relaxation temperature, a variable;
      else None.
  """
  _section(config, 'objective', 'build.objective')
  name = getattr(model, 'objective', None) or config.objective
  if conditional.is_conditional(model):
    # Its batches are (images, labels): the objective of the VAE given them.
    return lambda batch, seed=None: objectives.OBJECTIVES.build(
        name, config, model.given(batch[1]), beta, temperature)(batch[0],
                                                                seed)
  if not hasattr(model, 'regularized_loss'):
    return objectives.OBJECTIVES.build(name, config, model, beta,
                                       temperature)

  def regularized(x, seed=None):
    # The models' penalties draw from stateless seeds: one of the global
    # generator's where none is given.
    seed = tfp.random.sanitize_seed(seed)
    # x is encoded once, for the objective's terms and the penalty.
    posterior = model.encoder(x)
    encoded = types.SimpleNamespace(
        encoder=lambda inputs: (posterior if inputs is x
                                else model.encoder(inputs)),
        decoder=model.decoder, prior=model.prior)
    terms = objectives.OBJECTIVES.build(name, config, encoded, beta,
                                        temperature)(x, seed)
    return terms._replace(loss=model.regularized_loss(terms, posterior,
                                                      seed))

  return regularized


def model_functions(model, config, image_shape: Sequence[int]
                    ) -> export.ModelFunctions:
  """The exportable functions of the model of a `config.Config`, its ELBO's
  rate estimated as the run's (`config.kl_samples`).

  Args:
    model: The model, built.
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
  """
  return export.ModelFunctions(model, image_shape,
                               latents.latent_dims(config.model, image_shape),
                               kl_samples=config_lib.kl_samples(config))


def run_objective(config, model, beta: tf.Variable,
                  temperature: Optional[tf.Variable] = None):
  """`objective` of a whole `config.Config`'s run: its ELBO estimates the
  rate as `config.kl_samples(config)` says where the KL has no closed
  form.

  Args:
    config: A `config.Config`.
    model: The model it trains.
    beta: The KL weight, a variable.
    temperature: A categorical latent's relaxation temperature, a variable;
      else None.
  """
  return objective(
      dataclasses.replace(config.objective,
                          kl_samples=config_lib.kl_samples(config)),
      model, beta, temperature)


def phases(config, model, beta: tf.Variable,
           temperature: Optional[tf.Variable] = None
           ) -> Tuple[training.Phase, ...]:
  """The training phases of a `config.Config`'s run: the model's own
  (`phases`, the VQ-VAE's two), or one of every step on `objective`.

  Args:
    config: A `config.Config`.
    model: The model.
    beta: The KL weight, a variable.
    temperature: A categorical latent's relaxation temperature, a variable;
      else None.
  """
  if hasattr(model, 'phases'):
    return model.phases(config.train)
  # A model with a second update of its own (the FactorVAE's
  # discriminator) names what the loss trains and gives that update.
  return (training.Phase('optimizer', config.train.training_steps,
                         getattr(model, 'trained_by_loss', model),
                         run_objective(config, model, beta, temperature),
                         after=getattr(model, 'auxiliary_update', None)),)


class Training(NamedTuple):
  """What a run trains with: the model, the variables its schedules change,
  its phases, and one optimiser per phase (by the phase's name)."""
  model: snt.Module
  schedules: schedules_lib.Schedules
  learning_rate: Union[float, tf.Variable]
  assign_schedules: Optional[Callable[[tf.Tensor], None]]
  phases: Tuple[training.Phase, ...]
  optimizers: Dict[str, snt.Optimizer]

  def state(self) -> Dict[str, tf.Variable]:
    """The model's training state, by log column: variables the model
    updates itself in training, outside the gradient (GECO's multiplier),
    which metrics.csv logs and checkpoints keep with the weights."""
    return dict(getattr(self.model, 'training_state', dict)())

  def scalars(self) -> Dict[str, tf.Tensor]:
    """What TensorBoard shows of them beside the terms."""
    scalars = {'learning_rate': self.learning_rate,  # As --lr_schedule says.
               'beta': self.schedules.beta,  # Ramps over a KL warm-up.
               **self.state()}
    if self.schedules.temperature is not None:
      scalars['temperature'] = self.schedules.temperature
    return scalars


def training_parts(config, image_shape: Sequence[int],
                   strategy: Optional[tf.distribute.Strategy] = None
                   ) -> Training:
  """The model of a `config.Config`, its schedules, phases and optimisers,
  with their variables made in `strategy`'s scope (one copy per replica).

  Args:
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
    strategy: The strategy whose scope makes the variables; None for one
      device.
  """
  with strategy.scope() if strategy else contextlib.nullcontext():
    model = build(config.model, image_shape, seed=config.train.seed)
    # Variables, so the compiled step never retraces as they change.
    made = schedules_lib.make(
        config.objective, categorical=config.model.latent == 'categorical')
    run_phases = phases(config, model, made.beta, made.temperature)
    learning_rate, lr_assign = schedules_lib.make_learning_rate(config.train)
    optimizers = {phase.name: optimizers_lib.make(
        config.train.optimizer, learning_rate,
        epsilon=config.train.adam_epsilon)
                  for phase in run_phases}
  # A model's own schedule (the annealed VAE's capacity), if it has one.
  assign = schedules_lib.both(made.assign, lr_assign,
                              getattr(model, 'assign_step', None))
  return Training(model, made, learning_rate, assign, run_phases, optimizers)
