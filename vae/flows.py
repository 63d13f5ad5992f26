"""Normalizing-flow posteriors: q(z|x) as a Gaussian pushed through a flow.

`IAFPosterior` (below) and `RealNVPPosterior` (affine couplings, Dinh et al.
2017).

Inverse autoregressive flow (Kingma et al. 2016, "Improved variational
inference with inverse autoregressive flow", eq. 10-11): draw
eps ~ N(mu(x), sigma(x)) from a diagonal Gaussian head, then apply K steps

  z_t = (z_{t-1} - m_t(z_{t-1}, h)) * exp(-s_t(z_{t-1}, h)),

where (m_t, s_t)_i depend only on z_{t-1, <i} (a MADE network, Germain et
al. 2015) and on the encoder's features h. The log-scale is bounded,
s = B tanh(a / B) of the network's output a with B = `LOG_SCALE_BOUND`, so a
step scales z by at most e^B either way (Kingma et al. bound theirs with a
sigmoid gate; unbounded, MAF's inverse loop overflowed on a random network).
Each step's Jacobian is triangular, so

  log q(z|x) = log N(eps; mu, sigma) + sum_t sum_i s_t,i.

A step is TFP's `Invert(MaskedAutoregressiveFlow)` on an
`AutoregressiveNetwork(conditional=True)`: its forward pass (sampling) is one
network call, and TFP's bijector cache gives log q(z|x) of the drawn z at no
extra inversion. A z that was not drawn (say a copy of one) is inverted by
MAF's D-step loop, exactly. The MADE networks' input order alternates
between steps (`input_order` left to right, then right to left), so each
dimension is conditioned on the others in turn; z itself is never
permuted, and zero steps leave z as eps.

The KL of such a posterior has no closed form: the ELBO estimates it by
Monte Carlo through `log_prob` (`kl_samples`), and `moments`
(active units, the exported `encode`) estimates the mean by sampling.
"""

from typing import Callable, List, Optional, Sequence, Union

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors

Initializer = Union[str, Callable]

LOG_SCALE_BOUND = 3.0


def _near_identity() -> snt.initializers.Initializer:
  """The flows' default for the weights that set each step's shift and
  log-scale: Glorot's uniform (Keras's default) scaled by 0.1, drawn by
  Sonnet. Keras's unseeded initialisers ignore `tf.random.set_seed`,
  Sonnet's follow it. Small weights start every step near the identity,
  q(z|x) near the diagonal Gaussian, as Kingma et al.'s gate bias does: on
  Fashion-MNIST (20,000 steps, seed 0) IAF gave ELBO -241.9 with it against
  -243.1 with Glorot's scale."""
  return snt.initializers.VarianceScaling(0.01, 'fan_avg', 'uniform')


def _hidden_sizes(sizes: Sequence[int]) -> List[int]:
  """`sizes` as a list; a `ValueError` unless there are some, all
  positive."""
  sizes = [int(size) for size in sizes]
  if not sizes or any(size < 1 for size in sizes):
    raise ValueError(f'hidden_sizes must be positive, got {sizes}')
  return sizes


