"""The Mutual Information Gap, MIG (Chen et al. 2018), as
disentanglement_lib computes it (evaluation/metrics/mig.py, with its
unsupervised_study_v1 settings: 10,000 points, 20 histogram bins).

Each code dimension z_j is binned into 20 equal-width bins over its range.
For each factor v_k, the gap between the largest and the second-largest
I(z_j; v_k) over j, over H(v_k); MIG is the mean over factors. 1: each
factor is fully told by one dimension and by no other; 0: its two most
informative dimensions tell it equally.
"""

from typing import Dict

import numpy as np

from vae.metrics import common

NUM_TRAIN = 10000
NUM_BINS = 20


def score(codes: np.ndarray, factors: np.ndarray,
          num_bins: int = NUM_BINS) -> float:
  """MIG of codes [n, code_size] and their factors [n, num_factors].

  Args:
    codes: [n, code_size] codes.
    factors: [n, num_factors] factor indices.
    num_bins: Bins per code dimension.
  """
  info = common.discrete_mutual_info(
      common.histogram_discretize(codes, num_bins), factors)
  return float(np.mean(common.top_two_gap(info)
                       / common.discrete_entropy(factors)))


def compute(data, represent: common.Represent, rng: np.random.RandomState,
            points_scale: float = 1.0, num_bins: int = NUM_BINS) -> Dict:
  """The mutual information gap: {'mig'}.

  Args:
    data, represent, rng, points_scale: As every metric's
      (`metrics.common`'s module docstring).
    num_bins: Bins per code dimension.
  """
  codes, factors = common.sample_codes(
      data, represent, common.scaled(NUM_TRAIN, points_scale), rng)
  return {'mig': score(codes, factors, num_bins)}
