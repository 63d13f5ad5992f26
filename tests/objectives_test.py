"""Tests for vae/objectives.py against independent NumPy references."""

from absl.testing import parameterized
import numpy as np
import scipy.special
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import kl
from vae import objectives
from vae import priors

tfd = tfp.distributions


def _np_kl_gaussians(m1, c1, m2, c2):
  """KL(N(m1, c1) || N(m2, c2)) for covariance matrices, the textbook form."""
  k = m1.shape[-1]
  c2_inv = np.linalg.inv(c2)
  diff = m2 - m1
  return 0.5 * (np.trace(c2_inv @ c1) + diff @ c2_inv @ diff - k
                + np.linalg.slogdet(c2)[1] - np.linalg.slogdet(c1)[1])


def _np_kl_diagonal(m1, s1, m2, s2):
  """Sum over dimensions of KL(N(m1, s1^2) || N(m2, s2^2)), elementwise form."""
  return np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2)**2) / (2 * s2**2) - 0.5,
                axis=-1)


def _mixture():
  """A two-component Gaussian mixture in 2-D: no analytic KL to a Normal."""
  return tfd.MixtureSameFamily(
      tfd.Categorical(logits=[0., 0.]),
      tfd.MultivariateNormalDiag(loc=[[-1., 0.], [1., 0.]]))


def _diag(loc, scale):
  return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


class KLDivergenceTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(0)

  def test_diagonal_analytic_matches_numpy(self):
    m1, m2 = self.rng.normal(size=(2, 5, 4))
    s1, s2 = self.rng.uniform(0.2, 2.0, size=(2, 5, 4))
    divergence = kl.kl_divergence(_diag(m1, s1), _diag(m2, s2))
    self.assertEqual(divergence.shape, [5])
    self.assertAllClose(divergence, _np_kl_diagonal(m1, s1, m2, s2),
                        rtol=1e-6)

  def test_diagonal_against_standard_normal_prior_module(self):
    m1 = self.rng.normal(size=(3, 6)).astype(np.float32)
    s1 = self.rng.uniform(0.2, 2.0, size=(3, 6)).astype(np.float32)
    divergence = kl.kl_divergence(_diag(m1, s1), priors.StandardNormal(6))
    self.assertAllClose(divergence, _np_kl_diagonal(m1, s1, 0., 1.),
                        rtol=1e-5)

  def _random_tril(self, batch, k):
    a = self.rng.normal(size=(batch, k, k))
    covariance = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(k)
    return covariance, np.linalg.cholesky(covariance)

  def test_full_covariance_analytic_matches_numpy(self):
    k = 3
    c1, l1 = self._random_tril(4, k)
    c2, l2 = self._random_tril(4, k)
    m1, m2 = self.rng.normal(size=(2, 4, k))
    divergence = kl.kl_divergence(
        tfd.MultivariateNormalTriL(m1, l1), tfd.MultivariateNormalTriL(m2, l2))
    expected = [_np_kl_gaussians(m1[i], c1[i], m2[i], c2[i]) for i in range(4)]
    self.assertAllClose(divergence, expected, rtol=1e-6)

  def test_full_covariance_against_diagonal_prior(self):
    # Our registered KL between MultivariateNormalTriL and Independent(Normal),
    # in both directions.
    k = 4
    c1, l1 = self._random_tril(2, k)
    m1 = self.rng.normal(size=(2, k))
    m2 = self.rng.normal(size=k)
    s2 = self.rng.uniform(0.5, 2.0, size=k)
    full, diag = tfd.MultivariateNormalTriL(m1, l1), _diag(m2, s2)
    self.assertAllClose(
        kl.kl_divergence(full, diag),
        [_np_kl_gaussians(m1[i], c1[i], m2, np.diag(s2**2)) for i in range(2)],
        rtol=1e-6)
    self.assertAllClose(
        kl.kl_divergence(diag, full),
        [_np_kl_gaussians(m2, np.diag(s2**2), m1[i], c1[i]) for i in range(2)],
        rtol=1e-6)

  def test_no_analytic_form_asks_for_an_estimate(self):
    mixture = _mixture()
    posterior = _diag(self.rng.normal(size=(3, 2)).astype(np.float32), 1.)
    with self.assertRaises(NotImplementedError):
      tfd.kl_divergence(posterior, mixture)
    # No silent estimate: the error says how to ask for one.
    with self.assertRaisesRegex(NotImplementedError, 'has no closed form in '
                                'TFP: pass num_samples=n'):
      kl.kl_divergence(posterior, mixture)
    estimate = kl.kl_divergence(posterior, mixture, num_samples=1,
                                seed=[1, 2])
    z = posterior.sample(1, seed=[1, 2])[0]
    self.assertAllClose(estimate,
                        posterior.log_prob(z) - mixture.log_prob(z),
                        rtol=1e-6)
    divergence = kl.kl_divergence(posterior, mixture, num_samples=10)
    self.assertEqual(divergence.shape, [3])

  def test_an_encoder_without_an_event_dimension_says_how_to_fix_it(self):
    loc = tf.zeros([5, 3])
    decoder = lambda z: tfd.Independent(tfd.Bernoulli(logits=z), 1)
    with self.assertRaisesRegex(
        ValueError, r'the encoder returned a Normal of batch shape \(5, 3\) '
        r'.* return tfd.Independent\(distribution, '
        r'reinterpreted_batch_ndims=1\)'):
      objectives.elbo(lambda _: tfd.Normal(loc, 1.0), decoder,
                      priors.StandardNormal(3), tf.zeros([5, 3]))
    with self.assertRaisesRegex(ValueError, 'the decoder returned a '
                                'Bernoulli of batch shape'):
      objectives.elbo(lambda _: tfd.Independent(tfd.Normal(loc, 1.0), 1),
                      lambda z: tfd.Bernoulli(logits=z),
                      priors.StandardNormal(3), tf.zeros([5, 3]))

  def test_a_laplace_posterior_needs_an_estimate_and_gets_a_right_one(self):
    # No closed form in TFP for Laplace against Normal. Per dimension, by
    # hand: KL = -log(2b) - 1 + log(2 pi) / 2 + (mu^2 + 2 b^2) / 2.
    mu, b = np.array([[0.0, 1.0, -0.5]]), np.array([[1.0, 0.5, 2.0]])
    posterior = tfd.Independent(tfd.Laplace(mu.astype(np.float32),
                                            b.astype(np.float32)), 1)
    prior = priors.StandardNormal(3)
    decoder = lambda z: tfd.Independent(tfd.Bernoulli(logits=z), 1)
    x = tf.zeros([1, 3])
    with self.assertRaisesRegex(NotImplementedError, 'pass kl_samples=1'):
      objectives.elbo(lambda _: posterior, decoder, prior, x)
    exact = np.sum(-np.log(2 * b) - 1 + np.log(2 * np.pi) / 2
                   + (mu**2 + 2 * b**2) / 2)
    estimate = objectives.elbo(lambda _: posterior, decoder, prior, x,
                               kl_samples=20000, seed=[3, 4]).rate
    # The estimate's standard error over 20,000 draws is about 0.01.
    self.assertAllClose(estimate, [exact], atol=0.05)

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_kl_of_identical_distributions_is_zero(self, kind):
    loc = self.rng.normal(size=(3, 4))
    if kind == 'diagonal':
      make = lambda: _diag(loc, self.rng.uniform(0.3, 2., size=(3, 4)))
    else:
      make = lambda: tfd.MultivariateNormalTriL(loc, self._random_tril(3, 4)[1])
    p = make()
    self.assertAllClose(kl.kl_divergence(p, p), np.zeros(3), atol=1e-6)
    # Each Monte Carlo term log p(z) - log p(z) is zero, so the estimate is
    # zero exactly, not only on average.
    self.assertAllClose(kl.kl_divergence(p, p, num_samples=7),
                        np.zeros(3), atol=1e-6)

  @parameterized.parameters('diagonal', 'full_covariance')
  def test_monte_carlo_matches_analytic(self, kind):
    k, n = 3, 20_000
    loc = self.rng.normal(size=(2, k)).astype(np.float32)
    if kind == 'diagonal':
      scale = self.rng.uniform(0.3, 1.5, size=(2, k)).astype(np.float32)
      q = _diag(loc, scale)
    else:
      q = tfd.MultivariateNormalTriL(
          loc, self._random_tril(2, k)[1].astype(np.float32))
    p = _diag(np.float32([0.5, -0.5, 0.]), np.float32([1., 2., 0.7]))
    analytic = kl.kl_divergence(q, p)
    estimate = kl.kl_divergence(q, p, num_samples=n, seed=42)
    # Tolerance: 5 standard errors of an n-sample mean, with the standard
    # deviation of log q(z) - log p(z) measured on independent draws. A
    # correct estimator misses by more with probability below 1e-6.
    z = q.sample(n, seed=7)
    std = np.std(q.log_prob(z) - p.log_prob(z), axis=0)
    self.assertAllClose(estimate, analytic, atol=5 * std / np.sqrt(n), rtol=0)

  def test_kl_per_dimension_sums_to_the_diagonal_kl(self):
    m1 = self.rng.normal(size=(3, 4)).astype(np.float32)
    s1 = self.rng.uniform(0.2, 2.0, size=(3, 4)).astype(np.float32)
    per_dim = kl.kl_per_dimension(_diag(m1, s1), priors.StandardNormal(4))
    self.assertEqual(per_dim.shape, [3, 4])
    # Each term is the univariate KL of dimension i, by the NumPy formula.
    self.assertAllClose(per_dim, np.log(1 / s1) + (s1**2 + m1**2) / 2 - 0.5,
                        rtol=1e-5)
    self.assertAllClose(np.sum(per_dim, -1),
                        kl.kl_divergence(_diag(m1, s1),
                                                 priors.StandardNormal(4)),
                        rtol=1e-5)

  def test_kl_per_dimension_of_full_covariance_uses_marginals(self):
    c1, l1 = self._random_tril(2, 3)
    m1 = self.rng.normal(size=(2, 3))
    per_dim = kl.kl_per_dimension(tfd.MultivariateNormalTriL(m1, l1),
                                          _diag(np.zeros(3), np.ones(3)))
    s1 = np.sqrt(np.diagonal(c1, axis1=-2, axis2=-1))
    self.assertAllClose(per_dim, np.log(1 / s1) + (s1**2 + m1**2) / 2 - 0.5,
                        rtol=1e-6)

  def test_kl_per_dimension_needs_a_factorised_normal_prior(self):
    mixture = _mixture()
    with self.assertRaises(NotImplementedError):
      kl.kl_per_dimension(_diag(tf.zeros([3, 2]), 1.), mixture)

  def test_monte_carlo_rejects_zero_samples(self):
    with self.assertRaisesRegex(ValueError, 'num_samples must be positive'):
      kl.kl_divergence(_diag([0.], [1.]), _diag([0.], [1.]),
                               num_samples=0)


