"""Tests for vae/models/wae_mmd.py."""

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import evaluation
from vae import export
from vae import objectives
from vae.run import build
from tests import mmd_test


def _model(**values):
  config = config_lib.make(model='wae_mmd', latent_size=3, hidden_sizes=[8],
                           **values)
  return config, build.build(config.model, (4, 4, 1), seed=0)


def _images(n=6):
  return tf.constant(np.random.default_rng(0).integers(
      0, 2, size=(n, 4, 4, 1)), tf.float32)


class WAETest(tf.test.TestCase):

  def test_loss_is_the_distortion_plus_the_weighted_mmd(self):
    config, model = _model(mmd_weight=7.0, mmd_kernel='rbf',
                           mmd_scales=(0.5, 2.0))
    x, seed = _images(), tf.constant([3, 4])
    terms = build.objective(config.objective, model, tf.Variable(1.0))(
        x, seed)
    codes = model.encoder(x).mean().numpy()
    draws = model.prior_distribution().sample(
        6, seed=tf.random.experimental.stateless_fold_in(seed, 2)).numpy()
    distortion = objectives.autoencoder(model.encoder, model.decoder,
                                        x).distortion
    penalty = mmd_test._mmd_numpy(codes, draws, 'rbf', 1.0, (0.5, 2.0))
    self.assertAllClose(terms.loss, distortion + 7.0 * penalty, rtol=1e-5)
    self.assertAllEqual(terms.rate, np.zeros(6))
    self.assertTrue(np.all(np.isnan(terms.elbo)))  # No ELBO to report.

  def test_samples_but_no_likelihood(self):
    _, model = _model()
    functions = export.ModelFunctions(model, (4, 4, 1))
    self.assertIn('sample', functions.signatures)
    self.assertNotIn('log_likelihood', functions.signatures)
    self.assertEqual(
        functions.sample(tf.constant(5), tf.constant([0, 1]))['mean'].shape,
        (5, 4, 4, 1))
    results = evaluation.evaluate(functions, [_images()], num_samples=10)
    self.assertIsNone(results.nll)
    self.assertTrue(np.isnan(results.elbo))
    self.assertEqual(results.rate, 0.0)

  def test_settings_it_does_not_read_are_refused(self):
    for values, message in ((dict(beta=0.5), 'beta=0.5 applies to'),
                            (dict(curve_num_samples=10),
                             'codes are point masses'),
                            (dict(prior='vamp'), 'prior=vamp applies to')):
      with self.assertRaisesRegex(ValueError, message):
        config_lib.make(model='wae_mmd', **values)


if __name__ == '__main__':
  tf.test.main()
