"""Tests for vae/tighter_bounds.py against Rainforth et al. (2018)'s
definitions, computed in NumPy and scipy from the same draws."""

from absl.testing import parameterized
import numpy as np
from scipy import special
from scipy import stats
import tensorflow as tf
import tensorflow_probability as tfp

from vae import config as config_lib
from vae import distribute
from vae import objectives
from vae import tighter_bounds

tfd = tfp.distributions

SEED = tf.constant([3, 4])


class Model(tf.Module):
  """q(z|x) = N(A x, s^2 I), p(x|z) = N(W z, sigma^2 I), p(z) = N(0, I):
  every density has a scipy formula."""

  def __init__(self):
    super().__init__()
    rng = np.random.default_rng(0)
    self.a = tf.Variable(rng.normal(size=(3, 2)) * 0.5)  # x [3] -> z [2].
    self.w = tf.Variable(rng.normal(size=(2, 3)))
    self.s, self.sigma = 0.6, 0.8

  def encoder(self, x):
    return tfd.Independent(tfd.Normal(x @ self.a, self.s), 1)

  def decoder(self, z):
    return tfd.Independent(tfd.Normal(z @ self.w, self.sigma), 1)

  def prior(self):
    return tfd.Independent(tfd.Normal(tf.zeros(2, tf.float64), 1.0), 1)

  def log_weights(self, x, num_draws):
    """NumPy: [draws, batch] log w of the draws the objectives make."""
    z = distribute.sample(self.encoder(x), num_draws, seed=SEED).numpy()
    a, w = self.a.numpy(), self.w.numpy()
    log_px = stats.norm.logpdf(x, z @ w, self.sigma).sum(-1)
    log_pz = stats.norm.logpdf(z).sum(-1)
    log_qz = stats.norm.logpdf(z, x @ a, self.s).sum(-1)
    return log_px + log_pz - log_qz


def _iwae(log_w):  # Over the leading axis.
  return special.logsumexp(log_w, 0) - np.log(len(log_w))


class BoundsTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.model = Model()
    self.x = np.random.default_rng(1).normal(size=(5, 3))

  def _call(self, objective, *args):
    m = self.model
    return objective(m.encoder, m.decoder, m.prior(), self.x, *args,
                     seed=SEED)

  @parameterized.parameters((4, 3), (1, 6), (6, 1))
  def test_miwae_is_the_mean_of_group_bounds(self, groups, k):
    log_w = self.model.log_weights(self.x, groups * k)
    expected = np.mean([_iwae(g) for g in log_w.reshape(groups, k, -1)], 0)
    terms = self._call(tighter_bounds.miwae, groups, k)
    self.assertAllClose(-terms.loss, expected, rtol=1e-10)
    if groups == 1:  # IWAE_K itself.
      self.assertAllClose(terms.loss, self._call(objectives.iwae, k).loss)
    if k == 1:  # The ELBO with M samples.
      self.assertAllClose(-terms.loss, log_w.mean(0))

  @parameterized.parameters(0.0, 0.3, 1.0)
  def test_ciwae_mixes_the_elbo_and_the_iwae_bound(self, weight):
    log_w = self.model.log_weights(self.x, 7)
    expected = weight * log_w.mean(0) + (1 - weight) * _iwae(log_w)
    terms = self._call(tighter_bounds.ciwae, 7, weight)
    self.assertAllClose(-terms.loss, expected, rtol=1e-10)

  def test_piwae_value_is_the_iwae_bound_of_all_draws(self):
    log_w = self.model.log_weights(self.x, 12)
    terms = self._call(tighter_bounds.piwae, 4, 3)
    self.assertAllClose(-terms.loss, _iwae(log_w), rtol=1e-10)
    # Distortion and rate as IWAE's: means over the same draws.
    iwae = self._call(objectives.iwae, 12)
    self.assertAllClose(terms.distortion, iwae.distortion)
    self.assertAllClose(terms.rate, iwae.rate)

  def _gradients(self, objective, *args):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(self._call(objective, *args).loss)
    return tape.gradient(loss, [self.model.a, self.model.w])

  def test_piwae_gives_the_encoder_miwae_and_the_decoder_iwae(self):
    piwae = self._gradients(tighter_bounds.piwae, 4, 3)
    miwae = self._gradients(tighter_bounds.miwae, 4, 3)
    iwae = self._gradients(objectives.iwae, 12)
    self.assertAllClose(piwae[0], miwae[0], rtol=1e-8)  # The encoder's A.
    self.assertAllClose(piwae[1], iwae[1], rtol=1e-8)  # The decoder's W.
    # The two differ, so the test tells them apart.
    self.assertGreater(np.abs(miwae[0] - iwae[0]).max(), 1e-3)
    self.assertGreater(np.abs(miwae[1] - iwae[1]).max(), 1e-3)

  def test_grouped_bound_of_known_weights(self):
    log_w = np.log([[1.0], [3.0], [2.0], [6.0]])  # Two groups of two.
    self.assertAllClose(tighter_bounds.grouped_bound(log_w, 2),
                        [(np.log(2.0) + np.log(4.0)) / 2])


class ConfigurationTest(tf.test.TestCase):

  def test_each_objective_reads_its_own_settings(self):
    config_lib.make(objective='miwae', importance_groups=4)
    config_lib.make(objective='ciwae', ciwae_beta=0.2)
    with self.assertRaisesRegex(ValueError, 'importance_groups=4 applies '
                                'to objective=miwae or piwae'):
      config_lib.make(objective='ciwae', importance_groups=4)
    with self.assertRaisesRegex(ValueError, 'ciwae_beta=1.5: must be at '
                                'most 1'):
      config_lib.make(objective='ciwae', ciwae_beta=1.5)
    with self.assertRaisesRegex(ValueError, 'posterior=iaf objective=piwae'):
      config_lib.make(objective='piwae', posterior='iaf')


if __name__ == '__main__':
  tf.test.main()
