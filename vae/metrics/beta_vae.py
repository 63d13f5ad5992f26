"""The BetaVAE score (Higgins et al. 2017), as disentanglement_lib computes
it (evaluation/metrics/beta_vae.py, with its unsupervised_study_v1
settings: batches of 64, 10,000 training and 5,000 evaluation points).

A point: draw a factor k, then two batches of 64 factor vectors that agree
on factor k (and on nothing else but by chance); its feature is the mean
over the batch of |z(x1) - z(x2)|, its label k. A logistic regression
(scikit-learn's defaults) learns k from the feature; the score is its
accuracy on the evaluation points. A code that keeps factor k in its own
dimensions shows a zero difference there, and the score is 1.
"""

from typing import Dict, Tuple

import numpy as np
from sklearn import linear_model

from vae import factors as factors_lib
from vae.metrics import common

BATCH_SIZE = 64
NUM_TRAIN = 10000
NUM_EVAL = 5000
_POINTS_PER_CALL = 16  # Points rendered and represented together.


def _points(data, represent, batch_size: int, num: int,
            rng: np.random.RandomState) -> Tuple[np.ndarray, np.ndarray]:
  """(features [num, code_size], labels [num])."""
  labels, features = [], []
  for start in range(0, num, _POINTS_PER_CALL):
    count = min(_POINTS_PER_CALL, num - start)
    pairs = []
    for _ in range(count):
      k = rng.randint(len(data.factor_sizes))
      first = factors_lib.sample_factors(data, batch_size, rng)
      second = factors_lib.sample_factors(data, batch_size, rng)
      second[:, k] = first[:, k]
      labels.append(k)
      pairs += [first, second]
    codes = common.codes_of(data, represent, np.concatenate(pairs))
    codes = codes.reshape(count, 2, batch_size, -1)
    features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
  return np.concatenate(features), np.array(labels)


def score(train_features, train_labels, eval_features, eval_labels,
          seed: int = 0) -> Tuple[float, float]:
  """(train accuracy, eval accuracy) of the logistic regression.

  Args:
    train_features: [n, code_size] absolute code differences of the training
      points.
    train_labels: [n] the factor each point held fixed.
    eval_features: The same of the eval points.
    eval_labels: Their fixed factors.
    seed: The classifier's seed.
  """
  model = linear_model.LogisticRegression(random_state=seed)
  model.fit(train_features, train_labels)
  return (float(model.score(train_features, train_labels)),
          float(model.score(eval_features, eval_labels)))


def compute(data, represent: common.Represent, rng: np.random.RandomState,
            points_scale: float = 1.0, batch_size: int = BATCH_SIZE) -> Dict:
  """The BetaVAE score: {'beta_vae_score', 'beta_vae_train_accuracy'}.

  Args:
    data, represent, rng, points_scale: As every metric's
      (`metrics.common`'s module docstring).
    batch_size: Pairs averaged into one point.
  """
  train = _points(data, represent, batch_size,
                  common.scaled(NUM_TRAIN, points_scale), rng)
  evaluation = _points(data, represent, batch_size,
                       common.scaled(NUM_EVAL, points_scale), rng)
  train_accuracy, eval_accuracy = score(*train, *evaluation)
  return {'beta_vae_score': eval_accuracy,
          'beta_vae_train_accuracy': train_accuracy}
