"""Hierarchical latents: stochastic layers z_1 (bottom) to z_n (top).

The generative model (Burda et al. 2016, section 5; Sønderby et al. 2016):

  p(z_n) = N(0, I),  p(z_l | z_{l+1}) = N(mu_l(z_{l+1}), sigma_l(z_{l+1})),

and the decoder's p(x | z_1). Two ways to infer the layers:

- 'bottom_up' (Burda et al.): q(z_1|x) q(z_2|z_1) ... q(z_n|z_{n-1}), each
  a diagonal Gaussian from an MLP of the layer below (of the encoder's
  features for z_1).
- 'ladder' (Sønderby et al. 2016, eq. 17-21): a deterministic bottom-up
  pass d_l = MLP(d_{l-1}) (d_1 the encoder's features) gives estimates
  N(m_l, s_l); a top-down pass draws z_n ~ N(m_n, s_n), then each z_l from
  the precision-weighted merge of N(m_l, s_l) with the generative
  p(z_l | z_{l+1}) = N(mu, sigma), whose network it shares:
  sigma_q^2 = 1 / (s^-2 + sigma^-2), mu_q = (m s^-2 + mu sigma^-2) sigma_q^2.

Every one of these is a distribution over the layers concatenated,
z = [z_1, ..., z_n] (bottom first): a standard normal eps pushed through
`Layered`, which draws z_l = mu_l + sigma_l eps_l layer by layer in the
model's order, (mu_l, sigma_l) a function of the layers drawn before it.
That is the reparameterisation each model samples by, written as a TFP
bijector: its inverse is one parallel pass (given z, every layer's
conditioning is known), and log q(z) = log N(eps; 0, I) - sum log sigma.
So the objectives, the IWAE bound, the NLL estimate and the replica-exact
draws (which draw eps) take a hierarchy as one vector latent; the KL has no
closed form and is Monte Carlo. `rate_per_layer` splits it by layer.
"""

from typing import Callable, List, Optional, Sequence, Tuple

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import encoders

tfd = tfp.distributions
tfb = tfp.bijectors

INFERENCES = ('bottom_up', 'ladder')

# A layer's conditional: from the list of layers (those drawn before it
# filled in) to its Gaussian's (loc, scale).
Conditional = Callable[[List[Optional[tf.Tensor]]],
                       Tuple[tf.Tensor, tf.Tensor]]


class Layered(tfb.Bijector):
  """eps -> z, z_l = loc_l + scale_l * eps_l in the layers' sampling order.

  `sizes` are the layers' sizes in z's layout (bottom first), `order` the
  order they are drawn in, and `conditionals[l]` gives layer l's (loc,
  scale) from the layers drawn before it.

  Args:
    sizes: The layers' sizes, bottom first.
    order: The order the layers are drawn in (indices into `sizes`).
    conditionals: For each layer in `order`, a function of the layers
      drawn before it giving its Gaussian's (loc, scale).
    name: The bijector's name.
  """

  def __init__(self, sizes: Sequence[int], order: Sequence[int],
               conditionals: Sequence[Conditional], name: str = 'layered'):
    parameters = dict(locals())
    self._sizes = [int(s) for s in sizes]
    self._order = list(order)
    self._conditionals = list(conditionals)
    super().__init__(forward_min_event_ndims=1, validate_args=False,
                     parameters=parameters, name=name)

  def _split(self, values: tf.Tensor) -> List[tf.Tensor]:
    return tf.split(values, self._sizes, axis=-1)

  def _forward(self, eps):
    eps = self._split(eps)
    z = [None] * len(self._sizes)
    for layer in self._order:
      loc, scale = self._conditionals[layer](z)
      z[layer] = loc + scale * eps[layer]
    return tf.concat(z, axis=-1)

  def layer_params(self, z: tf.Tensor):
    """(layers of z, each layer's (loc, scale)): one parallel pass."""
    layers = self._split(z)
    return layers, [condition(layers) for condition in self._conditionals]

  def _inverse(self, z):
    layers, params = self.layer_params(z)
    return tf.concat([(layer - loc) / scale
                      for layer, (loc, scale) in zip(layers, params)], -1)

  def _inverse_log_det_jacobian(self, z):
    layers, params = self.layer_params(z)
    return -tf.add_n([tf.reduce_sum(tf.math.log(scale) + tf.zeros_like(layer),
                                    axis=-1)
                      for layer, (_, scale) in zip(layers, params)])

  def layer_log_probs(self, z: tf.Tensor) -> tf.Tensor:
    """log N(z_l; loc_l, scale_l) per layer, [..., layers]: the terms of
    the distribution's `log_prob(z)`."""
    layers, params = self.layer_params(z)
    return tf.stack([
        tfd.Independent(tfd.Normal(loc, scale), 1).log_prob(layer)
        for layer, (loc, scale) in zip(layers, params)], axis=-1)


