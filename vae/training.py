"""The compiled training step, and a loop of many steps in one compiled call.

`make_train_step` compiles one update; the Python loop around it pays a
function call, and a host round trip for its inputs, on every step.
`make_train_loop` compiles a block of steps into one call (with XLA, one
executable): for the small models of VAE research that per-step overhead is
much of the time a step takes (see `BENCHMARKS.md`).

Every `tf.function` here is traced without AutoGraph: the loops are written
as `tf.while_loop`, nothing else depends on a tensor's value in Python, and
converting Sonnet's and TFP's code cost seconds a trace (a small model's
first step: 7.2 s with AutoGraph, 1.9 s without).
"""

import contextlib
from typing import (Any, Callable, Iterator, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import sonnet as snt
import tensorflow as tf

from vae import conditional
from vae import distribute
from vae import model as model_lib
from vae import objectives

Objective = Callable[[tf.Tensor, Optional[tf.Tensor]], objectives.ELBOTerms]


# A step's metrics are the objective's terms, `objectives.ELBOTerms`, as
# means over the batch: one representation from the step to the files.
StepMetrics = objectives.ELBOTerms


class Variables(NamedTuple):
  """Some of a model's variables as a phase's `trains` (the loop reads only
  `trainable_variables`): the VQ-VAE's networks, the FactorVAE's VAE."""
  trainable_variables: Tuple[tf.Variable, ...]


class Phase(NamedTuple):
  """Steps of a run that train some variables on an objective: those up
  to `last_step` after the phase before. A model of several phases (the
  VQ-VAE: its autoencoder, then its prior) lists them; each has its own
  optimiser, `name` in the checkpoint."""
  name: str
  last_step: int
  trains: Any  # Its `trainable_variables` are updated.
  objective: Objective
  # `after(x, seed)`, run in the step after the update: a model's second
  # update with an optimiser of its own (the FactorVAE's discriminator).
  after: Optional[Callable] = None


def in_phases(loops: Sequence[Tuple[int, Callable]]):
  """`train(first_step, num_steps)` over `(last_step, train)` pairs, in
  order: each step runs in the first loop whose `last_step` it does not
  pass (a block across a boundary is split); their metrics are joined.

  Args:
    loops: (last step, `train(first_step, num_steps)`) of each phase, in
      order.
  """

  def train(first_step: int, num_steps: int) -> StepMetrics:
    parts, step, end = [], first_step, first_step + num_steps - 1
    for last_step, loop in loops:
      if step > min(end, last_step):
        continue
      upto = min(end, last_step)
      parts.append(loop(step, upto - step + 1))
      step = upto + 1
    if step <= end:
      raise ValueError(f'step {end} is past the last phase')
    return StepMetrics(*[tf.concat(terms, 0) for terms in zip(*parts)])

  return train


def _objective(model, beta, kl_samples, normalization,
               objective: Optional[Objective]) -> Objective:
  """`objective`, or the ELBO of `beta`, `kl_samples` and `normalization`
  (1, None and 'per_example' unless given); not both."""
  if objective is not None:
    given = [name for name, value in (('beta', beta),
                                      ('kl_samples', kl_samples),
                                      ('normalization', normalization))
             if value is not None]
    if given:
      raise ValueError(f'pass the loss\'s {", ".join(given)} to the '
                       f'objective, not beside it: a step built with an '
                       f'objective takes no other loss arguments')
    return objective
  normalization = normalization or 'per_example'
  if normalization not in objectives.NORMALIZATIONS:
    raise ValueError(f'normalization must be one of '
                     f'{objectives.NORMALIZATIONS}, got {normalization!r}')
  beta = 1.0 if beta is None else beta
  if conditional.is_conditional(model):  # Batches (images, labels).
    return lambda batch, seed: model.elbo(
        batch[0], batch[1], beta=beta, kl_samples=kl_samples,
        normalization=normalization, seed=seed)
  return lambda x, seed: model.elbo(x, beta=beta, kl_samples=kl_samples,
                                    normalization=normalization, seed=seed)


def _gradients(model, objective: Objective, x: tf.Tensor, seed):
  """The gradients of the loss divided by the (global) batch size, and the
  objective's terms."""
  with tf.GradientTape() as tape:
    terms = objective(x, seed)
    loss = tf.nn.compute_average_loss(terms.loss)
  # Read after the forward pass: Sonnet creates variables on first call.
  return tape.gradient(loss, model.trainable_variables), terms


def _apply(optimizer: snt.Optimizer, gradients, variables):
  """`optimizer.apply`, then each variable's constraint, as Keras's
  optimisers do. Sonnet's do not, and TFP's `AutoregressiveNetwork` (the
  flow posteriors' MADE) keeps its autoregressive masks as Keras kernel
  constraints: without this the masked weights train and log q(z|x) is
  wrong."""
  moments = getattr(optimizer, 'm', None)  # Adam's first moments.
  if moments and len(moments) != len(variables):
    # Sonnet's `apply` zips them: the variables past its state would
    # silently never train.
    raise ValueError(
        f'the optimiser has state for {len(moments)} variables but is given '
        f'{len(variables)}: its state was created before the model made all '
        f'its variables; call the model once before building the step')
  optimizer.apply(gradients, variables)
  for variable in variables:
    if getattr(variable, 'constraint', None) is not None:
      variable.assign(variable.constraint(variable))


def _update(model, optimizer: snt.Optimizer, objective: Objective,
            after: Optional[Callable] = None):
  """`update(x, seed) -> StepMetrics`: one gradient step, then `after(x,
  seed)` if given; not compiled."""

  def update(x: tf.Tensor, seed=None) -> StepMetrics:
    gradients, terms = _gradients(model, objective, x, seed)
    _apply(optimizer, gradients, model.trainable_variables)
    if after is not None:
      after(x, seed)
    return StepMetrics(*[tf.reduce_mean(t) for t in terms])

  return update


def make_train_step(model: model_lib.VAE,
                    optimizer: snt.Optimizer,
                    beta: Optional[Union[float, tf.Variable]] = None,
                    kl_samples: Optional[int] = None,
                    normalization: Optional[str] = None,
                    jit_compile: bool = False,
                    objective: Optional[Objective] = None,
                    compile: bool = True,  # pylint: disable=redefined-builtin
                    after: Optional[Callable] = None):
  """Returns `step(x, seed=None) -> StepMetrics`: one update, `tf.function`-ed.

  The loss is `model.elbo(x, beta=, kl_samples=, normalization=, seed=)`
  (beta 1, analytic KL and 'per_example' unless given), or the `ELBOTerms`
  of `objective(x, seed)` (`build.objective`: the IWAE bound, free bits,
  an autoencoder's loss), which then takes no `beta`, `kl_samples` or
  `normalization` beside it. Its metrics are the terms' batch means.

  `seed`, a stateless seed of shape [2] (such as [run seed, step number]),
  fixes the step's draws of z, so a run resumed from a checkpoint repeats the
  uninterrupted run exactly; None uses the global random generator.

  The step is built once: pass a `tf.Variable` for `beta` (and the optimiser's
  learning rate) to change them without retracing. The loss is reduced with
  `tf.nn.compute_average_loss`, so under a `tf.distribute` strategy each
  replica divides by the global batch and the summed gradients equal those of
  one device on the whole batch. `compile=False` returns the step as plain
  eager Python, for debugging (and as the notebook's loop runs). `after(x,
  seed)`, if given, runs in the step after the update (`Phase.after`). A
  conditional model's (`vae/conditional.py`) x is `(images, labels)`.

  Args:
    model: The model: a `VAE`, or any module with `encoder`, `decoder` and
      `prior` when no `objective` is given.
    optimizer: A Sonnet optimiser.
    beta: The rate's weight (default 1), for the ELBO made here.
    kl_samples: Monte Carlo samples of the KL; None: analytic where it can.
    normalization: 'per_example' (default) or 'notebook'.
    jit_compile: Compile the step with XLA.
    objective: `objective(x, seed) -> ELBOTerms` to train on instead.
    compile: False returns the step as eager Python.
    after: `after(x, seed)`, run after the update.

  Returns:
    `step(x, seed=None) -> ELBOTerms` of the batch means.

  Raises:
    ValueError: for an `objective` given with `beta`, `kl_samples` or
      `normalization`; for a model built in part (its encoder called alone,
      say): call the whole model once first, or not at all.
  """
  update = _update(model, optimizer,
                   _objective(model, beta, kl_samples, normalization,
                              objective), after)
  if not compile:
    return update
  create_optimizer_state(optimizer, _built_variables(model))
  return tf.function(update, jit_compile=jit_compile, autograph=False)


def make_train_loop(model: model_lib.VAE,
                    optimizer: snt.Optimizer,
                    batches: Iterator[tf.Tensor],
                    seed: int,
                    steps_per_call: int = 100,
                    beta: Optional[Union[float, tf.Variable]] = None,
                    kl_samples: Optional[int] = None,
                    normalization: Optional[str] = None,
                    jit_compile: bool = True,
                    objective: Optional[Objective] = None,
                    schedule: Optional[Callable[[tf.Tensor], None]] = None,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    after: Optional[Callable] = None):
  """Returns `train(first_step, num_steps) -> StepMetrics` of [num_steps].

  One call runs training steps first_step, ..., first_step + num_steps - 1
  (numbered from 1; 1 <= num_steps <= steps_per_call), each on the next
  batch of the `tf.data` iterator `batches`, and returns every step's
  metrics. Step s is the step `make_train_step` takes given `seed=[seed,
  s]`: without XLA the same ops, to the bit; with XLA the same draws, though
  XLA compiles the loop as one program whose fusions may round floats
  differently from a single step's. Either way the steps do not depend on
  how they are grouped into calls (one program serves every call), so a
  resumed run repeats the uninterrupted one to the bit.

  Nothing returns to Python inside a call: a graph loop takes the block's
  batches from the iterator (prefetched, so the pipeline works while the
  previous block trains), then a `tf.while_loop`, compiled with XLA when
  `jit_compile`, trains on them in turn. `schedule(s)`, if given, runs in
  the loop before step s: it assigns the variables that beta or a
  temperature are read from. One trace and one XLA compilation serve every
  `first_step` and `num_steps`. Batches must all have the same shape (as
  `data.batches(..., train=True)` gives); they are images, or a
  conditional model's `(images, labels)` (`labels=True`).

  With a `strategy` (a `vae.distribute` one), the model, optimiser and
  scheduled variables must have been created in its scope, and `batches` is
  a distributed iterator whose replica r gets part r of each global batch
  (`data.batches(..., num_replicas=N)`). Each step then runs on every
  replica: the loss is divided by the global batch, the replicas' gradients
  are summed (all-reduced) and every replica applies the same update; draws
  of z are the global batch's rows (`distribute.sample`). The steps are
  those of one device on the global batch, up to the order in which floats
  are summed. XLA then compiles each replica's forward and backward pass;
  the all-reduce and the update run between compiled calls.

  The loss, objective, `after` and arguments are those of
  `make_train_step`. Under a strategy `after` runs on every replica after
  the update, inside `distribute.global_batch_draws` and outside XLA (it may
  all-reduce and all-gather): it is replica-exact if its own update is.

  Args:
    model: The model, as for `make_train_step`.
    optimizer: A Sonnet optimiser.
    batches: A `tf.data` iterator of training batches of one shape.
    seed: The run's seed; step s draws with [seed, s].
    steps_per_call: The most steps one call runs.
    beta, kl_samples, normalization, objective, after: As for
      `make_train_step`.
    jit_compile: Compile the loop (under a strategy, each replica's step)
      with XLA.
    schedule: `schedule(step)`, run before each step.
    strategy: A `vae.distribute` strategy, or None for one device.
  """
  if steps_per_call < 1:
    raise ValueError(f'steps_per_call must be positive, got {steps_per_call}')
  objective = _objective(model, beta, kl_samples, normalization, objective)
  seed = int(seed)
  with strategy.scope() if strategy else contextlib.nullcontext():
    create_optimizer_state(optimizer, _built_variables(model))
  if strategy is not None:
    return _distributed_train_loop(model, optimizer, batches, seed,
                                   steps_per_call, jit_compile, objective,
                                   schedule, strategy, after)
  return _train_loop(_update(model, optimizer, objective, after), batches,
                     seed, steps_per_call, jit_compile, schedule)


def _train_loop(update, batches: Iterator[tf.Tensor], seed: int,
                steps_per_call: int, jit_compile: bool,
                schedule: Optional[Callable[[tf.Tensor], None]]):
  """`make_train_loop` on one device, given the step's `update`."""
  spec = batches.element_spec  # A tensor's, or (images, labels)'.
  for part in tf.nest.flatten(spec):
    if not part.shape.is_fully_defined():
      raise ValueError(f'batches must have a fixed shape, got {part.shape}:'
                       ' batch with drop_remainder=True')

  def run_steps(xs, first_step, num_steps):
    metrics = tf.TensorArray(tf.float32, size=steps_per_call)

    def body(i, metrics):
      step = first_step + i
      if schedule is not None:
        schedule(step)
      x = tf.nest.map_structure(lambda part: part[i], xs)
      terms = update(x, tf.stack([tf.constant(seed, tf.int32), step]))
      return i + 1, metrics.write(i, tf.stack(terms))

    _, metrics = tf.while_loop(lambda i, _: i < num_steps, body,
                               (tf.constant(0), metrics))
    return metrics.stack()

  run_steps = tf.function(run_steps, jit_compile=jit_compile,
                          autograph=False)

  @tf.function(autograph=False)
  def train_block(first_step, num_steps):
    xs = tf.nest.map_structure(
        lambda part: tf.TensorArray(part.dtype, size=steps_per_call,
                                    element_shape=part.shape), spec)

    def read(i, xs):
      return i + 1, tf.nest.map_structure(lambda array, batch: array.write(
          i, batch), xs, next(batches))

    _, xs = tf.while_loop(lambda i, _: i < num_steps, read,
                          (tf.constant(0), xs))
    return run_steps(tf.nest.map_structure(lambda array: array.stack(), xs),
                     first_step, num_steps)

  return _checked(train_block, steps_per_call)


def _checked(train_block, steps_per_call: int):
  """`train(first_step, num_steps)`: checks them, runs `train_block`."""

  def train(first_step: int, num_steps: int) -> StepMetrics:
    if not 1 <= num_steps <= steps_per_call:
      raise ValueError(f'num_steps must be in [1, {steps_per_call}], got '
                       f'{num_steps}')
    if first_step < 1:
      raise ValueError(f'first_step must be positive, got {first_step}')
    metrics = train_block(tf.constant(first_step, tf.int32),
                          tf.constant(num_steps, tf.int32))[:num_steps]
    return StepMetrics(*tf.unstack(metrics, axis=1))

  return train


def create_optimizer_state(optimizer: snt.Optimizer, variables) -> None:
  """Creates the optimiser's state (Adam's moments) for `variables` now, in
  the current strategy's scope if any: on every replica.

  Sonnet optimisers create it in their first `apply`, through `_initialize`
  (`snt.once`). Inside a compiled `strategy.run` that is in each replica's
  thread, which `tf.function` cannot lift out of the graph. Created in a
  `tf.function`'s first trace, they make it trace a second time, without
  creating variables (twice the tracing of every run's loop). Called
  before, it creates zero moments once, or nothing if they exist (restored
  values are kept). With no variables yet (a model not yet called) it does
  nothing: `_initialize` runs once, and its first call must see them all.

  Args:
    optimizer: A Sonnet optimiser.
    variables: The variables it will update.
  """
  initialize = getattr(optimizer, '_initialize', None)  # SGD has no state.
  if initialize is not None and variables:
    initialize(variables)


def _variables(module) -> Sequence[tf.Variable]:
  try:
    return module.trainable_variables
  except ValueError:  # Sonnet raises on a module without variables.
    return ()


def _built_variables(model) -> Sequence[tf.Variable]:
  """`model.trainable_variables`, or none if the model has not been called
  yet.

  Raises:
    ValueError: for a model built in part (its encoder called, its decoder
      not): the optimiser's state would miss the rest.
  """
  parts = {name: _variables(getattr(model, name)) for name in
           ('encoder', 'decoder') if isinstance(getattr(model, name, None),
                                                snt.Module)}
  if len(parts) == 2 and bool(parts['encoder']) != bool(parts['decoder']):
    built, not_built = (('encoder', 'decoder') if parts['encoder']
                        else ('decoder', 'encoder'))
    raise ValueError(
        f'the model is built in part: its {built} has variables, its '
        f'{not_built} none yet, so the optimiser\'s state would miss '
        f'some. Call the whole model once first (model(x) on a batch), or '
        f'not at all: the step builds it on its first batch.')
  return _variables(model)


def _distributed_train_loop(model, optimizer, batches, seed, steps_per_call,
                            jit_compile, objective, schedule, strategy,
                            after):
  """`make_train_loop` under a strategy: one `strategy.run` per step."""
  replicas = strategy.num_replicas_in_sync

  def gradients(x, step_seed, replica):
    """One replica's part: its gradient of the global loss (divided by the
    global batch, so the replicas' gradients sum to it), metric sums."""
    with distribute.global_batch_draws(replica, replicas):
      grads, terms = _gradients(model, objective, x, step_seed)
    rows = tf.shape(tf.nest.flatten(x)[0])[0]
    sums = tf.stack([tf.reduce_sum(t) for t in terms]
                    + [tf.cast(rows, tf.float32)])
    return grads, sums

  if jit_compile:
    gradients = tf.function(gradients, jit_compile=True, autograph=False)

  def replica_step(x, step_seed):
    ctx = tf.distribute.get_replica_context()
    try:
      grads, sums = gradients(x, step_seed, ctx.replica_id_in_sync_group)
    except RuntimeError as e:
      if 'merge_call' not in str(e):
        raise
      raise ValueError(
          'the objective reduces across replicas inside the step (free '
          'bits\' batch mean of the KL does), which cannot run inside an '
          'XLA-compiled function under a strategy: pass jit_compile=False'
      ) from e
    grads = ctx.all_reduce('sum', grads)
    _apply(optimizer, grads, model.trainable_variables)
    if after is not None:
      with distribute.global_batch_draws(ctx.replica_id_in_sync_group,
                                         replicas):
        after(x, step_seed)
    return sums

  def body(i, metrics, first_step):
    step = first_step + i
    if schedule is not None:
      schedule(step)
    step_seed = tf.stack([tf.constant(seed, tf.int32), step])
    sums = strategy.run(replica_step, args=(next(batches), step_seed))
    sums = strategy.reduce('SUM', sums, axis=None)
    return i + 1, metrics.write(i, sums[:-1] / sums[-1])

  @tf.function(autograph=False)
  def train_block(first_step, num_steps):
    metrics = tf.TensorArray(tf.float32, size=steps_per_call)
    _, metrics = tf.while_loop(
        lambda i, *_: i < num_steps,
        lambda i, metrics: body(i, metrics, first_step),
        (tf.constant(0), metrics))
    return metrics.stack()

  return _checked(train_block, steps_per_call)
