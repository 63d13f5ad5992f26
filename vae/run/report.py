"""What a run reports: its eval-set numbers, rows and summaries (its
figures are in `vae/run/figures.py`)."""

import math
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import data
from vae import decoders
from vae import distribute
from vae import evaluation
from vae import hierarchy
from vae import latents
from vae import metrics
from vae import model as model_lib
from vae import objectives
from vae.run import early_stopping
from vae.run import folder as run_folder


def rate_weight(config) -> float:
  """The rate's weight in the training loss: beta, or the model's own (0
  for the VQ-VAE, which trains its encoder on the distortion).

  Args:
    config: A `config.Config`.
  """
  weight = model_lib.MODELS.traits(config.model.model).get(
      'rate_weight', config.objective.beta)
  return weight(config.model) if callable(weight) else weight


def test_loss(results: evaluation.Results, config,
              image_shape: Sequence[int]) -> float:
  """The beta-weighted loss of the eval set, as training weighs it.

  Args:
    results: The split's `evaluation.Results`.
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
  """
  return float(objectives.weighted_loss(
      results.distortion, results.rate, rate_weight(config),
      config.objective.loss_normalization, num_pixels=int(np.prod(image_shape)),
      latent_size=latents.latent_dims(config.model, image_shape)))


def validation_columns(results: evaluation.Results, config,
                       image_shape: Sequence[int]) -> Dict[str, float]:
  """The eval_metrics.csv columns of the validation split's `results`.

  Args:
    results: The split's `evaluation.Results`.
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
  """
  columns = {'validation_loss': test_loss(results, config, image_shape),
             'validation_elbo': results.elbo}
  if results.nll is not None:
    columns['validation_nll'] = results.nll
  return columns


QUALITY_NATS = 2.0


def _curve(eval_rows: List[Dict], column: str) -> List[Dict]:
  """The eval rows that logged `column` during training, by step."""
  return sorted((r for r in eval_rows
                 if column in r and 'training_seconds' in r),
                key=lambda r: r['step'])


def time_to_quality(eval_rows: List[Dict],
                    nats: float = QUALITY_NATS) -> Dict:
  """When the learning curve's test NLL first came within `nats` of its
  last value: the training seconds to that evaluation (compiles included,
  evaluations left out), its step and epoch. {} without a curve.

  Args:
    eval_rows: The eval rows of eval_metrics.csv.
    nats: How close to the last value counts.
  """
  curve = _curve(eval_rows, 'nll')
  if not curve:
    return {}
  final = curve[-1]['nll']
  first = next(r for r in curve if r['nll'] <= final + nats)
  return {'curve_final_nll': final, 'time_to_quality_nats': nats,
          'time_to_quality_seconds': first['training_seconds'],
          'time_to_quality_step': int(first['step']),
          'time_to_quality_epoch': first['epoch'],
          'time_to_quality_nll': first['nll']}


def disentanglement(functions, config) -> Dict:
  """The disentanglement metrics, on a dataset with factors.

  Args:
    functions: The model's `export.ModelFunctions` (or the SavedModel).
    config: A `config.Config`.
  """
  if not data.has_factors(config.data.dataset):
    return {}
  logging.info('Disentanglement metrics (%g of disentanglement_lib\'s '
               'points)...', config.train.metric_points_scale)
  scores = disentanglement_summary(functions, config)
  logging.info('Disentanglement: %s', ', '.join(
      f'{k} {v:.3f}' for k, v in scores.items()))
  return scores


