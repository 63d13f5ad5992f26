"""Tests for vae/models/info_vae.py."""

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import objectives
from vae.run import build
from vae.run import report
from tests import mmd_test


def _loss(alpha, lambda_, x, seed):
  config = config_lib.make(model='info_vae', info_alpha=alpha,
                           info_lambda=lambda_, latent_size=3,
                           hidden_sizes=[8])
  model = build.build(config.model, (4, 4, 1), seed=0)
  terms = build.objective(config.objective, model, tf.Variable(1.0))(x, seed)
  return config, model, terms


class InfoVAETest(tf.test.TestCase):

  def test_loss_weighs_the_kl_and_the_mmd(self):
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(5, 4, 4, 1)), tf.float32)
    seed = tf.constant([3, 4])
    config, model, terms = _loss(0.3, 20.0, x, seed)
    base = objectives.elbo(model.encoder, model.decoder, model.prior, x,
                           seed=seed)
    fold = tf.random.experimental.stateless_fold_in
    z = model.encoder(x).sample(seed=fold(seed, 1)).numpy()
    draws = model.prior_distribution().sample(5, seed=fold(seed, 2)).numpy()
    penalty = mmd_test._mmd_numpy(z, draws, 'imq', 1.0, (1.0,))
    self.assertAllClose(
        terms.loss, base.distortion + 0.7 * base.rate + 19.3 * penalty,
        rtol=1e-5)
    self.assertAllClose(terms.elbo, base.elbo)  # Reported as any VAE's.
    self.assertAllClose(report.rate_weight(config), 0.7)

  def test_alpha_0_lambda_1_is_the_elbo(self):
    x = tf.constant(np.random.default_rng(1).integers(
        0, 2, size=(5, 4, 4, 1)), tf.float32)
    _, _, terms = _loss(0.0, 1.0, x, tf.constant([1, 2]))
    self.assertAllClose(terms.loss, -terms.elbo, rtol=1e-6)

  def test_a_negative_mmd_weight_is_refused(self):
    with self.assertRaisesRegex(ValueError, 'must not be negative'):
      config_lib.make(model='info_vae', info_alpha=0.5, info_lambda=0.2)
    with self.assertRaisesRegex(ValueError, 'at most 1'):
      config_lib.make(model='info_vae', info_alpha=1.5)


if __name__ == '__main__':
  tf.test.main()
