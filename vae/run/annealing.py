"""A run's AIS log-likelihood and BDMC check (`vae/ais.py`), with progress,
as the numbers `summary.json` and `evaluation.json` hold.

Both `experiments.evaluate --ais_steps` and a run's own `--eval_ais_steps`
call `summary`. Beside AIS's NLL it reports the IWAE bound's on the same
examples (`ais_iwae_nll`), since AIS usually runs on a subset of the split
and the run's `test_nll` is over all of it.
"""

import math
import time
from typing import Dict, NamedTuple, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from vae import ais
from vae import conditional
from vae import errors
from vae import evaluation


class Settings(NamedTuple):
  """What to estimate.

  Attributes:
    steps: N, AIS's intermediate distributions (at least 1).
    chains: K, its chains per example (and BDMC's per direction).
    examples: AIS on the first this many examples of the split; 0: all.
    bdmc_examples: BDMC's simulated examples; 0: no BDMC.
    iwae_samples: k of the IWAE bound on AIS's examples; 0: not.
    seed: The seed of the chains' and the bound's draws.
  """
  steps: int
  chains: int = 16
  examples: int = 0
  bdmc_examples: int = 0
  iwae_samples: int = 0
  seed: int = 0

  @classmethod
  def of_run(cls, train) -> 'Settings':
    """A run's own: its `--eval_ais_*` fields, k and seed.

    Args:
      train: The run's `config.TrainConfig`.
    """
    return cls(train.eval_ais_steps, train.eval_ais_chains,
               train.eval_ais_examples, train.eval_bdmc_examples,
               train.eval_num_samples, train.seed)


def check(model, flag: str = '') -> None:
  """Raises `errors.InputError` unless AIS can estimate `model`'s density.

  Args:
    model: A built model.
    flag: What asked for AIS (`--ais_steps=1000`), to start the message.
  """
  try:
    ais.model_parts(model, _labels(model, 1))
  except ValueError as e:
    raise errors.InputError(f'{flag}: {e}' if flag else str(e)) from e


def check_run(model, train) -> None:
  """`check` for a run whose `train` config asks for AIS at its end.

  Args:
    model: The run's model.
    train: Its `config.TrainConfig`.
  """
  if train.eval_ais_steps:
    check(model, f'--eval_ais_steps={train.eval_ais_steps}')


def of_run(model, batches, train) -> Dict:
  """`summary` with a run's own settings (`Settings.of_run`); {} unless its
  `train` config asks for AIS.

  Args:
    model: The run's model.
    batches: Its eval split's batches.
    train: Its `config.TrainConfig`.
  """
  if not train.eval_ais_steps:
    return {}
  return summary(model, batches, Settings.of_run(train))


def summary(model, batches, settings: Settings) -> Dict:
  """AIS's NLL over `batches` and, if asked, BDMC's sandwich.

  Args:
    model: A built model with a continuous latent (`ais.model_parts`).
    batches: `(images, labels)` batches of the split, in order.
    settings: The `Settings`.

  Returns:
    `ais_summary`'s numbers, and `bdmc_summary`'s if
    `settings.bdmc_examples`.

  Raises:
    errors.InputError: for a model without a continuous density.
  """
  check(model)
  numbers = ais_summary(model, batches, settings)
  if settings.bdmc_examples:
    numbers.update(bdmc_summary(model, settings))
  return numbers


def _labels(model, n: int) -> Optional[tf.Tensor]:
  """Labels 0, 1, ..., C - 1, 0, ... for n simulated examples of a
  conditional model (each class alike); None for another model."""
  if not conditional.is_conditional(model):
    return None
  return tf.range(n) % model.num_classes


def _compiled_estimates(model, settings: Settings):
  """One compiled function of (x, labels, seed) to AIS's `Estimate` and the
  IWAE bound per example (both of log p(x|y) for a conditional model),
  traced once for all the batches."""

  @tf.function(reduce_retracing=True)
  def estimates(x, labels, seed):
    decoder, prior, encoder = ais.model_parts(model, labels)
    estimate = ais.log_likelihood(decoder, prior, x, settings.steps,
                                  settings.chains, seed=seed)
    iwae = (evaluation.log_likelihood(
        encoder, decoder, prior, x, settings.iwae_samples,
        seed=tf.random.experimental.stateless_fold_in(seed, 1))
            if settings.iwae_samples else tf.zeros_like(
                estimate.log_likelihood))
    return estimate, iwae

  return estimates


