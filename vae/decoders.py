"""Decoders: networks mapping a latent code z to the likelihood p(x|z).

A decoder is a network from z to one parameter per pixel (an MLP, or
transposed convolutions) and a likelihood that turns those parameters into a
distribution over images:

- `BernoulliLikelihood`: binary pixels, parameters are logits;
- `ContinuousBernoulliLikelihood`: grey levels in [0, 1], with the
  normalising constant the Bernoulli lacks on [0, 1] (Loaiza-Ganem and
  Cunningham 2019);
- `GaussianLikelihood`: continuous pixels, mean sigmoid(parameters), one
  scale for every pixel, fixed or learned;
- `DiscretizedLogisticLikelihood`: 8-bit pixels, a mixture of discretised
  logistics per pixel (Salimans et al. 2017), whose parameters are several
  per pixel (`param_shape`).

Each returns `Independent(..., reinterpreted_batch_ndims=3)` over the image,
so `log_prob(x)` sums over pixels and gives one number per example.
"""

from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import encoders
from vae import gated as gated_lib
from vae import precision
from vae import registry

tfd = tfp.distributions
tfb = tfp.bijectors

@snt.allow_empty_variables
class BernoulliLikelihood(snt.Module):
  """`Independent(Bernoulli(logits))` over pixels; samples are float32.

  float32, not the default int32: an integer Bernoulli casts grey targets to
  0 in `log_prob`, and its samples could not be fed back as images.
  """

  def __call__(self, params: tf.Tensor, event_ndims: int) -> tfd.Distribution:
    return tfd.Independent(tfd.Bernoulli(logits=params, dtype=tf.float32),
                           reinterpreted_batch_ndims=event_ndims)


@snt.allow_empty_variables
class ContinuousBernoulliLikelihood(snt.Module):
  """The continuous Bernoulli (Loaiza-Ganem and Cunningham 2019, eq. 7).

  p(x|lambda) = C(lambda) lambda^x (1 - lambda)^(1 - x) on [0, 1], with
  C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) (and 2 at 1/2): a true
  density for grey pixels, where the Bernoulli's cross-entropy is not one.
  Its mean is not lambda: `mean()` is the image the model expects.
  """

  def __call__(self, params: tf.Tensor, event_ndims: int) -> tfd.Distribution:
    return tfd.Independent(tfd.ContinuousBernoulli(logits=params),
                           reinterpreted_batch_ndims=event_ndims)


@snt.allow_empty_variables
class GaussianLikelihood(snt.Module):
  """`Independent(Normal(sigmoid(params), scale))` over pixels.

  `scale` fixes the standard deviation; None learns one shared by every
  pixel (a calibrated decoder, Rybkin et al. 2021), softplus of a variable
  plus `min_scale`, starting at 1. One shared scale cannot collapse onto the
  always-black border pixels of MNIST, as a scale per pixel would.
  `log_prob` is a density: on pixels quantised to 256 levels it is not a
  probability, and nats are only comparable between continuous likelihoods.

  Args:
    scale: A fixed standard deviation; None learns one, shared by the pixels.
    min_scale: The floor of the learned scale.
    name: The module's name.
  """

  def __init__(self,
               scale: Optional[float] = None,
               min_scale: float = 1e-3,
               name: Optional[str] = None):
    super().__init__(name=name)
    if scale is not None and not scale > 0:
      raise ValueError(f'scale must be positive or None (learned), got '
                       f'{scale}')
    if min_scale <= 0:
      raise ValueError(f'min_scale must be positive, got {min_scale}')
    self._min_scale = min_scale
    if scale is None:
      # softplus(log(e - 1)) = 1.
      self._raw_scale = tf.Variable(np.log(np.expm1(1.0)), dtype=tf.float32,
                                    name='raw_scale')
      self._fixed_scale = None
    else:
      self._raw_scale = None
      self._fixed_scale = float(scale)

  @property
  def scale(self) -> tf.Tensor:
    if self._raw_scale is None:
      return tf.constant(self._fixed_scale, tf.float32)
    return tf.nn.softplus(self._raw_scale) + self._min_scale

  def __call__(self, params: tf.Tensor, event_ndims: int) -> tfd.Distribution:
    return tfd.Independent(
        tfd.Normal(loc=tf.sigmoid(params), scale=self.scale),
        reinterpreted_batch_ndims=event_ndims)


