"""Disentanglement, completeness and informativeness, DCI (Eastwood and
Williams 2018), as disentanglement_lib computes them
(evaluation/metrics/dci.py, with its unsupervised_study_v1 settings: 10,000
training and 5,000 test points).

One gradient-boosted-trees classifier (scikit-learn's defaults, with
`random_state=0` so that a score repeats; disentanglement_lib leaves it
unset) per factor predicts it from the whole code; its feature importances fill the column of
an importance matrix R [code_size, num_factors]. Then

  disentanglement = sum_j rho_j (1 - H_K(R[j, :] / sum_k R[j, k])),
  rho_j = sum_k R[j, k] / sum R,
  completeness = sum_k rho_k (1 - H_D(R[:, k] / sum_j R[j, k])),
  rho_k = sum_j R[j, k] / sum R,

with entropies in base K (the number of factors) and D (the code size).
Informativeness is the classifiers' mean test accuracy, as
disentanglement_lib reports it (its `informativeness_test`; Eastwood and
Williams define it by the prediction error, one minus this).
"""

from typing import Dict, Tuple

import numpy as np
from scipy import stats
from sklearn import ensemble

from vae.metrics import common

NUM_TRAIN = 10000
NUM_TEST = 5000


def importance_matrix(codes, factors, codes_test, factors_test
                      ) -> Tuple[np.ndarray, float, float]:
  """(R [code_size, num_factors], mean train accuracy, mean test
  accuracy) of one gradient-boosted-trees classifier per factor.

  Args:
    codes: [n, code_size] training codes.
    factors: [n, num_factors] their factors.
    codes_test: Test codes, alike.
    factors_test: Their factors.
  """
  importance = np.zeros([codes.shape[1], factors.shape[1]])
  train, test = [], []
  for k in range(factors.shape[1]):
    model = ensemble.GradientBoostingClassifier(random_state=0)
    model.fit(codes, factors[:, k])
    importance[:, k] = np.abs(model.feature_importances_)
    train.append(np.mean(model.predict(codes) == factors[:, k]))
    test.append(np.mean(model.predict(codes_test) == factors_test[:, k]))
  return importance, float(np.mean(train)), float(np.mean(test))


def _weighted_purity(importance: np.ndarray) -> float:
  """sum_j rho_j (1 - H(row j)), entropy in base the row's length."""
  per_row = 1.0 - stats.entropy(importance.T + 1e-11,
                                base=importance.shape[1])
  if importance.sum() == 0.0:
    importance = np.ones_like(importance)
  weights = importance.sum(axis=1) / importance.sum()
  return float(np.sum(per_row * weights))


def disentanglement(importance: np.ndarray) -> float:
  """D: the mean purity of each code dimension over the factors, weighted by its importance.

  Args:
    importance: R, [code_size, num_factors].
  """
  return _weighted_purity(importance)


def completeness(importance: np.ndarray) -> float:
  """C: the mean purity of each factor over the code dimensions, weighted by its importance.

  Args:
    importance: R, [code_size, num_factors].
  """
  return _weighted_purity(importance.T)


def compute(data, represent: common.Represent, rng: np.random.RandomState,
            points_scale: float = 1.0) -> Dict:
  """DCI: {'dci_disentanglement', 'dci_completeness', 'dci_informativeness', ...}.

  Args:
    data, represent, rng, points_scale: As every metric's
      (`metrics.common`'s module docstring).
  """
  codes, factors = common.sample_codes(
      data, represent, common.scaled(NUM_TRAIN, points_scale), rng)
  codes_test, factors_test = common.sample_codes(
      data, represent, common.scaled(NUM_TEST, points_scale), rng)
  importance, train, test = importance_matrix(codes, factors, codes_test,
                                              factors_test)
  return {'dci_disentanglement': disentanglement(importance),
          'dci_completeness': completeness(importance),
          'dci_informativeness': test,
          'dci_informativeness_train': train}
