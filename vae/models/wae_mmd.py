"""The Wasserstein autoencoder with the MMD penalty (Tolstikhin et al. 2018).

A deterministic encoder maps x to a code z(x); the WAE-MMD minimises

  loss = -log p(x | z(x)) + lambda MMD^2(q(z), p(z)),

the reconstruction cost plus `--mmd_weight` times the unbiased MMD^2
estimate (`vae/mmd.py`) between the batch's codes and as many draws from
the prior N(0, I) (the paper's algorithm 2). The paper's cost is the
squared distance; here it is the likelihood's -log p(x|z), so the WAE uses
the same decoders and likelihoods as every other model. Its MNIST setting
is 8 latent dimensions, lambda = 10 and the IMQ kernel with sigma = 1.

The codes are point masses: the WAE is a generative model (decode
z ~ p(z)) with no density of z given x, hence no ELBO and no importance-
weighted estimate of log p(x). Its summary says so and reports the
distortion in their place; its rate is 0.
"""

from typing import Sequence

import tensorflow as tf

from vae import mmd
from vae import model as model_lib
from vae import objectives
from vae import priors


class WAE(model_lib.Autoencoder):
  """A deterministic autoencoder whose codes are pulled towards N(0, I).

  Args:
    encoder: Maps x to a point mass at its code.
    decoder: Maps codes to p(x|z).
    latent_size: The dimensions of z.
    weight: lambda, the MMD's weight.
    kernel: 'imq' or 'rbf'.
    bandwidth: sigma of the kernel's C = 2 d sigma^2.
    scales: Multiples of C, one kernel each.
    name: The module's name.
  """

  def __init__(self, encoder: objectives.Encoder,
               decoder: objectives.Decoder, latent_size: int, weight: float,
               kernel: str = 'imq', bandwidth: float = 1.0,
               scales: Sequence[float] = (1.0,), name=None):
    super().__init__(encoder, decoder, name=name)
    if kernel not in mmd.KERNELS:
      raise ValueError(f'kernel must be one of {mmd.KERNELS}, got '
                       f'{kernel!r}')
    self.prior = priors.StandardNormal(latent_size, name='prior')
    self.weight = weight
    self.kernel = kernel
    self.bandwidth = bandwidth
    self.scales = tuple(scales)

  def prior_distribution(self):
    """p(z) = N(0, I), which the codes are pulled towards."""
    return priors.as_distribution(self.prior)

  def sample(self, num_samples: int):
    """p(x|z) for `num_samples` draws z ~ p(z)."""
    return self.decoder(self.prior_distribution().sample(num_samples))

  def penalty(self, posterior, seed) -> tf.Tensor:
    """MMD^2_u between the codes and draws from p(z), over the global batch
    (`mmd.batch_penalty`).

    Args:
      posterior: The point masses at the batch's codes, q(z|x).
      seed: A stateless seed [2] of the prior's draws.
    """
    return mmd.batch_penalty(posterior.mean(), self.prior_distribution(),
                             seed, self.kernel, self.bandwidth, self.scales)

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    """The distortion plus lambda MMD^2_u, per example."""
    extra = self.penalty(posterior,
                         tf.random.experimental.stateless_fold_in(seed, 2))
    return terms.distortion + self.weight * tf.cast(extra,
                                                    terms.distortion.dtype)


MMD_FIELDS = ('mmd_kernel', 'mmd_bandwidth', 'mmd_scales')

model_lib.MODELS.register(
    'wae_mmd', lambda c, parts: WAE(
        parts.encoder, parts.decoder, c.latent_size, c.mmd_weight,
        c.mmd_kernel, c.mmd_bandwidth, c.mmd_scales),
    'the Wasserstein autoencoder (Tolstikhin et al. 2018): a deterministic '
    'code, and --mmd_weight times its MMD to N(0, I)',
    fields=('encoder', 'decoder', 'latent_size', 'mmd_weight') + MMD_FIELDS,
    point_mass_code=True, rate_weight=0.0, reduces_across_replicas=True,
    no_elbo='the WAE\'s codes are point masses, with no density q(z|x): '
    'it has no ELBO and no importance-weighted log p(x)',
    loss_title='WAE-MMD: loss = distortion + mmd_weight MMD^2 '
    '(no ELBO: point-mass codes)')
