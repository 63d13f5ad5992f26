"""Evaluation: the importance-sampled log-likelihood, active units, a split.

The test log-likelihood of a VAE is estimated with the IWAE bound (Burda et
al. 2016, eq. 8) at a large k, as papers report it (k = 5000 there):

  log p(x) ~= L_k(x) = logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)]
                       - log k,   z_1..z_k ~ q(z|x).

E[L_k] <= log p(x) for every k and E[L_k] rises to log p(x) as k grows, so
the reported NLL = -L_k is an upper bound in expectation. `log_likelihood`
draws the k samples in chunks and combines them with a running logsumexp,

  S_c = logaddexp(S_{c-1}, logsumexp over chunk c),

so memory is O(batch * chunk_size) for any k. For a point-mass q(z|x) (the
VQ-VAE's code map) every weight is the same and L_k = L_1 for every k: it
is computed once.

Active units (Burda et al. 2016, section 5.2): latent dimension u is active
when A_u = Cov_x(E_{q(u|x)}[u]) > 0.01, the posterior mean varying with x.
"""

import itertools
import weakref
from typing import Iterable, NamedTuple, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import conditional
from vae import kl
from vae import objectives
from vae import priors

tfd = tfp.distributions

ACTIVE_UNIT_THRESHOLD = 0.01


def log_likelihood(encoder: objectives.Encoder,
                   decoder: objectives.Decoder,
                   prior: priors.PriorLike,
                   x: tf.Tensor,
                   num_samples,
                   chunk_size=100,
                   seed=None) -> tf.Tensor:
  """The k-sample IWAE estimate of log p(x) per example, shape [batch].

  Args:
    encoder, decoder, prior: the model, as in `objectives.elbo`.
    x: a batch of data, [batch, ...].
    num_samples: k, an int or scalar int tensor.
    chunk_size: samples drawn at once; memory grows with it, not with k.
    seed: a stateless seed of shape [2] or an int; chunk c draws with
      `stateless_fold_in(seed, c)`, so the estimate repeats exactly.

  Returns:
    L_k(x), shape [batch]: a lower bound on log p(x) in expectation; minus
    its mean is the NLL a run reports.
  """
  prior = priors.as_distribution(prior)
  num_samples = tf.convert_to_tensor(num_samples, tf.int32)
  tf.debugging.assert_positive(num_samples, 'num_samples must be positive')
  chunk_size = tf.minimum(tf.convert_to_tensor(chunk_size, tf.int32),
                          num_samples)
  num_chunks = (num_samples + chunk_size - 1) // chunk_size
  seed = tfp.random.sanitize_seed(seed)
  posterior = encoder(x)
  if is_point_mass(posterior):  # Every weight is equal: L_k = L_1.
    z = posterior.sample(1, seed=seed)
    return objectives.importance_weights(posterior, decoder, prior, x,
                                         z).log_weights[0]

  def body(chunk, total):
    n = tf.minimum(chunk_size, num_samples - chunk * chunk_size)
    z = posterior.sample(
        n, seed=tf.random.experimental.stateless_fold_in(seed, chunk))
    log_weights = objectives.importance_weights(
        posterior, decoder, prior, x, z).log_weights  # [n, batch]
    chunk_total = tf.reduce_logsumexp(log_weights, axis=0)
    return chunk + 1, tf.reduce_logsumexp(tf.stack([total, chunk_total]),
                                          axis=0)

  dtype = posterior.dtype
  start = tf.fill(tf.shape(x)[:1], tf.constant(-np.inf, dtype))
  _, total = tf.while_loop(lambda chunk, _: chunk < num_chunks, body,
                           (tf.constant(0), start))
  return total - tf.math.log(tf.cast(num_samples, dtype))


def marginal_log_likelihood(functions, x: tf.Tensor, num_samples: int,
                            chunk_size: int = 100, seed=(0, 0)) -> tf.Tensor:
  """log p(x) = log sum_y p(y) p(x|y) of a conditional model, with p(y)
  uniform over its C classes, per example [batch].

  Each p(x|y) is the IWAE estimate of `functions.log_likelihood(x, y, ...)`
  (class c draws from `stateless_fold_in(seed, c)`). The sum of unbiased
  estimates of p(x|y) is an unbiased estimate of p(x), so the result is,
  as each L_k is, a lower bound on log p(x) in expectation. It costs C
  times the NLL.

  Args:
    functions: A conditional model's `export.ModelFunctions`, or the
      SavedModel.
    x: Images [batch, ...].
    num_samples: k of each class's estimate.
    chunk_size: Samples per chunk.
    seed: A stateless seed [2].
  """
  classes = int(functions.num_label_classes.numpy())
  seed = tf.constant(seed, tf.int32)
  per_class = [functions.log_likelihood(
      x, tf.fill(tf.shape(x)[:1], c), tf.constant(num_samples, tf.int32),
      tf.constant(chunk_size, tf.int32),
      tf.random.experimental.stateless_fold_in(seed, c))['log_likelihood']
               for c in range(classes)]
  return (tf.reduce_logsumexp(tf.stack(per_class), axis=0)
          - tf.math.log(float(classes)))