def disentanglement_summary(functions, config) -> Dict:
  """The disentanglement metrics of the encoder's means (`vae/metrics/`)
  that the run asks for, when its dataset has ground-truth factors; {}
  otherwise.

  Args:
    functions: The model's `export.ModelFunctions` (or the SavedModel).
    config: A `config.Config`.
  """
  if (not data.has_factors(config.data.dataset)
      or not config.train.metric_points_scale or not config.train.metrics):
    return {}
  factor_data = data.factor_data(config.data.dataset, config.data.data_dir,
                                 config.data.download)

  def represent(images: np.ndarray) -> np.ndarray:
    means = functions.encode(tf.constant(images, tf.float32))['mean']
    return means.numpy().reshape(len(images), -1)

  return metrics.compute_all(factor_data, represent, seed=config.train.seed,
                             points_scale=config.train.metric_points_scale,
                             names=config.train.metrics)


def codebook_summary(code_usage: np.ndarray) -> Dict:
  """The code perplexity exp(H(p)) of the codes' frequencies p on a split
  (K when every code is used equally, 1 when one is used), and the dead
  codes: those never used.

  Args:
    code_usage: [K] how often each code was used.
  """
  p = np.asarray(code_usage, np.float64) / np.sum(code_usage)
  used = p[p > 0]
  return {'codebook_perplexity': float(np.exp(-np.sum(used * np.log(used)))),
          'dead_codes': int(np.sum(p == 0)), 'codebook_size': len(p)}


def bits_per_dim(nats: float, image_shape: Sequence[int],
                 dequantized: bool = False) -> float:
  """Nats per image as bits per pixel value: nats / (H W C ln 2).

  `dequantized`: `nats` are -log p of a density on data dequantised to
  [0, 1) (`data.binarize`), and the bits bound the 8-bit levels': (nats +
  D log 256) / (D ln 2), D = H W C (Theis et al. 2016).

  Args:
    nats: Nats per image.
    image_shape: The images' [H, W, C].
    dequantized: Whether `nats` are of a density on dequantised data.
  """
  dims = int(np.prod(image_shape))
  if dequantized:
    nats += dims * math.log(data.LEVELS)
  return nats / (dims * math.log(2))


def results_summary(results: evaluation.Results, config,
                    image_shape: Sequence[int]) -> Dict:
  """The eval-set numbers of `summary.json`.

  Args:
    results: The split's `evaluation.Results`.
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
  """
  kl = results.kl_per_dimension
  summary = {
      'test_loss': test_loss(results, config, image_shape),
      # None for an autoencoder, which has no ELBO.
      'test_elbo': results.elbo if math.isfinite(results.elbo) else None,
      'test_rate': results.rate,
      'test_distortion': results.distortion,
      'test_nll': results.nll,
      'eval_num_samples': results.num_samples,
      'test_kl_per_dimension': None if kl is None else [float(v) for v in kl],
      'active_units': results.active_units,
      'active_unit_threshold': evaluation.ACTIVE_UNIT_THRESHOLD,
      'unit_variances': [float(v) for v in results.unit_variances],
      'eval_examples': results.num_examples,
  }
  no_elbo = model_lib.MODELS.traits(config.model.model).get('no_elbo')
  if no_elbo:
    summary['no_elbo'] = no_elbo
  if config.model.conditional:
    summary['conditional_on'] = (
        'the label: test_elbo bounds log p(x|y), and test_nll (and '
        'test_nll_ais, where AIS ran) is -log p(x|y), not -log p(x)')
  if results.code_usage is not None:
    summary.update(codebook_summary(results.code_usage))
  if results.rate_per_layer is not None:
    sizes = np.cumsum(hierarchy.layer_sizes(config.model))[:-1]
    summary['test_rate_per_layer'] = [float(v)
                                      for v in results.rate_per_layer]
    summary['active_units_per_layer'] = [
        int(np.sum(v > evaluation.ACTIVE_UNIT_THRESHOLD))
        for v in np.split(np.asarray(results.unit_variances), sizes)]
  # Over 8-bit pixels, the field's unit too, from the NLL estimate (else
  # the ELBO's bound): a probability of the levels, or a density of them
  # dequantised.
  traits = decoders.LIKELIHOODS.traits(config.model.likelihood)
  dequantized = (traits.get('density')
                 and config.data.binarization == 'dequantize')
  # A model may ask for it over binary pixels too (the VQ-VAE's bound).
  asked = (model_lib.MODELS.traits(config.model.model).get('bits_per_dim')
           and not traits.get('density'))
  if traits.get('discrete_levels') or dequantized or asked:
    nats = results.nll if results.nll is not None else -results.elbo
    summary['test_bits_per_dim'] = bits_per_dim(nats, image_shape,
                                                dequantized)
  return summary


