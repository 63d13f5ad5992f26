"""A trained VAE as a SavedModel: encode, decode, sample and evaluate.

`ModelFunctions` wraps a `model.VAE` in `tf.function`s with fixed input
signatures (any batch size). Training evaluates through the same functions
that `save` exports, so a reloaded SavedModel reproduces the numbers and the
figures of the run that wrote it, with nothing but TensorFlow:

  loaded = tf.saved_model.load('runs/mnist/saved_model')
  codes = loaded.encode(images)['mean']
  images = loaded.sample(tf.constant(16), tf.constant([0, 0]))['mean']
  # A conditional model's take the labels; 16 images of class 3:
  # loaded.sample(tf.fill([16], 3), tf.constant([0, 0]))['mean']

Every random function takes a stateless seed, an int32 tensor of shape [2]:
the same seed gives the same output, before and after export.
"""

import os
import shutil
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from vae import conditional
from vae import distribute
from vae import encoders
from vae import evaluation
from vae import hierarchy
from vae import kl
from vae import objectives

SIGNATURES = ('encode', 'decode', 'sample', 'reconstruct', 'elbo',
              'log_likelihood')


def _function(python_function, input_signature):
  # Without AutoGraph: the model's code has no tensor-dependent Python
  # control flow, and converting Sonnet's and TFP's code cost seconds a trace.
  return tf.function(python_function, input_signature=input_signature,
                     autograph=False)


class ModelFunctions(tf.Module):
  """The serving and evaluation functions of a VAE.

  - `encode(x)`: {'mean', 'stddev'} of q(z|x), [batch, latent].
  - `decode(z)`: {'mean'} of p(x|z), [batch, H, W, C].
  - `sample(num_samples, seed)`: {'z', 'mean'}, z ~ p(z) decoded.
  - `reconstruct(x, seed)`: {'z', 'mean'}, z ~ q(z|x) decoded.
  - `elbo(x, seed)`: per-example {'elbo', 'rate', 'distortion'} [batch],
    {'posterior_mean'} and, for factorised Normal priors,
    {'kl_per_dimension'} [batch, latent]; for hierarchies
    {'rate_per_layer'} [batch, layers]; and the model's
    `evaluation_outputs(posterior)` if it has them (the VQ-VAE's
    {'code_usage'} [batch, codes]).
  - `log_likelihood(x, num_samples, chunk_size, seed)`: {'log_likelihood'},
    the IWAE estimate of `evaluation.log_likelihood`.

  Raises `ValueError` when the encoder does not take images of
  `image_shape`, or its z has other than `latent_size` dimensions.

  A `model.Autoencoder` has no prior: it has no `sample` or
  `log_likelihood`, and its `elbo` gives NaN for the ELBO, rate 0 and the
  reconstruction's distortion. A WAE (an autoencoder with a prior) has
  `sample` but, its codes being point masses, no `log_likelihood`, and the
  autoencoder's `elbo`. `signatures` names the functions it has.

  A conditional model's functions (`vae/conditional.py`) take the labels,
  int32 [batch], after their first input: `encode(x, labels)`,
  `decode(z, labels)`, `reconstruct(x, labels, seed)`, `elbo(x, labels,
  seed)` (of log p(x|y)), `log_likelihood(x, labels, num_samples,
  chunk_size, seed)` (log p(x|y)), and `sample(labels, seed)`, one image
  per label. Their `num_label_classes` (a variable, saved) is the number
  of classes.

  Args:
    vae: The model (a `model.VAE`, or a zoo model with its interface).
    image_shape: [height, width, channels] of its images.
    latent_size: The dimensions of z; default, those of the encoder's
      posterior.
    kl_samples: How `elbo` estimates the rate (`objectives.elbo`): None for
      the analytic KL, 1 at the distortion's draw, n for n draws.
  """

  def __init__(self, vae, image_shape: Sequence[int],
               latent_size: Optional[int] = None,
               kl_samples: Optional[int] = None):
    super().__init__(name='model_functions')
    self.vae = vae
    self._kl_samples = kl_samples
    latent_size = _checked_latent_size(vae, image_shape, latent_size)
    images = tf.TensorSpec([None, *image_shape], tf.float32, name='x')
    codes = tf.TensorSpec([None, latent_size], tf.float32, name='z')
    seed = tf.TensorSpec([2], tf.int32, name='seed')
    count = tf.TensorSpec([], tf.int32, name='num_samples')
    chunk = tf.TensorSpec([], tf.int32, name='chunk_size')
    labels = tf.TensorSpec([None], tf.int32, name='labels')
    given = conditional.is_conditional(vae)
    if given:
      # Every function takes the labels after its first input; `sample`
      # draws one image per label. Saved, so a reloaded model says so.
      self.num_label_classes = tf.Variable(vae.num_classes,
                                           trainable=False)

    def function(method, *specs):
      """`method(vae, ...)` with `specs`; given labels after the first."""
      if not given:
        return _function(lambda *args: method(vae, *args), list(specs))
      return _function(
          lambda first, y, *rest: method(vae.given(y), first, *rest),
          [specs[0], labels, *specs[1:]])

    self.encode = function(self._encode, images)
    self.decode = function(self._decode, codes)
    self.reconstruct = function(self._reconstruct, images, seed)
    self.elbo = function(self._elbo, images, seed)
    self.signatures = ('encode', 'decode', 'reconstruct', 'elbo')
    # Codes with a density against a prior: an ELBO and log p(x).
    self._bounded = (vae.prior is not None
                     and not getattr(vae, 'point_mass_code', False))
    if vae.prior is not None:
      self.sample = _function(self._sample,
                              [labels if given else count, seed])
      self.signatures += ('sample',)
    if self._bounded:
      self.log_likelihood = function(self._log_likelihood, images, count,
                                     chunk, seed)
      self.signatures += ('log_likelihood',)

  def _encode(self, vae, x):
    mean, stddev = encoders.moments(vae.encoder(x))
    return {'mean': mean, 'stddev': stddev}

  def _decode(self, vae, z):
    return {'mean': vae.decoder(z).mean()}

  def _sample(self, count_or_labels, seed):
    if conditional.is_conditional(self.vae):  # One draw per label.
      labels = count_or_labels
      z = self.vae.sample_codes(labels, seed=seed)
      return {'z': z, 'mean': self.vae.given(labels).decoder(z).mean()}
    z = self.vae.prior_distribution().sample(count_or_labels, seed=seed)
    return {'z': z, 'mean': self.vae.decoder(z).mean()}

  def _reconstruct(self, vae, x, seed):
    z = vae.encoder(x).sample(seed=seed)
    return {'z': z, 'mean': vae.decoder(z).mean()}

  def _elbo(self, vae, x, seed):
    posterior = vae.encoder(x)  # Encoded once, for all the outputs.
    encoder = lambda _: posterior
    if not self._bounded:
      terms = objectives.autoencoder(encoder, vae.decoder, x)
    else:
      terms = objectives.elbo(encoder, vae.decoder, vae.prior, x,
                              kl_samples=self._kl_samples, seed=seed)
    outputs = {'elbo': terms.elbo, 'rate': terms.rate,
               'distortion': terms.distortion,
               'posterior_mean': encoders.moments(posterior)[0]}
    if not self._bounded:
      return outputs
    try:
      outputs['kl_per_dimension'] = kl.kl_per_dimension(posterior, vae.prior)
    except NotImplementedError:
      pass  # Not defined for this prior; evaluation reports None.
    # A model's own per-example outputs (the VQ-VAE's code usage).
    outputs.update(getattr(vae, 'evaluation_outputs', lambda _: {})(
        posterior))
    if hierarchy.is_layered(posterior):  # At the z of the ELBO's terms.
      outputs['rate_per_layer'] = hierarchy.rate_per_layer(
          posterior, vae.prior_distribution(),
          distribute.sample(posterior, seed=objectives.z_seed(seed)))
    return outputs

  def _log_likelihood(self, vae, x, num_samples, chunk_size, seed):
    return {'log_likelihood': evaluation.log_likelihood(
        vae.encoder, vae.decoder, vae.prior, x, num_samples, chunk_size,
        seed)}