def _layered(base_rows: tf.Tensor, sizes, order, conditionals):
  """The distribution of z: N(0, I) of rows `base_rows` [..., sum(sizes)]
  through `Layered`."""
  base = tfd.Independent(tfd.Normal(base_rows, 1.0),
                         reinterpreted_batch_ndims=1)
  return tfd.TransformedDistribution(base, Layered(sizes, order,
                                                   conditionals))


def is_layered(distribution: tfd.Distribution) -> bool:
  """Whether `distribution` is a hierarchy's (its bijector `Layered`).

  Args:
    distribution: A posterior or prior.
  """
  return isinstance(getattr(distribution, 'bijector', None), Layered)


def rate_per_layer(posterior: tfd.Distribution, prior: tfd.Distribution,
                   z: tf.Tensor) -> tf.Tensor:
  """log q(z_l | ...) - log p(z_l | ...) per layer at draws z of the
  posterior, [..., layers]: one-sample estimates of each layer's share of
  the KL, which sum to the rate's.

  Args:
    posterior: A `HierarchicalPosterior`'s q(z|x).
    prior: The `HierarchicalPrior`'s p(z).
    z: Draws of the posterior, [..., sum of the layers].
  """
  return (posterior.bijector.layer_log_probs(z)
          - prior.bijector.layer_log_probs(z))


