"""Evaluation: the importance-sampled log-likelihood, active units, a split.

The test log-likelihood of a VAE is estimated with the IWAE bound (Burda et
al. 2016, eq. 8) at a large k, as papers report it (k = 5000 there):

  log p(x) ~= L_k(x) = logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)]
                       - log k,   z_1..z_k ~ q(z|x).

E[L_k] <= log p(x) for every k and E[L_k] rises to log p(x) as k grows, so
the reported NLL = -L_k is an upper bound in expectation. `log_likelihood`
draws the k samples in chunks and combines them with a running logsumexp,

  S_c = logaddexp(S_{c-1}, logsumexp over chunk c),

so memory is O(batch * chunk_size) for any k.

Active units (Burda et al. 2016, section 5.2): latent dimension u is active
when A_u = Cov_x(E_{q(u|x)}[u]) > 0.01, the posterior mean varying with x.
"""

from typing import Iterable, NamedTuple, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import objectives
from vae import priors

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
  """
  prior = priors.as_distribution(prior)
  num_samples = tf.convert_to_tensor(num_samples, tf.int32)
  tf.debugging.assert_positive(num_samples, 'num_samples must be positive')
  chunk_size = tf.minimum(tf.convert_to_tensor(chunk_size, tf.int32),
                          num_samples)
  num_chunks = (num_samples + chunk_size - 1) // chunk_size
  seed = tfp.random.sanitize_seed(seed)
  posterior = encoder(x)

  def body(chunk, total):
    n = tf.minimum(chunk_size, num_samples - chunk * chunk_size)
    z = posterior.sample(
        n, seed=tf.random.experimental.stateless_fold_in(seed, chunk))
    log_weights = objectives.log_importance_weights(posterior, decoder,
                                                    prior, x, z)  # [n, batch]
    chunk_total = tf.reduce_logsumexp(log_weights, axis=0)
    return chunk + 1, tf.reduce_logsumexp(tf.stack([total, chunk_total]),
                                          axis=0)

  dtype = posterior.dtype
  start = tf.fill(tf.shape(x)[:1], tf.constant(-np.inf, dtype))
  _, total = tf.while_loop(lambda chunk, _: chunk < num_chunks, body,
                           (tf.constant(0), start))
  return total - tf.math.log(tf.cast(num_samples, dtype))


def active_units(posterior_means: np.ndarray,
                 threshold: float = ACTIVE_UNIT_THRESHOLD):
  """(number of active units, A_u per dimension) from [examples, latent]."""
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
  active_units: int
  unit_variances: np.ndarray  # A_u, [latent].
  posterior_means: np.ndarray  # [examples, latent].
  labels: np.ndarray  # [examples], -1 where the data has no labels.
  num_examples: int


def evaluate(functions,
             batches: Iterable,
             num_samples: int = 0,
             chunk_size: int = 100,
             seed: int = 0) -> Results:
  """Evaluates a model on every `(images, labels)` batch of a split.

  Args:
    functions: `export.ModelFunctions` of a model, or the same functions
      reloaded from a SavedModel: `elbo(x, seed)` and
      `log_likelihood(x, num_samples, chunk_size, seed)` (absent for an
      autoencoder, which gets no NLL).
    batches: `(images, labels)` pairs; the last batch may be smaller.
    num_samples: k of the IWAE log-likelihood; 0 skips it.
    chunk_size: samples per chunk of the log-likelihood.
    seed: batch i draws with stateless seeds from (seed, i), so the same seed
      gives the same numbers, in training and after reloading.
  """
  # An autoencoder has no prior, hence no log-likelihood.
  nll_estimated = bool(num_samples) and hasattr(functions, 'log_likelihood')
  sums = np.zeros(4, np.float64)  # elbo, rate, distortion, log-likelihood.
  kl_sums = None
  means, labels = [], []
  count = 0
  for i, (x, batch_labels) in enumerate(batches):
    terms = functions.elbo(x, tf.constant([seed, 2 * i], tf.int32))
    sums[:3] += [np.sum(terms[k], dtype=np.float64)
                 for k in ('elbo', 'rate', 'distortion')]
    if 'kl_per_dimension' in terms:
      batch_kl = np.sum(terms['kl_per_dimension'], axis=0, dtype=np.float64)
      kl_sums = batch_kl if kl_sums is None else kl_sums + batch_kl
    if nll_estimated:
      ll = functions.log_likelihood(
          x, tf.constant(num_samples, tf.int32),
          tf.constant(chunk_size, tf.int32),
          tf.constant([seed, 2 * i + 1], tf.int32))['log_likelihood']
      sums[3] += np.sum(ll, dtype=np.float64)
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
      kl_per_dimension=None if kl_sums is None else kl_sums / count,
      active_units=num_active, unit_variances=variances,
      posterior_means=posterior_means, labels=np.concatenate(labels),
      num_examples=count)