class DiscretizedLogisticMixture(tfd.Distribution):
  """Images of `high + 1` grey levels, served as values k / high in [0, 1].

  Each pixel is a mixture of K discretised logistics shared by its C
  channels (PixelCNN++, Salimans et al. 2017, eq. 2, without the channels'
  linear dependence): component k has probability softmax(logits)_k, and
  channel c's level is the logistic(loc_kc, scale_kc) rounded to the nearest
  integer, with all the mass below 0 on 0 and above `high` on `high`. That
  is TFP's construction inside `tfd.PixelCNN` (`QuantizedDistribution` of a
  logistic shifted by -1/2, in `MixtureSameFamily`), which `levels()`
  returns over the integer levels; this distribution relabels them k /
  high, with no Jacobian: a relabelled discrete variable keeps its masses.
  So `log_prob` is the log probability of the 8-bit image, in nats, and
  -log_prob / (H W C ln 2) its bits per dimension.

  `logits` is [..., H, W, K]; `loc` and `scale`, in grey levels, are
  [..., H, W, K, C]. The event is the image [H, W, C].

  Args:
    logits: The mixture's logits, [..., H, W, K].
    loc: The logistics' locations in grey levels, [..., H, W, K, C].
    scale: Their scales in grey levels, [..., H, W, K, C].
    high: The top grey level.
    name: The distribution's name.
  """

  def __init__(self, logits, loc, scale, high: int = 255,
               name: str = 'DiscretizedLogisticMixture'):
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._logits = tf.convert_to_tensor(logits, tf.float32)
      self._loc = tf.convert_to_tensor(loc, tf.float32)
      self._scale = tf.convert_to_tensor(scale, tf.float32)
      self._high = float(high)
      super().__init__(
          dtype=tf.float32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
          validate_args=False, allow_nan_stats=True, parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(logits=tfp.util.ParameterProperties(event_ndims=3),
                loc=tfp.util.ParameterProperties(event_ndims=4),
                scale=tfp.util.ParameterProperties(event_ndims=4))

  def _event_shape(self):
    return tf.TensorShape(self._logits.shape[-3:-1] + self._loc.shape[-1:])

  def _event_shape_tensor(self):
    return tf.concat([tf.shape(self._logits)[-3:-1],
                      tf.shape(self._loc)[-1:]], 0)

  def levels(self) -> tfd.Distribution:
    """The distribution of the integer levels 0..high, TFP's pieces."""
    logistic = tfd.TransformedDistribution(
        tfd.Logistic(loc=self._loc, scale=self._scale), tfb.Shift(-0.5))
    pixel = tfd.MixtureSameFamily(
        tfd.Categorical(logits=self._logits),
        tfd.Independent(tfd.QuantizedDistribution(
            logistic, low=0.0, high=self._high), reinterpreted_batch_ndims=1))
    return tfd.Independent(pixel, reinterpreted_batch_ndims=2)

  def _log_prob(self, x):
    # Rounded: x * high is k up to float error, and the levels floor it.
    return self.levels().log_prob(tf.round(x * self._high))

  def _sample_n(self, n, seed=None):
    return self.levels().sample(n, seed=seed) / self._high

  def _mean(self):
    # E[level] = sum_{y=1}^{high} P(level >= y), and a component's level is
    # >= y where its logistic exceeds y - 1/2: exact, one level at a time.
    def add(total, y):
      return total + tf.sigmoid((self._loc - y + 0.5) / self._scale)

    per_component = tf.foldl(add, tf.range(1.0, self._high + 1.0),
                             initializer=tf.zeros_like(self._loc))
    probs = tf.nn.softmax(self._logits)[..., tf.newaxis]
    return tf.reduce_sum(probs * per_component, axis=-2) / self._high


class DiscretizedLogisticLikelihood(snt.Module):
  """`DiscretizedLogisticMixture` of `num_components` logistics per pixel.

  The decoder gives K (1 + 2 C) parameters per pixel (`param_shape`): K
  mixture logits, then per component and channel a location
  (high / 2) (1 + a) and a scale (high / 2) (softplus(b) + min_scale), in
  grey levels: PixelCNN++'s parameters on data scaled to [-1, 1], whose
  locations are unbounded (the end levels take the tails) and whose scale
  floor, e^-7 there, is 0.12 levels here with min_scale 1e-3.

  Args:
    num_components: The logistics per pixel.
    high: The top grey level (255 for 8-bit images).
    min_scale: The floor of each logistic's scale, in units of high / 2.
    name: The module's name.
  """

  def __init__(self,
               num_components: int = 5,
               high: int = 255,
               min_scale: float = 1e-3,
               name: Optional[str] = None):
    super().__init__(name=name)
    if num_components < 1:
      raise ValueError(
          f'num_components must be positive, got {num_components}')
    if min_scale <= 0:
      raise ValueError(f'min_scale must be positive, got {min_scale}')
    self.num_components = num_components
    self.high = high
    self._min_scale = min_scale

  def param_shape(self, image_shape: Sequence[int]) -> Tuple[int, ...]:
    """The decoder's output per image: [H, W, K (1 + 2 C)].

    Args:
      image_shape: [height, width, channels].
    """
    *pixels, channels = image_shape
    return (*pixels, self.num_components * (1 + 2 * channels))

  def __call__(self, params: tf.Tensor, event_ndims: int) -> tfd.Distribution:
    if event_ndims != 3:
      raise ValueError(f'DiscretizedLogisticLikelihood needs images '
                       f'[H, W, C], got event_ndims={event_ndims}')
    k = self.num_components
    channels = (params.shape[-1] // k - 1) // 2
    logits = params[..., :k]
    loc_scale = tf.reshape(params[..., k:], tf.concat(
        [tf.shape(params)[:-1], [k, 2 * channels]], 0))
    loc = (self.high / 2) * (1.0 + loc_scale[..., :channels])
    scale = (self.high / 2) * (tf.nn.softplus(loc_scale[..., channels:])
                               + self._min_scale)
    return DiscretizedLogisticMixture(logits, loc, scale, self.high)


Likelihood = Callable[[tf.Tensor, int], tfd.Distribution]


def param_shape(likelihood: Likelihood,
                image_shape: Sequence[int]) -> Tuple[int, ...]:
  """The decoder's output shape per image for `likelihood`: one parameter
  per pixel value unless the likelihood says otherwise (`param_shape`).

  Args:
    likelihood: A likelihood, or None for the default Bernoulli.
    image_shape: [height, width, channels].
  """
  shape = getattr(likelihood, 'param_shape', None)
  return tuple(shape(image_shape)) if shape else tuple(image_shape)


class _Decoder(snt.Module):
  """What both decoders share: z with any leading dimensions, the likelihood.

  Subclasses define `_params(z)`, mapping z [n, latent] to
  [n, *param_shape]: the likelihood's parameters for an image of
  `output_shape`, one per pixel value unless it asks for more.
  With `compute_dtype=tf.bfloat16` that network computes in bfloat16
  (`precision.cast_call`) after a first float32 call that creates the
  variables; the parameters are cast back, and the likelihood is float32.
  """

  takes_condition = True  # `vae/conditional.py` gives it the labels.

  def __init__(self,
               output_shape: Sequence[int],
               likelihood: Optional[Likelihood] = None,
               compute_dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.compute_dtype = tf.as_dtype(compute_dtype)
    self._built = False
    output_shape = tuple(int(d) for d in output_shape)
    if not output_shape or any(d < 1 for d in output_shape):
      raise ValueError(
          f'output_shape must be non-empty and positive, got {output_shape}')
    self.output_shape = output_shape
    self.likelihood = likelihood or BernoulliLikelihood(name='likelihood')
    # The network's output per example: the likelihood's parameters.
    self.param_shape = param_shape(self.likelihood, output_shape)

  def __call__(self, z: tf.Tensor,
               condition: Optional[tf.Tensor] = None) -> tfd.Distribution:
    """p(x|z), or p(x|z, c) given a `condition` c [batch, C], which is
    concatenated to z (broadcast over z's leading sample dimensions)."""
    z = tf.convert_to_tensor(z)
    if condition is not None:
      condition = tf.cast(condition, z.dtype)
      z = tf.concat([z, tf.broadcast_to(condition, tf.concat(
          [tf.shape(z)[:-1], [condition.shape[-1]]], 0))], axis=-1)
    # One 2-D pass whatever the leading (sample, batch) dimensions are.
    flat = tf.reshape(z, [-1, z.shape[-1]])
    if self._built:  # In compute_dtype (mixed precision); params float32.
      params = precision.cast_call(self._params, flat, self.compute_dtype)
    else:  # Creates the variables, in float32.
      self._built = True
      params = self._params(flat)
    batch_shape = tf.shape(z)[:-1]
    params = tf.reshape(params, tf.concat([batch_shape, self.param_shape], 0))
    return self.likelihood(params, len(self.output_shape))


class MLPDecoder(_Decoder):
  """An MLP from z to one parameter per pixel of `output_shape`.

  `z` may carry any number of leading sample and batch dimensions: z of
  shape [k, batch, latent] gives a distribution of batch shape [k, batch].

  Args:
    hidden_sizes: The MLP's hidden layer sizes.
    output_shape: The images' shape [height, width, channels].
    activation: The hidden layers' nonlinearity.
    likelihood: What p(x|z) is made of its parameters; default,
      `BernoulliLikelihood`.
    compute_dtype: tf.bfloat16 computes the network in bfloat16, its
      variables and p(x|z) float32.
    gated: Whether the hidden layers are `gated.GatedDense` layers
      (Tomczak and Welling 2018) instead of linear maps and `activation`;
      the output layer is linear either way.
    name: The module's name.

  Raises:
    ValueError: for an empty or non-positive size.
  """

  def __init__(self,
               hidden_sizes: Sequence[int],
               output_shape: Sequence[int],
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               likelihood: Optional[Likelihood] = None,
               compute_dtype: tf.DType = tf.float32,
               gated: bool = False,
               name: Optional[str] = None):
    super().__init__(output_shape, likelihood, compute_dtype, name=name)
    hidden_sizes = encoders.check_sizes('hidden_sizes', hidden_sizes,
                                        allow_empty=not gated)
    num_params = int(np.prod(self.param_shape))
    if gated:
      self._net = snt.Sequential([
          gated_lib.GatedMLP(hidden_sizes, name='torso'),
          snt.Linear(num_params, w_init=gated_lib.he_normal(), name='out')],
                                 name='net')
    else:
      self._net = snt.nets.MLP(hidden_sizes + [num_params],
                               activation=activation, name='net')

  def _params(self, z: tf.Tensor) -> tf.Tensor:
    return self._net(z)


class ConvDecoder(_Decoder):
  """A linear layer to a small feature map, then transposed convolutions.

  z goes through `snt.Linear` to [ceil(H / 2^n), ceil(W / 2^n), channels[0]]
  (n = len(channels)); each entry of `channels` is a 3x3
  `snt.Conv2DTranspose` with stride 2, doubling the size; a last 3x3 one with
  stride 1 gives one parameter per pixel and channel, cropped to H x W. The
  default (64, 32) mirrors `encoders.ConvEncoder`: 7x7 -> 14x14 -> 28x28 on
  MNIST, as TensorFlow's conv VAE tutorial.

  Args:
    output_shape: The images' shape [height, width, channels].
    channels: The channels of the stride-2 transposed convolutions.
    activation: The nonlinearity after each of them.
    likelihood: What p(x|z) is made of its parameters; default,
      `BernoulliLikelihood`.
    compute_dtype: tf.bfloat16 computes the network in bfloat16.
    name: The module's name.
  """

  def __init__(self,
               output_shape: Sequence[int],
               channels: Sequence[int] = (64, 32),
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               likelihood: Optional[Likelihood] = None,
               compute_dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(output_shape, likelihood, compute_dtype, name=name)
    channels = encoders.check_sizes('channels', channels, allow_empty=False)
    if len(self.output_shape) != 3:
      raise ValueError(f'ConvDecoder needs an image output_shape [H, W, C], '
                       f'got {self.output_shape}')
    height, width, _ = self.output_shape
    out_channels = self.param_shape[-1]
    factor = 2**len(channels)
    self._start = (-(-height // factor), -(-width // factor), channels[0])
    self._project = snt.Linear(int(np.prod(self._start)), name='project')
    self._deconvs = [snt.Conv2DTranspose(c, 3, stride=2, padding='SAME',
                                         name=f'deconv_{i}')
                     for i, c in enumerate(channels)]
    self._out = snt.Conv2DTranspose(out_channels, 3, stride=1,
                                    padding='SAME', name='params')
    self._activation = activation

  def _params(self, z: tf.Tensor) -> tf.Tensor:
    h = self._activation(self._project(z))
    h = tf.reshape(h, [-1, *self._start])
    for deconv in self._deconvs:
      h = self._activation(deconv(h))
    height, width, _ = self.output_shape
    return self._out(h)[:, :height, :width, :]


# The parts a configuration chooses by name (see `vae/registry.py`).
DECODERS = registry.Registry('decoder')
DECODERS.register('mlp', lambda c, parts: MLPDecoder(
    c.hidden_sizes, parts.image_shape,
    activation=encoders.ACTIVATIONS[c.activation],
    likelihood=parts.likelihood, compute_dtype=parts.compute_dtype,
    name='decoder'),
                  'an MLP (--hidden_sizes)',
                  fields=('hidden_sizes', 'activation'))
DECODERS.register('gated_mlp', lambda c, parts: MLPDecoder(
    c.hidden_sizes, parts.image_shape, likelihood=parts.likelihood,
    compute_dtype=parts.compute_dtype, gated=True, name='decoder'),
                  'an MLP of gated layers h(z) * sigmoid(g(z)) '
                  '(--hidden_sizes; Tomczak and Welling 2018)',
                  fields=('hidden_sizes',))
DECODERS.register('conv', lambda c, parts: ConvDecoder(
    parts.image_shape, c.conv_channels[::-1],
    activation=encoders.ACTIVATIONS[c.activation],
    likelihood=parts.likelihood, compute_dtype=parts.compute_dtype,
    name='decoder'),
                  'transposed convolutions (--conv_channels reversed)',
                  fields=('conv_channels', 'activation'))

# Traits: `discrete_levels`, a probability over that many grey levels; and
# `density`, a density over continuous pixels. Both need grey levels
# (`--binarization=none`; a density also takes dequantised ones), and runs
# report their NLL in bits per dimension too (a density's on dequantised
# data only).
LIKELIHOODS = registry.Registry('likelihood')
LIKELIHOODS.register('bernoulli', lambda c, parts: BernoulliLikelihood(
    name='likelihood'), 'binary pixels')
LIKELIHOODS.register('gaussian', lambda c, parts: GaussianLikelihood(
    c.likelihood_scale, name='likelihood'),
                     'grey levels; one scale, fixed (--likelihood_scale) or '
                     'learned', fields=('likelihood_scale',), density=True)
LIKELIHOODS.register('continuous_bernoulli', lambda c, parts: (
    ContinuousBernoulliLikelihood(name='likelihood')),
                     'grey levels in [0, 1] (Loaiza-Ganem and Cunningham '
                     '2019)', density=True)
LIKELIHOODS.register('discretized_logistic', lambda c, parts: (
    DiscretizedLogisticLikelihood(c.mixture_components, name='likelihood')),
                     '8-bit grey levels: a mixture of --mixture_components '
                     'discretised logistics per pixel (Salimans et al. '
                     '2017); reports bits per dimension',
                     fields=('mixture_components',), discrete_levels=256)
