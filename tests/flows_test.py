"""Tests for vae/flows.py: inverse autoregressive flow posteriors."""

from absl.testing import parameterized
import numpy as np
from scipy import stats
import sonnet as snt
import tensorflow as tf

from vae import config as config_lib
from vae import encoders
from vae import flows
from vae import training
from vae.run import build

LATENT = 4
FEATURES = 6


def _head(flow_steps=1, kernel_initializer=None):
  # Glorot's scale: steps far from the identity, a strong test.
  return flows.IAFPosterior(
      encoders.GaussianPosterior(LATENT, name='base'), flow_steps,
      hidden_sizes=(8, 8), name='posterior',
      kernel_initializer=kernel_initializer or (
          snt.initializers.VarianceScaling(1.0, 'fan_avg', 'uniform')))


def _coupling(flow_steps=1, output_initializer=None):
  return flows.RealNVPPosterior(
      encoders.GaussianPosterior(LATENT, name='base'), flow_steps,
      hidden_sizes=(8,), output_initializer=output_initializer,
      name='posterior')


def _randomise(head, features):
  """Random weights everywhere, far from the identity."""
  head(features).sample(seed=[0, 0])  # Creates the variables.
  for variable in head.trainable_variables:
    variable.assign(tf.random.normal(variable.shape, stddev=0.3, seed=7))


def _features(batch=5, seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.normal(size=(batch, FEATURES)), tf.float32)


def _jacobian(posterior, eps):
  """dz/d(eps) of the flow, [batch, latent, latent], by autodiff."""
  eps = tf.identity(eps)
  with tf.GradientTape() as tape:
    tape.watch(eps)
    z = posterior.bijector.forward(eps)
  return z, tape.batch_jacobian(z, eps).numpy()


def _base_log_density(posterior, eps):
  normal = posterior.distribution.distribution
  return np.sum(stats.norm.logpdf(eps, normal.loc.numpy(),
                                  normal.scale.numpy()), axis=-1)



def assert_eager_and_function_agree(test, head, features, num_draws):
  """log q of `num_draws` seeded draws of `head(features)` is the same
  eagerly and in a function traced for an unknown batch, which also takes
  a smaller one."""

  def log_q(f):
    q = head(f)
    return q.log_prob(q.sample(num_draws, seed=[1, 2]))

  eager = log_q(features)
  compiled = tf.function(
      log_q, input_signature=[tf.TensorSpec([None, features.shape[-1]])])
  test.assertAllClose(compiled(features), eager, atol=1e-5)
  test.assertEqual(compiled(features[:2]).shape, [num_draws, 2])


