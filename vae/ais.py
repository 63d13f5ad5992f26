"""log p(x) by annealed importance sampling (AIS), checked by bidirectional
Monte Carlo (BDMC).

AIS (Neal 2001) moves K chains through densities that anneal from a
normalised start p_0(z) (the prior p(z), or q(z|x)) to the unnormalised
posterior p(x, z), along the geometric path

  log f_t(z) = (1 - b_t) log p_0(z) + b_t log p(x, z),  0 = b_0 < ... < b_N = 1,

with b_t on Wu et al. (2017)'s sigmoid schedule (`sigmoid_schedule`). At
each t a chain at z adds log f_t(z) - log f_{t-1}(z) = (b_t - b_{t-1})
(log p(x, z) - log p_0(z)) to its log-weight, then takes one Hamiltonian
Monte Carlo step that leaves f_t invariant (`hmc_step`: leapfrog steps and a
Metropolis correction). exp(log-weight) is an unbiased estimate of p(x), so
the log of the chains' mean weight is a stochastic lower bound on log p(x)
that tightens as N grows (Wu et al. 2017, section 4). Step sizes adapt per
chain towards an acceptance rate of 0.65, as Wu et al.'s code does.

BDMC (Grosse et al. 2015) checks the estimate on data simulated from the
model: for (x, z) drawn from p(x, z), z is an exact posterior sample of x,
so AIS run backwards from it (b_N down to b_0) gives a weight whose mean is
1 / p(x): minus its log is a stochastic upper bound. The two sandwich the
true log p(x), and their gap bounds the forward estimate's error there.
"""

from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import conditional
from vae import model as model_lib
from vae import priors

tfd = tfp.distributions

TARGET_ACCEPTANCE = 0.65
# Wu et al.'s step-size adaptation: the factor per step, the bounds, and the
# smoothing of the acceptance rate it follows.
STEP_SIZE_CHANGE = 1.02
STEP_SIZE_BOUNDS = (1e-4, 0.5)
ACCEPTANCE_SMOOTHING = 0.9

LogProb = Callable[[tf.Tensor], tf.Tensor]


def sigmoid_schedule(num_steps: int, radius: float = 4.0) -> np.ndarray:
  """b_0 = 0 < b_1 < ... < b_N = 1: sigmoid(t) at N + 1 points evenly
  spaced in [-radius, radius], rescaled to [0, 1] (Wu et al. 2017).

  Args:
    num_steps: N, the intermediate distributions (at least 1).
    radius: The half-width of the sigmoid's input range.

  Raises:
    ValueError: for fewer than 1 step.
  """
  if num_steps < 1:
    raise ValueError(f'num_steps must be at least 1, got {num_steps}')
  s = 1.0 / (1.0 + np.exp(-np.linspace(-radius, radius, num_steps + 1)))
  return (s - s[0]) / (s[-1] - s[0])


def hmc_step(z: tf.Tensor, log_prob: LogProb, step_size: tf.Tensor,
             num_leapfrog: int, seed: tf.Tensor, correct: bool = True):
  """One HMC step per chain: a unit-Gaussian momentum, `num_leapfrog`
  leapfrog steps, and a Metropolis accept or reject.

  Args:
    z: [chains..., latent] the chains' states.
    log_prob: z to [chains...] log densities (unnormalised).
    step_size: [chains...] each chain's leapfrog step.
    num_leapfrog: Leapfrog steps per HMC step.
    seed: A stateless seed [2].
    correct: False skips the Metropolis correction (every proposal is
      taken): the step no longer leaves the target invariant. For tests.

  Returns:
    (the new states, [chains...] whether each chain accepted).
  """
  momentum_seed, accept_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  eps = step_size[..., tf.newaxis]

  def grad(state):
    with tf.GradientTape() as tape:
      tape.watch(state)
      value = log_prob(state)
    return value, tape.gradient(value, state)

  p = tf.random.stateless_normal(tf.shape(z), momentum_seed, dtype=z.dtype)
  start_log_prob, g = grad(z)
  q, momentum = z, p + 0.5 * eps * g
  for i in range(num_leapfrog):
    q = q + eps * momentum
    end_log_prob, g = grad(q)
    momentum = momentum + (eps if i < num_leapfrog - 1 else 0.5 * eps) * g
  log_accept = (end_log_prob - 0.5 * tf.reduce_sum(momentum**2, -1)
                - start_log_prob + 0.5 * tf.reduce_sum(p**2, -1))
  log_accept = tf.where(tf.math.is_finite(log_accept), log_accept,
                        tf.constant(-np.inf, log_accept.dtype))
  u = tf.random.stateless_uniform(tf.shape(log_accept), accept_seed,
                                  dtype=z.dtype)
  accept = tf.math.log(u) < log_accept if correct else tf.ones_like(
      log_accept, tf.bool)
  return tf.where(accept[..., tf.newaxis], q, z), accept


