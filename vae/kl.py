"""The KL term of the objectives: analytic where TFP has a closed form, by
Monte Carlo where asked, per dimension, and under free bits.

Importing this module also registers the analytic KL across TFP's two
Gaussian families: TFP has it for `Independent(Normal)` pairs and for
`MultivariateNormalLinearOperator` pairs, but not across the two, so a
full-covariance posterior against the `Independent(Normal)` prior would have
none.
"""

from typing import Optional

import tensorflow as tf
import tensorflow_probability as tfp

from vae import distribute
from vae import priors

tfd = tfp.distributions


def _diagonal_normal_as_mvn(distribution: tfd.Distribution) -> tfd.Distribution:
  """`Independent(Normal)` over a vector as the equal
  `MultivariateNormalDiag`."""
  # Static ranks, not `reinterpreted_batch_ndims`, which may be a tensor in a
  # graph.
  if (isinstance(distribution, tfd.Independent)
      and isinstance(distribution.distribution, tfd.Normal)
      and distribution.distribution.event_shape.rank == 0
      and distribution.event_shape.rank == 1):
    normal = distribution.distribution
    return tfd.MultivariateNormalDiag(loc=normal.loc, scale_diag=normal.scale)
  raise NotImplementedError(
      f'no analytic KL between {distribution.name} and a multivariate normal: '
      f'only Independent(Normal) over a vector converts; pass num_samples '
      f'for a Monte Carlo estimate')


@tfd.RegisterKL(tfd.MultivariateNormalLinearOperator, tfd.Independent)
def _kl_mvn_independent(a, b, name=None):
  return tfd.kl_divergence(a, _diagonal_normal_as_mvn(b), name=name)


@tfd.RegisterKL(tfd.Independent, tfd.MultivariateNormalLinearOperator)
def _kl_independent_mvn(a, b, name=None):
  return tfd.kl_divergence(_diagonal_normal_as_mvn(a), b, name=name)


def kl_divergence(posterior: tfd.Distribution,
                  prior: priors.PriorLike,
                  num_samples: Optional[int] = None,
                  seed=None) -> tf.Tensor:
  """KL(posterior || prior) per example, shape [batch].

  Args:
    posterior: q(z|x), batch shape [batch], event shape [latent].
    prior: p(z), a distribution or a callable returning one.
    num_samples: None for the analytic KL through `tfd.kl_divergence`. A
      number asks for the Monte Carlo estimate with that many samples,
      (1/n) sum_i [log q(z_i|x) - log p(z_i)], z_i ~ q(z|x) reparameterised,
      unbiased, whatever the pair.
    seed: optional seed for the Monte Carlo samples.

  Returns:
    A tensor of shape [batch].

  Raises:
    NotImplementedError: for `num_samples=None` where TFP has no closed form
      (a mixture or VampPrior prior, a flow posterior, a hierarchy), saying
      to pass `num_samples`.
  """
  prior = priors.as_distribution(prior)
  if num_samples is None:
    return analytic_kl(posterior, prior, 'num_samples=n for a Monte Carlo '
                        'estimate from n draws')
  if num_samples < 1:
    raise ValueError(f'num_samples must be positive or None, got {num_samples}')
  z = distribute.sample(posterior, num_samples, seed=seed)
  return tf.reduce_mean(posterior.log_prob(z) - prior.log_prob(z), axis=0)


def analytic_kl(posterior: tfd.Distribution, prior: tfd.Distribution,
                 how: str) -> tf.Tensor:
  """TFP's closed-form KL; where it has none, an error that says `how` to
  ask for an estimate.

  Args:
    posterior: q(z|x).
    prior: p(z), a distribution.
    how: What to pass for an estimate, for the error.
  """
  try:
    return tfd.kl_divergence(posterior, prior)
  except NotImplementedError as e:
    raise NotImplementedError(
        f'KL(q || p) of q = {type(posterior).__name__} '
        f'({posterior.name}) and p = {type(prior).__name__} ({prior.name}) '
        f'has no closed form in TFP: pass {how}') from e


def kl_groups(posterior: tfd.Distribution, prior: priors.PriorLike,
              rate: tf.Tensor) -> tf.Tensor:
  """The rate split into independent groups for free bits, [batch, groups].

  One group per latent dimension when the KL is a sum over dimensions (a
  diagonal Gaussian posterior against a factorised Normal prior); otherwise
  the whole rate is one group, as Kingma et al. (2016) allow.

  Args:
    posterior: q(z|x).
    prior: p(z), a distribution or a callable returning one.
    rate: The whole KL per example, [batch], for pairs that do not split.
  """
  if _is_diagonal_normal(posterior):
    try:
      return kl_per_dimension(posterior, prior)
    except NotImplementedError:
      pass
  return rate[:, tf.newaxis]


def free_bits_rate(kl: tf.Tensor, free_bits: float) -> tf.Tensor:
  """The free-bits rate per example (Kingma et al. 2016, eq. 15), [batch].

  For groups j with KL_ij, [batch, groups], the batch mean of the result is
  sum_j max(lambda, mean_i KL_ij): a group whose mean KL is below lambda
  contributes the constant lambda, so it gets no gradient and is free to
  carry information up to lambda nats at no cost. Groups above it
  contribute their own KL.

  Args:
    kl: The KL of each example and group, [batch, groups].
    free_bits: lambda, in nats per group.

  Returns:
    The rate the loss takes, [batch].
  """
  if free_bits < 0:
    raise ValueError(f'free_bits must be non-negative, got {free_bits}')
  free_bits = tf.constant(free_bits, kl.dtype)
  # Batch means per group; under a strategy, of the global batch.
  above = distribute.global_batch_mean(kl) >= free_bits  # [groups]
  return tf.reduce_sum(
      tf.where(above, kl, tf.broadcast_to(free_bits, tf.shape(kl))), axis=-1)


def _is_diagonal_normal(distribution: tfd.Distribution) -> bool:
  return (isinstance(distribution, tfd.Independent)
          and isinstance(distribution.distribution, tfd.Normal))


def kl_per_dimension(posterior: tfd.Distribution,
                     prior: priors.PriorLike) -> tf.Tensor:
  """KL(q(z_i|x) || p(z_i)) for each latent dimension i, [batch, latent].

  For a diagonal Gaussian posterior and a factorised Gaussian prior the KL is
  a sum over dimensions and these are its terms. For a full-covariance
  posterior they are the KLs of its one-dimensional marginals, which do not
  sum to the rate. Other priors raise `NotImplementedError`.

  Args:
    posterior: q(z|x), a factorised Normal over a vector.
    prior: A factorised Normal prior.
  """
  prior = priors.as_distribution(prior)
  if not (isinstance(prior, tfd.Independent)
          and isinstance(prior.distribution, tfd.Normal)):
    raise NotImplementedError(
        f'per-dimension KL needs a factorised Normal prior, got {prior.name}')
  marginals = tfd.Normal(loc=posterior.mean(), scale=posterior.stddev())
  return tfd.kl_divergence(marginals, prior.distribution)


def has_analytic_kl(posterior: tfd.Distribution,
                    prior: priors.PriorLike) -> bool:
  """Whether TFP has a closed form for KL(posterior || prior).

  Args:
    posterior: q(z|x).
    prior: p(z), a distribution or a callable returning one.
  """
  try:
    tfd.kl_divergence(posterior, priors.as_distribution(prior))
  except NotImplementedError:
    return False
  return True