# Examples AIS estimates in one call: each call logs its progress, and its
# chains x examples rows keep the matmuls large.
PIECE = 50


def _pieces(batches, limit: int):
  """The first `limit` (0: all) examples of `batches` and their labels, in
  pieces of at most `PIECE`."""
  done = 0
  for x, labels in batches:
    for offset in range(0, len(x), PIECE):
      if limit and done >= limit:
        return
      end = offset + min(PIECE, limit - done if limit else PIECE)
      piece = x[offset:end]
      done += len(piece)
      yield piece, labels[offset:end]


def ais_summary(model, batches, settings: Settings) -> Dict:
  """AIS's test NLL over `batches`, beside the IWAE bound's on the same
  examples.

  Args:
    model: A built model with a continuous latent (`ais.model_parts`).
    batches: `(images, labels)` batches of the split, in order.
    settings: The `Settings` (AIS's steps, chains and examples, and the
      bound's k).

  Returns:
    {'test_nll_ais', 'test_nll_ais_stderr' (of the mean, from the chains'
    spread), 'ais_steps', 'ais_chains', 'ais_examples', 'ais_acceptance',
    'ais_seconds'}, and with `settings.iwae_samples` 'ais_iwae_nll' and
    'ais_iwae_samples': the bound's NLL on the same examples.
  """
  estimates = _compiled_estimates(model, settings)
  columns = {'ais': [], 'stderr': [], 'acceptance': [], 'iwae': []}
  start, done = time.time(), 0
  for i, (x, labels) in enumerate(_pieces(batches, settings.examples)):
    estimate, iwae = estimates(x, labels, tf.constant([settings.seed, i]))
    for key, value in zip(columns, (*estimate, iwae)):
      columns[key].append(value.numpy())
    done += len(x)
    logging.info('AIS: %d examples, NLL so far %.3f (%.0f s)', done,
                 -np.concatenate(columns['ais']).mean(), time.time() - start)
  ais_ll, errors_ = (np.concatenate(columns[k]) for k in ('ais', 'stderr'))
  numbers = {
      'test_nll_ais': float(-ais_ll.mean()),
      'test_nll_ais_stderr': float(math.sqrt(np.sum(errors_**2))
                                   / len(errors_)),
      'ais_steps': settings.steps, 'ais_chains': settings.chains,
      'ais_examples': len(ais_ll),
      'ais_acceptance': float(np.concatenate(columns['acceptance']).mean()),
      'ais_seconds': time.time() - start,
  }
  if settings.iwae_samples:
    numbers.update(
        ais_iwae_nll=float(-np.concatenate(columns['iwae']).mean()),
        ais_iwae_samples=settings.iwae_samples)
  return numbers


def bdmc_summary(model, settings: Settings) -> Dict:
  """BDMC's sandwich of log p(x) on simulated examples (of a conditional
  model, log p(x|y), with labels 0, 1, ..., C - 1 in turn).

  Args:
    model: A built model with a continuous latent (`ais.model_parts`).
    settings: The `Settings`: `bdmc_examples` simulated examples, and AIS's
      steps and chains in each direction.

  Returns:
    {'bdmc_lower', 'bdmc_upper' (the mean bounds on log p(x), nats),
    'bdmc_gap', 'bdmc_examples', 'bdmc_steps', 'bdmc_seconds'}.
  """
  labels = _labels(model, settings.bdmc_examples)
  decoder, prior, _ = ais.model_parts(model, labels)
  start = time.time()
  sandwich = ais.bdmc(decoder, prior, settings.bdmc_examples, settings.steps,
                      settings.chains, seed=(settings.seed, 1 << 20))
  lower = float(tf.reduce_mean(sandwich.lower))
  upper = float(tf.reduce_mean(sandwich.upper))
  logging.info('BDMC on %d simulated examples: %s in [%.3f, %.3f] (%.0f s)',
               settings.bdmc_examples,
               'log p(x)' if labels is None else 'log p(x|y)', lower, upper,
               time.time() - start)
  return {'bdmc_lower': lower, 'bdmc_upper': upper,
          'bdmc_gap': upper - lower, 'bdmc_examples': settings.bdmc_examples,
          'bdmc_steps': settings.steps, 'bdmc_seconds': time.time() - start}
