"""Tests for vae/run/annealing.py: a run's AIS numbers over batches, on the
linear-Gaussian model, whose log p(x) and posterior are exact."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tests import objectives_test
from vae import config as config_lib
from vae import errors
from vae import model as model_lib
from vae.run import annealing
from vae.run import build

tfd = tfp.distributions


def _exact_model(linear):
  """A VAE whose q(z|x) is linear's true posterior p(z|x)."""
  w, b, sigma = (tf.constant(v, tf.float64)
                  for v in (linear.w, linear.b, linear.sigma))
  s = np.linalg.inv(np.eye(linear.latent_size)
                    + linear.w.T @ linear.w / linear.sigma**2)

  def encoder(x):
    mean = tf.linalg.matvec(tf.constant(s) @ tf.transpose(w),
                            x - b) / sigma**2
    return tfd.MultivariateNormalTriL(mean, np.linalg.cholesky(s))

  return model_lib.VAE(encoder, linear.decoder, linear.prior())


class SummaryTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.linear = objectives_test.LinearGaussian(latent_size=2, data_size=3,
                                                 sigma=0.7)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 3)) * 2
    self.batches = [(x[i:i + 4], np.zeros(4)) for i in range(0, 12, 4)]
    self.exact = np.array([self.linear.log_evidence(v) for v in x])

  def test_first_examples_across_batches_against_the_exact_nll(self):
    numbers = annealing.summary(
        _exact_model(self.linear), self.batches,
        annealing.Settings(steps=200, chains=16, examples=6,
                           iwae_samples=3, seed=1))
    exact_nll = -self.exact[:6].mean()  # The first batch and half the next.
    self.assertEqual(numbers['ais_examples'], 6)
    self.assertEqual((numbers['ais_steps'], numbers['ais_chains'],
                      numbers['ais_iwae_samples']), (200, 16, 3))
    # With q the exact posterior every importance weight is p(x): the
    # bound is log p(x) at any k, to rounding.
    self.assertAllClose(numbers['ais_iwae_nll'], exact_nll, atol=1e-6)
    # AIS from the prior: 200 steps, 16 chains (0.02-0.03 nats an example
    # on this model, ais_test), well inside 0.1 on the mean of 6.
    self.assertAllClose(numbers['test_nll_ais'], exact_nll, atol=0.1)
    self.assertLess(numbers['test_nll_ais_stderr'], 0.05)
    self.assertNotIn('bdmc_gap', numbers)

  def test_bdmc_when_asked(self):
    numbers = annealing.summary(
        _exact_model(self.linear), self.batches[:1],
        annealing.Settings(steps=50, chains=4, bdmc_examples=5))
    self.assertEqual((numbers['bdmc_examples'], numbers['bdmc_steps']),
                     (5, 50))
    self.assertAllClose(numbers['bdmc_gap'],
                        numbers['bdmc_upper'] - numbers['bdmc_lower'])
    self.assertGreater(numbers['bdmc_gap'], -0.05)  # A stochastic sandwich.
    self.assertNotIn('ais_iwae_nll', numbers)  # k = 0: no bound.

  def test_settings_of_a_run(self):
    train = config_lib.make(eval_ais_steps=300, eval_ais_chains=8,
                            eval_ais_examples=50, eval_num_samples=5000,
                            seed=7).train
    self.assertEqual(annealing.Settings.of_run(train),
                     annealing.Settings(300, 8, 50, 0, 5000, 7))

  def test_a_model_without_a_density_is_an_input_error(self):
    model = build.build(config_lib.make(model='autoencoder').model,
                        (8, 8, 1), seed=0)
    with self.assertRaisesRegex(errors.InputError, 'autoencoder'):
      annealing.check(model)


if __name__ == '__main__':
  tf.test.main()
