"""The VQ-VAE (van den Oord et al. 2017): a map of codebook indices, a
codebook kept by moving averages, and a PixelCNN prior trained after it.

- The encoder's convolutions map x [H, W, C] to z_e(x) [h, w, D], one
  downsampling by 2 per --conv_channels entry (28 -> 14 -> 7 on MNIST).
- Sonnet's `VectorQuantizerEMA` replaces each of the h w vectors by its
  nearest of the K codebook vectors e_k, z_q(x); the codebook follows the
  moving averages of the vectors assigned to it (their Appendix A.1), not a
  codebook loss. Gradients pass z_q straight through to z_e.
- The decoder's transposed convolutions map z_q to p(x|z_q), any likelihood.
- The prior p(c) over the index map c is a PixelCNN (van den Oord et al.
  2016): masked convolutions give each position a categorical over the K
  codes given the positions before it in raster order, as
  `tfd.Autoregressive`.

As a latent-variable model, q(c|x) is a point mass on the map c(x) of
nearest codes (`tfd.Deterministic` over its h w indices), so KL(q || p) =
-log p(c(x)) and

  log p(x) >= log p(x|c(x)) + log p(c(x)) = ELBO(x),

every importance weight of the IWAE bound is equal, and the NLL reported is
this bound (`evaluation.log_likelihood` computes it once). The prior's
output layer starts at zero, so before its phase p(c) is uniform and the rate
is h w log K, the bound the paper trains under.

Training has two phases (`phases`): the last --prior_training_steps of
--training_steps train the prior on the codes of the training images, the
encoder and codebook held fixed; the steps before train the encoder and
decoder on

  loss = -log p(x|z_q) + commitment_cost ||z_e - sg(z_q)||^2,

per example (their eq. 3, the codebook term replaced by the moving averages).
The moving averages' statistics are summed over replicas before every update
(Sonnet's module updates each replica from its own rows), so N replicas
train as one device does.
"""

import math
from typing import Sequence, Tuple

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import decoders
from vae import distribute
from vae import encoders
from vae import model as model_lib
from vae import objectives
from vae import precision
from vae import training

tfd = tfp.distributions


def code_shape(image_shape: Sequence[int], downsamplings: int
               ) -> Tuple[int, int]:
  """(h, w) of the code map: each stride-2 'SAME' convolution halves the
  height and width, rounding up.

  Args:
    image_shape: The images' [H, W, C].
    downsamplings: The stride-2 convolutions.
  """
  height, width = image_shape[:2]
  scale = 2 ** downsamplings
  return math.ceil(height / scale), math.ceil(width / scale)


class VectorQuantizerEMA(snt.nets.VectorQuantizerEMA):
  """Sonnet's quantiser, with the moving averages' statistics (the count of
  vectors per code and their sum) summed over replicas before each update,
  so every replica applies the update one device makes for the global
  batch. Sonnet's module updates each replica from its own rows.

  Args:
    embedding_dim: D, the codebook vectors' dimensions.
    num_embeddings: K, the codebook's size.
    commitment_cost: The weight of ||z_e - sg(z_q)||^2.
    decay: The decay of the moving averages.
    epsilon: Added to the counts, so no code divides by zero.
    dtype: The codebook's dtype.
    name: The module's name.
  """

  def __call__(self, inputs, is_training):
    outputs = super().__call__(inputs, is_training=False)
    if is_training:
      self._update(tf.reshape(inputs, [-1, self.embedding_dim]),
                   outputs['encodings'])
    return outputs

  def _update(self, flat_inputs, encodings):
    """Sonnet's update of the codebook, from the global batch's statistics."""
    counts = distribute.replica_sum(tf.reduce_sum(encodings, axis=0))
    sums = distribute.replica_sum(
        tf.matmul(flat_inputs, encodings, transpose_a=True))
    cluster_size = self.ema_cluster_size(counts)
    sums = self.ema_dw(sums)
    n = tf.reduce_sum(cluster_size)
    # Laplace smoothing keeps an unused code's vector finite.
    cluster_size = ((cluster_size + self.epsilon)
                    / (n + self.num_embeddings * self.epsilon) * n)
    self.embeddings.assign(sums / cluster_size[tf.newaxis])