class LinearGaussian:
  """p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I): everything is closed-form.

  p(x) = N(b, W W^T + sigma^2 I), and p(z|x) = N(mu, S) with
  S = (I + W^T W / sigma^2)^-1, mu = S W^T (x - b) / sigma^2 (Bishop, PRML
  eqs. 2.113-2.117).
  """

  def __init__(self, latent_size=2, data_size=3, sigma=0.7, seed=0):
    rng = np.random.default_rng(seed)
    self.w = rng.normal(size=(data_size, latent_size))
    self.b = rng.normal(size=data_size)
    self.sigma = sigma
    self.latent_size = latent_size
    self.data_size = data_size

  def log_evidence(self, x):
    covariance = self.w @ self.w.T + self.sigma**2 * np.eye(self.data_size)
    diff = x - self.b
    return -0.5 * (self.data_size * np.log(2 * np.pi)
                   + np.linalg.slogdet(covariance)[1]
                   + diff @ np.linalg.solve(covariance, diff))

  def true_posterior(self, x):
    s = np.linalg.inv(np.eye(self.latent_size)
                      + self.w.T @ self.w / self.sigma**2)
    return s @ self.w.T @ (x - self.b) / self.sigma**2, s

  # The model's pieces, as the callables `objectives` takes.
  def prior(self):
    return _diag(np.zeros(self.latent_size), np.ones(self.latent_size))

  def decoder(self, z):
    return _diag(tf.linalg.matvec(tf.constant(self.w), z) + self.b, self.sigma)


class ELBOTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    tf.random.set_seed(0)
    self.model = LinearGaussian()
    self.x = np.array([0.3, -1.2, 2.0])
    self.log_px = self.model.log_evidence(self.x)
    self.mu, self.s = self.model.true_posterior(self.x)

  def _true_posterior_encoder(self):
    mu, s = self.mu, self.s
    return lambda x: tfd.MultivariateNormalTriL(
        tf.broadcast_to(mu, [x.shape[0], 2]), np.linalg.cholesky(s))

  def _other_posterior(self):
    loc, scale = self.mu + np.array([0.4, -0.3]), np.array([0.5, 0.8])
    return loc, scale, lambda x: _diag(
        tf.broadcast_to(loc, [x.shape[0], 2]), scale)

  def _batch(self, n):
    return np.broadcast_to(self.x, (n, 3))

  def test_iwae_with_true_posterior_is_exactly_log_evidence(self):
    # With q = p(z|x), every weight p(x, z) / q(z|x) equals p(x), so the
    # bound is log p(x) for any k and any sample.
    for k in (1, 10):
      bound = objectives.iwae_bound(self._true_posterior_encoder(),
                                    self.model.decoder, self.model.prior,
                                    self._batch(5), num_samples=k)
      self.assertAllClose(bound, np.full(5, self.log_px), rtol=1e-9)

  def test_elbo_with_true_posterior_equals_log_evidence(self):
    n = 20_000
    terms = objectives.elbo(self._true_posterior_encoder(), self.model.decoder,
                            self.model.prior, self._batch(n))
    # The rate is the analytic KL(p(z|x) || p(z)), the same for every copy;
    # the single-sample distortion is the only noise. Tolerance: 5 standard
    # errors of the mean over n copies.
    self.assertAllClose(terms.rate, np.full(n, terms.rate[0]))
    se = np.std(terms.elbo) / np.sqrt(n)
    self.assertAllClose(np.mean(terms.elbo), self.log_px, atol=5 * se, rtol=0)

  def test_elbo_falls_short_by_kl_to_true_posterior(self):
    n = 20_000
    loc, scale, encoder = self._other_posterior()
    gap = _np_kl_gaussians(loc, np.diag(scale**2), self.mu, self.s)
    self.assertGreater(gap, 0.3)  # The check below can tell this gap apart.
    terms = objectives.elbo(encoder, self.model.decoder, self.model.prior,
                            self._batch(n))
    se = np.std(terms.elbo) / np.sqrt(n)
    self.assertLess(5 * se, 0.1)
    self.assertAllClose(np.mean(terms.elbo), self.log_px - gap, atol=5 * se,
                        rtol=0)

  def test_iwae_lies_between_elbo_and_log_evidence_and_rises_with_k(self):
    n = 4_000
    loc, scale, encoder = self._other_posterior()
    elbo_value = self.log_px - _np_kl_gaussians(loc, np.diag(scale**2),
                                                self.mu, self.s)
    means, ses = [], []
    for k in (1, 5, 50):
      bound = objectives.iwae_bound(encoder, self.model.decoder,
                                    self.model.prior, self._batch(n), k).numpy()
      means.append(bound.mean())
      ses.append(bound.std() / np.sqrt(n))
    # k = 1: an unbiased estimate of the ELBO (5 standard errors).
    self.assertAllClose(means[0], elbo_value, atol=5 * ses[0], rtol=0)
    # Strictly rising with k, by more than the noise, and below log p(x).
    for lower, upper, se_l, se_u in zip(means, means[1:], ses, ses[1:]):
      self.assertGreater(upper - lower, 5 * np.hypot(se_l, se_u))
    self.assertLess(means[-1], self.log_px)
    self.assertLess(self.log_px - means[-1], self.log_px - elbo_value)

  @parameterized.parameters(0.0, 0.01, 1.0, 4.0)
  def test_loss_is_distortion_plus_beta_rate(self, beta):
    _, _, encoder = self._other_posterior()
    terms = objectives.elbo(encoder, self.model.decoder, self.model.prior,
                            self._batch(8), beta=beta)
    for t in terms:
      self.assertEqual(t.shape, [8])
    self.assertAllClose(terms.loss, terms.distortion + beta * terms.rate)
    self.assertAllClose(terms.elbo, -(terms.distortion + terms.rate))

  def test_beta_can_be_a_variable(self):
    _, _, encoder = self._other_posterior()
    beta = tf.Variable(0.5, dtype=tf.float64)
    terms = objectives.elbo(encoder, self.model.decoder, self.model.prior,
                            self._batch(4), beta=beta)
    self.assertAllClose(terms.loss, terms.distortion + 0.5 * terms.rate)

  def test_notebook_normalisation_matches_the_notebook_formula(self):
    # The Sonnet notebook: mean over batch and pixels of sigmoid cross-entropy
    # with grey targets, plus beta times the mean over batch and latents of
    # the per-dimension KL. The decoder ignores z so both sides see the same
    # likelihood.
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(6, 4, 4, 1)).astype(np.float32)
    logits = rng.normal(size=(4, 4, 1)).astype(np.float32)
    loc = rng.normal(size=(6, 3)).astype(np.float32)
    scale = rng.uniform(0.3, 2., size=(6, 3)).astype(np.float32)
    encoder = lambda x: _diag(loc, scale)
    # dtype float32: an int Bernoulli would cast the grey targets to 0.
    decoder = lambda z: tfd.Independent(
        tfd.Bernoulli(logits=tf.broadcast_to(logits, [6, 4, 4, 1]),
                      dtype=tf.float32), 3)
    prior = _diag(np.zeros(3, np.float32), np.ones(3, np.float32))
    beta = 0.01
    terms = objectives.elbo(encoder, decoder, prior, x, beta=beta,
                            normalization='notebook')
    cross_entropy = (np.maximum(logits, 0) - logits * x
                     + np.log1p(np.exp(-np.abs(logits))))
    per_dim_kl = np.log(1 / scale) + (scale**2 + loc**2) / 2 - 0.5
    notebook_loss = np.mean(cross_entropy) + beta * np.mean(per_dim_kl)
    self.assertAllClose(np.mean(terms.loss), notebook_loss, rtol=1e-5)
    # And the relation the README states: notebook beta is a per-example beta
    # of beta * D / L, with the loss scaled by 1 / D.
    per_example = objectives.elbo(encoder, decoder, prior, x,
                                  beta=beta * 16 / 3)
    self.assertAllClose(terms.loss, per_example.loss / 16, rtol=1e-5)

  def test_unknown_normalisation(self):
    with self.assertRaisesRegex(ValueError, "'mean'"):
      objectives.elbo(lambda x: _diag(0., 1.), None, None, None,
                      normalization='mean')

  def test_iwae_rejects_zero_samples(self):
    with self.assertRaisesRegex(ValueError, 'num_samples must be positive'):
      objectives.iwae_bound(None, None, None, None, num_samples=0)


