"""Tests for vae/models/dip_vae.py."""

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae.models import dip_vae
from vae.run import build


class PenaltyTest(tf.test.TestCase):

  def test_covariance_is_the_batch_covariance(self):
    values = np.random.default_rng(0).normal(size=(7, 3))
    self.assertAllClose(dip_vae.covariance(tf.constant(values)),
                        np.cov(values, rowvar=False, bias=True))

  def test_penalty_by_hand(self):
    matrix = tf.constant([[2.0, 0.5], [0.5, 1.0]])
    # Off the diagonal: 2 x 0.25; on it: (2 - 1)^2 + 0.
    self.assertAllClose(dip_vae.penalty(matrix, 3.0, 7.0),
                        3.0 * 0.5 + 7.0 * 1.0)

  def test_disentanglement_lib_default_lambda_d(self):
    self.assertEqual(dip_vae.default_lambda_d('i', 5.0), 50.0)
    self.assertEqual(dip_vae.default_lambda_d('ii', 5.0), 5.0)


class ModelTest(tf.test.TestCase):

  def _model_and_terms(self, model_name):
    config = config_lib.make(model=model_name, dip_lambda_od=2.0,
                             latent_size=3, hidden_sizes=[8])
    model = build.build(config.model, (4, 4, 1), seed=0)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(6, 4, 4, 1)), tf.float32)
    terms = build.objective(config.objective, model,
                            tf.Variable(1.0))(x, tf.constant([0, 1]))
    posterior = model.encoder(x)
    return model, terms, posterior.mean().numpy(), posterior.variance().numpy()

  def test_dip_i_penalises_the_means_covariance(self):
    model, terms, means, _ = self._model_and_terms('dip_vae_i')
    c = np.cov(means, rowvar=False, bias=True)
    off = c - np.diag(np.diag(c))
    expected = 2.0 * np.sum(off**2) + 20.0 * np.sum((np.diag(c) - 1)**2)
    self.assertEqual(model.lambda_d, 20.0)
    self.assertAllClose(terms.loss - (terms.distortion + terms.rate),
                        np.full(6, expected), rtol=1e-5)

  def test_dip_ii_adds_the_mean_posterior_variance(self):
    model, terms, means, variances = self._model_and_terms('dip_vae_ii')
    c = (np.cov(means, rowvar=False, bias=True)
         + np.diag(variances.mean(axis=0)))
    off = c - np.diag(np.diag(c))
    expected = 2.0 * np.sum(off**2) + 2.0 * np.sum((np.diag(c) - 1)**2)
    self.assertAllClose(terms.loss - (terms.distortion + terms.rate),
                        np.full(6, expected), rtol=1e-5)


if __name__ == '__main__':
  tf.test.main()