class _ResidualBlock(snt.Module):
  """x + conv1x1(act(conv3x3(act(x)))), the paper's residual block."""

  def __init__(self, channels: int, activation, name=None):
    super().__init__(name=name)
    self._activation = activation
    self._conv3 = snt.Conv2D(channels, 3, name='conv3x3')
    self._conv1 = snt.Conv2D(channels, 1, name='conv1x1')

  def __call__(self, x):
    return x + self._conv1(self._activation(self._conv3(self._activation(x))))


class Encoder(snt.Module):
  """z_e(x) [batch, h, w, D]: stride-2 convolutions of `channels`, a
  residual block, and a 1x1 convolution to D, computed in `compute_dtype`
  (float32 out).

  Args:
    channels: The channels of the stride-2 convolutions.
    embedding_dim: D, the code vectors' dimensions.
    activation: The nonlinearity.
    compute_dtype: tf.bfloat16 computes the network in bfloat16.
    name: The module's name.
  """

  def __init__(self, channels: Sequence[int], embedding_dim: int,
               activation, compute_dtype=tf.float32, name=None):
    super().__init__(name=name)
    self._activation = activation
    self._convs = [snt.Conv2D(c, 4, stride=2, name=f'conv_{i}')
                   for i, c in enumerate(channels)]
    self._residual = _ResidualBlock(channels[-1], activation)
    self._out = snt.Conv2D(embedding_dim, 1, name='to_embedding')
    self._compute_dtype = compute_dtype
    self._built = False

  def _forward(self, x):
    for conv in self._convs:
      x = self._activation(conv(x))
    return self._out(self._activation(self._residual(x)))

  def __call__(self, x):
    if not self._built:  # Variables are created in float32.
      self._built = True
      return self._forward(x)
    return precision.cast_call(self._forward, x, self._compute_dtype)


class Decoder(decoders._Decoder):  # pylint: disable=protected-access
  """p(x|z_q) from flattened code vectors [n, h w D]: a residual block,
  stride-2 transposed convolutions of `channels` reversed, the last to the
  likelihood's parameters, cropped to the image.

  Args:
    image_shape: The images' [height, width, channels].
    channels: The encoder's channels, which the transposed convolutions
      mirror.
    code_map: The code map's (h, w, D).
    activation: The nonlinearity.
    likelihood: What p(x|z_q) is made of its parameters.
    compute_dtype: tf.bfloat16 computes the network in bfloat16.
    name: The module's name.
  """

  def __init__(self, image_shape: Sequence[int], channels: Sequence[int],
               code_map: Tuple[int, int, int], activation, likelihood,
               compute_dtype=tf.float32, name=None):
    super().__init__(image_shape, likelihood, compute_dtype, name=name)
    self._activation = activation
    self._code_map = code_map
    self._in = snt.Conv2D(channels[-1], 3, name='from_embedding')
    self._residual = _ResidualBlock(channels[-1], activation)
    out_channels = list(channels[::-1][1:]) + [self.param_shape[-1]]
    self._deconvs = [snt.Conv2DTranspose(c, 4, stride=2, name=f'deconv_{i}')
                     for i, c in enumerate(out_channels)]

  def _params(self, z):
    h = tf.reshape(z, [-1, *self._code_map])
    h = self._activation(self._residual(self._in(h)))
    for i, deconv in enumerate(self._deconvs):
      h = deconv(h)
      if i < len(self._deconvs) - 1:
        h = self._activation(h)
    height, width = self.output_shape[:2]
    return h[:, :height, :width, :]