class ZooKLTest(tf.test.TestCase):
  """The KLs the model zoo adds, analytic against Monte Carlo or quadrature."""

  def test_one_component_mixture_monte_carlo_matches_analytic(self):
    prior = priors.MixtureOfGaussians(3, num_components=1, seed=0)
    components = prior().components_distribution
    gaussian = _diag(components.distribution.loc[0],
                     components.distribution.scale[0])
    posterior = _diag(tf.constant([[0.5, -0.2, 1.0]]),
                      tf.constant([[0.7, 1.2, 0.4]]))
    analytic = kl.kl_divergence(posterior, gaussian)
    sampled = kl.kl_divergence(posterior, prior, num_samples=200000,
                                       seed=[0, 1])
    # The estimator's standard deviation is about 1.5 / sqrt(2e5) = 0.003
    # nats here; 0.02 is over six of them.
    self.assertAllClose(sampled, analytic, atol=0.02)

  def test_mixture_monte_carlo_matches_quadrature_in_1d(self):
    prior = priors.MixtureOfGaussians(1, num_components=3, seed=1)
    p = prior()
    q = _diag(tf.constant([[0.3]]), tf.constant([[0.6]]))
    z = np.linspace(-12, 12, 48001, dtype=np.float32)[:, None]
    q_density = np.exp(q.log_prob(z[:, None]).numpy()[:, 0])
    integrand = q_density * (q.log_prob(z[:, None]).numpy()[:, 0]
                             - p.log_prob(z).numpy())
    reference = np.trapezoid(integrand, z[:, 0])
    sampled = kl.kl_divergence(q, prior, num_samples=200000,
                                       seed=[2, 3])
    self.assertAllClose(sampled, [reference], atol=0.02)

  def test_categorical_kl_matches_numpy_and_monte_carlo(self):
    logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(
        np.float32)
    posterior = categorical.categorical(logits)
    prior = categorical.UniformCategorical(3, 4)
    q = scipy.special.softmax(logits, axis=-1)
    expected = np.sum(q * np.log(4 * q), axis=(-2, -1))
    self.assertAllClose(kl.kl_divergence(posterior, prior), expected,
                        rtol=1e-5)
    sampled = kl.kl_divergence(posterior, prior, num_samples=100000,
                                       seed=[4, 5])
    # log q/p per draw lies within +-5 nats: the mean of 1e5 is within 0.03.
    self.assertAllClose(sampled, expected, atol=0.03)