class IAFPosterior(snt.Module):
  """A diagonal-Gaussian head followed by `flow_steps` IAF steps.

  `base` maps the encoder's features to the diagonal Gaussian of eps (an
  `encoders.GaussianPosterior`). Each step's MADE has `hidden_sizes` ReLU
  layers and sees the features at every layer. `kernel_initializer` is a
  Keras initialiser or a callable `(shape, dtype)`, by default one that
  starts every step near the identity; with `'zeros'` every step starts as
  the identity and q(z|x) is the base Gaussian.

  Args:
    base: The Gaussian head of the encoder's features (the flow's start).
    flow_steps: The number of IAF steps.
    hidden_sizes: The hidden sizes of each step's MADE.
    kernel_initializer: The initialiser of the MADE's last layer; default,
      near the identity.
    name: The module's name.
  """

  def __init__(self,
               base: Callable[[tf.Tensor], tfd.Distribution],
               flow_steps: int,
               hidden_sizes: Sequence[int] = (64, 64),
               kernel_initializer: Optional[Initializer] = None,
               name: Optional[str] = None):
    super().__init__(name=name)
    if flow_steps < 1:
      raise ValueError(f'flow_steps must be positive, got {flow_steps}')
    self.latent_size = base.latent_size
    self.flow_steps = flow_steps
    self._base = base
    self._hidden_sizes = _hidden_sizes(hidden_sizes)
    self._kernel_initializer = kernel_initializer or _near_identity()
    self._networks = None

  @snt.once
  def _create_networks(self, features: tf.Tensor):
    """One MADE per step; their conditional input is the features' size."""
    self._networks = [
        tfb.AutoregressiveNetwork(
            params=2, event_shape=[self.latent_size], conditional=True,
            conditional_event_shape=[features.shape[-1]],
            hidden_units=self._hidden_sizes, activation='relu',
            input_order=('left-to-right', 'right-to-left')[i % 2],
            kernel_initializer=self._kernel_initializer,
            name=f'{self.name}_made_{i}')
        for i in range(self.flow_steps)]

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    features = tf.convert_to_tensor(features)
    self._create_networks(features)
    steps = [tfb.Invert(tfb.MaskedAutoregressiveFlow(
        shift_and_log_scale_fn=_conditioned(network, features)))
             for network in self._networks]
    # Chain applies its last bijector first.
    return tfd.TransformedDistribution(self._base(features),
                                       tfb.Chain(steps[::-1]))


class RealNVPPosterior(snt.Module):
  """A diagonal-Gaussian head followed by `flow_steps` affine couplings.

  RealNVP (Dinh et al. 2017) on TFP's `RealNVP` bijector: each step keeps
  half of z and shifts and scales the other half by an MLP of the kept
  half and the encoder's features; the kept half alternates between the
  first and the last, so every dimension is transformed in turn. The
  log-scale is bounded like IAF's. Each step's output layer starts small
  (`output_initializer`, 0.1 of Glorot's scale by default), so q(z|x)
  starts near the base Gaussian; with zeros it starts as it. Sampling and
  log q are each one pass. TFP's `RealNVP` does not broadcast z against
  the features' batch, so it cannot be a VampPrior's component.

  Args:
    base: The Gaussian head of the encoder's features (the flow's start).
    flow_steps: The number of coupling steps.
    hidden_sizes: The hidden sizes of each step's network.
    output_initializer: The initialiser of its output layer; default, 0.1
      of Glorot's scale.
    name: The module's name.
  """

  def __init__(self,
               base: Callable[[tf.Tensor], tfd.Distribution],
               flow_steps: int,
               hidden_sizes: Sequence[int] = (64, 64),
               output_initializer: Optional[snt.initializers.Initializer] = (
                   None),
               name: Optional[str] = None):
    super().__init__(name=name)
    if flow_steps < 1:
      raise ValueError(f'flow_steps must be positive, got {flow_steps}')
    if base.latent_size < 2:
      raise ValueError(f'a coupling needs latent_size >= 2, got '
                       f'{base.latent_size}')
    self.latent_size = base.latent_size
    self.flow_steps = flow_steps
    self._base = base
    kept = self.latent_size // 2
    self._kept = [kept if i % 2 == 0 else -kept for i in range(flow_steps)]
    output_initializer = output_initializer or _near_identity()
    self._couplings = [_Coupling(hidden_sizes, self.latent_size - kept,
                                 output_initializer, name=f'coupling_{i}')
                       for i in range(flow_steps)]

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    features = tf.convert_to_tensor(features)
    steps = [tfb.RealNVP(num_masked=kept, shift_and_log_scale_fn=(
        lambda x, units, coupling=coupling: coupling(x, features)))
             for kept, coupling in zip(self._kept, self._couplings)]
    return tfd.TransformedDistribution(self._base(features),
                                       tfb.Chain(steps[::-1]))