class MaskedConv2D(snt.Module):
  """A 'SAME' convolution whose output at a position sees only the
  positions before it in raster order: mask 'A' (the first layer) leaves out
  the position itself, mask 'B' keeps it (van den Oord et al. 2016).

  Args:
    in_channels: The input's channels.
    out_channels: The output's channels.
    kernel: The kernel's height and width.
    mask: 'A' or 'B'.
    name: The module's name.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel: int,
               mask: str, name=None):
    super().__init__(name=name)
    if mask not in ('A', 'B') or kernel % 2 == 0:
      raise ValueError(f'mask must be A or B and kernel odd, got {mask!r}, '
                       f'{kernel}')
    keep = np.zeros([kernel, kernel, 1, 1], np.float32)
    middle = kernel // 2
    keep[:middle] = 1.0
    keep[middle, :middle + (mask == 'B')] = 1.0
    self.mask = tf.constant(keep)
    init = snt.initializers.VarianceScaling(1.0, 'fan_avg', 'uniform')
    self.w = tf.Variable(init([kernel, kernel, in_channels, out_channels],
                              tf.float32), name='w')
    self.b = tf.Variable(tf.zeros([out_channels]), name='b')

  def __call__(self, x):
    return tf.nn.conv2d(x, self.w * self.mask, 1, 'SAME') + self.b


class PixelCNN(snt.Module):
  """Logits [n, h, w, K] of each position's code given the codes before it
  in raster order: an embedding of the codes (one-hot codes times a
  matrix: a dense gradient, which replica-local variables need, where a
  lookup's is sparse), a 5x5 mask-A convolution,
  `layers` residual 3x3 mask-B convolutions and a 1x1 output, which starts
  at zero (the uniform prior).

  Args:
    code_map: The code map's (height, width).
    num_codes: The codebook's size K.
    channels: The channels of its convolutions.
    layers: The masked residual layers.
    activation: Their nonlinearity.
    name: The module's name.
  """

  def __init__(self, code_map: Tuple[int, int], num_codes: int,
               channels: int, layers: int, activation, name=None):
    super().__init__(name=name)
    self._code_map = tuple(code_map)
    self._activation = activation
    self._num_codes = num_codes
    self.embeddings = tf.Variable(
        snt.initializers.TruncatedNormal()([num_codes, channels], tf.float32),
        name='embeddings')
    self._first = MaskedConv2D(channels, channels, 5, 'A', name='mask_a')
    self._layers = [MaskedConv2D(channels, channels, 3, 'B',
                                 name=f'mask_b_{i}') for i in range(layers)]
    self._out = snt.Conv2D(num_codes, 1, w_init=tf.zeros_initializer(),
                           name='logits')

  def __call__(self, codes):
    """`codes` [..., h w] (float indices) -> logits [..., h w, K]."""
    codes = tf.convert_to_tensor(codes)
    flat = tf.cast(tf.reshape(codes, [-1, *self._code_map]), tf.int32)
    h = self._first(tf.tensordot(tf.one_hot(flat, self._num_codes),
                                 self.embeddings, 1))
    for layer in self._layers:
      h = h + layer(self._activation(h))
    logits = self._out(self._activation(h))
    return tf.reshape(logits, tf.concat(
        [tf.shape(codes), tf.shape(logits)[-1:]], 0))


class CodePrior(snt.Module):
  """p(c) over the h w indices as `tfd.Autoregressive`: sampling runs the
  PixelCNN once per position.

  Args:
    pixelcnn: The `PixelCNN` giving each code's distribution.
    positions: h w, the code map's positions.
    name: The module's name.
  """

  def __init__(self, pixelcnn: PixelCNN, positions: int, name=None):
    super().__init__(name=name)
    self.pixelcnn = pixelcnn
    self.positions = positions

  def conditional(self, codes) -> tfd.Distribution:
    """Each position's categorical given `codes` before it."""
    return tfd.Independent(
        tfd.Categorical(logits=self.pixelcnn(codes), dtype=tf.float32), 1)

  def __call__(self) -> tfd.Distribution:
    # A step count the graph cannot fold to a constant, so TFP samples in a
    # graph loop (one PixelCNN in the graph) rather than unrolling one per
    # position; eagerly it is the same loop in Python.
    num_steps = tf.raw_ops.PlaceholderWithDefault(
        input=tf.constant(self.positions), shape=[])
    return tfd.Autoregressive(self.conditional,
                              sample0=tf.zeros([self.positions]),
                              num_steps=num_steps)


class VQVAE(snt.Module):
  """The VQ-VAE as a latent-variable model over code maps.

  `encoder(x)` is q(c|x), a point mass on the h w indices (float32);
  `decoder(c)` is p(x|c); `prior` returns p(c). So the ELBO, the NLL
  bound, export and evaluation treat it as any VAE; it trains in the two
  phases of `phases`.

  Args:
    encoder_net: The convolutional encoder to the code map's vectors.
    quantizer: The `VectorQuantizerEMA` of the codebook.
    decoder_net: The decoder from quantised vectors to p(x|c).
    prior: The `CodePrior` over code maps.
    commitment_cost: The weight of the commitment loss.
    name: The module's name.
  """

  def __init__(self, encoder_net: Encoder, quantizer: VectorQuantizerEMA,
               decoder_net: Decoder, prior: CodePrior,
               commitment_cost: float, name=None):
    super().__init__(name=name)
    self.encoder_net = encoder_net
    self.quantizer = quantizer
    self.decoder_net = decoder_net
    self.prior = prior
    self.commitment_cost = commitment_cost

  def prior_distribution(self) -> tfd.Distribution:
    return self.prior()

  def _indices(self, x):
    """The index map of x, flat: [batch, h w]."""
    vq = self.quantizer(self.encoder_net(x), is_training=False)
    return self._flat(vq['encoding_indices'])

  def _flat(self, indices):
    """An index map [batch, h, w] as float indices [batch, h w]."""
    return tf.reshape(tf.cast(indices, tf.float32), [-1, self.prior.positions])

  def encoder(self, x) -> tfd.Distribution:
    return tfd.Independent(tfd.Deterministic(self._indices(x)), 1)

  def decoder(self, codes) -> tfd.Distribution:
    codes = tf.convert_to_tensor(codes)
    vectors = self.quantizer.quantize(tf.cast(codes, tf.int32))
    size = self.prior.positions * self.quantizer.embedding_dim
    return self.decoder_net(tf.reshape(
        vectors, tf.concat([tf.shape(codes)[:-1], [size]], 0)))

  def __call__(self, x) -> model_lib.VAEOutput:
    posterior = self.encoder(x)
    z = posterior.sample()
    return model_lib.VAEOutput(posterior, z, self.decoder(z))

  def _rate(self, codes):
    return -self.prior_distribution().log_prob(tf.stop_gradient(codes))

  def loss_terms(self, x, seed=None) -> objectives.ELBOTerms:
    """The first phase: the reconstruction and the commitment, through
    the straight-through z_q; the codebook's moving averages update."""
    del seed  # Nothing is drawn.
    z_e = self.encoder_net(x)
    vq = self.quantizer(z_e, is_training=True)
    z_q = vq['quantize']  # z_e + sg(z_q - z_e): the value z_q.
    flat = tf.reshape(z_q, [tf.shape(z_q)[0], -1])
    distortion = -self.decoder_net(flat).log_prob(x)
    commitment = self.commitment_cost * tf.reduce_sum(
        tf.square(z_e - tf.stop_gradient(z_q)), axis=[1, 2, 3])
    rate = self._rate(self._flat(vq['encoding_indices']))
    return objectives.ELBOTerms(elbo=-(distortion + rate), rate=rate,
                                distortion=distortion,
                                loss=distortion + commitment)

  def prior_terms(self, x, seed=None) -> objectives.ELBOTerms:
    """The second phase: the prior's NLL of the (fixed) codes of x."""
    del seed
    codes = tf.stop_gradient(self._indices(x))
    distortion = -self.decoder(codes).log_prob(x)
    rate = self._rate(codes)
    return objectives.ELBOTerms(elbo=-(distortion + rate), rate=rate,
                                distortion=distortion, loss=rate)

  def evaluation_outputs(self, posterior) -> dict:
    """Per example, how often each code is used, [batch, K]."""
    return {'code_usage': tf.reduce_sum(tf.one_hot(
        tf.cast(posterior.mean(), tf.int32), self.quantizer.num_embeddings),
                                        axis=1)}

  def phases(self, train_config) -> Tuple[training.Phase, ...]:
    """The autoencoder's steps, then the prior's last
    `prior_training_steps(train_config)` of `--training_steps`."""
    training_steps = train_config.training_steps
    networks = training.Variables(self.encoder_net.trainable_variables
                                  + self.decoder_net.trainable_variables)
    first = training_steps - prior_training_steps(train_config)
    return (training.Phase('optimizer', first,
                           networks, self.loss_terms),
            training.Phase('prior_optimizer', training_steps, self.prior,
                           self.prior_terms))


def prior_training_steps(train_config) -> int:
  """--prior_training_steps, or half of --training_steps when unset.

  Args:
    train_config: A `config.TrainConfig`.
  """
  steps = train_config.prior_training_steps
  return train_config.training_steps // 2 if steps is None else steps


def positions(config, image_shape: Sequence[int]) -> int:
  """h w, the code map's positions, of a `config.ModelConfig`.

  Args:
    config: A `config.ModelConfig`.
    image_shape: The images' [H, W, C].
  """
  height, width = code_shape(image_shape, len(config.conv_channels))
  return height * width


def build(config, parts) -> VQVAE:
  """The VQ-VAE of a `config.ModelConfig` and `build.Parts` (which give the
  image shape, the likelihood and the compute dtype).

  Args:
    config: A `config.ModelConfig`.
    parts: The `registry.Parts` built so far.
  """
  activation = encoders.ACTIVATIONS[config.activation]
  channels = tuple(config.conv_channels)
  height, width = code_shape(parts.image_shape, len(channels))
  quantizer = VectorQuantizerEMA(config.embedding_dim, config.codebook_size,
                                 config.commitment_cost,
                                 config.codebook_decay, name='quantizer')
  return VQVAE(
      Encoder(channels, config.embedding_dim, activation,
              parts.compute_dtype, name='encoder'),
      quantizer,
      Decoder(parts.image_shape, channels,
              (height, width, config.embedding_dim), activation,
              parts.likelihood, parts.compute_dtype, name='decoder'),
      CodePrior(PixelCNN((height, width), config.codebook_size,
                         config.pixelcnn_channels, config.pixelcnn_layers,
                         activation, name='pixelcnn'),
                height * width, name='prior'),
      config.commitment_cost, name='vqvae')


model_lib.MODELS.register(
    'vqvae', lambda c, parts: build(c, parts),
    'a VQ-VAE (van den Oord et al. 2017): conv nets (--conv_channels), a '
    'codebook of --codebook_size vectors, a PixelCNN prior trained last',
    fields=('activation', 'conv_channels', 'codebook_size', 'embedding_dim',
            'commitment_cost', 'codebook_decay', 'pixelcnn_channels',
            'pixelcnn_layers', 'prior_training_steps'),
    own_networks=True, conv=True, reduces_across_replicas=True,
    analytic_kl=False,
    rate_weight=0.0, code_map=True, bits_per_dim=True, phased=True,
    latent_dims=positions,
    loss_title='VQ-VAE: loss = distortion + commitment, then the rate')
