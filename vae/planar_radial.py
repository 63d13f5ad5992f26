"""Planar and radial flows: Rezende and Mohamed (2015), "Variational
inference with normalizing flows", section 4.1 and appendix A.

`FlowPosterior` draws z_0 from a diagonal Gaussian head and pushes it
through K steps whose parameters the encoder's features set (amortised, as
the paper's inference network outputs them):

- planar: f(z) = z + u' tanh(w.z + b), with
  log |det df/dz| = log |1 + u'.psi(z)|, psi(z) = (1 - tanh^2(w.z + b)) w
  (eq. 10-12). f is invertible when w.u' >= -1; as the paper's appendix
  A.1 does, u' = u + (m(w.u) - w.u) w / |w|^2 with m(a) = -1 + softplus(a)
  makes it so for any u.
- radial: f(z) = z + beta h(alpha, r) (z - z_0), r = |z - z_0|,
  h = 1 / (alpha + r), with log |det df/dz| = (d - 1) log(1 + beta h)
  + log(1 + beta h + beta h'(r) r) (eq. 14). It is invertible when
  beta >= -alpha (appendix A.2): here alpha = softplus(a) > 0 and
  beta = -alpha + softplus(b).

Neither step has a closed-form inverse, so log q(z|x) is known only at the
z the posterior drew (TFP's bijector cache keeps each step's log-det): the
objectives ask for no other, and the VampPrior, which would, refuses these
posteriors (trait `vamp_component`). The KL has no closed form; the ELBO
estimates it by Monte Carlo.
"""

from typing import Callable, Optional

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import encoders
from vae import flows

tfd = tfp.distributions
tfb = tfp.bijectors


def _dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  return tf.reduce_sum(a * b, axis=-1)


class Planar(tfb.Bijector):
  """One planar step, its parameters of batch shape [...] broadcasting
  against z [..., d].

  Args:
    u: [..., d], before the invertibility correction.
    w: [..., d].
    b: [...].
    name: The bijector's name.
  """

  def __init__(self, u, w, b, name: str = 'planar'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self.w, self.b = w, b
      w_dot_u = _dot(w, u)
      # Appendix A.1: w.u' = m(w.u) = -1 + softplus(w.u) > -1.
      # (At w = 0 the step is the identity whatever u is: no correction.)
      self.u = u + tf.math.divide_no_nan(
          -1.0 + tf.math.softplus(w_dot_u) - w_dot_u,
          _dot(w, w))[..., tf.newaxis] * w
      super().__init__(forward_min_event_ndims=1, parameters=parameters,
                       name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(u=tfp.util.ParameterProperties(event_ndims=1),
                w=tfp.util.ParameterProperties(event_ndims=1),
                b=tfp.util.ParameterProperties(event_ndims=0))

  def _forward(self, z):
    return z + self.u * tf.tanh(_dot(self.w, z) + self.b)[..., tf.newaxis]

  def _forward_log_det_jacobian(self, z):
    slope = 1.0 - tf.tanh(_dot(self.w, z) + self.b)**2
    return tf.math.log(tf.abs(1.0 + slope * _dot(self.w, self.u)))


class Radial(tfb.Bijector):
  """One radial step, its parameters of batch shape [...] broadcasting
  against z [..., d].

  Args:
    z0: [..., d] the centre.
    alpha: [...] before softplus.
    beta: [...] before the invertibility map -alpha + softplus(beta).
    name: The bijector's name.
  """

  def __init__(self, z0, alpha, beta, name: str = 'radial'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self.z0 = z0
      self.alpha = tf.math.softplus(alpha)
      self.beta = -self.alpha + tf.math.softplus(beta)  # Appendix A.2.
      super().__init__(forward_min_event_ndims=1, parameters=parameters,
                       name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(z0=tfp.util.ParameterProperties(event_ndims=1),
                alpha=tfp.util.ParameterProperties(event_ndims=0),
                beta=tfp.util.ParameterProperties(event_ndims=0))

  def _h(self, z):
    """(r, h(alpha, r)) at z."""
    r = tf.norm(z - self.z0, axis=-1)
    return r, 1.0 / (self.alpha + r)

  def _forward(self, z):
    _, h = self._h(z)
    return z + (self.beta * h)[..., tf.newaxis] * (z - self.z0)

  def _forward_log_det_jacobian(self, z):
    r, h = self._h(z)
    d = tf.cast(tf.shape(z)[-1], z.dtype)
    beta_h = self.beta * h
    # h'(r) r = -r / (alpha + r)^2 = -h^2 r.
    return ((d - 1.0) * tf.math.log1p(beta_h)
            + tf.math.log1p(beta_h - self.beta * h**2 * r))


# Each kind: the sizes of its three parameters for latent size d, and its
# step from them.
STEPS = {
    'planar': (lambda d: (d, d, 1),
               lambda u, w, b: Planar(u, w, b[..., 0])),
    'radial': (lambda d: (d, 1, 1),
               lambda z0, alpha, beta: Radial(z0, alpha[..., 0],
                                              beta[..., 0])),
}


class FlowPosterior(snt.Module):
  """A diagonal-Gaussian head, then `flow_steps` planar or radial steps
  whose parameters are a linear map of the encoder's features.

  The map's weights start small (`flows`' near-identity initialiser), so
  q(z|x) starts near the head's Gaussian.

  Args:
    base: The Gaussian head of the encoder's features.
    flow_steps: K.
    kind: 'planar' or 'radial'.
    name: The module's name.
  """

  def __init__(self, base: Callable[[tf.Tensor], tfd.Distribution],
               flow_steps: int, kind: str, name: Optional[str] = None):
    super().__init__(name=name)
    if flow_steps < 1:
      raise ValueError(f'flow_steps must be positive, got {flow_steps}')
    if kind not in STEPS:
      raise ValueError(f'kind must be one of {sorted(STEPS)}, got {kind!r}')
    self.latent_size = base.latent_size
    self.flow_steps = flow_steps
    self._base = base
    sizes, self._step = STEPS[kind]
    self._sizes = sizes(self.latent_size)
    self._parameters = snt.Linear(
        flow_steps * sum(self._sizes),
        w_init=flows._near_identity(),  # pylint: disable=protected-access
        name='flow_parameters')

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    features = tf.convert_to_tensor(features)
    per_step = tf.split(self._parameters(features), self.flow_steps, -1)
    steps = [self._step(*tf.split(params, self._sizes, -1))
             for params in per_step]
    return tfd.TransformedDistribution(self._base(features),
                                       tfb.Chain(steps[::-1]))


def _register(kind: str, paper: str):
  encoders.POSTERIORS.register(
      kind, lambda c, parts: FlowPosterior(
          encoders.GaussianPosterior(c.latent_size, 'diagonal', name='base'),
          c.flow_steps, kind, name='posterior'),
      f'a diagonal Gaussian through --flow_steps {kind} steps ({paper})',
      fields=('latent_size', 'flow_steps'), flow=True, analytic_kl=False,
      vamp_component=f'a {kind} step has no inverse to find q at a z it '
      'did not draw')


_register('planar', 'Rezende and Mohamed 2015, eq. 10')
_register('radial', 'Rezende and Mohamed 2015, eq. 14')
