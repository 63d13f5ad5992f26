"""Tests for vae/run/report.py."""

import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import evaluation
from vae.run import report


def _results(nll, code_usage=None):
  return evaluation.Results(
      elbo=-1100.0, rate=20.0, distortion=1080.0, nll=nll,
      num_samples=0 if nll is None else 10, kl_per_dimension=None,
      rate_per_layer=None, code_usage=code_usage,
      active_units=2, unit_variances=np.ones(2), posterior_means=np.zeros(
          [3, 2]), labels=np.zeros(3), num_examples=3)


class ResultsSummaryTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((1000.0, 1000.0), (None, 1100.0))
  def test_bits_per_dim_of_a_discrete_likelihood(self, nll, nats):
    # nats / (H W C ln 2): from the NLL, else from the ELBO's bound.
    config = config_lib.make(likelihood='discretized_logistic',
                             binarization='none', latent_size=2)
    summary = report.results_summary(_results(nll), config, (28, 28, 1))
    self.assertAllClose(summary['test_bits_per_dim'],
                        nats / (784 * math.log(2)))
    self.assertIn('bits/dim', report.closing_lines(
        '/nonexistent', dict(summary, steps=1, eval_split='test',
                             latent_dims=2)))

  def test_bits_per_dim_of_a_density_on_dequantised_pixels(self):
    # (nats + D log 256) / (D ln 2): a density on [0, 1) bounds the levels.
    config = config_lib.make(likelihood='gaussian', binarization='dequantize',
                             latent_size=2)
    summary = report.results_summary(_results(-2000.0), config, (28, 28, 1))
    self.assertAllClose(summary['test_bits_per_dim'],
                        (-2000.0 + 784 * math.log(256)) / (784 * math.log(2)))
    grey = config_lib.make(likelihood='gaussian', binarization='none',
                           latent_size=2)
    self.assertNotIn('test_bits_per_dim', report.results_summary(
        _results(-2000.0), grey, (28, 28, 1)))

  def test_no_bits_per_dim_for_binary_pixels(self):
    summary = report.results_summary(
        _results(100.0), config_lib.make(latent_size=2), (28, 28, 1))
    self.assertNotIn('test_bits_per_dim', summary)

  def test_codebook_numbers_of_a_vqvae(self):
    # Codes 0 and 1 used 3 and 1 times per image, 2 and 3 never.
    config = config_lib.make(model='vqvae', codebook_size=4)
    summary = report.results_summary(
        _results(100.0, code_usage=np.array([3.0, 1.0, 0.0, 0.0])), config,
        (28, 28, 1))
    self.assertAllClose(summary['codebook_perplexity'],
                        math.exp(-(0.75 * math.log(0.75)
                                   + 0.25 * math.log(0.25))))
    self.assertEqual(summary['dead_codes'], 2)
    # Its bound in bits per dimension, on binary pixels too.
    self.assertAllClose(summary['test_bits_per_dim'],
                        100.0 / (784 * math.log(2)))
    # Its loss is the distortion: the encoder's training does not weigh
    # the rate.
    self.assertEqual(summary['test_loss'], 1080.0)
    lines = report.closing_lines('/nonexistent', dict(
        summary, steps=1, eval_split='test', latent_dims=49))
    self.assertIn('NLL 100.000 nats (the bound: a point-mass code)', lines)
    self.assertIn('2 of 4 codes never used', lines)

  def test_a_wae_says_why_it_has_no_elbo(self):
    results = _results(None)._replace(elbo=float('nan'), rate=0.0)
    summary = report.results_summary(
        results, config_lib.make(model='wae_mmd'), (28, 28, 1))
    self.assertIsNone(summary['test_elbo'])
    self.assertIn('point masses', summary['no_elbo'])
    self.assertEqual(summary['test_loss'], 1080.0)  # The distortion.
    self.assertNotIn('no_elbo', report.results_summary(
        _results(100.0), config_lib.make(), (28, 28, 1)))


if __name__ == '__main__':
  tf.test.main()
