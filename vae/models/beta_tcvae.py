"""The beta-TCVAE (Chen et al. 2018): the ELBO with its total correlation
weighted apart.

The KL of the ELBO, averaged over the data, splits into the index-code
mutual information, the total correlation TC = KL(q(z) || prod_d q(z_d))
and the dimension-wise KL. The beta-TCVAE trains on

  loss = distortion + KL + (tc_weight - 1) TC,

the ELBO with the TC's weight raised to `--tc_weight` (Chen et al.'s beta;
alpha = gamma = 1), as disentanglement_lib's `BetaTCVAE` does. TC is
estimated on the minibatch by minibatch-weighted sampling (Chen et al.,
section 3.1), for each example i with z_i ~ q(z|x_i):

  TC_i = log sum_j q(z_i | x_j) - sum_d log sum_j q(z_id | x_j)
         + (D - 1) log(N M),

over the M examples j of the batch, N the data's size. The constant has no
gradient and is left out here, as disentanglement_lib leaves it out: the
estimate is TC up to (D - 1) log(N M). Under a strategy the sums over j run
over the global batch (`distribute.global_rows`), so 2 replicas train as
one device.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from vae import distribute
from vae import model as model_lib
from vae import objectives

tfd = tfp.distributions


def total_correlation(z: tf.Tensor, mean: tf.Tensor,
                      stddev: tf.Tensor) -> tf.Tensor:
  """[batch] minibatch-weighted TC estimates, without the constant.

  z: [batch, latent], z_i drawn from q(z|x_i); mean, stddev: [M, latent],
  those of q(z|x_j) for the M examples j the sums run over (the batch's,
  or the global batch's).

  Args:
    z: [batch, latent] draws, z_i from q(z|x_i).
    mean: [M, latent] means of the q(z|x_j) the sums run over.
    stddev: [M, latent] their standard deviations.
  """
  # log q(z_id | x_j), [i, j, d].
  log_q = tfd.Normal(mean[None], stddev[None]).log_prob(z[:, None])
  joint = tf.reduce_logsumexp(tf.reduce_sum(log_q, axis=2), axis=1)
  marginals = tf.reduce_sum(tf.reduce_logsumexp(log_q, axis=1), axis=1)
  return joint - marginals


class BetaTCVAE(model_lib.VAE):
  """A VAE trained on `regularized_loss`.

  Args:
    encoder, decoder, prior: The VAE's parts.
    tc_weight: The total correlation's weight (Chen et al.'s beta; 1 is
      the ELBO).
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, tc_weight: float, name=None):
    super().__init__(encoder, decoder, prior, name=name)
    self.tc_weight = tc_weight

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    z = distribute.sample(
        posterior, seed=tf.random.experimental.stateless_fold_in(seed, 1))
    tc = total_correlation(z, distribute.global_rows(posterior.mean()),
                           distribute.global_rows(posterior.stddev()))
    return (terms.distortion + terms.rate
            + (self.tc_weight - 1.0) * tf.cast(tc, terms.rate.dtype))


model_lib.MODELS.register(
    'beta_tcvae', lambda c, parts: BetaTCVAE(
        parts.encoder, parts.decoder, parts.prior, c.tc_weight),
    'the beta-TCVAE (Chen et al. 2018): the ELBO with its total correlation '
    'weighted by --tc_weight',
    fields=model_lib.DISENTANGLING_FIELDS + ('tc_weight',),
    fixed=model_lib.DISENTANGLING_FIXED,
    rate_weight=1.0, reduces_across_replicas=True,
    loss_title='beta-TCVAE: loss = distortion + rate + (tc_weight - 1) TC')
