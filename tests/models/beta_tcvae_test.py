"""Tests for vae/models/beta_tcvae.py."""

import numpy as np
from scipy import special
from scipy import stats
import tensorflow as tf

from vae import config as config_lib
from vae import objectives
from vae.models import beta_tcvae
from vae.run import build


def _total_correlation_numpy(z, mean, stddev):
  """The minibatch-weighted estimate, example by example."""
  m, d = z.shape
  out = np.zeros(m)
  for i in range(m):
    log_q = stats.norm.logpdf(z[i][None], mean, stddev)  # [j, d]
    joint = special.logsumexp(log_q.sum(axis=1))
    marginals = sum(special.logsumexp(log_q[:, k]) for k in range(d))
    out[i] = joint - marginals
  return out


class TotalCorrelationTest(tf.test.TestCase):

  def test_matches_the_formula(self):
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(6, 3))
    stddev = rng.uniform(0.3, 1.5, size=(6, 3))
    z = mean + stddev * rng.normal(size=(6, 3))
    self.assertAllClose(
        beta_tcvae.total_correlation(tf.constant(z), tf.constant(mean),
                                     tf.constant(stddev)),
        _total_correlation_numpy(z, mean, stddev), rtol=1e-10)

  def test_one_posterior_for_the_whole_batch(self):
    # q(z) is then q(z|x), which factorises: the true TC is 0 and the
    # estimate without its constant (D - 1) log(N M) is -(D - 1) log M.
    rng = np.random.default_rng(1)
    mean = np.tile(rng.normal(size=(1, 4)), (5, 1))
    stddev = np.tile(rng.uniform(0.5, 1.0, size=(1, 4)), (5, 1))
    z = mean + stddev * rng.normal(size=(5, 4))
    self.assertAllClose(
        beta_tcvae.total_correlation(tf.constant(z), tf.constant(mean),
                                     tf.constant(stddev)),
        np.full(5, -3 * np.log(5)), rtol=1e-10)


class ModelTest(tf.test.TestCase):

  def test_loss_is_the_elbo_plus_the_weighted_tc(self):
    config = config_lib.make(model='beta_tcvae', tc_weight=4.0,
                             latent_size=3, hidden_sizes=[8])
    model = build.build(config.model, (4, 4, 1), seed=0)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(5, 4, 4, 1)), tf.float32)
    seed = tf.constant([3, 4])
    terms = build.objective(config.objective, model,
                            tf.Variable(1.0))(x, seed)
    base = objectives.elbo(model.encoder, model.decoder, model.prior, x,
                           seed=seed)
    posterior = model.encoder(x)
    z = posterior.sample(seed=tf.random.experimental.stateless_fold_in(
        seed, 1))
    tc = _total_correlation_numpy(z.numpy(), posterior.mean().numpy(),
                                  posterior.stddev().numpy())
    self.assertAllClose(terms.loss,
                        base.distortion + base.rate + 3.0 * tc, rtol=1e-5)
    self.assertAllClose(terms.elbo, base.elbo)  # Reported as any VAE's.


if __name__ == '__main__':
  tf.test.main()
