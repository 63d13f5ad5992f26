"""Early stopping on a validation split, decided from the run's eval rows.

A run with `--validation_split` evaluates it at every evaluation step and
logs the result in eval_metrics.csv. The criterion is the validation NLL
(the IWAE bound with `--curve_num_samples` samples) when that is estimated,
else the validation loss (the negative ELBO, or an autoencoder's
distortion). With `--early_stopping_steps=P` the run stops at the first
evaluation at least P steps after the best one so far and after the end of
the KL warm-up (the score falls as beta rises), and the model it evaluates,
exports and reports is the best one (its weights are kept in
`checkpoints/best/`). This is the rule of Tomczak and Welling (2018)'s code
(github.com/jmtomczak/vae_vampprior), which stops after 50 epochs without
a better validation loss and starts counting after the warm-up.

Every decision is a function of the logged rows, so a resumed run decides
as the uninterrupted one did, and a stopped run run again stays stopped.
"""

import math
from typing import Dict, List, NamedTuple, Optional


class Best(NamedTuple):
  step: int
  value: float


def criterion(curve_num_samples: int) -> str:
  """The eval row column that decides: lower is better.

  Args:
    curve_num_samples: The run's `--curve_num_samples`.
  """
  return 'validation_nll' if curve_num_samples else 'validation_loss'


def _scored(rows: List[Dict], column: str) -> List[Dict]:
  return [r for r in sorted(rows, key=lambda r: r['step'])
          if math.isfinite(r.get(column, math.nan))]


def best(rows: List[Dict], column: str,
         up_to: Optional[int] = None) -> Optional[Best]:
  """The row with the lowest `column` (the earliest of equals), among rows
  of step `up_to` or less; None before any.

  Args:
    rows: The eval rows, as eval_metrics.csv holds them.
    column: The column that decides.
    up_to: The last step to consider; None for all.
  """
  scored = [r for r in _scored(rows, column)
            if up_to is None or r['step'] <= up_to]
  if not scored:
    return None
  row = min(scored, key=lambda r: r[column])  # min keeps the first.
  return Best(int(row['step']), row[column])


def stop_step(rows: List[Dict], column: str, patience_steps: int,
              counts_from: int = 0) -> Optional[int]:
  """The first evaluated step at least `patience_steps` after both the best
  step up to it and `counts_from`; None if there is none (or
  `patience_steps` is 0).

  Args:
    rows: The eval rows.
    column: The column that decides.
    patience_steps: The patience, in steps.
    counts_from: The step the patience counts from at the earliest (the
      warm-up's end).
  """
  if not patience_steps:
    return None
  for row in _scored(rows, column):
    so_far = best(rows, column, up_to=row['step'])
    if row['step'] - max(so_far.step, counts_from) >= patience_steps:
      return int(row['step'])
  return None