# What `closing_lines` lists of a run's folder, when there.
_OUTPUTS = (
    ((run_folder.SUMMARY, run_folder.CONFIG), 'the numbers and the flags'),
    ((run_folder.METRICS, run_folder.EVAL_METRICS),
     'the training and eval-set logs'),
    ((run_folder.FIGURES + '/',), 'loss curves, reconstructions, samples, '
     'latent space, traversals'),
    ((run_folder.CHECKPOINTS + '/',), 'the same command resumes from them'),
    ((run_folder.SAVED_MODEL + '/',), 'encode, decode and sample '
     '(vae.export.load)'),
    ((run_folder.TRAIN_EVENTS + '/', run_folder.EVAL_EVENTS + '/'),
     'tensorboard --logdir {folder}'),
)


def closing_lines(output_dir: str, summary: Dict) -> str:
  """A finished run's last words: its main numbers and where its files
  are.

  Args:
    output_dir: The run folder.
    summary: The run's summary.json.
  """
  numbers = [f'{name} {summary[key]:.3f} nats' for name, key in (
      ('ELBO', 'test_elbo'), ('NLL', 'test_nll')) if summary.get(key)
             is not None] or [f'distortion {summary["test_distortion"]:.3f}']
  codebook = summary.get('codebook_perplexity') is not None
  if summary.get('test_nll') is not None:
    # A VQ-VAE's code is a point mass: every importance weight is equal.
    numbers[-1] += (' (the bound: a point-mass code)' if codebook else
                    f' ({summary["eval_num_samples"]} importance samples)')
  if summary.get('test_bits_per_dim') is not None:
    numbers.append(f'{summary["test_bits_per_dim"]:.4f} bits/dim')
  speed = summary.get('train_steps_per_second')
  units = (f'code perplexity {summary["codebook_perplexity"]:.1f}, '
           f'{summary["dead_codes"]} of {summary["codebook_size"]} codes '
           'never used' if codebook else
           f'{summary["active_units"]} of {summary["latent_dims"]} latent '
           'units active')
  lines = [
      f'Trained {summary["steps"]} steps'
      + (f' ({speed:.0f} steps/s)' if speed else '') + f'. On '
      f'{summary["eval_split"]}: {", ".join(numbers)}; {units}.',
      f'Wrote {output_dir}:']
  for names, what in _OUTPUTS:
    there = [n for n in names if os.path.exists(os.path.join(output_dir, n))]
    if there:
      lines.append(f'  {", ".join(there):30} '
                   f'{what.format(folder=output_dir)}')
  return '\n'.join(lines)


def curve_row(step: int, functions, run_data, config,
              strategy: Optional[tf.distribute.Strategy] = None) -> Dict:
  """The eval row of an evaluation during training: the eval split's terms
  (and its NLL by --curve_num_samples), the validation split's, and the
  epoch.

  Args:
    step: The training step.
    functions: The model's `export.ModelFunctions` (or the SavedModel).
    run_data: The run's `inputs.RunData`.
    config: A `config.Config`.
    strategy: The run's strategy, or None.
  """
  k = config.train.curve_num_samples
  evaluate = lambda batches: evaluation.evaluate(
      functions, batches, num_samples=k,
      chunk_size=config.train.eval_chunk_size, seed=config.train.seed,
      strategy=strategy)
  results = evaluate(run_data.eval_batches)
  row = eval_row(step, results, config, run_data.image_shape)
  if k:
    row['nll'] = results.nll
  if run_data.validation_batches is not None:
    row.update(validation_columns(
        evaluate(run_data.validation_batches), config, run_data.image_shape))
  row['epoch'] = (step * config.train.batch_size
                  / run_data.train_examples.num_examples)
  return row


