"""Tests for vae/evaluation.py: the IWAE log-likelihood and active units."""

import numpy as np
from scipy import special
from scipy import stats
import tensorflow as tf
import tensorflow_probability as tfp

from tests import objectives_test
from vae import config as config_lib
from vae import evaluation
from vae.run import build
from vae.run import measure

tfd = tfp.distributions


class LogLikelihoodTest(tf.test.TestCase):
  """On the linear-Gaussian model, where log p(x) is known in closed form."""

  def setUp(self):
    super().setUp()
    self.model = objectives_test.LinearGaussian()
    self.x = np.array([0.3, -1.2, 2.0])
    self.log_px = self.model.log_evidence(self.x)
    self.mu, self.s = self.model.true_posterior(self.x)
    # A posterior off the true one: its ELBO falls short by > 0.3 nats.
    self.loc = self.mu + np.array([0.4, -0.3])
    self.scale = np.array([0.5, 0.8])

  def _encoder(self, true_posterior=False):
    if true_posterior:
      return lambda x: tfd.MultivariateNormalTriL(
          tf.broadcast_to(self.mu, [x.shape[0], 2]), np.linalg.cholesky(self.s))
    return lambda x: objectives_test._diag(
        tf.broadcast_to(self.loc, [x.shape[0], 2]), self.scale)

  def _estimate(self, n, k, chunk_size, seed=(1, 2), true_posterior=False):
    return evaluation.log_likelihood(
        self._encoder(true_posterior), self.model.decoder, self.model.prior,
        np.broadcast_to(self.x, (n, 3)), k, chunk_size, seed=seed).numpy()

  def test_true_posterior_gives_log_evidence_for_any_k_and_chunking(self):
    # Every weight p(x, z) / q(z|x) is p(x): the estimate is exact.
    for k, chunk_size in ((1, 1), (7, 3), (50, 100)):
      estimate = self._estimate(4, k, chunk_size, true_posterior=True)
      self.assertAllClose(estimate, np.full(4, self.log_px), rtol=1e-9)

  def test_chunks_combine_to_the_logsumexp_of_all_samples(self):
    # A NumPy reference from the same draws: chunk c samples with
    # stateless_fold_in(seed, c); its log-weights are formed with scipy.
    k, chunk_size, seed = 7, 3, tf.constant([5, 6])
    x = np.broadcast_to(self.x, (2, 3))
    posterior = self._encoder()(x)
    draws = [posterior.sample(n, seed=tf.random.experimental.stateless_fold_in(
        seed, c)).numpy() for c, n in enumerate((3, 3, 1))]
    z = np.concatenate(draws)  # [k, 2, latent]
    log_weights = (
        stats.norm.logpdf(self.x, z @ self.model.w.T + self.model.b,
                          self.model.sigma).sum(-1)
        + stats.norm.logpdf(z).sum(-1)
        - stats.norm.logpdf(z, self.loc, self.scale).sum(-1))
    expected = special.logsumexp(log_weights, axis=0) - np.log(k)
    estimate = evaluation.log_likelihood(
        self._encoder(), self.model.decoder, self.model.prior, x, k,
        chunk_size, seed=seed)
    self.assertAllClose(estimate, expected, rtol=1e-9)

  def test_at_most_log_evidence_and_approaches_it(self):
    n = 400
    gap = objectives_test._np_kl_gaussians(self.loc, np.diag(self.scale**2),
                                           self.mu, self.s)
    means, ses = {}, {}
    for k in (1, 10, 1000):
      estimate = self._estimate(n, k, chunk_size=64)
      means[k], ses[k] = estimate.mean(), estimate.std() / np.sqrt(n)
    # k = 1 is the ELBO, log p(x) - gap (5 standard errors).
    self.assertAllClose(means[1], self.log_px - gap, atol=5 * ses[1], rtol=0)
    # The bound rises with k and stays below log p(x) (E[L_k] <= log p(x));
    # at k = 1000 it has closed all but 2% of the ELBO's gap.
    self.assertGreater(means[10] - means[1], 5 * np.hypot(ses[1], ses[10]))
    self.assertLess(means[1000], self.log_px + 5 * ses[1000])
    self.assertLess(self.log_px - means[1000], 0.02 * gap + 5 * ses[1000])

  def test_same_seed_same_estimate(self):
    first = self._estimate(3, 20, 6, seed=(3, 4))
    self.assertAllEqual(first, self._estimate(3, 20, 6, seed=(3, 4)))
    self.assertNotAllClose(first, self._estimate(3, 20, 6, seed=(3, 5)))

  def test_works_in_a_function_with_tensor_sample_counts(self):
    fn = tf.function(lambda x, k, c: evaluation.log_likelihood(
        self._encoder(True), self.model.decoder, self.model.prior, x, k, c,
        seed=[0, 0]))
    for k, c in ((5, 2), (9, 4)):
      self.assertAllClose(fn(np.broadcast_to(self.x, (2, 3)), tf.constant(k),
                             tf.constant(c)), [self.log_px] * 2, rtol=1e-9)

  def test_zero_samples_rejected(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                'num_samples must be positive'):
      self._estimate(1, 0, 5)