def is_point_mass(posterior) -> bool:
  """Whether q(z|x) is a point mass (the VQ-VAE's code map).

  Args:
    posterior: q(z|x).
  """
  return (isinstance(posterior, tfd.Independent)
          and isinstance(posterior.distribution, tfd.Deterministic))


def active_units(posterior_means: np.ndarray,
                 threshold: float = ACTIVE_UNIT_THRESHOLD):
  """(number of active units, A_u per dimension) from [examples, latent].

  Args:
    posterior_means: E_q[z] of every example, [n, latent].
    threshold: The variance above which a unit counts as active.
  """
  variances = np.var(np.asarray(posterior_means, np.float64), axis=0)
  return int(np.sum(variances > threshold)), variances


class Results(NamedTuple):
  """A model's numbers on a split; means in nats per example."""
  elbo: float
  rate: float
  distortion: float
  nll: Optional[float]  # -L_k; None when not estimated (k = 0).
  num_samples: int  # k of the NLL estimate.
  kl_per_dimension: Optional[np.ndarray]  # [latent]; None if not defined.
  rate_per_layer: Optional[np.ndarray]  # [layers] of a hierarchy, else None.
  code_usage: Optional[np.ndarray]  # [codes] of a VQ-VAE per example.
  active_units: int
  unit_variances: np.ndarray  # A_u, [latent].
  posterior_means: np.ndarray  # [examples, latent].
  labels: np.ndarray  # [examples], -1 where the data has no labels.
  num_examples: int


def evaluate(functions,
             batches: Iterable,
             num_samples: int = 0,
             chunk_size: int = 100,
             seed: int = 0,
             strategy: Optional[tf.distribute.Strategy] = None) -> Results:
  """Evaluates a model on every `(images, labels)` batch of a split.

  Args:
    functions: The model as built (a `model.VAE`, or any registered model),
      its `export.ModelFunctions`, or the same functions reloaded from a
      SavedModel: `elbo(x, seed)` and `log_likelihood(x, num_samples,
      chunk_size, seed)` (absent for an autoencoder, which gets no NLL). A
      model's ELBO takes its rate at the distortion's draw where its KL has
      no closed form.
    batches: images [batch, H, W, C], or `(images, labels)` pairs; the
      last batch may be smaller.
    num_samples: k of the IWAE log-likelihood; 0 skips it.
    chunk_size: samples per chunk of the log-likelihood.
    seed: batch i draws with stateless seeds from (seed, i), so the same seed
      gives the same numbers, in training and after reloading.
    strategy: with N > 1 replicas (the model's variables created in its
      scope), the batches are evaluated N at a time, batch i on replica
      i mod N, each exactly as one device evaluates it; the per-example
      results are gathered (from every worker) in batch order. Every worker
      must call this alike; all of them get the results.
  """
  batches = _labelled(batches)
  if conditional.is_conditional(functions):
    batches = _with_labels(batches)
  if hasattr(functions, 'encoder'):  # A model: its functions, from a batch.
    first = next(batches)
    functions = _model_functions(functions, first[0])
    batches = itertools.chain([first], batches)
  # An autoencoder has no prior, hence no log-likelihood.
  nll_estimated = bool(num_samples) and hasattr(functions, 'log_likelihood')

  def outputs(x, labels, i):
    """Per-example results of batch i, as one device computes them."""
    return _outputs(functions, x, labels, i, seed, nll_estimated,
                    num_samples, chunk_size)

  if strategy is None or strategy.num_replicas_in_sync == 1:
    results = ((outputs(x, labels, i), labels)
               for i, (x, labels) in enumerate(batches))
  else:
    results = _distributed(functions, batches, strategy, seed,
                           num_samples if nll_estimated else 0, chunk_size)
  sums = np.zeros(4, np.float64)  # elbo, rate, distortion, log-likelihood.
  # Means of the per-example vectors some models give.
  vector_sums = {'kl_per_dimension': None, 'rate_per_layer': None,
                 'code_usage': None}
  means, labels = [], []
  count = 0
  for terms, batch_labels in results:
    sums[:3] += [np.sum(terms[k], dtype=np.float64)
                 for k in ('elbo', 'rate', 'distortion')]
    for key, total in vector_sums.items():
      if key in terms:
        batch = np.sum(terms[key], axis=0, dtype=np.float64)
        vector_sums[key] = batch if total is None else total + batch
    if nll_estimated:
      sums[3] += np.sum(terms['log_likelihood'], dtype=np.float64)
    means.append(np.asarray(terms['posterior_mean']))
    labels.append(np.asarray(batch_labels))
    count += len(means[-1])
  if not count:
    raise ValueError('evaluate got no examples')
  posterior_means = np.concatenate(means)
  num_active, variances = active_units(posterior_means)
  elbo, rate, distortion, ll = sums / count
  return Results(
      elbo=float(elbo), rate=float(rate), distortion=float(distortion),
      nll=float(-ll) if nll_estimated else None,
      num_samples=num_samples if nll_estimated else 0,
      **{key: None if total is None else total / count
         for key, total in vector_sums.items()},
      active_units=num_active, unit_variances=variances,
      posterior_means=posterior_means, labels=np.concatenate(labels),
      num_examples=count)


