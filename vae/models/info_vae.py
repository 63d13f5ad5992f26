"""InfoVAE with the MMD divergence (Zhao et al. 2019, equation 6).

InfoVAE weighs the ELBO's KL by 1 - alpha and adds a divergence between
the aggregate posterior q(z) and the prior, weighted by alpha + lambda - 1:

  loss = distortion + (1 - alpha) KL(q(z|x) || p(z))
         + (alpha + lambda - 1) MMD^2(q(z), p(z)),

with the MMD^2 the unbiased estimate (`vae/mmd.py`) between z ~ q(z|x) of
the batch and as many draws from p(z) = N(0, I). alpha = 0, lambda = 1 is
the ELBO; alpha = 1 drops the KL (the paper's MMD-VAE). Its weights are
`--info_alpha` and `--info_lambda`; the MMD's must not be negative.

The posterior is the diagonal Gaussian of any VAE, so the ELBO and the
importance-weighted log p(x) are reported as for any VAE.
"""

from typing import Sequence

import tensorflow as tf

from vae import distribute
from vae import mmd
from vae import model as model_lib
from vae import objectives


class InfoVAE(model_lib.VAE):
  """A VAE trained on `regularized_loss`.

  Args:
    encoder, decoder, prior: The VAE's parts.
    alpha: InfoVAE's alpha: the KL's weight is 1 - alpha.
    lambda_: InfoVAE's lambda: the MMD's weight is alpha + lambda - 1.
    kernel: 'imq' or 'rbf'.
    bandwidth: sigma of the kernel's C = 2 d sigma^2.
    scales: Multiples of C, one kernel each.
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, alpha: float, lambda_: float,
               kernel: str = 'imq', bandwidth: float = 1.0,
               scales: Sequence[float] = (1.0,), name=None):
    super().__init__(encoder, decoder, prior, name=name)
    if alpha + lambda_ - 1.0 < 0:
      raise ValueError(f'alpha + lambda - 1 is the MMD\'s weight and must '
                       f'not be negative, got alpha={alpha}, '
                       f'lambda={lambda_}')
    self.alpha = alpha
    self.lambda_ = lambda_
    self.kernel = kernel
    self.bandwidth = bandwidth
    self.scales = tuple(scales)

  @property
  def mmd_weight(self) -> float:
    return self.alpha + self.lambda_ - 1.0

  def penalty(self, posterior, seed) -> tf.Tensor:
    """MMD^2_u between z ~ q(z|x) of the batch and draws from p(z), over
    the global batch.

    Args:
      posterior: q(z|x) of the batch.
      seed: A stateless seed [2]: z's draw folds in 1, the prior's 2.
    """
    fold = tf.random.experimental.stateless_fold_in
    z = distribute.sample(posterior, seed=fold(seed, 1))
    return mmd.batch_penalty(z, self.prior_distribution(), fold(seed, 2),
                             self.kernel, self.bandwidth, self.scales)

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    extra = tf.cast(self.penalty(posterior, seed), terms.rate.dtype)
    return (terms.distortion + (1.0 - self.alpha) * terms.rate
            + self.mmd_weight * extra)


def _refuse(settings):
  """A negative MMD weight, as `config.check` refuses it."""
  if settings.info_alpha + settings.info_lambda - 1.0 < 0:
    return (('info_alpha', 'info_lambda'), 'InfoVAE weighs the MMD by '
            'alpha + lambda - 1, which must not be negative (a negative '
            'weight rewards q(z) for leaving the prior): raise '
            '--info_lambda to at least 1 - --info_alpha.')
  return None


model_lib.MODELS.register(
    'info_vae', lambda c, parts: InfoVAE(
        parts.encoder, parts.decoder, parts.prior, c.info_alpha,
        c.info_lambda, c.mmd_kernel, c.mmd_bandwidth, c.mmd_scales),
    'InfoVAE (Zhao et al. 2019): the KL weighted by 1 - --info_alpha and '
    'the MMD of q(z) to N(0, I) by --info_alpha + --info_lambda - 1',
    fields=model_lib.DISENTANGLING_FIELDS + ('info_alpha', 'info_lambda',
                                             'mmd_kernel', 'mmd_bandwidth',
                                             'mmd_scales'),
    fixed=model_lib.DISENTANGLING_FIXED,
    rate_weight=lambda c: 1.0 - c.info_alpha, refuse=_refuse,
    reduces_across_replicas=True,
    loss_title='InfoVAE: loss = distortion + (1 - alpha) rate + '
    '(alpha + lambda - 1) MMD^2')
