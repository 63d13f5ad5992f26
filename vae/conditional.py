"""Class-conditional VAEs (Sohn et al. 2015): every distribution given the
label y of the image,

  q(z|x, y),   p(x|z, y),   p(z|y),
  ELBO(x|y) = E_q[log p(x|z, y)] - KL(q(z|x, y) || p(z|y)) <= log p(x|y),

the generative model of Kingma et al. 2014 (M2) with y always observed.

The label enters each network as its one-hot vector c [batch, C]: beside
the pixels in the encoder (flattened for an MLP, one constant plane per
class for a convolutional one), beside z in the decoder. A learnt prior
sees it too: `priors.MixtureOfGaussians` weighs its components per class,
`priors.VampPrior` gives each class its own pseudo-inputs. A fixed prior
(N(0, I), the sphere's uniform) is its own p(z|y).

`ConditionalVAE.given(labels)` is a `model.VAE` whose encoder, decoder and
prior close over the labels, so every objective, bound and estimator of the
library runs on it unchanged and its numbers are conditional: its ELBO
bounds log p(x|y), and its IWAE estimate is log p(x|y).

In training, evaluation and export a conditional model's batch is
`(images, labels)`, labels int [batch] in [0, C) (`conditional.view` picks
the model that a batch's images go through).
"""

import inspect
from typing import Optional

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import model as model_lib
from vae import objectives
from vae import priors

tfd = tfp.distributions


def takes_condition(part) -> bool:
  """Whether `part(..., condition=c)` is defined: whether the part can be
  given the label. A module says so with the attribute `takes_condition`
  (Sonnet's wrapping hides its signature); a function by its signature.

  Args:
    part: An encoder, decoder or prior.
  """
  if isinstance(part, snt.Module):
    return bool(getattr(part, 'takes_condition', False))
  try:
    return 'condition' in inspect.signature(part).parameters
  except (TypeError, ValueError):
    return False


class Conditioned(snt.Module):
  """`module(*args, condition=condition)`: a part given the labels.

  Args:
    module: The encoder, decoder or prior.
    condition: The one-hot labels [batch, C].
  """

  def __init__(self, module, condition: tf.Tensor,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.module = module
    self.condition = condition

  def __call__(self, *args):
    return self.module(*args, condition=self.condition)


def _learnt(prior) -> bool:
  """Whether the prior has weights (Sonnet raises for one without)."""
  try:
    return bool(prior.trainable_variables)
  except (AttributeError, ValueError):
    return False


class ConditionalVAE(snt.Module):
  """A VAE of images given their class label, of `num_classes` classes.

  Its encoder and decoder take `condition=` (one-hot labels), as
  `encoders.MLPEncoder`, `encoders.ConvEncoder` and both decoders do; so
  does its prior if it is learnt.

  Args:
    encoder: Maps (x, c) to q(z|x, y).
    decoder: Maps (z, c) to p(x|z, y).
    prior: A fixed p(z), or a learnt prior taking `condition=`.
    num_classes: C, the labels' classes.
    name: The module's name.

  Raises:
    ValueError: for fewer than 2 classes, or a part that cannot be given
      the label.
  """

  conditional = True

  def __init__(self, encoder, decoder, prior: priors.PriorLike,
               num_classes: int, name: Optional[str] = None):
    super().__init__(name=name)
    if num_classes < 2:
      raise ValueError(f'num_classes must be at least 2, got {num_classes}')
    for part, module in (('encoder', encoder), ('decoder', decoder)):
      if not takes_condition(module):
        raise ValueError(f'the {part} {type(module).__name__} takes no '
                         f'condition: a conditional VAE gives its networks '
                         f'the label')
    self._prior_conditioned = takes_condition(prior)
    if _learnt(prior) and not self._prior_conditioned:
      raise ValueError(f'the prior {type(prior).__name__} is learnt but '
                       f'takes no condition: p(z|y) would ignore y')
    self.encoder = encoder
    self.decoder = decoder
    self.prior = prior
    self.num_classes = num_classes

  def condition(self, labels: tf.Tensor) -> tf.Tensor:
    """The one-hot labels [batch, C], float32."""
    return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)

  def given(self, labels: tf.Tensor) -> model_lib.VAE:
    """The VAE of p(x|y) for these labels [batch]: its parts close over
    them, so it takes images of the same batch."""
    c = self.condition(labels)
    prior = Conditioned(self.prior, c) if self._prior_conditioned else (
        self.prior)
    return model_lib.VAE(Conditioned(self.encoder, c),
                         Conditioned(self.decoder, c), prior)

  def __call__(self, x: tf.Tensor, labels: tf.Tensor,
               num_samples: Optional[int] = None) -> model_lib.VAEOutput:
    """Encodes x given y, draws z, decodes given y."""
    return self.given(labels)(x, num_samples)

  def elbo(self, x: tf.Tensor, labels: tf.Tensor,
           **options) -> objectives.ELBOTerms:
    """The ELBO of log p(x|y), per example; `options` are `VAE.elbo`'s."""
    return self.given(labels).elbo(x, **options)

  def iwae_bound(self, x: tf.Tensor, labels: tf.Tensor, num_samples: int, *,
                 seed=None) -> tf.Tensor:
    """The k-sample importance-weighted bound on log p(x|y), [batch]."""
    return self.given(labels).iwae_bound(x, num_samples, seed=seed)

  def sample_codes(self, labels: tf.Tensor, seed=None) -> tf.Tensor:
    """One z ~ p(z|y) per label, [n, latent]."""
    prior = self.given(labels).prior_distribution()
    if prior.batch_shape.rank:  # A learnt prior, one p(z|y) per label.
      return prior.sample(seed=seed)
    return prior.sample(tf.shape(labels)[0], seed=seed)

  def sample(self, labels: tf.Tensor, seed=None) -> tfd.Distribution:
    """p(x|z, y) for one z ~ p(z|y) per label; its `mean()` is an image."""
    return self.given(labels).decoder(self.sample_codes(labels, seed))


def is_conditional(model) -> bool:
  """Whether `model` (or its `export.ModelFunctions`, live or reloaded)
  takes labels.

  Args:
    model: A model, or its functions.
  """
  return bool(getattr(model, 'conditional', False)) or hasattr(
      model, 'num_label_classes')


def view(model, labels: Optional[tf.Tensor] = None):
  """The model that a batch's images go through: `model` itself, or for a
  conditional model `model.given(labels)`.

  Args:
    model: A model.
    labels: The batch's labels [batch]; None gives one label of class 0,
      to build or inspect a conditional model on one image.
  """
  if not is_conditional(model):
    return model
  if labels is None:
    labels = tf.zeros([1], tf.int32)
  return model.given(labels)