class Anneal(NamedTuple):
  """What `anneal` returns.

  Attributes:
    log_weights: [chains...] each chain's log-weight.
    z: [chains..., latent] each chain's last state.
    acceptance: [chains...] each chain's smoothed acceptance rate.
  """
  log_weights: tf.Tensor
  z: tf.Tensor
  acceptance: tf.Tensor


def anneal(z: tf.Tensor, start_log_prob: LogProb, target_log_prob: LogProb,
           betas, num_leapfrog: int = 10, step_size: float = 0.05,
           seed=(0, 0), correct: bool = True) -> Anneal:
  """AIS along `betas` from states `z`, on the geometric path between
  `start_log_prob` and `target_log_prob`; backwards if `betas` fall.

  At each t it adds (b_t - b_{t-1}) (log target - log start) at the chains'
  states to their log-weights, then takes `hmc_step` on log f_t.

  Args:
    z: [chains..., latent] initial states: draws of the start density
      (forward), or of the target (backwards).
    start_log_prob: z to [chains...] log p_0(z), normalised.
    target_log_prob: z to [chains...] log of the unnormalised target.
    betas: The schedule b_0, ..., b_N (a sequence or a 1-D tensor).
    num_leapfrog: Leapfrog steps per HMC step.
    step_size: The initial leapfrog step of every chain.
    seed: A stateless seed [2].
    correct: Whether HMC makes its Metropolis correction (False: tests).

  Returns:
    An `Anneal`.
  """
  betas = tf.cast(tf.convert_to_tensor(betas), z.dtype)
  seed = tf.convert_to_tensor(seed, tf.int32)
  chains = tf.shape(z)[:-1]
  path = lambda beta: lambda s: ((1 - beta) * start_log_prob(s)
                                 + beta * target_log_prob(s))

  def body(t, state, log_w, size, rate):
    gap = target_log_prob(state) - start_log_prob(state)
    log_w += (betas[t] - betas[t - 1]) * gap
    state, accept = hmc_step(
        state, path(betas[t]), size, num_leapfrog,
        tf.random.experimental.stateless_fold_in(seed, t), correct)
    rate = (ACCEPTANCE_SMOOTHING * rate
            + (1 - ACCEPTANCE_SMOOTHING) * tf.cast(accept, rate.dtype))
    size = tf.clip_by_value(
        tf.where(rate > TARGET_ACCEPTANCE, size * STEP_SIZE_CHANGE,
                 size / STEP_SIZE_CHANGE), *STEP_SIZE_BOUNDS)
    return t + 1, state, log_w, size, rate

  @tf.function  # One graph: eagerly, each of N steps would run op by op.
  def run(z):
    return tf.while_loop(
        lambda t, *_: t < tf.shape(betas)[0], body,
        (tf.constant(1), z, tf.zeros(chains, z.dtype),
         tf.fill(chains, tf.cast(step_size, z.dtype)),
         tf.fill(chains, tf.cast(TARGET_ACCEPTANCE, z.dtype))))

  _, z, log_w, _, rate = run(z)
  return Anneal(log_w, z, rate)


class Estimate(NamedTuple):
  """AIS's log p(x) per example.

  Attributes:
    log_likelihood: [batch] log of the chains' mean weight.
    standard_error: [batch] its standard error over the chains (the delta
      method: sd(w) / (sqrt(K) mean(w))).
    acceptance: [batch] the chains' mean acceptance rate at the end.
  """
  log_likelihood: tf.Tensor
  standard_error: tf.Tensor
  acceptance: tf.Tensor


def _estimate(log_w: tf.Tensor, acceptance: tf.Tensor) -> Estimate:
  """The `Estimate` of log-weights [chains, batch]."""
  num_chains = tf.cast(tf.shape(log_w)[0], log_w.dtype)
  log_mean = tf.reduce_logsumexp(log_w, 0) - tf.math.log(num_chains)
  w = tf.exp(log_w - log_mean)  # Relative weights, mean 1.
  sd = tf.math.reduce_std(w, 0) * tf.sqrt(num_chains / tf.maximum(
      num_chains - 1, 1))
  return Estimate(log_mean, sd / tf.sqrt(num_chains),
                  tf.reduce_mean(acceptance, 0))


def _log_joint(decoder, prior: tfd.Distribution, x: tf.Tensor) -> LogProb:
  """z [chains, batch, latent] to log p(x, z) [chains, batch]."""
  return lambda z: prior.log_prob(z) + decoder(z).log_prob(x)


