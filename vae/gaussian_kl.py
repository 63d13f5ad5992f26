"""The analytic KL across TFP's two Gaussian families.

TFP has the Gaussian KL for `Independent(Normal)` pairs and for
`MultivariateNormalLinearOperator` pairs, but not across the two, so a
full-covariance posterior against the `Independent(Normal)` prior would have
no analytic KL. Importing this module registers it with `tfd.kl_divergence`.
"""

import tensorflow_probability as tfp

tfd = tfp.distributions


def _diagonal_normal_as_mvn(distribution: tfd.Distribution) -> tfd.Distribution:
  """`Independent(Normal)` over a vector as the equal `MultivariateNormalDiag`."""
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
