"""Tests for vae/ais.py: AIS and BDMC against the linear-Gaussian model,
whose log p(x) is exact, and HMC against a Gaussian target."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import objectives_test
from vae import ais
from vae import config as config_lib
from vae.run import build

tfd = tfp.distributions


class ScheduleTest(tf.test.TestCase):

  def test_ends_at_the_prior_and_the_joint_and_rises(self):
    betas = ais.sigmoid_schedule(100)
    self.assertEqual(betas.shape, (101,))
    self.assertEqual(betas[0], 0.0)
    self.assertEqual(betas[-1], 1.0)
    self.assertTrue(np.all(np.diff(betas) > 0))
    # The sigmoid's shape: small steps at both ends, large in the middle.
    steps = np.diff(betas)
    self.assertLess(steps[0], steps[50] / 10)
    self.assertAllClose(steps[0], steps[-1])

  def test_path_end_points(self):
    # log f_0 is the start density and log f_1 the target: with one step
    # the weight is exactly log target - log start at the start's draw.
    start = lambda z: -tf.reduce_sum(z**2, -1)
    target = lambda z: -2.0 * tf.reduce_sum(z**2, -1) + 3.0
    z = tf.constant([[0.5, -1.0]], tf.float64)
    run = ais.anneal(z, start, target, [0.0, 1.0], num_leapfrog=1,
                     step_size=1e-3)
    self.assertAllClose(run.log_weights, target(z) - start(z))

  def test_too_few_steps(self):
    with self.assertRaisesRegex(ValueError, 'num_steps must be at least 1'):
      ais.sigmoid_schedule(0)


def _gaussian_target(mean, scale):
  return lambda z: tf.reduce_sum(tfd.Normal(mean, scale).log_prob(z), -1)


class HMCTest(tf.test.TestCase):

  def _chain_moments(self, correct):
    # 4,000 independent chains started from the target N(mean, scale^2),
    # 10 HMC steps with a step too large for leapfrog to be accurate:
    # the Metropolis correction keeps the target, without it the moments
    # drift.
    mean, scale = np.array([1.0, -2.0]), np.array([0.5, 2.0])
    target = _gaussian_target(mean, scale)
    rng = np.random.default_rng(0)
    z = tf.constant(mean + scale * rng.normal(size=(4000, 2)))
    step = tf.fill([4000], tf.constant(0.9, tf.float64))
    for t in range(10):
      z, _ = ais.hmc_step(z, target, step, 5, tf.constant([0, t]),
                          correct=correct)
    return z.numpy(), mean, scale

  def test_leaves_a_gaussian_target_invariant(self):
    z, mean, scale = self._chain_moments(correct=True)
    # Standard errors of 4,000 draws: scale / 63 for the mean, about
    # scale / 45 for the standard deviation; 4 of them.
    self.assertAllClose(z.mean(0), mean, atol=4 * scale.max() / 63)
    self.assertAllClose(z.std(0), scale, rtol=4 / 45)

  def test_without_the_correction_the_target_is_lost(self):
    z, _, scale = self._chain_moments(correct=False)
    self.assertGreater(np.abs(z.std(0) / scale - 1).max(), 0.2)


@pytest.mark.slow  # Thousands of annealing steps, each ten leapfrogs.
class LinearGaussianTest(tf.test.TestCase):
  """log p(x) is exact here (objectives_test.LinearGaussian)."""

  def setUp(self):
    super().setUp()
    self.model = objectives_test.LinearGaussian(latent_size=2, data_size=3,
                                                sigma=0.3)
    rng = np.random.default_rng(1)
    self.x = rng.normal(size=(8, 3)) * 2
    self.exact = np.array([self.model.log_evidence(x) for x in self.x])

  def _ais(self, num_steps, seed=(0, 1), **kwargs):
    return ais.log_likelihood(self.model.decoder, self.model.prior, self.x,
                              num_steps, num_chains=16, seed=seed, **kwargs)

  def test_converges_to_log_evidence_as_steps_grow(self):
    model = objectives_test.LinearGaussian(latent_size=2, data_size=3,
                                           sigma=0.7)
    exact = np.array([model.log_evidence(x) for x in self.x])
    errors = {}
    for num_steps in (10, 2000):
      estimate = ais.log_likelihood(model.decoder, model.prior, self.x,
                                    num_steps, 64, seed=(0, 1))
      errors[num_steps] = np.abs(estimate.log_likelihood - exact).mean()
    # Measured: 0.21 nats at 10 steps, 0.026 at 2,000, where the 64
    # chains' standard error is 0.028: the estimate is then at its noise.
    self.assertGreater(errors[10], 0.15)
    self.assertLess(errors[2000], 0.06)

  def test_starting_from_q_the_estimate_is_the_same(self):
    mu, s = self.model.true_posterior(self.x[0])
    # A q near, not at, the posterior: the weights vary, the estimate not.
    encoder = lambda x: tfd.MultivariateNormalTriL(
        tf.broadcast_to(mu + 0.1, [x.shape[0], 2]),
        1.5 * np.linalg.cholesky(s))
    estimate = ais.log_likelihood(self.model.decoder, self.model.prior,
                                  self.x[:1], 200, 64, encoder=encoder)
    # Within three of its own standard errors (0.01-0.02 nats here).
    error = abs(float(estimate.log_likelihood[0]) - self.exact[0])
    self.assertLess(error, 3 * float(estimate.standard_error[0]))
    self.assertLess(float(estimate.standard_error[0]), 0.03)


@pytest.mark.slow  # Two directions of hundreds of annealing steps.
class BDMCTest(tf.test.TestCase):

  def test_bounds_bracket_log_evidence_and_close_with_steps(self):
    model = objectives_test.LinearGaussian(latent_size=2, data_size=3,
                                           sigma=0.3)
    gaps = {}
    for num_steps in (20, 500):
      sandwich = ais.bdmc(model.decoder, model.prior, 16, num_steps, 8,
                          seed=(4, 5))
      exact = np.array([model.log_evidence(x) for x in sandwich.x.numpy()])
      # Stochastic bounds: on average over the examples, within a little
      # noise (the 500-step estimates' spread is about 0.01).
      self.assertLess(np.mean(sandwich.lower - exact), 0.01)
      self.assertGreater(np.mean(sandwich.upper - exact), -0.01)
      gaps[num_steps] = float(np.mean(sandwich.gap))
    self.assertLess(gaps[500], gaps[20])
    self.assertLess(gaps[500], 0.1)


class ModelPartsTest(tf.test.TestCase):

  def test_models_without_a_continuous_density_are_refused(self):
    for choices, message in (
        (dict(model='autoencoder'), 'Autoencoder is not one'),
        (dict(model='wae_mmd'), 'WAE is not one'),
        (dict(model='vqvae'), 'VQVAE is not one'),
        (dict(latent='categorical', beta=1.0), 'continuous latent'),
        (dict(latent='von_mises_fisher'), 'lives on the sphere')):
      model = build.build(config_lib.make(**choices).model, (8, 8, 1),
                          seed=0)
      with self.assertRaisesRegex(ValueError, message):
        ais.model_parts(model)

  def test_a_vae_gives_its_parts_and_ais_runs_under_xla(self):
    model = build.build(config_lib.make(latent_size=3).model, (8, 8, 1),
                        seed=0)
    decoder, prior, encoder = ais.model_parts(model)
    x = tf.cast(tf.random.stateless_uniform([2, 8, 8, 1], [0, 1]) < 0.5,
                tf.float32)
    estimate = tf.function(lambda x: ais.log_likelihood(
        decoder, prior, x, 5, 3, seed=(1, 2)), jit_compile=True)(x)
    eager = ais.log_likelihood(decoder, prior, x, 5, 3, seed=(1, 2))
    self.assertEqual(estimate.log_likelihood.shape, [2])
    # The same draws; XLA's rounding can flip a Metropolis decision, after
    # which the chains differ: 1 nat is far beyond rounding, far within
    # what a broken compile would give.
    self.assertAllClose(estimate.log_likelihood, eager.log_likelihood,
                        atol=1.0)
    self.assertTrue(np.all(estimate.standard_error.numpy() >= 0))


if __name__ == '__main__':
  tf.test.main()
