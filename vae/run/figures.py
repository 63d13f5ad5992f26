"""A run's figures (`figures/`) and its TensorBoard images."""

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from vae import conditional
from vae import evaluation
from vae import latent_figures
from vae import latents
from vae import model as model_lib
from vae import plotting
from vae import spherical
from vae.run import report


def learning_curve(eval_rows: List[Dict], path: str,
                   num_samples: int) -> Optional[str]:
  """The test (and validation) NLL against epochs, when logged (with
  `num_samples` importance samples).

  Args:
    eval_rows: The eval rows of eval_metrics.csv.
    path: The file to write.
    num_samples: The curve's importance samples, for the label.
  """
  curves = {}
  for label, column in (('test', 'nll'), ('validation', 'validation_nll')):
    rows = report._curve(eval_rows, column)
    if rows:
      curves[label] = ([r['epoch'] for r in rows], [r[column] for r in rows])
  if not curves:
    return None
  quality = report.time_to_quality(eval_rows)
  return plotting.learning_curve(
      curves, path, title=f'NLL during training (k = {num_samples})',
      quality=quality and (quality['time_to_quality_epoch'],
                           quality['time_to_quality_nll']),
      quality_label=f'first within {report.QUALITY_NATS:g} nats of the last')


def _loss_curves(metrics_rows: List[Dict], eval_rows: List[Dict], path,
                 config) -> str:
  """The loss, distortion and rate against step, training and eval."""
  traits = model_lib.MODELS.traits(config.model.model)
  names = ('loss', 'distortion', 'rate')
  return plotting.loss_curves(
      [r['step'] for r in metrics_rows],
      {n: [r[n] for r in metrics_rows] for n in names},
      path('loss_curves.png'),
      title=('autoencoder: loss = distortion (nats per example)'
             if config.model.model == 'autoencoder'
             else traits.get('loss_title') or
             f'loss = distortion + {config.objective.beta:g} rate (nats per '
             f'example)'),
      eval_steps=[r['step'] for r in eval_rows],
      eval_curves={n: [r[n] for r in eval_rows] for n in names})


def write_figures(functions, results: evaluation.Results,
                  eval_images: np.ndarray, metrics_rows: List[Dict],
                  eval_rows: List[Dict], figures_dir: str, config,
                  seed: Optional[int] = None) -> List[str]:
  """Draws every figure of a run into `figures_dir`; returns their paths.

  `functions` are the model's `export.ModelFunctions` (or the SavedModel);
  random draws use stateless seeds from `seed`, so the figures repeat.

  Args:
    functions: The model's `export.ModelFunctions` (or the SavedModel).
    results: The split's `evaluation.Results`.
    eval_images: Eval images [n, H, W, C] to reconstruct and encode.
    metrics_rows: The training rows of metrics.csv.
    eval_rows: The eval rows of eval_metrics.csv.
    figures_dir: The folder to write into.
    config: A `config.Config`.
    seed: The seed of the figures' draws.
  """
  os.makedirs(figures_dir, exist_ok=True)
  seed = config.train.seed if seed is None else seed
  path = lambda name: os.path.join(figures_dir, name)
  written = [_loss_curves(metrics_rows, eval_rows, path, config)]
  curve = learning_curve(eval_rows, path('learning_curve.png'),
                         config.train.curve_num_samples)
  if curve:
    written.append(curve)
  inputs = eval_images[:10]
  outputs = functions.reconstruct(
      tf.constant(inputs), *_given(functions, results.labels[:10]),
      tf.constant([seed, 0]))['mean'].numpy()
  written.append(plotting.reconstructions(inputs, outputs,
                                          path('reconstructions.png')))
  if conditional.is_conditional(functions):
    return written + _class_figures(functions, results, path, config, seed)
  if hasattr(functions, 'sample'):  # An autoencoder has no prior.
    samples = functions.sample(tf.constant(100), tf.constant([seed, 1]))
    written.append(plotting.image_grid(
        samples['mean'].numpy(), 10, 10, path('samples.png'),
        title='Samples: means of p(x|z), z ~ p(z)'))
  return written + _latent_figures(functions, results, eval_images,
                                   figures_dir, config)


def _given(functions, labels) -> Tuple[tf.Tensor, ...]:
  """What a conditional model's functions take after their first input:
  the labels; nothing for another model's."""
  if not conditional.is_conditional(functions):
    return ()
  return (tf.constant(np.asarray(labels), tf.int32),)


