"""Decoders: networks mapping a latent code z to the likelihood p(x|z).

A decoder is a network from z to one parameter per pixel (an MLP, or
transposed convolutions) and a likelihood that turns those parameters into a
distribution over images:

- `BernoulliLikelihood`: binary pixels, parameters are logits;
- `ContinuousBernoulliLikelihood`: grey levels in [0, 1], with the
  normalising constant the Bernoulli lacks on [0, 1] (Loaiza-Ganem and
  Cunningham 2019);
- `GaussianLikelihood`: continuous pixels, mean sigmoid(parameters), one
  scale for every pixel, fixed or learned.

Each returns `Independent(..., reinterpreted_batch_ndims=3)` over the image,
so `log_prob(x)` sums over pixels and gives one number per example.
"""

from typing import Callable, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import encoders
from vae import precision
from vae import registry

tfd = tfp.distributions

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


Likelihood = Callable[[tf.Tensor, int], tfd.Distribution]


class _Decoder(snt.Module):
  """What both decoders share: z with any leading dimensions, the likelihood.

  Subclasses define `_params(z)`, mapping z [n, latent] to [n, *output_shape].
  With `compute_dtype=tf.bfloat16` that network computes in bfloat16
  (`precision.cast_call`) after a first float32 call that creates the
  variables; the parameters are cast back, and the likelihood is float32.
  """

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

  def __call__(self, z: tf.Tensor) -> tfd.Distribution:
    z = tf.convert_to_tensor(z)
    # One 2-D pass whatever the leading (sample, batch) dimensions are.
    flat = tf.reshape(z, [-1, z.shape[-1]])
    if self._built:  # In compute_dtype (mixed precision); params float32.
      params = precision.cast_call(self._params, flat, self.compute_dtype)
    else:  # Creates the variables, in float32.
      self._built = True
      params = self._params(flat)
    batch_shape = tf.shape(z)[:-1]
    params = tf.reshape(params, tf.concat([batch_shape, self.output_shape], 0))
    return self.likelihood(params, len(self.output_shape))


class MLPDecoder(_Decoder):
  """An MLP from z to one parameter per pixel of `output_shape`.

  `z` may carry any number of leading sample and batch dimensions: z of
  shape [k, batch, latent] gives a distribution of batch shape [k, batch].
  The likelihood defaults to `BernoulliLikelihood`.
  """

  def __init__(self,
               hidden_sizes: Sequence[int],
               output_shape: Sequence[int],
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               likelihood: Optional[Likelihood] = None,
               compute_dtype: tf.DType = tf.float32,
               name: Optional[str] = None):
    super().__init__(output_shape, likelihood, compute_dtype, name=name)
    hidden_sizes = encoders.check_sizes('hidden_sizes', hidden_sizes)
    self._net = snt.nets.MLP(
        hidden_sizes + [int(np.prod(self.output_shape))],
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
    height, width, out_channels = self.output_shape
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
    c.hidden_sizes, parts.image_shape, likelihood=parts.likelihood,
    compute_dtype=parts.compute_dtype, name='decoder'),
                  'an MLP (--hidden_sizes)')
DECODERS.register('conv', lambda c, parts: ConvDecoder(
    parts.image_shape, c.conv_channels[::-1], likelihood=parts.likelihood,
    compute_dtype=parts.compute_dtype, name='decoder'),
                  'transposed convolutions (--conv_channels reversed)')

LIKELIHOODS = registry.Registry('likelihood')
LIKELIHOODS.register('bernoulli', lambda c, parts: BernoulliLikelihood(
    name='likelihood'), 'binary pixels')
LIKELIHOODS.register('gaussian', lambda c, parts: GaussianLikelihood(
    c.likelihood_scale, name='likelihood'),
                     'grey levels; one scale, fixed (--likelihood_scale) or '
                     'learned')
LIKELIHOODS.register('continuous_bernoulli', lambda c, parts: (
    ContinuousBernoulliLikelihood(name='likelihood')),
                     'grey levels in [0, 1] (Loaiza-Ganem and Cunningham '
                     '2019)')
