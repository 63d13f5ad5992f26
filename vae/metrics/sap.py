"""The Separated Attribute Predictability score, SAP (Kumar et al. 2018,
section 3), as disentanglement_lib computes it
(evaluation/metrics/sap_score.py, with its unsupervised_study_v1 settings:
10,000 training and 5,000 test points, discrete factors).

A score S[j, k] says how well code dimension z_j alone predicts factor v_k:
for discrete factors, the test accuracy of a linear SVM (C = 0.01, classes
balanced) trained on z_j; for continuous ones, the squared correlation of
z_j and v_k. SAP is the mean over factors of the gap between the best and
the second-best dimension's score.
"""

from typing import Dict

import numpy as np
from sklearn import svm

from vae.metrics import common

NUM_TRAIN = 10000
NUM_TEST = 5000


def _continuous_score(code: np.ndarray, factor: np.ndarray) -> float:
  covariance = np.cov(code, factor, ddof=1)
  if covariance[0, 0] <= 1e-12:  # A constant dimension predicts nothing.
    return 0.0
  return covariance[0, 1]**2 / (covariance[0, 0] * covariance[1, 1])


def _discrete_score(code, factor, code_test, factor_test) -> float:
  classifier = svm.LinearSVC(C=0.01, class_weight='balanced')
  classifier.fit(code[:, None], factor)
  return float(np.mean(classifier.predict(code_test[:, None]) == factor_test))


def score_matrix(codes: np.ndarray, factors: np.ndarray,
                 codes_test: np.ndarray, factors_test: np.ndarray,
                 continuous_factors: bool = False) -> np.ndarray:
  """S, [code_size, num_factors].

  Args:
    codes: [n, code_size] training codes.
    factors: [n, num_factors] their factors.
    codes_test: Test codes, alike.
    factors_test: Their factors.
    continuous_factors: Score by R^2 of a regression rather than a classifier's
      accuracy.
  """
  matrix = np.zeros([codes.shape[1], factors.shape[1]])
  for j in range(codes.shape[1]):
    for k in range(factors.shape[1]):
      matrix[j, k] = (
          _continuous_score(codes[:, j], factors[:, k]) if continuous_factors
          else _discrete_score(codes[:, j], factors[:, k], codes_test[:, j],
                               factors_test[:, k]))
  return matrix


def score(matrix: np.ndarray) -> float:
  """SAP of a score matrix: the mean gap between its top two rows.

  Args:
    matrix: S, [code_size, num_factors].
  """
  return float(np.mean(common.top_two_gap(matrix)))


def compute(data, represent: common.Represent, rng: np.random.RandomState,
            points_scale: float = 1.0,
            continuous_factors: bool = False) -> Dict:
  """The SAP score: {'sap'}.

  Args:
    data, represent, rng, points_scale: As every metric's
      (`metrics.common`'s module docstring).
    continuous_factors: Score by regression rather than classification.
  """
  codes, factors = common.sample_codes(
      data, represent, common.scaled(NUM_TRAIN, points_scale), rng)
  codes_test, factors_test = common.sample_codes(
      data, represent, common.scaled(NUM_TEST, points_scale), rng)
  return {'sap': score(score_matrix(codes, factors, codes_test,
                                    factors_test, continuous_factors))}