class _GaussianNet(snt.Module):
  """An MLP and a diagonal Gaussian head, for inputs with any leading
  dimensions."""

  def __init__(self, hidden_sizes: Sequence[int], latent_size: int,
               activation=tf.nn.relu, name: Optional[str] = None):
    super().__init__(name=name)
    self._torso = snt.nets.MLP(
        encoders.check_sizes('hidden_sizes', hidden_sizes),
        activation=activation, activate_final=True, name='torso')
    self._head = encoders.GaussianPosterior(latent_size, name='gaussian')

  def __call__(self, inputs: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
    gaussian = self._head(self._torso(flat)).distribution
    shape = tf.concat([tf.shape(inputs)[:-1], [-1]], 0)
    return (tf.reshape(gaussian.loc, shape),
            tf.reshape(gaussian.scale, shape))


def _check(latent_sizes: Sequence[int]) -> List[int]:
  return encoders.check_sizes('latent_sizes', latent_sizes,
                              allow_empty=False)


class HierarchicalPrior(snt.Module):
  """p(z_n) p(z_{n-1} | z_n) ... p(z_1 | z_2) over z = [z_1, ..., z_n].

  Args:
    latent_sizes: The layers' sizes, bottom first.
    hidden_sizes: The hidden sizes of the conditionals' networks.
    activation: Their nonlinearity.
    name: The module's name.
  """

  def __init__(self, latent_sizes: Sequence[int], hidden_sizes: Sequence[int],
               activation=tf.nn.relu, name: Optional[str] = None):
    super().__init__(name=name)
    self.latent_sizes = _check(latent_sizes)
    self.latent_size = sum(self.latent_sizes)
    # down[l]: p(z_l | z_{l+1}), for every layer but the top.
    self.down = [_GaussianNet(hidden_sizes, size, activation,
                              name=f'p_z{l + 1}')
                 for l, size in enumerate(self.latent_sizes[:-1])]

  def conditional(self, layer: int) -> Conditional:
    if layer == len(self.latent_sizes) - 1:
      top = self.latent_sizes[-1]
      return lambda z: (tf.zeros([top]), tf.ones([top]))
    return lambda z: self.down[layer](z[layer + 1])

  def __call__(self) -> tfd.Distribution:
    layers = range(len(self.latent_sizes))
    return _layered(tf.zeros([self.latent_size]), self.latent_sizes,
                    list(reversed(layers)),
                    [self.conditional(l) for l in layers])


class HierarchicalPosterior(snt.Module):
  """q(z|x) over z = [z_1, ..., z_n] from the encoder's features.

  `inference='ladder'` shares the generative conditionals of `prior`.

  Args:
    prior: The `HierarchicalPrior` of the same layers.
    hidden_sizes: The hidden sizes of the networks between layers.
    inference: 'bottom_up' (Burda et al. 2016) or 'ladder' (Sønderby et al.
      2016).
    activation: Their nonlinearity.
    name: The module's name.
  """

  def __init__(self, prior: HierarchicalPrior, hidden_sizes: Sequence[int],
               inference: str = 'bottom_up', activation=tf.nn.relu,
               name: Optional[str] = None):
    super().__init__(name=name)
    if inference not in INFERENCES:
      raise ValueError(f'inference must be one of {INFERENCES}, got '
                       f'{inference!r}')
    self.prior = prior
    self.inference = inference
    self.latent_sizes = prior.latent_sizes
    self.latent_size = prior.latent_size
    sizes = self.latent_sizes
    self._bottom = encoders.GaussianPosterior(sizes[0], name='q_z1')
    if inference == 'bottom_up':
      # up[l - 1]: q(z_l | z_{l-1}).
      self._up = [_GaussianNet(hidden_sizes, size, activation,
                               name=f'q_z{l + 2}')
                  for l, size in enumerate(sizes[1:])]
    else:
      # The deterministic pass d_l and each layer's estimate from it.
      self._deterministic = [
          snt.nets.MLP(encoders.check_sizes('hidden_sizes', hidden_sizes),
                       activation=activation, activate_final=True,
                       name=f'd{l + 2}') for l in range(len(sizes) - 1)]
      self._estimates = [encoders.GaussianPosterior(size, name=f'q_z{l + 2}')
                         for l, size in enumerate(sizes[1:])]

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    features = tf.convert_to_tensor(features)
    layers = range(len(self.latent_sizes))
    rows = tf.zeros_like(features[..., :1]) + tf.zeros([self.latent_size])
    if self.inference == 'bottom_up':
      conditionals = [lambda z: _loc_scale(self._bottom(features))] + [
          (lambda z, l=l: self._up[l - 1](z[l - 1])) for l in layers[1:]]
      return _layered(rows, self.latent_sizes, list(layers), conditionals)
    estimates, d = [_loc_scale(self._bottom(features))], features
    for net, estimate in zip(self._deterministic, self._estimates):
      d = net(d)
      estimates.append(_loc_scale(estimate(d)))
    top = len(self.latent_sizes) - 1
    conditionals = [
        (lambda z, l=l: _merge(estimates[l],
                               self.prior.conditional(l)(z)))
        for l in layers[:-1]] + [lambda z: estimates[top]]
    return _layered(rows, self.latent_sizes, list(reversed(layers)),
                    conditionals)


def _loc_scale(gaussian: tfd.Distribution) -> Tuple[tf.Tensor, tf.Tensor]:
  return gaussian.distribution.loc, gaussian.distribution.scale


def _merge(estimate, generative):
  """The precision-weighted product of two Gaussians' (loc, scale)
  (Sønderby et al. 2016, eq. 19)."""
  (m, s), (mu, sigma) = estimate, generative
  precision_m, precision_p = s**-2, sigma**-2
  variance = 1.0 / (precision_m + precision_p)
  return (m * precision_m + mu * precision_p) * variance, tf.sqrt(variance)


class BottomLayer(snt.Module):
  """A decoder of z_1 given all of z = [z_1, ..., z_n]: p(x | z_1).

  Args:
    decoder: The decoder of z_1.
    size: The size of z_1, the first `size` dimensions of z.
    name: The module's name.
  """

  def __init__(self, decoder, size: int, name: Optional[str] = None):
    super().__init__(name=name)
    self.decoder = decoder
    self.size = size

  def __call__(self, z: tf.Tensor) -> tfd.Distribution:
    return self.decoder(z[..., :self.size])


def layer_sizes(config) -> Tuple[int, ...]:
  """A `config.ModelConfig`'s stochastic layers, bottom first; one layer of
  `latent_size` unless `latent_sizes` gives several.

  Args:
    config: A `ModelConfig`.
  """
  return tuple(config.latent_sizes) or (config.latent_size,)


def posterior(config, parts):
  """The head of a hierarchy of `config.ModelConfig`: q(z|x), holding the
  prior it shares with the model.

  Args:
    config: A `ModelConfig` with two or more `latent_sizes`.
    parts: The `build.Parts` built so far.
  """
  activation = encoders.ACTIVATIONS[config.activation]
  prior = HierarchicalPrior(config.latent_sizes, config.latent_hidden_sizes,
                            activation, name='prior')
  return HierarchicalPosterior(prior, config.latent_hidden_sizes,
                               config.inference, activation,
                               name='posterior')
