"""Categorical latents: independent one-hot categoricals, flattened to a
vector z, and their Gumbel-softmax relaxation (Jang et al. 2017; the
Concrete of Maddison et al. 2017).

- `categorical(logits)`: the posterior, a distribution over one-hot codes
  whose event shape is `[num_variables * num_classes]`, as a Gaussian
  latent's is;
- `relax(posterior, temperature)`: its relaxation, which training draws
  from (`objectives.elbo`);
- `CategoricalPosterior`: the head that maps features to it;
- `UniformCategorical`: the prior.
"""

from typing import Optional, Union

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors


def categorical(logits: tf.Tensor) -> tfd.Distribution:
  """Independent one-hot categoricals, flattened to a vector latent.

  `logits` [..., num_variables, num_classes] give `num_variables`
  independent `OneHotCategorical`s (float32 one-hot samples); the event is
  flattened to `[num_variables * num_classes]`, like a Gaussian latent, so
  the decoder, the KL against `UniformCategorical` (exact, through
  TFP's registered KLs) and the IWAE estimate treat it as any other latent.

  Args:
    logits: [..., num_variables, num_classes].
  """
  logits = tf.convert_to_tensor(logits)
  num_variables, num_classes = logits.shape[-2:]
  return tfd.TransformedDistribution(
      tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=tf.float32),
                      reinterpreted_batch_ndims=1),
      tfb.Reshape([num_variables * num_classes], [num_variables, num_classes]))


def categorical_logits(distribution: tfd.Distribution) -> tf.Tensor:
  """The logits [..., num_variables, num_classes] of `categorical`.

  Args:
    distribution: A posterior of `categorical`.
  """
  return distribution.distribution.distribution.logits


def is_categorical(distribution: tfd.Distribution) -> bool:
  """Whether `distribution` is a posterior of `categorical`.

  Args:
    distribution: A posterior.
  """
  return (isinstance(distribution, tfd.TransformedDistribution)
          and isinstance(distribution.distribution, tfd.Independent)
          and isinstance(distribution.distribution.distribution,
                         tfd.OneHotCategorical))


def relax(posterior: tfd.Distribution,
          temperature: Union[float, tf.Tensor]) -> tfd.Distribution:
  """The Gumbel-softmax relaxation of a `categorical` posterior.

  `RelaxedOneHotCategorical(temperature, logits)` per variable (Jang et al.
  2017, eq. 1; the Concrete of Maddison et al. 2017), flattened the same
  way: its samples lie on the simplex of each variable, are reparameterised
  (gradients reach the logits) and tend to one-hot samples of the posterior
  as the temperature falls.

  Args:
    posterior: A categorical posterior of `CategoricalPosterior`.
    temperature: The relaxation's temperature, above 0.

  Returns:
    The relaxed distribution, flattened as the posterior is.
  """
  logits = categorical_logits(posterior)
  num_variables, num_classes = logits.shape[-2:]
  return tfd.TransformedDistribution(
      tfd.Independent(
          tfd.RelaxedOneHotCategorical(temperature, logits=logits),
          reinterpreted_batch_ndims=1),
      tfb.Reshape([num_variables * num_classes], [num_variables, num_classes]))


class CategoricalPosterior(snt.Module):
  """`num_variables` independent categoricals of `num_classes` classes.

  z is their one-hot codes concatenated, `num_variables * num_classes`
  dimensions. Evaluation uses this discrete posterior exactly; training
  draws relaxed samples from `relax(q, temperature)`, the Gumbel-softmax
  estimator (see `objectives.elbo`).

  Args:
    num_variables: The number of categorical variables.
    num_classes: The classes of each.
    name: The module's name.
  """

  def __init__(self,
               num_variables: int,
               num_classes: int,
               name: Optional[str] = None):
    super().__init__(name=name)
    _shape(self, num_variables, num_classes)
    self._logits = snt.Linear(self.latent_size, name='logits')

  def __call__(self, features: tf.Tensor) -> tfd.Distribution:
    logits = self._logits(features)
    logits = tf.reshape(logits, tf.concat(
        [tf.shape(logits)[:-1], [self.num_variables, self.num_classes]], 0))
    return categorical(logits)


@snt.allow_empty_variables
class UniformCategorical(snt.Module):
  """Independent uniform one-hot categoricals: the prior of
  `CategoricalPosterior` (Jang et al. 2017), with the exact KL
  sum_n sum_k q_nk log(K q_nk).

  Args:
    num_variables: The number of categorical variables.
    num_classes: The classes of each.
    name: The module's name.
  """

  def __init__(self,
               num_variables: int,
               num_classes: int,
               name: Optional[str] = None):
    super().__init__(name=name)
    _shape(self, num_variables, num_classes)

  def __call__(self) -> tfd.Distribution:
    return categorical(tf.zeros([self.num_variables, self.num_classes]))


def _shape(module, num_variables: int, num_classes: int) -> None:
  """Sets `module`'s num_variables, num_classes and latent_size (their
  product); a `ValueError` for no variables or fewer than 2 classes."""
  if num_variables < 1:
    raise ValueError(f'num_variables must be positive, got {num_variables}')
  if num_classes < 2:
    raise ValueError(f'num_classes must be at least 2, got {num_classes}')
  module.num_variables = num_variables
  module.num_classes = num_classes
  module.latent_size = num_variables * num_classes
