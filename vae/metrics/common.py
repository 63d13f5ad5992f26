"""What the disentanglement metrics share: drawing (code, factor) pairs,
discretising codes, and discrete mutual information.

Arrays here are [examples, dimensions]; disentanglement_lib's are the
transpose. A `represent` function maps a batch of observations to codes,
[n, code_size]: the encoder's means, as disentanglement_lib evaluates its
"mean" representation.

Each metric's `compute(data, represent, rng, points_scale, ...)` takes
`data`, the `factors.FactorData` to draw observations from; `represent`;
`rng`, the NumPy generator of its draws; and `points_scale`, the fraction
of disentanglement_lib's numbers of points it draws. It returns its scores
by name.
"""

from typing import Callable, Tuple

import numpy as np
from sklearn import metrics as sk_metrics

from vae import factors as factors_lib

Represent = Callable[[np.ndarray], np.ndarray]


def codes_of(data: factors_lib.FactorData, represent: Represent,
             factors: np.ndarray, batch_size: int = 1000) -> np.ndarray:
  """The codes of the observations of `factors`, rendered in batches.

  Args:
    data: The `factors.FactorData` to draw observations from.
    represent: Observations [n, H, W, C] to codes [n, code_size] (the posterior
      means).
    factors: [n, num_factors] factor indices.
    batch_size: Observations rendered at once.
  """
  return np.concatenate([
      np.asarray(represent(data.observations(factors[i:i + batch_size])))
      for i in range(0, len(factors), batch_size)])


def sample_codes(data: factors_lib.FactorData, represent: Represent,
                 num: int, rng: np.random.RandomState
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """(codes [num, code_size], factors [num, num_factors]) of `num` draws.

  Args:
    data: The `factors.FactorData` to draw observations from.
    represent: Observations [n, H, W, C] to codes [n, code_size] (the posterior
      means).
    num: The draws.
    rng: The NumPy generator of the draws.
  """
  factors = factors_lib.sample_factors(data, num, rng)
  return codes_of(data, represent, factors), factors


def histogram_discretize(codes: np.ndarray, num_bins: int = 20
                         ) -> np.ndarray:
  """Each code dimension binned into `num_bins` equal-width bins over its
  range: bin b (1..num_bins) holds values from edge b - 1 (disentanglement
  _lib's `_histogram_discretize`: `np.digitize` against the histogram's
  edges but the last).

  Args:
    codes: [n, code_size] codes.
    num_bins: Bins per dimension.
  """
  codes = np.asarray(codes)
  binned = np.zeros(codes.shape, np.int64)
  for j in range(codes.shape[1]):
    edges = np.histogram(codes[:, j], num_bins)[1][:-1]
    binned[:, j] = np.digitize(codes[:, j], edges)
  return binned


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray
                         ) -> np.ndarray:
  """[code_size, num_factors] mutual information in nats between discrete
  code dimensions and factors (their empirical joint distribution).

  Args:
    codes: [n, code_size] discrete codes.
    factors: [n, num_factors] factor indices.
  """
  return np.array([[sk_metrics.mutual_info_score(factors[:, k], codes[:, j])
                    for k in range(factors.shape[1])]
                   for j in range(codes.shape[1])])


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
  """[num_factors] entropy in nats of each factor's empirical
  distribution.

  Args:
    factors: [n, num_factors] factor indices.
  """
  return np.array([sk_metrics.mutual_info_score(f, f) for f in factors.T])


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
  """Per column, the largest entry minus the second largest (minus 0 for
  a one-row matrix: a one-dimensional code).

  Args:
    matrix: A [rows, columns] matrix.
  """
  ordered = np.sort(matrix, axis=0)
  return ordered[-1] - (ordered[-2] if len(ordered) > 1 else 0.0)


def scaled(num: int, points_scale: float) -> int:
  """A metric's number of points times `points_scale`, at least 2.

  Args:
    num: disentanglement_lib's number of points.
    points_scale: The fraction of it.
  """
  return max(2, int(round(num * points_scale)))