def _checked_latent_size(vae, image_shape: Sequence[int],
                         latent_size: Optional[int]) -> int:
  """The dimensions of the z that `vae`'s encoder gives images of
  `image_shape`; a `ValueError` unless they are `latent_size` (if given)."""
  try:
    posterior = conditional.view(vae).encoder(tf.zeros([1, *image_shape]))
  except (ValueError, tf.errors.InvalidArgumentError) as e:
    raise ValueError(f'image_shape={list(image_shape)}: the encoder does not '
                     f'take images of this shape: {e}') from e
  size = int(np.prod(posterior.event_shape))
  if latent_size is not None and latent_size != size:
    raise ValueError(
        f'latent_size={latent_size}: the encoder gives z of {size} '
        f'dimensions (event shape {posterior.event_shape}) for images of '
        f'shape {list(image_shape)}; pass latent_size={size}, or leave it '
        'out.')
  return size


def save(functions: ModelFunctions, path: str) -> str:
  """Writes `functions` as a SavedModel with a signature for each of them,
  replacing one already at `path` only once the new one is whole.

  Args:
    functions: The `ModelFunctions` to export.
    path: The SavedModel's folder.
  """
  signatures = {name: getattr(functions, name).get_concrete_function()
                for name in functions.signatures}
  whole = os.path.normpath(path)
  partial = whole + '.tmp'
  shutil.rmtree(partial, ignore_errors=True)
  tf.saved_model.save(functions, partial, signatures=signatures)
  shutil.rmtree(whole, ignore_errors=True)
  os.replace(partial, whole)
  return path


def load(path: str):
  """A SavedModel written by `save`: `.encode(x)`, `.sample(n, seed)`, ...

  The object has the same functions as `ModelFunctions`, so
  `evaluation.evaluate` takes it as it takes the live model's.

  Args:
    path: The SavedModel's folder.
  """
  return tf.saved_model.load(path)