def eval_row(step: int, results: evaluation.Results, config,
             image_shape: Sequence[int]) -> Dict:
  """The eval_metrics.csv row of `results`.

  Args:
    step: The training step.
    results: The split's `evaluation.Results`.
    config: A `config.Config`.
    image_shape: The images' [H, W, C].
  """
  return dict(step=step, loss=test_loss(results, config, image_shape),
              elbo=results.elbo, rate=results.rate,
              distortion=results.distortion)


def curve_summary(config, eval_rows: List[Dict]) -> Dict:
  """What the eval rows say: the best validation score (and the model
  reported when stopping early), and the time to quality.

  Args:
    config: A `config.Config`.
    eval_rows: The eval rows of eval_metrics.csv.
  """
  summary = {}
  k = config.train.curve_num_samples
  column = early_stopping.criterion(k)
  if config.data.validation_split is not None:
    best = early_stopping.best(eval_rows, column)
    summary.update(best_validation_step=best.step,
                   best_validation_score=best.value,
                   validation_criterion=column)
  if config.train.early_stopping_steps:
    summary.update(
        stopped_early_at_step=early_stopping.stop_step(
            eval_rows, column, config.train.early_stopping_steps,
            counts_from=config.objective.kl_warmup_steps),
        evaluated_step=early_stopping.best(eval_rows, column).step)
  if k:
    summary.update(time_to_quality(eval_rows))
  return summary


class RunFacts(NamedTuple):
  """What a run's summary says of how it ran, beside its numbers."""
  start_step: int
  steps_per_second: Optional[float]
  jit_compile: bool
  num_replicas: int
  train_examples: int
  temperature: Optional[float]
  checkpoint: Optional[str]


def run_summary(config, results: evaluation.Results,
                image_shape: Sequence[int], rows: List[Dict],
                eval_rows: List[Dict], facts: RunFacts) -> Dict:
  """The run's `summary.json`: its final numbers, the last training row's
  terms, and how it ran.

  Args:
    config: A `config.Config`.
    results: The eval split's `evaluation.Results`.
    image_shape: The images' [H, W, C].
    rows: The training rows of metrics.csv.
    eval_rows: The eval rows of eval_metrics.csv.
    facts: How the run ran (`RunFacts`).
  """
  last = rows[-1]
  return {
      'steps': config.train.training_steps,
      **curve_summary(config, eval_rows),
      'resumed_from_step': facts.start_step,
      # None, not NaN (which is not JSON), for a model with no ELBO.
      **{f'train_{name}': last[name] if math.isfinite(last[name]) else None
         for name in run_folder.TERMS},
      # The model's training state at the last step (GECO's multiplier).
      **{f'train_{name}': value for name, value in last.items()
         if name not in run_folder.METRIC_FIELDS},
      **results_summary(results, config, image_shape),
      'train_steps_per_second': facts.steps_per_second,
      'jit_compile': facts.jit_compile,
      'strategy': config.train.strategy,
      'num_replicas': facts.num_replicas,
      'replica_batch_size': config.train.batch_size // facts.num_replicas,
      'task': distribute.task(),
      'train_examples': facts.train_examples,
      'train_split': config.data.train_split,
      'eval_split': config.data.eval_split,
      'beta': config.objective.beta,
      'latent_size': config.model.latent_size,
      'model': config.model.model,
      'latent_dims': latents.latent_dims(config.model, image_shape),
      'temperature': facts.temperature,
      'loss_normalization': config.objective.loss_normalization,
      'kl_estimator': config_lib.kl_estimator(config),
      'checkpoint': facts.checkpoint,
  }
