"""The VAE: an encoder, a decoder and a prior composed into one module."""

import dataclasses
from typing import NamedTuple, Optional, Union

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import objectives
from vae import priors
from vae import registry

tfd = tfp.distributions


class VAEOutput(NamedTuple):
  """One pass through the model."""
  posterior: tfd.Distribution  # q(z|x), batch shape [batch].
  z: tf.Tensor  # z ~ q(z|x), [batch, latent] or [k, batch, latent].
  likelihood: tfd.Distribution  # p(x|z), batch shape z's leading dims.


class VAE(snt.Module):
  """Composes `encoder`, `decoder` and `prior`.

  The prior is a distribution or a module returning one, so learnable priors
  slot in: their variables are found by `trainable_variables` like any
  submodule's.

  Args:
    encoder: Maps x [batch, ...] to q(z|x), batch shape [batch], event shape
      [latent].
    decoder: Maps z [..., latent] to p(x|z), event shape x's.
    prior: p(z): a `tfd.Distribution` or a callable (module) returning one.
    name: The module's name.
  """

  def __init__(self,
               encoder: objectives.Encoder,
               decoder: objectives.Decoder,
               prior: priors.PriorLike,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.encoder = encoder
    self.decoder = decoder
    self.prior = prior

  def prior_distribution(self) -> tfd.Distribution:
    """p(z) as a distribution (calling the prior if it is a module)."""
    return priors.as_distribution(self.prior)

  def __call__(self, x: tf.Tensor, num_samples: Optional[int] = None
               ) -> VAEOutput:
    """Encodes x, draws z (with a leading [num_samples] if given), decodes."""
    posterior = self.encoder(x)
    z = posterior.sample() if num_samples is None else posterior.sample(
        num_samples)
    return VAEOutput(posterior=posterior, z=z, likelihood=self.decoder(z))

  def elbo(self,
           x: tf.Tensor,
           *,
           beta: Union[float, tf.Tensor] = 1.0,
           kl_samples: Optional[int] = None,
           normalization: str = 'per_example',
           free_bits: float = 0.0,
           temperature: Optional[Union[float, tf.Tensor]] = None,
           seed=None) -> objectives.ELBOTerms:
    """`objectives.elbo` of this model's parts on images `x`; its options
    are keyword-only.

    Args:
      x: Images [batch, ...].
      beta: The rate's weight in the loss.
      kl_samples: None for the analytic KL; n for a Monte Carlo estimate
        (see `objectives.elbo`).
      normalization: 'per_example' or 'notebook'.
      free_bits: Free bits lambda in nats per latent dimension; 0: off.
      temperature: The Gumbel-softmax temperature of a categorical latent.
      seed: A stateless seed [2] for the draws.

    Returns:
      `ELBOTerms(elbo, rate, distortion, loss)`, each [batch].
    """
    return objectives.elbo(self.encoder, self.decoder, self.prior, x,
                           beta=beta, kl_samples=kl_samples,
                           normalization=normalization, free_bits=free_bits,
                           temperature=temperature, seed=seed)

  def iwae_bound(self, x: tf.Tensor, num_samples: int, *,
                 seed=None) -> tf.Tensor:
    """The k-sample importance-weighted bound on log p(x), per example
    ([batch]; `objectives.iwae_bound`)."""
    return objectives.iwae_bound(self.encoder, self.decoder, self.prior, x,
                                 num_samples, seed=seed)

  def sample(self, num_samples: int) -> tfd.Distribution:
    """p(x|z) for `num_samples` draws z ~ p(z); its `mean()` is an image."""
    return self.decoder(self.prior_distribution().sample(num_samples))


class Autoencoder(snt.Module):
  """A plain autoencoder: a deterministic encoder, a decoder, no prior.

  The baseline a VAE is compared with. The encoder should return a point
  mass (`encoders.DeterministicPosterior`); `loss_terms` is the
  reconstruction loss alone, with no KL, so it is an autoencoder by
  construction, not a VAE at beta = 0 (which still draws noisy codes). It
  has no prior to sample from and no bound on log p(x).

  Args:
    encoder: Maps x to a point mass at the code.
    decoder: Maps the code to p(x|z).
    name: The module's name.
  """

  prior = None
  objective = 'autoencoder'  # Its training objective, whatever is chosen.
  point_mass_code = True  # No density of z given x: no ELBO, no log p(x).

  def __init__(self,
               encoder: objectives.Encoder,
               decoder: objectives.Decoder,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.encoder = encoder
    self.decoder = decoder

  def __call__(self, x: tf.Tensor) -> VAEOutput:
    posterior = self.encoder(x)
    z = posterior.mean()
    return VAEOutput(posterior=posterior, z=z, likelihood=self.decoder(z))

  def loss_terms(self, x: tf.Tensor,
                 normalization: str = 'per_example') -> objectives.ELBOTerms:
    return objectives.autoencoder(self.encoder, self.decoder, x,
                                  normalization=normalization)


# The models by name (see `vae/registry.py`): each factory takes the
# `config.ModelConfig` and the `build.Parts`. With the trait
# `point_mass_code`, `build.build` gives it a point-mass encoder and no
# prior. A model trains on its `objective` attribute if it has one, else on
# the configuration's; a model with a `phases` method trains in those
# (`build.phases`). The VQ-VAE (`vae/models/vqvae.py`, registered there) has the
# other traits: `own_networks` (its parts get only the likelihood),
# `latent_dims(config, image_shape)`, `code_map` (z holds codebook indices:
# no latent scatter or traversal), `conv` (no XLA on a CPU),
# `reduces_across_replicas`, `rate_weight` (of the rate in its test loss; a
# number, or a function of the `config.ModelConfig`), `no_elbo` (why a
# model with point-mass codes has no bound on log p(x), for its summary),
# `refuse(settings)` (the fields and reason of a combination it refuses),
# `bits_per_dim` (reported for any likelihood but a density) and
# `loss_title`.
MODELS = registry.Registry('model')

# What the disentangling models (`vae/models/`) read besides their own
# weights, and what they need: they build their losses from the ELBO's
# terms of a diagonal Gaussian posterior against N(0, I), with their own
# weights in place of --beta and its schedule.
DISENTANGLING_FIELDS = ('encoder', 'decoder', 'latent', 'kl_samples')
DISENTANGLING_FIXED = {'latent': 'gaussian', 'latent_sizes': (),
                       'posterior': 'diagonal', 'prior': 'normal',
                       'objective': 'elbo', 'loss_normalization': 'per_example'}


def _vae(c, parts):
  """The VAE, or with --conditional the class-conditional VAE."""
  if not c.conditional:
    return VAE(parts.encoder, parts.decoder, parts.prior)
  from vae import conditional  # pylint: disable=g-import-not-at-top (it imports this module)
  return conditional.ConditionalVAE(parts.encoder, parts.decoder,
                                    parts.prior, c.label_classes)


def _refuse_vae(settings):
  """The combinations of --conditional that the VAE cannot train."""
  default = {f.name: f.default for f in dataclasses.fields(settings)}
  if (not settings.conditional
      and settings.label_classes != default['label_classes']):
    return (('label_classes', 'conditional'), '--label_classes is the '
            'classes of a --conditional model\'s labels: pass --conditional, '
            'or leave --label_classes out.')
  if settings.conditional and len(settings.latent_sizes) > 1:
    return (('conditional', 'latent_sizes'), 'a conditional VAE gives the '
            'label to its encoder, decoder and prior, not to the networks '
            'between a hierarchy\'s layers: use one stochastic layer '
            '(--latent_size).')
  return None


MODELS.register('vae', _vae, 'a VAE: encoder, decoder and prior; with '
                '--conditional, of p(x|y) given the label',
                fields=('encoder', 'decoder', 'latent', 'objective',
                        'conditional', 'label_classes'), refuse=_refuse_vae)
MODELS.register('autoencoder', lambda c, parts: Autoencoder(
    parts.encoder, parts.decoder),
                'a plain autoencoder baseline: a deterministic encoder and '
                'no KL',
                fields=('encoder', 'decoder', 'latent_size',
                        'loss_normalization'),
                fixed={'objective': 'autoencoder'}, point_mass_code=True,
                no_elbo='an autoencoder has no prior: it has no ELBO and no '
                'log p(x)')
