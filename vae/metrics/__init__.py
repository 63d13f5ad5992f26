"""Disentanglement metrics, each as disentanglement_lib defines it and with
its defaults (google-research/disentanglement_lib, evaluation/metrics/, and
the settings of its unsupervised_study_v1 metric configs).

`METRICS` names each metric's `compute(data, represent, rng, points_scale)`:
`data` a `factors.FactorData`, `represent` observations -> codes (the
encoder's means), `rng` a NumPy RandomState; `points_scale` multiplies the
numbers of points it draws (1: disentanglement_lib's). Each returns its
summary.json keys. A new metric is one module here and one line below.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from vae import registry
from vae.metrics import beta_vae
from vae.metrics import dci
from vae.metrics import factor_vae
from vae.metrics import mig
from vae.metrics import sap

METRICS = registry.Registry('metric')
METRICS.register('beta_vae', beta_vae.compute, 'BetaVAE score (Higgins et '
                 'al. 2017)', keys=('beta_vae_score',))
METRICS.register('factor_vae', factor_vae.compute, 'FactorVAE score (Kim '
                 'and Mnih 2018)', keys=('factor_vae_score',))
METRICS.register('mig', mig.compute, 'Mutual Information Gap (Chen et al. '
                 '2018)', keys=('mig',))
METRICS.register('sap', sap.compute, 'SAP score (Kumar et al. 2018)',
                 keys=('sap',))
METRICS.register('dci', dci.compute, 'DCI (Eastwood and Williams 2018)',
                 keys=('dci_disentanglement', 'dci_completeness',
                       'dci_informativeness'))


def summary_keys() -> Tuple[str, ...]:
  """Every metric's main summary.json keys, in the registry's order."""
  return tuple(key for name in METRICS
               for key in METRICS.traits(name)['keys'])


def compute_all(data, represent, seed: int = 0, points_scale: float = 1.0,
                names: Optional[Sequence[str]] = None) -> Dict:
  """Every metric (or those of `names`), each drawing from its own
  RandomState(seed), as disentanglement_lib's evaluation.random_seed."""
  results = {}
  for name in METRICS.names() if names is None else names:
    results.update(METRICS.get(name)(data, represent,
                                     np.random.RandomState(seed),
                                     points_scale=points_scale))
  return results
