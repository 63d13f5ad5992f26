"""A run's AIS log-likelihood and BDMC check (`vae/ais.py`), with progress,
as the numbers `summary.json` and `evaluation.json` hold."""

import math
import time
from typing import Dict

from absl import logging
import numpy as np
import tensorflow as tf

from vae import ais


def ais_summary(model, batches, num_steps: int, num_chains: int,
                max_examples: int = 0, seed: int = 0) -> Dict:
  """AIS's test NLL over `batches`, beside the IWAE bound's.

  Args:
    model: A built model with a continuous latent (`ais.model_parts`).
    batches: `(images, labels)` batches of the split, in order.
    num_steps: N, AIS's intermediate distributions.
    num_chains: K, its chains per example.
    max_examples: Estimate the first this many examples; 0 for all.
    seed: The seed of the chains' draws (batch i draws from (seed, i)).

  Returns:
    {'test_nll_ais', 'test_nll_ais_stderr' (of the mean, from the chains'
    spread), 'ais_steps', 'ais_chains', 'ais_examples', 'ais_acceptance',
    'ais_seconds'}.

  Raises:
    ValueError: for a model without a continuous density (`model_parts`).
  """
  decoder, prior, _ = ais.model_parts(model)
  estimates, errors, acceptance = [], [], []
  start, done = time.time(), 0
  for i, (x, _) in enumerate(batches):
    if max_examples:
      if done >= max_examples:
        break
      x = x[:max_examples - done]
    estimate = ais.log_likelihood(decoder, prior, x, num_steps, num_chains,
                                  seed=(seed, i))
    estimates.append(estimate.log_likelihood.numpy())
    errors.append(estimate.standard_error.numpy())
    acceptance.append(estimate.acceptance.numpy())
    done += len(estimates[-1])
    logging.info('AIS: %d examples, NLL so far %.3f (%.0f s)', done,
                 -np.concatenate(estimates).mean(), time.time() - start)
  estimates, errors = np.concatenate(estimates), np.concatenate(errors)
  return {
      'test_nll_ais': float(-estimates.mean()),
      'test_nll_ais_stderr': float(math.sqrt(np.sum(errors**2))
                                   / len(errors)),
      'ais_steps': num_steps, 'ais_chains': num_chains,
      'ais_examples': len(estimates),
      'ais_acceptance': float(np.concatenate(acceptance).mean()),
      'ais_seconds': time.time() - start,
  }


def bdmc_summary(model, num_examples: int, num_steps: int, num_chains: int,
                 seed: int = 0) -> Dict:
  """BDMC's sandwich of log p(x) on `num_examples` simulated examples.

  Args:
    model: A built model with a continuous latent (`ais.model_parts`).
    num_examples: The simulated examples.
    num_steps: N, AIS's intermediate distributions in each direction.
    num_chains: K, the chains per example and direction.
    seed: The seed of the simulation and the chains.

  Returns:
    {'bdmc_lower', 'bdmc_upper' (the mean bounds on log p(x), nats),
    'bdmc_gap', 'bdmc_examples', 'bdmc_steps', 'bdmc_seconds'}.
  """
  decoder, prior, _ = ais.model_parts(model)
  start = time.time()
  sandwich = ais.bdmc(decoder, prior, num_examples, num_steps, num_chains,
                      seed=(seed, 1 << 20))
  lower = float(tf.reduce_mean(sandwich.lower))
  upper = float(tf.reduce_mean(sandwich.upper))
  return {'bdmc_lower': lower, 'bdmc_upper': upper,
          'bdmc_gap': upper - lower, 'bdmc_examples': num_examples,
          'bdmc_steps': num_steps, 'bdmc_seconds': time.time() - start}
