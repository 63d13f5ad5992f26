"""Tests for vae/planar_radial.py: the log-determinants against autodiff
Jacobians, the invertibility conditions of Rezende and Mohamed's appendix,
and log q(z|x) of the posterior against the change of variables."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import encoders
from vae import flows
from vae import planar_radial

tfd = tfp.distributions


def _autodiff_log_det(bijector, z):
  """log |det df/dz| per row of z [n, d], from the Jacobian itself."""
  with tf.GradientTape() as tape:
    tape.watch(z)
    y = bijector.forward(z)
  return tf.linalg.slogdet(tape.batch_jacobian(y, z))[1]


def _steps(kind, n, d, rng, scale=1.5):
  """A step of `kind` with parameters of batch [n]."""
  if kind == 'planar':
    return planar_radial.Planar(rng.normal(size=(n, d)) * scale,
                                rng.normal(size=(n, d)), rng.normal(size=n))
  return planar_radial.Radial(rng.normal(size=(n, d)),
                              rng.normal(size=n) * scale,
                              rng.normal(size=n) * scale)


class StepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(kind=['planar', 'radial'], d=[1, 2, 5])
  def test_log_det_is_the_jacobians(self, kind, d):
    rng = np.random.default_rng(d)
    step = _steps(kind, 64, d, rng)
    z = tf.constant(rng.normal(size=(64, d)) * 2)
    self.assertAllClose(step.forward_log_det_jacobian(z, event_ndims=1),
                        _autodiff_log_det(step, z), atol=1e-9)

  def test_planar_u_is_corrected_as_appendix_a1(self):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(200, 3))
    u = -3.0 * w + rng.normal(size=(200, 3))  # Most have w.u < -1.
    self.assertGreater(np.mean(np.sum(w * u, -1) < -1), 0.9)
    step = planar_radial.Planar(u, w, np.zeros(200))
    wu = np.sum(w * u, -1)
    m = -1 + np.log1p(np.exp(wu))
    expected = u + ((m - wu) / np.sum(w * w, -1))[:, None] * w
    self.assertAllClose(step.u, expected)
    # w.u' >= -1 (equal only where softplus underflows).
    self.assertTrue(np.all(np.sum(w * step.u.numpy(), -1) >= -1 - 1e-12))
    # So 1 + u'.psi(z) > 0 for every z: the step is invertible.
    z = tf.constant(rng.normal(size=(200, 3)) * 5)
    self.assertTrue(np.all(np.isfinite(
        step.forward_log_det_jacobian(z, event_ndims=1))))

  def test_planar_with_w_zero_is_the_identity(self):
    step = planar_radial.Planar(np.ones((1, 2)), np.zeros((1, 2)),
                                np.zeros(1))
    z = tf.constant([[0.5, -2.0]], tf.float64)
    self.assertAllEqual(step.forward(z), z)
    self.assertAllEqual(step.forward_log_det_jacobian(z, event_ndims=1), [0])

  def test_radial_beta_is_at_least_minus_alpha(self):
    rng = np.random.default_rng(1)
    step = planar_radial.Radial(np.zeros((100, 2)), rng.normal(size=100) * 3,
                                rng.normal(size=100) * 3 - 5)
    self.assertTrue(np.all(step.beta.numpy() >= -step.alpha.numpy()))
    self.assertTrue(np.all(step.alpha.numpy() > 0))


class PosteriorTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters('planar', 'radial')
  def test_log_q_is_the_change_of_variables(self, kind):
    posterior_net = planar_radial.FlowPosterior(
        encoders.GaussianPosterior(3, 'diagonal'), 4, kind)
    features = tf.random.stateless_normal([5, 8], seed=[0, 1],
                                          dtype=tf.float64)
    q = posterior_net(features)
    # Larger steps than the near-identity start, so the flow matters.
    for v in posterior_net.trainable_variables:
      v.assign(v * 5.0)
    q = posterior_net(features)
    z = q.sample(seed=[2, 3])
    # The same base draw, pushed through the chain by hand; log q by the
    # change of variables with the whole chain's autodiff Jacobian.
    z0 = q.distribution.sample(seed=[2, 3])
    self.assertAllClose(q.bijector.forward(z0), z)
    expected = (q.distribution.log_prob(z0)
                - _autodiff_log_det(q.bijector, z0))
    self.assertAllClose(q.log_prob(z), expected, atol=1e-8)
    self.assertGreater(
        np.abs(q.log_prob(z) - q.distribution.log_prob(z0)).mean(), 1e-2)
    self.assertTrue(flows.is_flow(q))  # So moments are estimated by draws.

  def test_bad_settings(self):
    base = encoders.GaussianPosterior(2, 'diagonal')
    with self.assertRaisesRegex(ValueError, 'flow_steps must be positive'):
      planar_radial.FlowPosterior(base, 0, 'planar')
    with self.assertRaisesRegex(ValueError, 'kind must be one of'):
      planar_radial.FlowPosterior(base, 2, 'sylvester')


if __name__ == '__main__':
  tf.test.main()