def _linear_gaussian_parts():
  """The linear-Gaussian model, an encoder (not its true posterior) and x."""
  model = LinearGaussian()
  x = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.4]])

  def encoder(x):
    loc = tf.linalg.matvec(tf.constant(0.3 * model.w.T), x)
    return _diag(loc, np.array([0.5, 0.8]))

  return model, encoder, x


class FreeBitsTest(tf.test.TestCase):

  def test_batch_mean_is_the_sum_of_the_clamped_means(self):
    # Means .2, 1.5, .4.
    per_dim = tf.constant([[0.1, 2.0, 0.6], [0.3, 1.0, 0.2]])
    rate = kl.free_bits_rate(per_dim, 0.5)
    self.assertAllClose(tf.reduce_mean(rate), 0.5 + 1.5 + 0.5)

  def test_dimension_below_threshold_gets_no_gradient(self):
    # Dimension 0 carries a small KL (means near 0), dimension 1 a large one.
    loc = tf.Variable([[0.1, 3.0], [-0.1, 2.0]])
    scale = tf.Variable([[0.9, 0.5], [1.1, 0.5]])
    prior = priors.StandardNormal(2)
    with tf.GradientTape() as tape:
      posterior = _diag(loc, scale)
      groups = kl.kl_groups(posterior, prior,
                            kl.kl_divergence(posterior, prior))
      loss = tf.reduce_mean(kl.free_bits_rate(groups, 1.0))
    grad_loc, grad_scale = tape.gradient(loss, [loc, scale])
    self.assertAllEqual(grad_loc[:, 0], [0.0, 0.0])
    self.assertAllEqual(grad_scale[:, 0], [0.0, 0.0])
    # Above the threshold the gradient is the KL's own: d/dmu of mu^2 / 2
    # averaged over the batch of 2 is mu / 2.
    self.assertAllClose(grad_loc[:, 1], [1.5, 1.0])

  def test_elbo_and_rate_stay_true(self):
    model, encoder, x = _linear_gaussian_parts()
    plain = objectives.elbo(encoder, model.decoder, model.prior, x,
                            seed=[0, 0])
    free = objectives.elbo(encoder, model.decoder, model.prior, x,
                           free_bits=100.0, seed=[0, 0])
    self.assertAllEqual(free.elbo, plain.elbo)
    self.assertAllEqual(free.rate, plain.rate)
    # Both dimensions' KLs are far below 100 nats: each counts as 100.
    self.assertAllClose(free.loss, plain.distortion + 2 * 100.0)

  def test_negative_free_bits_refused(self):
    with self.assertRaisesRegex(ValueError, 'free_bits must be non-negative'):
      kl.free_bits_rate(tf.zeros([2, 3]), -1.0)


