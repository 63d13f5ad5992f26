"""The FactorVAE score (Kim and Mnih 2018), as disentanglement_lib computes
it (evaluation/metrics/factor_vae.py, with its unsupervised_study_v1
settings: batches of 64, 10,000 training and 5,000 evaluation points,
variances from 10,000 points, dimensions of standard deviation below 0.05
pruned).

Each code dimension is divided by its standard deviation over the data. A
point: draw a factor k and a batch of 64 factor vectors all sharing one
value of factor k; its vote goes to the (active) dimension of the least
normalised variance over the batch. The classifier is a majority vote:
each dimension predicts the factor that voted for it most. The score is its
accuracy on the evaluation votes.
"""

from typing import Dict

import numpy as np

from vae import factors as factors_lib
from vae.metrics import common

BATCH_SIZE = 64
NUM_TRAIN = 10000
NUM_EVAL = 5000
NUM_VARIANCE_ESTIMATE = 10000
PRUNE_THRESHOLD = 0.05
_POINTS_PER_CALL = 32


def votes(data, represent, batch_size: int, num: int,
          rng: np.random.RandomState, variances: np.ndarray,
          active: np.ndarray) -> np.ndarray:
  """[num_factors, code_size] counts: how often factor k's point voted for
  each dimension (only active dimensions get votes).

  Args:
    data: The `factors.FactorData` to draw observations from.
    represent: Observations [n, H, W, C] to codes [n, code_size] (the posterior
      means).
    batch_size: Observations per vote.
    num: The votes.
    rng: The NumPy generator of the draws.
    variances: [code_size] the codes' global variances.
    active: [code_size] whether each dimension is active.
  """
  counts = np.zeros([len(data.factor_sizes), len(variances)], np.int64)
  active_index = np.flatnonzero(active)
  for start in range(0, num, _POINTS_PER_CALL):
    count = min(_POINTS_PER_CALL, num - start)
    ks, batches = [], []
    for _ in range(count):
      k = rng.randint(len(data.factor_sizes))
      batch = factors_lib.sample_factors(data, batch_size, rng)
      batch[:, k] = batch[0, k]
      ks.append(k)
      batches.append(batch)
    codes = common.codes_of(data, represent, np.concatenate(batches))
    codes = codes.reshape(count, batch_size, -1)
    local = np.var(codes, axis=1, ddof=1)  # [count, code_size]
    ratio = local[:, active] / variances[active]
    chosen = active_index[np.argmin(ratio, axis=1)]
    np.add.at(counts, (np.array(ks), chosen), 1)
  return counts


def accuracy(classifier: np.ndarray, counts: np.ndarray) -> float:
  """The share of votes whose dimension's predicted factor is theirs.

  Args:
    classifier: [code_size] the factor each dimension predicts.
    counts: [num_factors, code_size] votes.
  """
  return float(np.sum(counts[classifier, np.arange(counts.shape[1])])
               / np.sum(counts))


def compute(data, represent: common.Represent, rng: np.random.RandomState,
            points_scale: float = 1.0, batch_size: int = BATCH_SIZE) -> Dict:
  """The FactorVAE score: {'factor_vae_score', 'factor_vae_train_accuracy', 'factor_vae_active_dims'}.

  Args:
    data, represent, rng, points_scale: As every metric's
      (`metrics.common`'s module docstring).
    batch_size: Observations per vote.
  """
  scale = lambda num: common.scaled(num, points_scale)
  codes, _ = common.sample_codes(data, represent,
                                 scale(NUM_VARIANCE_ESTIMATE), rng)
  variances = np.var(codes, axis=0, ddof=1)
  active = np.sqrt(variances) >= PRUNE_THRESHOLD
  if not active.any():
    return {'factor_vae_score': 0.0, 'factor_vae_train_accuracy': 0.0,
            'factor_vae_active_dims': 0}
  train = votes(data, represent, batch_size, scale(NUM_TRAIN), rng,
                variances, active)
  classifier = np.argmax(train, axis=0)  # Each dimension's factor.
  evaluation = votes(data, represent, batch_size, scale(NUM_EVAL), rng,
                     variances, active)
  return {'factor_vae_score': accuracy(classifier, evaluation),
          'factor_vae_train_accuracy': accuracy(classifier, train),
          'factor_vae_active_dims': int(active.sum())}
