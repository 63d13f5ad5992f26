"""DIP-VAE I and II (Kumar et al. 2018): the ELBO plus a penalty that moves
the aggregate posterior's covariance towards the identity.

With mu(x) and Sigma(x) the mean and covariance of q(z|x), over the batch:

  DIP-VAE I:  C = Cov_x[mu(x)],
  DIP-VAE II: C = E_x[Sigma(x)] + Cov_x[mu(x)]   (the covariance of q(z)),

  penalty = lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2,
  loss = distortion + KL + penalty,

as disentanglement_lib's `DIPVAE` computes them (the covariance with the
1/M of the batch mean, not 1/(M - 1)). The penalty is one number per batch;
each example carries it, so the batch's mean loss has it once. Under a
strategy the batch is the global batch (`distribute.global_mean`), so 2
replicas train as one device.
"""

from typing import Optional

import tensorflow as tf

from vae import distribute
from vae import model as model_lib
from vae import objectives


def covariance(values: tf.Tensor) -> tf.Tensor:
  """E[v v^T] - E[v] E[v]^T over axis 0 of [batch, dims] (of the global
  batch, under a strategy).

  Args:
    values: [batch, dims] values.
  """
  mean = distribute.global_mean(values)
  outer = distribute.global_mean(values[:, :, None] * values[:, None, :])
  return outer - mean[:, None] * mean[None, :]


def penalty(matrix: tf.Tensor, lambda_od: float, lambda_d: float
            ) -> tf.Tensor:
  """lambda_od times the squares off the diagonal, lambda_d times the
  squared distances of the diagonal from 1.

  Args:
    matrix: A [dims, dims] covariance.
    lambda_od: The weight off the diagonal.
    lambda_d: The weight on the diagonal.
  """
  diagonal = tf.linalg.diag_part(matrix)
  off = matrix - tf.linalg.diag(diagonal)
  return (lambda_od * tf.reduce_sum(tf.square(off))
          + lambda_d * tf.reduce_sum(tf.square(diagonal - 1.0)))


def default_lambda_d(kind: str, lambda_od: float) -> float:
  """disentanglement_lib's: 10 lambda_od for DIP-VAE I, lambda_od for II.

  Args:
    kind: 'i' or 'ii'.
    lambda_od: The off-diagonal weight.
  """
  return (10.0 if kind == 'i' else 1.0) * lambda_od


class DIPVAE(model_lib.VAE):
  """A VAE trained on `regularized_loss`; `kind` 'i' or 'ii'.

  Args:
    encoder, decoder, prior: The VAE's parts.
    kind: 'i' (the covariance of the posterior means) or 'ii' (of the
      aggregate posterior).
    lambda_od: The weight of the off-diagonal entries.
    lambda_d: The weight of the diagonal's distance from 1; None: the
      `default_lambda_d` of `kind`.
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, kind: str, lambda_od: float,
               lambda_d: Optional[float], name=None):
    super().__init__(encoder, decoder, prior, name=name)
    self.kind = kind
    self.lambda_od = lambda_od
    self.lambda_d = (default_lambda_d(kind, lambda_od) if lambda_d is None
                     else lambda_d)

  def aggregate_covariance(self, posterior) -> tf.Tensor:
    """Cov of the batch's posterior means; for DIP-VAE II plus their
    mean variance (the covariance of q(z))."""
    matrix = covariance(posterior.mean())
    if self.kind == 'ii':
      matrix += tf.linalg.diag(distribute.global_mean(posterior.variance()))
    return matrix

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    del seed  # Nothing is drawn.
    extra = penalty(self.aggregate_covariance(posterior), self.lambda_od,
                    self.lambda_d)
    return terms.distortion + terms.rate + tf.cast(extra, terms.rate.dtype)


for _kind in ('i', 'ii'):
  model_lib.MODELS.register(
      f'dip_vae_{_kind}', lambda c, parts, kind=_kind: DIPVAE(
          parts.encoder, parts.decoder, parts.prior, kind, c.dip_lambda_od,
          c.dip_lambda_d),
      f'DIP-VAE {_kind.upper()} (Kumar et al. 2018): the ELBO plus '
      '--dip_lambda_od and --dip_lambda_d times the distance of the '
      f'{"posterior means" if _kind == "i" else "aggregate posterior"}\' '
      'covariance from the identity',
      fields=model_lib.DISENTANGLING_FIELDS + ('dip_lambda_od',
                                               'dip_lambda_d'),
      fixed=model_lib.DISENTANGLING_FIXED, rate_weight=1.0,
      reduces_across_replicas=True,
      loss_title=f'DIP-VAE {_kind.upper()}: loss = distortion + rate + '
      'covariance penalty')