class ZooObjectivesTest(tf.test.TestCase):

  def test_iwae_objective_is_the_iwae_bound(self):
    model, encoder, x = _linear_gaussian_parts()
    terms = objectives.iwae(encoder, model.decoder, model.prior, x, 7,
                            seed=[1, 2])
    bound = objectives.iwae_bound(encoder, model.decoder, model.prior, x, 7,
                                  seed=[1, 2])
    self.assertAllClose(terms.loss, -bound, rtol=1e-6)
    self.assertAllClose(terms.elbo, -(terms.rate + terms.distortion))
    # The rate is the analytic KL here, as in the ELBO.
    self.assertAllClose(terms.rate,
                        kl.kl_divergence(encoder(x), model.prior))

  def test_iwae_with_one_sample_is_the_beta_elbo(self):
    model, encoder, x = _linear_gaussian_parts()
    terms = objectives.iwae(encoder, model.decoder, model.prior, x, 1,
                            beta=0.3, seed=[3, 4])
    posterior = encoder(x)
    z = posterior.sample(1, seed=[3, 4])
    log_px_z = model.decoder(z).log_prob(x)[0]
    log_ratio = (model.prior().log_prob(z) - posterior.log_prob(z))[0]
    self.assertAllClose(terms.loss, -(log_px_z + 0.3 * log_ratio), rtol=1e-6)

  def test_autoencoder_has_no_kl_and_no_elbo(self):
    model, encoder, x = _linear_gaussian_parts()
    terms = objectives.autoencoder(encoder, model.decoder, x)
    code = encoder(x).mean()
    self.assertAllClose(terms.distortion, -model.decoder(code).log_prob(x))
    self.assertAllEqual(terms.loss, terms.distortion)
    self.assertAllEqual(terms.rate, np.zeros(len(x)))
    self.assertTrue(np.all(np.isnan(terms.elbo)))

  def test_gumbel_softmax_elbo_relaxes_z_but_keeps_the_exact_rate(self):
    logits = tf.Variable(np.random.default_rng(0).normal(size=(2, 3, 4)),
                         dtype=tf.float32)
    seen = []

    def decoder(z):
      seen.append(z)
      return _diag(z, 1.0)

    prior = categorical.UniformCategorical(3, 4)
    x = tf.zeros([2, 12])
    with tf.GradientTape() as tape:
      terms = objectives.elbo(lambda _: categorical.categorical(logits),
                              decoder, prior, x, temperature=0.5,
                              seed=[0, 1])
      distortion = tf.reduce_sum(terms.distortion)
    z = seen[0].numpy().reshape(2, 3, 4)
    self.assertAllClose(z.sum(-1), np.ones([2, 3]), rtol=1e-5)
    self.assertGreater(np.min(np.max(z, -1) - np.min(z, -1)), 0)
    self.assertFalse(np.all(np.isin(z, [0.0, 1.0])))  # Relaxed, not one-hot.
    self.assertIsNotNone(tape.gradient(distortion, logits))
    self.assertAllClose(terms.rate, kl.kl_divergence(
        categorical.categorical(logits), prior))
    # Without a temperature, z is one-hot: the discrete model's ELBO.
    seen.clear()
    objectives.elbo(lambda _: categorical.categorical(logits), decoder, prior,
                    x, seed=[0, 1])
    self.assertTrue(np.all(np.isin(seen[0].numpy(), [0.0, 1.0])))


