"""Builds a model and its training objective from a configuration.

The composition of the parts each module registers (`vae/registry.py`):

  head (q(z|x)'s form) -> encoder -> likelihood -> decoder -> prior -> model

in that order, each factory given the `Parts` built before it, so a prior
can share the encoder (the VampPrior does). `LATENTS` says, per kind of
latent variable, which posterior head and which prior it has.
"""

from typing import NamedTuple, Optional, Sequence, Tuple

import tensorflow as tf

from vae import decoders
from vae import encoders
from vae import export
from vae import hierarchy
from vae import model as model_lib
from vae import objectives
from vae import priors
from vae import registry
from vae import training
# pylint: disable=unused-import (each registers its models)
from vae import annealed_vae
from vae import beta_tcvae
from vae import dip_vae
from vae import factor_vae
from vae import vqvae
# pylint: enable=unused-import


class Parts(NamedTuple):
  """What a part's factory may use: the data's shape, the seed, the
  networks' compute dtype, and the parts built before it."""
  image_shape: Tuple[int, ...]
  seed: Optional[int] = None
  compute_dtype: tf.DType = tf.float32
  head: Optional[encoders.Head] = None
  encoder: Optional[objectives.Encoder] = None
  likelihood: Optional[decoders.Likelihood] = None
  decoder: Optional[objectives.Decoder] = None
  prior: Optional[priors.PriorLike] = None


def _hierarchical(config) -> bool:
  return len(hierarchy.layer_sizes(config)) > 1


# Per kind of latent: its posterior head, its prior (factories, as in the
# other registries), the dimensions of z, and what the decoder is given of z.
# A Gaussian latent of several layers (--latent_sizes) is a hierarchy: its
# head holds the prior it shares, and the decoder sees the bottom layer.
LATENTS = registry.Registry('latent')
LATENTS.register(
    'gaussian',
    lambda c, parts: (hierarchy.posterior(c, parts) if _hierarchical(c) else
                      encoders.POSTERIORS.build(c.posterior, c, parts)),
    'a Gaussian vector (--posterior, --prior), or stochastic layers '
    '(--latent_sizes, --inference)',
    prior=lambda c, parts: (parts.head.prior if _hierarchical(c) else
                            priors.PRIORS.build(c.prior, c, parts)),
    dims=lambda c: sum(hierarchy.layer_sizes(c)),
    decoder=lambda c, decoder: (
        hierarchy.BottomLayer(decoder, hierarchy.layer_sizes(c)[0],
                              name='bottom_layer')
        if _hierarchical(c) else decoder))
LATENTS.register(
    'categorical',
    lambda c, parts: encoders.CategoricalPosterior(
        c.latent_size, c.num_classes, name='posterior'),
    '--latent_size one-hot categoricals of --num_classes classes, trained '
    'through the Gumbel-softmax relaxation',
    prior=lambda c, parts: priors.UniformCategorical(
        c.latent_size, c.num_classes, name='prior'),
    dims=lambda c: c.latent_size * c.num_classes)


def latent_dims(config, image_shape: Optional[Sequence[int]] = None) -> int:
  """The dimensions of z for a `config.ModelConfig`; a model whose code
  depends on the image's size (the VQ-VAE's map) needs `image_shape`."""
  dims = model_lib.MODELS.traits(config.model).get('latent_dims')
  if dims is None:
    return LATENTS.traits(config.latent)['dims'](config)
  if image_shape is None:
    raise ValueError(f'the code of --model={config.model} depends on the '
                     'image shape: pass image_shape')
  return dims(config, image_shape)


def _networks(config, parts: Parts) -> Parts:
  """`parts` with the posterior head, encoder, decoder and prior of a
  model composed from the registries."""
  point_mass = model_lib.MODELS.traits(config.model).get('point_mass_code')
  if point_mass:
    head = encoders.DeterministicPosterior(config.latent_size,
                                           name='posterior')
  else:
    head = LATENTS.build(config.latent, config, parts)
  parts = parts._replace(head=head)
  parts = parts._replace(
      encoder=encoders.ENCODERS.build(config.encoder, config, parts))
  decoder = decoders.DECODERS.build(config.decoder, config, parts)
  to_decoder = LATENTS.traits(config.latent).get('decoder')
  parts = parts._replace(
      decoder=to_decoder(config, decoder) if to_decoder else decoder)
  if not point_mass:
    parts = parts._replace(
        prior=LATENTS.traits(config.latent)['prior'](config, parts))
  return parts


def build(config, image_shape: Sequence[int], seed: Optional[int] = None):
  """The model of a `config.ModelConfig`, its variables created (so a
  checkpoint can fill them in at once)."""
  # Mixed precision: the networks compute in bfloat16, all else is float32.
  parts = Parts(image_shape=tuple(int(d) for d in image_shape), seed=seed,
                compute_dtype=(tf.bfloat16 if config.mixed_precision
                               else tf.float32))
  parts = parts._replace(
      likelihood=decoders.LIKELIHOODS.build(config.likelihood, config, parts))
  # A model with `own_networks` (the VQ-VAE) builds its own from the parts.
  if not model_lib.MODELS.traits(config.model).get('own_networks'):
    parts = _networks(config, parts)
  model = model_lib.MODELS.build(config.model, config, parts)
  model(tf.zeros([1, *parts.image_shape]))
  if model.prior is not None:
    # Creates what a prior makes on first use: the VampPrior's encoder
    # call, a hierarchy's conditionals (no random draw: the same weights).
    model.prior_distribution().log_prob(
        tf.zeros([1, latent_dims(config, parts.image_shape)]))
  return model


def objective(config, model, beta: tf.Variable,
              temperature: Optional[tf.Variable] = None):
  """`objective(x, seed) -> ELBOTerms` of an `config.ObjectiveConfig`.

  `beta` and `temperature` (of a categorical latent's relaxation) are
  variables a schedule changes without retracing. A model with an
  `objective` of its own (the autoencoder) trains on that; a model with a
  `regularized_loss(terms, x, seed)` (the disentangling models) trains on
  what that makes of the objective's terms.
  """
  name = getattr(model, 'objective', None) or config.objective
  base = objectives.OBJECTIVES.build(name, config, model, beta, temperature)
  if not hasattr(model, 'regularized_loss'):
    return base

  def regularized(x, seed):
    terms = base(x, seed)
    return terms._replace(loss=model.regularized_loss(terms, x, seed))

  return regularized


def model_functions(model, config, image_shape: Sequence[int]
                    ) -> export.ModelFunctions:
  """The exportable functions of a model built from `config.ModelConfig`."""
  return export.ModelFunctions(model, image_shape,
                               latent_dims(config, image_shape))


def phases(config, model, beta: tf.Variable,
           temperature: Optional[tf.Variable] = None
           ) -> Tuple[training.Phase, ...]:
  """The training phases of a `config.Config`'s run: the model's own
  (`phases`, the VQ-VAE's two), or one of every step on `objective`."""
  if hasattr(model, 'phases'):
    return model.phases(config.train)
  # A model with a second update of its own (the FactorVAE's
  # discriminator) names what the loss trains and gives that update.
  return (training.Phase('optimizer', config.train.training_steps,
                         getattr(model, 'trained_by_loss', model),
                         objective(config.objective, model, beta,
                                   temperature),
                         after=getattr(model, 'auxiliary_update', None)),)