def _class_figures(functions, results: evaluation.Results, path, config,
                   seed: int) -> List[str]:
  """A conditional model's figures: samples per class, the posterior
  means, and for a Gaussian latent a traversal per class of the dimension
  of most KL, the others 0."""
  classes = int(functions.num_label_classes.numpy())
  columns = 10
  labels = np.repeat(np.arange(classes), columns)
  samples = functions.sample(tf.constant(labels, tf.int32),
                             tf.constant([seed, 1]))['mean'].numpy()
  row_labels = [f'y={c}' for c in range(classes)]
  written = [plotting.labelled_grid(
      samples, classes, columns, path('samples.png'),
      title='Samples per class: means of p(x|z, y), z ~ p(z|y)',
      row_labels=row_labels),
             plotting.latent_scatter(
                 results.posterior_means, results.labels,
                 path('latent_means.png'),
                 title=f'Posterior means E[z|x, y] of {results.num_examples} '
                 'eval images')]
  if config.model.latent != 'gaussian':
    return written
  latent_size = results.posterior_means.shape[1]
  dim = (0 if results.kl_per_dimension is None else
         int(latent_figures.order_by_kl(results.kl_per_dimension)[0]))
  values = latent_figures.quantile_values()
  codes = np.zeros([classes * len(values), latent_size], np.float32)
  codes[:, dim] = np.tile(values, classes)
  images = functions.decode(
      tf.constant(codes), tf.constant(np.repeat(np.arange(classes),
                                                len(values)), tf.int32))
  written.append(plotting.labelled_grid(
      images['mean'].numpy(), classes, len(values),
      path('latent_traversal.png'),
      title=f'Per class: z[{dim}] (most KL) through the prior\'s 5%-95% '
      'quantiles, others 0', row_labels=row_labels,
      col_labels=[f'{v:.2f}' for v in values]))
  return written


def _latent_figures(functions, results: evaluation.Results,
                    eval_images: np.ndarray, figures_dir: str,
                    config) -> List[str]:
  """The figures of the latent space: the posterior means, and for
  Gaussian codes the traversals and, in 2-D, the manifold."""
  latent_size = latents.latent_dims(config.model, eval_images.shape[1:])
  traits = model_lib.MODELS.traits(config.model.model)
  # Traversals and the manifold decode Gaussian codes around the prior's 0.
  gaussian_codes = (config.model.model != 'autoencoder'
                    and not traits.get('code_map')
                    and config.model.latent == 'gaussian')
  path = lambda name: os.path.join(figures_dir, name)
  written = []
  if not traits.get('code_map'):  # Codebook indices have no geometry.
    written.append(plotting.latent_scatter(
        results.posterior_means, results.labels, path('latent_means.png'),
        title=f'Posterior means E[z|x] of {results.num_examples} eval '
        'images'))
  if gaussian_codes and latent_size >= 2:
    span = 2.0
    codes = plotting.traversal_codes(latent_size, (0, 1), 10, span)
    written.append(plotting.image_grid(
        functions.decode(tf.constant(codes))['mean'].numpy(), 10, 10,
        path('latent_traversal.png'),
        title=f'Latent traversal: z[0] and z[1] in [{-span:g}, {span:g}], '
        f'others 0', xlabel='z[0]', ylabel='z[1]',
        extent=(-span, span, -span, span)))
  if gaussian_codes:
    written += latent_figures.write(
        functions, results.kl_per_dimension, results.posterior_means,
        results.labels, eval_images, figures_dir)
  if latents.LATENTS.traits(config.model.latent).get('sphere'):
    circles, steps = min(latent_size, 10), 12
    codes = spherical.great_circle_codes(latent_size, circles, steps)
    written.append(plotting.labelled_grid(
        functions.decode(tf.constant(codes))['mean'].numpy(), circles, steps,
        path('great_circles.png'),
        title='Great circles of the sphere: z = cos(t) e_i + sin(t) e_j',
        row_labels=[f'i={d}, j={(d + 1) % latent_size}'
                    for d in range(circles)],
        col_labels=[f'{360 * k // steps}°' for k in range(steps)]))
  if gaussian_codes and latent_size == 2:
    grid_size = 15
    codes = plotting.manifold_codes(grid_size)
    low, high = float(codes[:, 0].min()), float(codes[:, 0].max())
    written.append(plotting.image_grid(
        functions.decode(tf.constant(codes))['mean'].numpy(), grid_size,
        grid_size, path('manifold.png'),
        title='2-D manifold: z = inverse Normal CDF of a grid on '
        '[0.05, 0.95]^2', xlabel='z[0]', ylabel='z[1]',
        extent=(low, high, low, high)))
  return written


def image_summaries(functions, eval_images: np.ndarray, seed: int,
                    eval_labels: Optional[np.ndarray] = None):
  """TensorBoard images: reconstructions (input beside output) and a grid
  of prior samples (of a conditional model, 8 of each of 8 classes).

  Args:
    functions: The model's `export.ModelFunctions` (or the SavedModel).
    eval_images: Eval images [n, H, W, C].
    seed: The seed of the prior samples.
    eval_labels: Their labels [n], which a conditional model is given.
  """
  inputs = eval_images[:8]
  given = _given(functions, None if eval_labels is None else
                 eval_labels[:8])
  outputs = functions.reconstruct(tf.constant(inputs), *given,
                                  tf.constant([seed, 0]))['mean']
  tf.summary.image('reconstructions',
                   tf.clip_by_value(tf.concat([inputs, outputs], axis=2), 0,
                                    1), max_outputs=8)
  if hasattr(functions, 'sample'):  # An autoencoder has no prior.
    count = (tf.constant(np.repeat(np.arange(8), 8) % int(
        functions.num_label_classes.numpy()), tf.int32)
             if given else tf.constant(64))
    samples = functions.sample(count, tf.constant([seed, 1]))
    grid = plotting.tile(np.clip(samples['mean'].numpy(), 0, 1), 8, 8)
    tf.summary.image('samples', grid.reshape(1, *grid.shape[:2], -1))