class IAFPosteriorTest(tf.test.TestCase, parameterized.TestCase):

  def test_shapes(self):
    q = _head(flow_steps=2)(_features(batch=3))
    self.assertEqual(q.batch_shape, [3])
    self.assertEqual(q.event_shape, [LATENT])
    z = q.sample(6, seed=[1, 2])
    self.assertEqual(z.shape, [6, 3, LATENT])
    self.assertEqual(q.log_prob(z).shape, [6, 3])
    self.assertEqual(q.log_prob(z).dtype, tf.float32)

  @parameterized.parameters(1, 3)
  def test_log_prob_is_base_density_minus_log_determinant(self, flow_steps):
    # z = f(eps), eps ~ N(mu, sigma): log q(z) = log N(eps) - log|det f'|,
    # with scipy's density and NumPy's determinant of the autodiff Jacobian.
    tf.random.set_seed(flow_steps)  # Known random weights.
    q = _head(flow_steps)(_features())
    eps = q.distribution.sample(seed=[3, 4])
    z, jacobian = _jacobian(q, eps)
    expected = (_base_log_density(q, eps.numpy())
                - np.linalg.slogdet(jacobian)[1])
    self.assertGreater(np.abs(np.linalg.slogdet(jacobian)[1]).min(), 1e-3)
    # The drawn z (TFP's cache gives its eps) and a copy of it (inverted
    # by MAF's loop) alike.
    self.assertAllClose(q.log_prob(z), expected, atol=1e-4)
    self.assertAllClose(q.log_prob(tf.identity(z) + 0.0), expected,
                        atol=1e-4)

  def test_steps_are_autoregressive_in_alternating_orders(self):
    # z_i depends on eps_1..eps_i only: a lower-triangular Jacobian, with
    # entries below the diagonal (the step is not elementwise).
    tf.random.set_seed(0)
    q = _head(flow_steps=1)(_features())
    _, jacobian = _jacobian(q, q.distribution.sample(seed=[5, 6]))
    self.assertAllEqual(np.triu(jacobian, k=1), np.zeros_like(jacobian))
    self.assertGreater(np.abs(np.tril(jacobian, k=-1)).max(), 1e-3)
    # The second step runs right to left: z_1 then depends on eps_2..eps_D.
    q = _head(flow_steps=2)(_features())
    _, jacobian = _jacobian(q, q.distribution.sample(seed=[5, 6]))
    self.assertGreater(np.abs(np.triu(jacobian, k=1)).max(), 1e-3)

  def test_zero_initialised_steps_are_the_diagonal_posterior(self):
    q = _head(flow_steps=2, kernel_initializer='zeros')(_features())
    base = q.distribution
    self.assertAllEqual(q.sample(2, seed=[7, 8]),
                        base.sample(2, seed=[7, 8]))
    z = tf.random.normal([2, 5, LATENT], seed=1)
    self.assertAllClose(q.log_prob(z), base.log_prob(z), atol=1e-6)

  def test_log_scale_is_bounded(self):
    # Features 1,000 times too large saturate the networks: each step still
    # scales by at most e^B, and MAF's inverse loop stays finite.
    q = _head(flow_steps=2)(1e3 * _features())
    eps = q.distribution.sample(seed=[1, 2])
    _, jacobian = _jacobian(q, eps)
    log_det = np.linalg.slogdet(jacobian)[1]
    self.assertAllLessEqual(np.abs(log_det),
                            2 * LATENT * flows.LOG_SCALE_BOUND + 1e-3)
    z = q.bijector.forward(eps)
    self.assertTrue(np.all(np.isfinite(q.log_prob(tf.identity(z) + 0.0))))

  def test_eager_and_function_agree_with_unknown_batch(self):
    assert_eager_and_function_agree(self, _head(flow_steps=2), _features(),
                                    num_draws=3)

  def test_moments_share_their_noise_across_examples(self):
    # Zero-initialised steps: q is the base N(mu, sigma). Every example's
    # draws use the same noise u, so (mean - mu) / sigma = mean(u) is one
    # vector for all rows, and within 4 standard errors (1/sqrt(256)) of 0.
    q = _head(flow_steps=2, kernel_initializer='zeros')(_features())
    normal = q.distribution.distribution
    mean, stddev = flows.moments(q)
    standardised = ((mean - normal.loc) / normal.scale).numpy()
    self.assertAllClose(standardised, np.broadcast_to(
        standardised[:1], standardised.shape), atol=1e-5)
    self.assertAllLess(np.abs(standardised), 4 / np.sqrt(256))
    # The sample standard deviation: standard error sigma / sqrt(2 * 256).
    self.assertAllClose(stddev, normal.scale, rtol=4 / np.sqrt(512))
    self.assertAllEqual(flows.moments(q)[0], mean)  # Deterministic.
    self.assertAllEqual(encoders.moments(q)[0], mean)

  def test_bad_arguments(self):
    base = encoders.GaussianPosterior(LATENT)
    with self.assertRaisesRegex(ValueError, 'flow_steps must be positive, '
                                'got 0'):
      flows.IAFPosterior(base, 0)
    with self.assertRaisesRegex(ValueError, r'hidden_sizes must be positive, '
                                r'got \[8, 0\]'):
      flows.IAFPosterior(base, 1, hidden_sizes=(8, 0))


class RealNVPPosteriorTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(1, 3)
  def test_log_prob_is_base_density_minus_log_determinant(self, flow_steps):
    tf.random.set_seed(flow_steps)
    head, features = _coupling(flow_steps), _features()
    _randomise(head, features)
    q = head(features)
    eps = q.distribution.sample(seed=[3, 4])
    z, jacobian = _jacobian(q, eps)
    log_det = np.linalg.slogdet(jacobian)[1]
    self.assertGreater(np.abs(log_det).min(), 1e-3)
    expected = _base_log_density(q, eps.numpy()) - log_det
    self.assertAllClose(q.log_prob(z), expected, atol=1e-4)
    self.assertAllClose(q.log_prob(tf.identity(z) + 0.0), expected,
                        atol=1e-4)

  def test_steps_keep_alternate_halves(self):
    # Step 1 keeps z[:2] (identity rows); step 2 keeps z[2:].
    head, features = _coupling(1), _features()
    _randomise(head, features)
    q = head(features)
    _, jacobian = _jacobian(q, q.distribution.sample(seed=[5, 6]))
    self.assertAllClose(jacobian[:, :2, :], np.broadcast_to(
        np.eye(LATENT)[:2], jacobian[:, :2, :].shape))
    self.assertGreater(np.abs(jacobian[:, 2:, :2]).max(), 1e-3)
    head = _coupling(2)
    _randomise(head, features)
    q = head(features)
    _, jacobian = _jacobian(q, q.distribution.sample(seed=[5, 6]))
    self.assertGreater(np.abs(jacobian[:, :2, 2:]).max(), 1e-3)

  def test_zero_output_layers_are_the_diagonal_posterior(self):
    q = _coupling(2, tf.zeros_initializer())(_features())
    base = q.distribution
    self.assertAllEqual(q.sample(2, seed=[7, 8]),
                        base.sample(2, seed=[7, 8]))
    self.assertAllClose(flows.moments(q)[0], encoders.moments(q)[0])

  def test_eager_and_function_agree_with_unknown_batch(self):
    head, features = _coupling(2), _features()
    _randomise(head, features)

    def log_q(f):
      q = head(f)
      return q.log_prob(q.sample(3, seed=[1, 2]))

    compiled = tf.function(
        log_q, input_signature=[tf.TensorSpec([None, FEATURES])])
    self.assertAllClose(compiled(features), log_q(features), atol=1e-5)
    self.assertEqual(compiled(features[:2]).shape, [3, 2])

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, 'latent_size >= 2, got 1'):
      flows.RealNVPPosterior(encoders.GaussianPosterior(1), 1)


class TrainedFlowTest(tf.test.TestCase):

  def test_masks_hold_after_training(self):
    # TFP's MADE keeps its masks as Keras kernel constraints, which Sonnet's
    # optimisers do not apply (`training._apply` does). Were the masked
    # weights trained, the flow would not be autoregressive and log q of a
    # copy of z (inverted by MAF's loop) would not be log q of z.
    tf.random.set_seed(0)
    config = config_lib.make(posterior='iaf', flow_steps=2, latent_size=3,
                             hidden_sizes=[16], flow_hidden_sizes=[8],
                             beta=1.0)
    model = build.build(config.model, (8, 8, 1))
    step = training.make_train_step(model, snt.optimizers.Adam(0.05),
                                    kl_samples=1)
    x = tf.cast(tf.random.uniform([16, 8, 8, 1]) < 0.3, tf.float32)
    for i in range(5):
      step(x, tf.constant([0, i]))
    masked = [v for v in model.trainable_variables
              if getattr(v, 'constraint', None) is not None]
    self.assertNotEmpty(masked)
    for variable in masked:
      self.assertAllEqual(variable.constraint(variable), variable)
    q = model.encoder(x)
    z = q.sample(seed=[1, 2])
    self.assertAllClose(q.log_prob(tf.identity(z) + 0.0), q.log_prob(z),
                        atol=1e-4)


if __name__ == '__main__':
  tf.test.main()