def log_likelihood(decoder, prior, x, num_steps: int, num_chains: int, *,
                   encoder=None, num_leapfrog: int = 10,
                   step_size: float = 0.05, seed=(0, 0)) -> Estimate:
  """AIS's estimate of log p(x) for each example of `x`.

  Args:
    decoder: z [chains, batch, latent] to p(x|z), batch shape
      [chains, batch].
    prior: p(z): a distribution, or a module returning one.
    x: [batch, ...] the examples.
    num_steps: N, the intermediate distributions.
    num_chains: K, the chains per example.
    encoder: None starts from the prior; an encoder starts from q(z|x)
      (fewer steps reach the same accuracy when q is good).
    num_leapfrog: Leapfrog steps per HMC step.
    step_size: The initial leapfrog step.
    seed: A stateless seed [2].

  Returns:
    An `Estimate`.
  """
  x = tf.convert_to_tensor(x)
  prior = priors.as_distribution(prior)
  seed = tf.convert_to_tensor(seed, tf.int32)
  start_seed, anneal_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  start = prior if encoder is None else encoder(x)
  # q(z|x), and a prior given each example's label, have a batch shape.
  shape = ([num_chains] if start.batch_shape.rank
           else [num_chains, tf.shape(x)[0]])
  z = start.sample(shape, seed=start_seed)
  run = anneal(z, start.log_prob, _log_joint(decoder, prior, x),
               sigmoid_schedule(num_steps), num_leapfrog, step_size,
               anneal_seed)
  return _estimate(run.log_weights, run.acceptance)


class Sandwich(NamedTuple):
  """BDMC's bounds on log p(x) of examples simulated from the model.

  Attributes:
    lower: [examples] forward AIS's estimate (a stochastic lower bound).
    upper: [examples] reverse AIS's, from the exact posterior sample (a
      stochastic upper bound).
    x: [examples, ...] the simulated examples.
  """
  lower: tf.Tensor
  upper: tf.Tensor
  x: tf.Tensor

  @property
  def gap(self) -> tf.Tensor:
    """[examples] upper minus lower: at most this far from log p(x)."""
    return self.upper - self.lower


def bdmc(decoder, prior, num_examples: int, num_steps: int,
         num_chains: int, *, num_leapfrog: int = 10,
         step_size: float = 0.05, seed=(0, 0)) -> Sandwich:
  """Bidirectional Monte Carlo on `num_examples` (x, z) drawn from the model.

  Args:
    decoder: z [chains, batch, latent] to p(x|z).
    prior: p(z): a distribution, or a module returning one.
    num_examples: The simulated examples.
    num_steps: N, the intermediate distributions of both directions.
    num_chains: K, the chains per example and direction.
    num_leapfrog: Leapfrog steps per HMC step.
    step_size: The initial leapfrog step.
    seed: A stateless seed [2].

  Returns:
    A `Sandwich`.
  """
  prior = priors.as_distribution(prior)
  seeds = tf.unstack(tf.random.experimental.stateless_split(
      tf.convert_to_tensor(seed, tf.int32), 4))
  # A prior given labels has one p(z|y) per example already.
  z = prior.sample(() if prior.batch_shape.rank else num_examples,
                   seed=seeds[0])
  x = decoder(z).sample(seed=seeds[1])
  forward = log_likelihood(decoder, prior, x, num_steps, num_chains,
                           num_leapfrog=num_leapfrog, step_size=step_size,
                           seed=seeds[2])
  start = tf.tile(z[tf.newaxis], [num_chains, 1, 1])
  backward = anneal(start, prior.log_prob, _log_joint(decoder, prior, x),
                    sigmoid_schedule(num_steps)[::-1], num_leapfrog,
                    step_size, seeds[3])
  upper = -_estimate(backward.log_weights, backward.acceptance).log_likelihood
  return Sandwich(forward.log_likelihood, upper, x)


def model_parts(model, labels: Optional[tf.Tensor] = None):
  """(decoder, prior, encoder) of a built model, for AIS; of a conditional
  model, its parts given `labels`, whose AIS estimates log p(x|y).

  Args:
    model: A model as `build.build` makes it.
    labels: The labels [batch] of the examples, for a conditional model.

  Raises:
    ValueError: for a model without a continuous density p(z) that HMC can
      move through, saying why, or a conditional model without labels.
  """
  if conditional.is_conditional(model):
    if labels is None:
      raise ValueError('a conditional model\'s AIS needs the examples\' '
                       'labels: its parts are p(x|z, y) and p(z|y)')
    model = model.given(labels)
  prior = getattr(model, 'prior', None)
  if prior is None or not isinstance(model, model_lib.VAE):
    raise ValueError(
        f'AIS needs a VAE: a density p(z) to anneal from and HMC to move '
        f'through, and codes with a density q(z|x); {type(model).__name__} '
        f'is not one (a plain autoencoder\'s and a WAE\'s codes are points, '
        f'a VQ-VAE\'s are discrete). Use the importance-weighted bound '
        f'(evaluation.evaluate) for a VQ-VAE.')
  if isinstance(priors.as_distribution(prior), tfd.SphericalUniform):
    raise ValueError(
        'AIS moves z by Hamiltonian Monte Carlo in R^m; a von Mises-Fisher '
        'latent lives on the sphere, which its leapfrog steps leave. Use '
        'the importance-weighted bound (evaluation.evaluate) for it.')
  if isinstance(prior, categorical.UniformCategorical):
    raise ValueError(
        'AIS moves z by Hamiltonian Monte Carlo, which needs a continuous '
        'latent; a categorical latent has none. Use the importance-weighted '
        'bound (evaluation.evaluate) for it.')
  return model.decoder, prior, model.encoder