if __name__ == '__main__':
  tf.test.main()


class TrainableLinearGaussian:
  """q(z|x) = N(loc, scale^2) with a variable loc and scale per example,
  p(x|z) = N(W z + b, 0.7^2 I) with variables W and b, p(z) = N(0, I). As
  each example's loss depends only on its own row of loc and scale, one
  backward pass gives every example's encoder gradient."""

  def __init__(self, num_examples):
    rng = np.random.default_rng(5)
    self.loc = tf.Variable(np.tile([[0.4, -0.3]], (num_examples, 1)))
    self.scale = tf.Variable(np.tile([[0.6, 0.9]], (num_examples, 1)))
    self.w = tf.Variable(rng.normal(size=(2, 3)))
    self.b = tf.Variable(rng.normal(size=3))
    self.prior = priors.StandardNormal(2, dtype=tf.float64)

  def encoder(self, x):
    del x
    return _diag(self.loc, self.scale)

  def decoder(self, z):
    return _diag(tf.matmul(z, self.w) + self.b, 0.7)

  def gradients(self, objective, x, beta, seed):
    """Each example's encoder gradient [examples, 4], the decoder's summed
    over examples [9]."""
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(objective(self.encoder, self.decoder, self.prior,
                                     x, 10, beta=beta, seed=seed).loss)
    loc, scale, w, b = tape.gradient(loss,
                                     [self.loc, self.scale, self.w, self.b])
    return (tf.concat([loc, scale], axis=1).numpy(),
            tf.concat([tf.reshape(w, [-1]), b], axis=0).numpy())


class DReGTest(tf.test.TestCase, parameterized.TestCase):
  """Tucker et al. (2019): the same value and, in expectation, the same
  gradient as the IWAE objective; lower variance for the encoder."""

  def test_value_and_terms_are_the_iwae_objectives(self):
    model = TrainableLinearGaussian(6)
    x = tf.constant(np.random.default_rng(1).normal(size=(6, 3)))
    for beta in (1.0, 0.4):
      dreg = objectives.dreg(model.encoder, model.decoder, model.prior, x, 7,
                             beta=beta, seed=[3, 4])
      iwae = objectives.iwae(model.encoder, model.decoder, model.prior, x, 7,
                             beta=beta, seed=[3, 4])
      for name in objectives.ELBOTerms._fields:
        self.assertAllClose(getattr(dreg, name), getattr(iwae, name),
                            rtol=1e-12, msg=name)

  @parameterized.parameters(1.0, 0.4)
  def test_gradients_match_iwae_in_expectation_with_less_variance(self,
                                                                   beta):
    # One x repeated: each row is an independent estimate of its gradient,
    # both estimators using the same draws.
    model = TrainableLinearGaussian(20000)
    x = tf.constant(np.tile([[0.3, -1.2, 2.0]], (20000, 1)))
    dreg_encoder, dreg_decoder = model.gradients(objectives.dreg, x, beta,
                                                 [7, 8])
    iwae_encoder, iwae_decoder = model.gradients(objectives.iwae, x, beta,
                                                 [7, 8])
    # The decoder's gradients are IWAE's, draw for draw.
    self.assertAllClose(dreg_decoder, iwae_decoder, rtol=1e-9)
    # The encoder's agree in mean: the paired difference is within 4
    # standard errors of 0, for each of loc and scale's 4 entries.
    difference = dreg_encoder - iwae_encoder
    error = difference.std(axis=0) / np.sqrt(len(x))
    self.assertTrue(np.all(np.abs(difference.mean(axis=0)) < 4 * error),
                    (difference.mean(axis=0), error))
    self.assertGreater(np.abs(difference).max(), 0.1)  # Not the same draws.
    # And vary less: measured 0.09-0.42 of IWAE's variance at beta = 1,
    # 0.36-0.56 at beta = 0.4 (k = 10).
    ratio = dreg_encoder.var(axis=0) / iwae_encoder.var(axis=0)
    self.assertTrue(np.all(ratio < 0.7), ratio)