class ActiveUnitsTest(tf.test.TestCase):

  def test_counts_dimensions_whose_mean_varies_with_x(self):
    rng = np.random.default_rng(0)
    # Columns with standard deviations 1, 0.5, 0.05 and 0: variances 1,
    # 0.25, 0.0025 and 0 against Burda et al.'s threshold of 0.01.
    means = rng.normal(size=(5000, 4)) * [1.0, 0.5, 0.05, 0.0] + 3.0
    count, variances = evaluation.active_units(means)
    self.assertEqual(count, 2)
    self.assertAllClose(variances, np.var(means, axis=0))


class FakeFunctions:
  """Stands in for `export.ModelFunctions` with outputs known in advance."""

  def elbo(self, x, seed):
    del seed
    x = np.asarray(x)
    return {'elbo': -x[:, 0], 'rate': x[:, 1], 'distortion': x[:, 0] - x[:, 1],
            'posterior_mean': x[:, :2], 'kl_per_dimension': x[:, :2] * 2}

  def log_likelihood(self, x, num_samples, chunk_size, seed):
    del num_samples, chunk_size, seed
    return {'log_likelihood': -np.asarray(x)[:, 2]}


class EvaluateTest(tf.test.TestCase):

  def test_means_over_uneven_batches(self):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(7, 3))
    labels = np.arange(7)
    batches = [(x[:4], labels[:4]), (x[4:], labels[4:])]
    results = evaluation.evaluate(FakeFunctions(), batches, num_samples=10)
    self.assertAllClose(results.elbo, -x[:, 0].mean())
    self.assertAllClose(results.rate, x[:, 1].mean())
    self.assertAllClose(results.distortion, (x[:, 0] - x[:, 1]).mean())
    self.assertAllClose(results.nll, x[:, 2].mean())
    self.assertAllClose(results.kl_per_dimension, 2 * x[:, :2].mean(0))
    self.assertAllClose(results.posterior_means, x[:, :2])
    self.assertAllEqual(results.labels, labels)
    self.assertEqual(results.num_examples, 7)

  def test_no_log_likelihood_when_k_is_zero(self):
    results = evaluation.evaluate(FakeFunctions(),
                                  [(np.ones([2, 3]), np.zeros(2))])
    self.assertIsNone(results.nll)

  def test_no_examples(self):
    with self.assertRaisesRegex(ValueError, 'no examples'):
      evaluation.evaluate(FakeFunctions(), [])

  def test_image_only_batches_get_no_labels(self):
    x = np.random.default_rng(2).uniform(size=(5, 3))
    results = evaluation.evaluate(FakeFunctions(), [x[:2], x[2:]])
    self.assertAllClose(results.elbo, -x[:, 0].mean())
    self.assertAllEqual(results.labels, [-1] * 5)

  def test_a_batch_of_another_structure_says_what_to_pass(self):
    x = np.ones([2, 3])
    with self.assertRaisesRegex(ValueError, 'batch 0 of evaluate.s batches '
                                'is a tuple of 3: pass images'):
      evaluation.evaluate(FakeFunctions(), [(x, x, x)])

  def test_the_model_as_built_equals_its_export_functions(self):
    # One way to evaluate: the model itself, or its functions.
    config = config_lib.make(hidden_sizes=[8], latent_size=3, prior='vamp',
                             prior_components=2)
    model = build.build(config.model, (4, 4, 1), seed=0)
    x = tf.constant(np.random.default_rng(3).uniform(size=(6, 4, 4, 1))
                    > 0.5, tf.float32)
    batches = [x[:4], x[4:]]
    by_model = evaluation.evaluate(model, batches, num_samples=5,
                                   chunk_size=2)
    by_functions = evaluation.evaluate(
        build.model_functions(model, config, (4, 4, 1)), batches,
        num_samples=5, chunk_size=2)
    self.assertAllClose(by_model.elbo, by_functions.elbo, rtol=1e-6)
    self.assertAllClose(by_model.nll, by_functions.nll, rtol=1e-6)
    # Deterministic by default: the same numbers again.
    self.assertEqual(evaluation.evaluate(model, batches).elbo,
                     evaluation.evaluate(model, batches).elbo)


class ChunkedMemoryTest(tf.test.TestCase):

  def test_memory_does_not_grow_with_k(self):
    # Burda et al.'s k = 5000 on 25 images: all draws at once would hold
    # 5000 x 25 x 784 logits, 390 MB in float32; chunks of 20, 1.6 MB.
    config = config_lib.make().model
    model = build.build(config, (28, 28, 1), seed=0)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(25, 28, 28, 1)), tf.float32)
    estimate = tf.function(lambda k: evaluation.log_likelihood(
        model.encoder, model.decoder, model.prior, x, k, chunk_size=20,
        seed=[0, 1]))
    growth = {}
    for k in (20, 5000):
      estimate(tf.constant(k))  # Traced once; the first call allocates.
      before = measure.resident_bytes()
      with measure.PeakMemory() as memory:
        values = estimate(tf.constant(k)).numpy()
      growth[k] = memory.peak - before
      self.assertTrue(np.all(np.isfinite(values)))
    self.assertLess(growth[5000], 100 * 2**20)
    self.assertLess(growth[5000], growth[20] + 50 * 2**20)


if __name__ == '__main__':
  tf.test.main()
