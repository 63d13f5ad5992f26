"""Encoders: networks mapping an image x to the posterior q(z|x).

An encoder is a torso (an MLP, or convolutions) that maps x to features, and
a head that maps the features to a distribution over z:

- `GaussianPosterior`: diagonal or full-covariance Gaussian (the default);
- `categorical.CategoricalPosterior`: independent one-hot categoricals
  (`vae/categorical.py`);
- `DeterministicPosterior`: a point mass, for a plain autoencoder.

Every head returns a distribution whose event shape is `[latent_size]`, so
priors, decoders and the objectives treat all latents alike.
"""

from typing import Callable, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import flows
from vae import gated as gated_lib
from vae import precision
from vae import registry

tfd = tfp.distributions
tfb = tfp.bijectors

COVARIANCES = ('diagonal', 'full_covariance')
# The networks' nonlinearities by name (`--activation`): ReLU by default,
# tanh as in Burda et al. (2016) and Kingma and Welling (2014).
ACTIVATIONS = {'relu': tf.nn.relu, 'tanh': tf.tanh, 'elu': tf.nn.elu}


class GaussianPosterior(snt.Module):
  """Maps features to a Gaussian over z, with diagonal or full covariance.

  `diagonal` gives `Independent(Normal(loc, scale))`: `event_shape` is
  `[latent_size]` and `log_prob` gives one number per example. The scale is
  `softplus(a + softplus^-1(1)) + min_scale`: it starts near 1, like the
  prior (as TFP's `examples/vae.py` does), and can never reach zero.

  `full_covariance` gives `MultivariateNormalTriL` whose Cholesky factor is
  built by `FillScaleTriL`, with the same softplus and floor on its diagonal.

  Args:
    latent_size: The dimensions of z.
    covariance: 'diagonal' or 'full_covariance'.
    min_scale: The floor added to the softplus scale.
    name: The module's name.
  """

  def __init__(self,
               latent_size: int,
               covariance: str = 'diagonal',
               min_scale: float = 1e-4,
               name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    if covariance not in COVARIANCES:
      raise ValueError(
          f'covariance must be one of {COVARIANCES}, got {covariance!r}')
    if min_scale <= 0:
      raise ValueError(f'min_scale must be positive, got {min_scale}')
    self.latent_size = latent_size
    self.covariance = covariance
    self._min_scale = min_scale
    if covariance == 'diagonal':
      num_scale_params = latent_size
    else:
      num_scale_params = latent_size * (latent_size + 1) // 2
    self._params = snt.Linear(latent_size + num_scale_params, name='params')
    # softplus^-1(1) = log(e - 1): an all-zero pre-activation gives scale 1.
    self._scale_shift = float(np.log(np.expm1(1.0)))

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    params = self._params(features)
    loc = params[..., :self.latent_size]
    raw_scale = params[..., self.latent_size:]
    if self.covariance == 'diagonal':
      scale = tf.nn.softplus(raw_scale + self._scale_shift) + self._min_scale
      return tfd.Independent(tfd.Normal(loc=loc, scale=scale),
                             reinterpreted_batch_ndims=1)
    fill = tfb.FillScaleTriL(
        diag_bijector=tfb.Chain([tfb.Shift(self._min_scale), tfb.Softplus(),
                                 tfb.Shift(self._scale_shift)]),
        diag_shift=None)
    return tfd.MultivariateNormalTriL(loc=loc, scale_tril=fill(raw_scale))


class LogVariancePosterior(snt.Module):
  """A diagonal Gaussian whose log-variance is clipped to a range.

  The posterior of Tomczak and Welling (2018)'s VampPrior code: the mean is
  a linear map of the features, and the log-variance another, clipped to
  [min_log_variance, max_log_variance] (their `Hardtanh(-6, 2)`: a scale
  between e^-3 and e). Outside the range its gradient is zero, as there.

  Args:
    latent_size: The dimensions of z.
    min_log_variance: The lowest log-variance.
    max_log_variance: The highest log-variance.
    name: The module's name.

  Raises:
    ValueError: for a size below 1 or an empty range.
  """

  def __init__(self,
               latent_size: int,
               min_log_variance: float = -6.0,
               max_log_variance: float = 2.0,
               name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    if not min_log_variance < max_log_variance:
      raise ValueError(f'min_log_variance={min_log_variance} must be below '
                       f'max_log_variance={max_log_variance}')
    self.latent_size = latent_size
    self.covariance = 'diagonal'
    self._range = (float(min_log_variance), float(max_log_variance))
    # He et al.'s initialiser, as that code gives every linear layer.
    self._loc = snt.Linear(latent_size, w_init=gated_lib.he_normal(),
                           name='loc')
    self._log_variance = snt.Linear(latent_size, w_init=gated_lib.he_normal(),
                                    name='log_variance')

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    log_variance = tf.clip_by_value(self._log_variance(features),
                                    *self._range)
    return tfd.Independent(
        tfd.Normal(loc=self._loc(features), scale=tf.exp(0.5 * log_variance)),
        reinterpreted_batch_ndims=1)


class DeterministicPosterior(snt.Module):
  """A point mass at a linear map of the features: a plain autoencoder's code.

  Returns `Independent(Deterministic(loc))`: `sample()` and `mean()` are the
  code itself and `stddev()` is 0. It has no density against a continuous
  prior, so there is no KL and no ELBO: train it with
  `objectives.autoencoder`.

  Args:
    latent_size: The dimensions of the code.
    name: The module's name.
  """

  def __init__(self, latent_size: int, name: Optional[str] = None):
    super().__init__(name=name)
    if latent_size < 1:
      raise ValueError(f'latent_size must be positive, got {latent_size}')
    self.latent_size = latent_size
    self._loc = snt.Linear(latent_size, name='loc')

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    return tfd.Independent(tfd.Deterministic(self._loc(features)),
                           reinterpreted_batch_ndims=1)


def moments(posterior: tfd.Distribution):
  """(mean, stddev) of z under q(z|x) per example, each [batch, latent].

  For categoricals, the class probabilities p and sqrt(p (1 - p)) of the
  one-hot codes, flattened like z. For a flow (or a hierarchy, which is
  one), estimates from draws (`flows.moments`).
  Plots, active units and the exported `encode` use them.

  Args:
    posterior: q(z|x).
  """
  if categorical.is_categorical(posterior):
    probs = tf.nn.softmax(categorical.categorical_logits(posterior))
    probs = tf.reshape(probs, tf.concat([tf.shape(probs)[:-2], [-1]], 0))
    return probs, tf.sqrt(probs * (1.0 - probs))
  if flows.is_flow(posterior):
    return flows.moments(posterior)
  return posterior.mean(), posterior.stddev()


def check_sizes(name: str, sizes: Sequence[int], allow_empty: bool = True):
  """`sizes` as a list; a `ValueError` naming `name` if any is not positive.

  Args:
    name: What the sizes are, for the error ('hidden_sizes').
    sizes: Layer sizes, as given.
    allow_empty: Whether no layers is allowed.
  """
  sizes = [int(size) for size in sizes]
  if any(size < 1 for size in sizes) or not (sizes or allow_empty):
    raise ValueError(f'{name} must be positive, got {sizes}')
  return sizes


Head = Callable[[tf.Tensor], tfd.Distribution]


class _Encoder(snt.Module):
  """What both encoders share: the head, and x to q(z|x).

  Subclasses define `_features(x, condition)`, mapping images to feature
  vectors; a `condition` [batch, C] (a one-hot label, `vae/conditional.py`)
  is an input of the network beside x, or None. The head is a
  `GaussianPosterior(latent_size, covariance, min_scale)` unless `head`
  gives another (a `CategoricalPosterior`, say), which then decides
  the latent size. With `compute_dtype=tf.bfloat16` the torso computes in
  bfloat16 (`precision.cast_call`) after a first float32 call that creates
  the variables; the head and the distribution stay float32.
  """

  takes_condition = True  # `vae/conditional.py` gives it the labels.

  def __init__(self,
               latent_size: int,
               covariance: str = 'diagonal',
               min_scale: float = 1e-4,
               head: Optional[Head] = None,
               compute_dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.compute_dtype = tf.as_dtype(compute_dtype)
    self._built = False
    self._to_vector = snt.Flatten()
    self._head = head or GaussianPosterior(
        latent_size, covariance=covariance, min_scale=min_scale,
        name='posterior')

  @property
  def latent_size(self) -> int:
    return self._head.latent_size

  def __call__(self, x: tf.Tensor,
               condition: Optional[tf.Tensor] = None) -> tfd.Distribution:
    """q(z|x), or q(z|x, c) given a `condition` c [batch, C]."""
    x = tf.convert_to_tensor(x)
    features = lambda x: self._features(
        x, None if condition is None else tf.cast(condition, x.dtype))
    if not self._built:  # Creates the variables, in float32.
      self._built = True
      return self._head(features(x))
    # The torso in compute_dtype (mixed precision); the head in float32.
    return self._head(precision.cast_call(features, x, self.compute_dtype))


class MLPEncoder(_Encoder):
  """Flattens x, runs an MLP and returns q(z|x) from its head.

  Called on images [batch, ...], it returns q(z|x): a distribution of batch
  shape [batch] and event shape [latent_size].

  Args:
    hidden_sizes: The MLP's hidden layer sizes.
    latent_size: The dimensions of z.
    covariance: 'diagonal' (`Independent(Normal)`) or 'full_covariance'
      (`MultivariateNormalTriL`), for the default Gaussian head.
    activation: The hidden layers' nonlinearity.
    min_scale: The floor added to the softplus scale.
    head: The module making q(z|x) from the features (a flow, a categorical
      or a point mass); default, the Gaussian of `covariance`.
    compute_dtype: tf.bfloat16 computes the network in bfloat16, its
      variables and q(z|x) float32.
    gated: Whether the hidden layers are `gated.GatedDense` layers
      (Tomczak and Welling 2018) instead of linear maps and `activation`.
    name: The module's name.

  Raises:
    ValueError: for an empty or non-positive size.
  """

  def __init__(self,
               hidden_sizes: Sequence[int],
               latent_size: int,
               covariance: str = 'diagonal',
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               min_scale: float = 1e-4,
               head: Optional[Head] = None,
               compute_dtype: tf.DType = tf.float32,
               gated: bool = False,
               name: Optional[str] = None):
    super().__init__(latent_size, covariance, min_scale, head,
                     compute_dtype, name=name)
    hidden_sizes = check_sizes('hidden_sizes', hidden_sizes,
                               allow_empty=not gated)
    self._torso = (gated_lib.GatedMLP(hidden_sizes, name='torso') if gated
                   else snt.nets.MLP(hidden_sizes, activation=activation,
                                     activate_final=True, name='torso'))

  def _features(self, x: tf.Tensor,
                condition: Optional[tf.Tensor]) -> tf.Tensor:
    x = self._to_vector(x)
    if condition is not None:  # Sohn et al. 2015: beside the pixels.
      x = tf.concat([x, condition], axis=-1)
    return self._torso(x)


class ConvEncoder(_Encoder):
  """Strided convolutions, flattened, then the head: q(z|x) for images.

  Each entry of `channels` is a 3x3 `snt.Conv2D` with stride 2 and 'SAME'
  padding followed by `activation`, halving the height and width: the
  default (32, 64) takes 28x28 MNIST to 7x7x64, as TensorFlow's conv VAE
  tutorial does.

  Args:
    latent_size: The dimensions of z.
    channels: The channels of the stride-2 convolutions.
    covariance: 'diagonal' or 'full_covariance', for the default Gaussian
      head.
    activation: The nonlinearity after each convolution.
    min_scale: The floor added to the softplus scale.
    head: The module making q(z|x) from the features; default, the Gaussian
      of `covariance`.
    compute_dtype: tf.bfloat16 computes the network in bfloat16.
    name: The module's name.
  """

  def __init__(self,
               latent_size: int,
               channels: Sequence[int] = (32, 64),
               covariance: str = 'diagonal',
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               min_scale: float = 1e-4,
               head: Optional[Head] = None,
               compute_dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(latent_size, covariance, min_scale, head,
                     compute_dtype, name=name)
    channels = check_sizes('channels', channels, allow_empty=False)
    self._convs = [snt.Conv2D(c, 3, stride=2, padding='SAME',
                              name=f'conv_{i}')
                   for i, c in enumerate(channels)]
    self._activation = activation

  def _features(self, x: tf.Tensor,
                condition: Optional[tf.Tensor]) -> tf.Tensor:
    if x.shape.rank != 4:
      raise ValueError(f'ConvEncoder needs images [batch, H, W, C], got '
                       f'shape {x.shape}')
    if condition is not None:  # One constant plane per class.
      planes = tf.ones_like(x[..., :1]) * condition[:, None, None, :]
      x = tf.concat([x, planes], axis=-1)
    for conv in self._convs:
      x = self._activation(conv(x))
    return self._to_vector(x)


# The parts a configuration chooses by name (see `vae/registry.py`); each
# factory takes the `config.ModelConfig` and the `build.Parts` built so far.
ENCODERS = registry.Registry('encoder')
ENCODERS.register('mlp', lambda c, parts: MLPEncoder(
    c.hidden_sizes, c.latent_size, activation=ACTIVATIONS[c.activation],
    head=parts.head, compute_dtype=parts.compute_dtype, name='encoder'),
                  'an MLP (--hidden_sizes)',
                  fields=('hidden_sizes', 'latent_size', 'activation'))
ENCODERS.register('gated_mlp', lambda c, parts: MLPEncoder(
    c.hidden_sizes, c.latent_size, head=parts.head,
    compute_dtype=parts.compute_dtype, gated=True, name='encoder'),
                  'an MLP of gated layers h(x) * sigmoid(g(x)) '
                  '(--hidden_sizes; Tomczak and Welling 2018)',
                  fields=('hidden_sizes', 'latent_size'))
ENCODERS.register('conv', lambda c, parts: ConvEncoder(
    c.latent_size, c.conv_channels, activation=ACTIVATIONS[c.activation],
    head=parts.head, compute_dtype=parts.compute_dtype, name='encoder'),
                  'stride-2 3x3 convolutions (--conv_channels)',
                  fields=('conv_channels', 'latent_size', 'activation'))

# A posterior with the trait `flow` has network weights inside log q(z|x)
# (the configuration refuses objectives that hold q's parameters fixed);
# `min_latent_size` is the smallest z it takes; `vamp_component=False`
# that it cannot be the VampPrior's component (it does not broadcast z
# against the pseudo-inputs).
POSTERIORS = registry.Registry('posterior')
_FLOW_FIELDS = ('latent_size', 'flow_steps', 'flow_hidden_sizes')
POSTERIORS.register('diagonal', lambda c, parts: GaussianPosterior(
    c.latent_size, 'diagonal', name='posterior'),
                    'a Gaussian with diagonal covariance',
                    fields=('latent_size',))
POSTERIORS.register('full_covariance', lambda c, parts: GaussianPosterior(
    c.latent_size, 'full_covariance', name='posterior'),
                    'a Gaussian with full covariance (Cholesky factor)',
                    fields=('latent_size',))
POSTERIORS.register('log_variance', lambda c, parts: LogVariancePosterior(
    c.latent_size, name='posterior'),
                    'a diagonal Gaussian with its log-variance clipped to '
                    '[-6, 2] (Tomczak and Welling 2018)',
                    fields=('latent_size',))
POSTERIORS.register('iaf', lambda c, parts: flows.IAFPosterior(
    GaussianPosterior(c.latent_size, 'diagonal', name='base'), c.flow_steps,
    c.flow_hidden_sizes, name='posterior'),
                    'a diagonal Gaussian through --flow_steps inverse '
                    'autoregressive flow steps (Kingma et al. 2016)',
                    fields=_FLOW_FIELDS, flow=True, analytic_kl=False)
POSTERIORS.register('realnvp', lambda c, parts: flows.RealNVPPosterior(
    GaussianPosterior(c.latent_size, 'diagonal', name='base'), c.flow_steps,
    c.flow_hidden_sizes, name='posterior'),
                    'a diagonal Gaussian through --flow_steps affine '
                    'coupling steps (RealNVP, Dinh et al. 2017)',
                    fields=_FLOW_FIELDS, flow=True, analytic_kl=False,
                    min_latent_size=2, vamp_component=False)