class _Coupling(snt.Module):
  """(shift, bounded log-scale) of `units` dimensions from the kept ones
  and the features, broadcast against each other."""

  def __init__(self, hidden_sizes: Sequence[int], units: int,
               output_initializer: snt.initializers.Initializer,
               name: Optional[str] = None):
    super().__init__(name=name)
    self._torso = snt.nets.MLP(_hidden_sizes(hidden_sizes),
                               activate_final=True,
                               name='torso')
    self._out = snt.Linear(2 * units, w_init=output_initializer,
                           name='shift_and_log_scale')

  def __call__(self, kept: tf.Tensor, context: tf.Tensor):
    batch_shape, (kept, context) = _flat_rows(kept, context)
    params = self._out(self._torso(tf.concat([kept, context], -1)))
    params = tf.reshape(params, tf.concat([batch_shape, [-1]], 0))
    shift, log_scale = tf.split(params, 2, axis=-1)
    return shift, LOG_SCALE_BOUND * tf.tanh(log_scale / LOG_SCALE_BOUND)


def is_flow(distribution: tfd.Distribution) -> bool:
  """Whether `distribution` is a diagonal Gaussian pushed through a flow.

  Args:
    distribution: A posterior.
  """
  # TFP makes a `TransformedDistribution` of a bijector that is not a
  # CompositeTensor (ours) an instance of its private base class only.
  return (hasattr(distribution, 'bijector')
          and isinstance(distribution.distribution, tfd.Independent)
          and isinstance(distribution.distribution.distribution, tfd.Normal))


def moments(posterior: tfd.Distribution, num_samples: int = 256,
            seed=(0, 0)):
  """(mean, stddev) of z under a flow posterior, [batch, latent], from
  `num_samples` draws.

  Every example's draws use the same standard-normal noise (common random
  numbers, fixed `seed`), so the estimates are deterministic and their
  noise does not vary between examples: a dimension whose posterior is the
  same for every x gets the same mean for every x, and its variance across
  the data (Burda et al.'s activity) is 0, not the Monte Carlo error.

  Args:
    posterior: A flow posterior.
    num_samples: The draws the moments are estimated from.
    seed: A seed for them.
  """
  normal = posterior.distribution.distribution
  noise = tf.random.stateless_normal(
      [num_samples, 1, posterior.event_shape[-1]], seed=seed,
      dtype=normal.loc.dtype)
  z = posterior.bijector.forward(normal.loc + normal.scale * noise)
  return tf.reduce_mean(z, axis=0), tf.math.reduce_std(z, axis=0)


def _conditioned(network: tfb.AutoregressiveNetwork, context: tf.Tensor):
  """MAF's `shift_and_log_scale_fn` of `network` given context [..., c]
  for inputs [..., latent] whose batch shapes broadcast (sample axes before
  a batch, or a VampPrior's components against a batch of z)."""

  def shift_and_log_scale(z):
    batch_shape, (flat_z, flat_context) = _flat_rows(z, context)
    params = network(flat_z, conditional_input=flat_context)
    params = tf.reshape(params, tf.concat([batch_shape, [z.shape[-1], 2]], 0))
    shift, log_scale = tf.unstack(params, axis=-1)
    return shift, LOG_SCALE_BOUND * tf.tanh(log_scale / LOG_SCALE_BOUND)

  return shift_and_log_scale


def _flat_rows(*tensors: tf.Tensor):
  """(their broadcast batch shape, each broadcast to it and flattened to
  rows [-1, its last dimension]): one network pass for any sample and batch
  axes."""
  batch_shape = tf.shape(tensors[0])[:-1]
  for t in tensors[1:]:
    batch_shape = tf.broadcast_dynamic_shape(batch_shape, tf.shape(t)[:-1])
  return batch_shape, [
      tf.reshape(tf.broadcast_to(t, tf.concat([batch_shape,
                                               tf.shape(t)[-1:]], 0)),
                 [-1, t.shape[-1]]) for t in tensors]