def _outputs(functions, x, labels, i, seed, nll: bool, num_samples,
             chunk_size):
  """Per-example results of batch i, as one device computes them; the
  log-likelihood too if `nll`. A conditional model is given the labels."""
  i = tf.cast(i, tf.int32)
  seed = tf.cast(seed, tf.int32)
  given = ((tf.cast(labels, tf.int32),)
           if conditional.is_conditional(functions) else ())
  result = dict(functions.elbo(x, *given, tf.stack([seed, 2 * i])))
  if nll:
    result['log_likelihood'] = functions.log_likelihood(
        x, *given, tf.cast(num_samples, tf.int32),
        tf.cast(chunk_size, tf.int32),
        tf.stack([seed, 2 * i + 1]))['log_likelihood']
  return result


# The compiled round of each (functions, strategy, with NLL), traced once
# for every evaluation of a run.
_rounds = weakref.WeakKeyDictionary()


def _round(functions, strategy, nll: bool):
  rounds = _rounds.setdefault(functions, {})
  key = (id(strategy), nll)
  if key not in rounds:

    @tf.function(reduce_retracing=True, autograph=False)
    def round_(xs, ys, indices, seed, num_samples, chunk_size):
      results = strategy.run(
          lambda x, y, i: _outputs(functions, x, y, i, seed, nll,
                                   num_samples, chunk_size),
          args=(xs, ys, indices))
      return tf.nest.map_structure(
          lambda v: strategy.gather(v, axis=0), results)

    rounds[key] = round_
  return rounds[key]


def _model_functions(model, images):
  """`export.ModelFunctions` of `model`, its shapes read off `images`."""
  from vae import export  # pylint: disable=g-import-not-at-top (export imports this module)
  built = conditional.view(model)
  posterior = built.encoder(images[:1])
  analytic = (getattr(model, 'point_mass_code', False)
              or kl.has_analytic_kl(posterior, built.prior))
  return export.ModelFunctions(model, images.shape[1:],
                               kl_samples=None if analytic else 1)


def _labelled(batches: Iterable):
  """`(images, labels)` of each batch: image-only batches get labels -1."""
  for i, batch in enumerate(batches):
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
      yield batch
    elif isinstance(batch, (tf.Tensor, np.ndarray)):
      yield batch, -np.ones(len(batch), np.int64)
    else:
      raise ValueError(
          f'batch {i} of evaluate\'s batches is a {type(batch).__name__}'
          f'{f" of {len(batch)}" if isinstance(batch, (tuple, list)) else ""}'
          ': pass images [batch, H, W, C], or (images, labels) pairs, as '
          'data.batches(..., labels=True) gives.')


def _with_labels(batches: Iterable):
  """The batches of a conditional model: a `ValueError` for one without
  labels (-1)."""
  for i, (images, labels) in enumerate(batches):
    if np.min(labels) < 0:
      raise ValueError(
          f'batch {i} has no labels (-1): a conditional model is evaluated '
          f'on (images, labels) batches, as data.batches(..., labels=True) '
          f'gives them for a dataset with labels')
    yield images, labels


def _distributed(functions, batches: Iterable, strategy, seed: int,
                 num_samples: int, chunk_size: int):
  """Yields `(outputs, labels)` per batch, evaluated N batches at a time.

  Replica r of a round gets its batch, or after the last one a blank
  image whose results are dropped.
  """
  replicas = strategy.num_replicas_in_sync
  round_ = _round(functions, strategy, bool(num_samples))
  constants = [tf.constant(v, tf.int32)
               for v in (seed, num_samples, chunk_size)]
  iterator = enumerate(batches)
  while True:
    group = list(itertools.islice(iterator, replicas))
    if not group:
      return
    # A replica with no batch left evaluates one blank image, whose
    # results (gathered after every real batch's) are dropped. Not an
    # empty batch: in a graph, TensorFlow's CPU convolution of an empty
    # batch returns a tensor of the wrong depth, and the next one fails.
    blank = (tf.zeros_like(group[0][1][0][:1]), tf.zeros([1], tf.int32))

    def take(ctx, k, group=group, blank=blank):
      r = ctx.replica_id_in_sync_group
      if r < len(group):
        x, labels = group[r][1]
        return (x, tf.cast(labels, tf.int32),
                tf.constant(group[r][0], tf.int32))[k]
      return (*blank, tf.constant(0, tf.int32))[k]

    xs, ys, indices = (
        strategy.experimental_distribute_values_from_function(
            lambda ctx, k=k: take(ctx, k)) for k in (0, 1, 2))
    gathered = {k: v.numpy()
                for k, v in round_(xs, ys, indices, *constants).items()}
    start = 0
    for _, (x, labels) in group:
      end = start + len(x)
      yield {k: v[start:end] for k, v in gathered.items()}, labels
      start = end
