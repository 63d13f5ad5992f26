"""Data-parallel training: strategies, logical CPUs, replica-exact draws.

Training on N replicas splits each global batch of B examples into N equal
parts of B / N. For N replicas to train exactly as one device does on the
whole batch, three things must hold, and this module provides the pieces:

- The loss is divided by the global batch (`tf.nn.compute_average_loss`)
  and the gradients are summed over replicas (`training.make_train_loop`).
- Replica r sees rows [r B/N, (r+1) B/N) of the global batch
  (`data.batches(..., num_replicas=N)`).
- Random draws are those one device makes for the whole batch: replica r's z
  are rows of the single draw for B examples (`sample`).

The strategies are TensorFlow's, with Sonnet's variable model: each replica
holds its own copy of every variable and applies the same all-reduced update
(`snt.distribute.Replicator`, `TpuReplicator`, and `MultiWorkerReplicator`
below for a cluster).
"""

import contextlib
import json
import os
import threading
from typing import Callable, List, Optional, Sequence, Union

import sonnet as snt
from sonnet.src.distribute import replicator as snt_replicator
from sonnet.src.optimizers import optimizer_utils as snt_optimizer_utils
import tensorflow as tf
import tensorflow_probability as tfp

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')


class MultiWorkerReplicator(tf.distribute.MultiWorkerMirroredStrategy):
  """`MultiWorkerMirroredStrategy` with Sonnet's replica-local variables.

  The cluster comes from the `TF_CONFIG` environment variable. As under
  `snt.distribute.Replicator`, variables created in `scope()` are
  replica-local: every replica on every worker applies the same all-reduced
  update to its own copy. Sonnet's optimisers accept only Sonnet's
  strategies (multi-worker GPU is a TODO there), so this class is added to
  the strategies they accept.

  Args:
    cluster_resolver: As `MultiWorkerMirroredStrategy`'s; None reads
      `TF_CONFIG`.
    communication_options: As `MultiWorkerMirroredStrategy`'s.
  """

  @contextlib.contextmanager
  def scope(self):
    with contextlib.ExitStack() as stack:
      stack.enter_context(super().scope())
      stack.enter_context(
          tf.variable_creator_scope(snt_replicator.replica_local_creator))
      yield


# pylint: disable=protected-access
if MultiWorkerReplicator not in snt_optimizer_utils._SUPPORTED_STRATEGIES:
  snt_optimizer_utils._SUPPORTED_STRATEGIES += (MultiWorkerReplicator,)
# pylint: enable=protected-access


def split_cpu(num_devices: int) -> Sequence[str]:
  """Splits the CPU into `num_devices` logical devices; returns their names.

  Must run before TensorFlow initialises its devices (before the first op),
  unless the CPU is already split that way.

  Args:
    num_devices: The logical CPU devices to make.
  """
  if num_devices < 1:
    raise ValueError(f'num_devices must be positive, got {num_devices}')
  cpu = tf.config.list_physical_devices('CPU')[0]
  configs = tf.config.get_logical_device_configuration(cpu)
  if configs is None or len(configs) != num_devices:
    try:
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as e:
      have = len(tf.config.list_logical_devices('CPU'))
      raise RuntimeError(
          f'cannot split the CPU into {num_devices} logical devices: '
          f'TensorFlow has initialised its devices already, with {have} '
          f'logical CPU(s). Split it before running any TensorFlow op.'
      ) from e
  return [d.name for d in tf.config.list_logical_devices('CPU')]


def _tf_config() -> Optional[dict]:
  """`TF_CONFIG`, parsed, with its task checked; None if unset."""
  config = os.environ.get('TF_CONFIG')
  if not config:
    return None
  try:
    parsed = json.loads(config)
    parsed['task'] = {'type': parsed['task']['type'],
                      'index': int(parsed['task']['index'])}
    return parsed
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f'TF_CONFIG must be JSON with a "cluster" and a '
                     f'"task" {{"type", "index"}}, got {config!r}') from e


def task() -> Optional[dict]:
  """This process's task in `TF_CONFIG`, `{'type', 'index'}`; None if unset."""
  config = _tf_config()
  return None if config is None else config['task']


def is_chief() -> bool:
  """Whether this process writes a run's results: the 'chief' task, or
  worker 0 of a cluster without one, or a process outside any cluster."""
  config = _tf_config()
  if config is None or config['task']['type'] == 'chief':
    return True
  return (config['task'] == {'type': 'worker', 'index': 0}
          and 'chief' not in config.get('cluster', {}))


def make_strategy(name: str,
                  cpu_devices: int = 1,
                  tpu: Optional[str] = None) -> tf.distribute.Strategy:
  """The strategy called `name` (one of `STRATEGIES`).

  - default: TensorFlow's default, one device.
  - mirrored: `snt.distribute.Replicator` on every local GPU; with no GPU,
    on `cpu_devices` logical CPUs (`split_cpu`).
  - multi_worker: `MultiWorkerReplicator`, the cluster in `TF_CONFIG`.
  - tpu: `snt.distribute.TpuReplicator` on the TPU `tpu` (a name or
    grpc:// address; None or 'local' for a TPU VM's own).

  The same arguments give the same strategy object again.

  Args:
    name: One of `STRATEGIES`.
    cpu_devices: With 'mirrored' and no GPU, the logical CPUs to replicate on.
    tpu: With 'tpu', the TPU's name or grpc:// address.
  """
  if name not in STRATEGIES:
    raise ValueError(f'strategy must be one of {STRATEGIES}, got {name!r}')
  if cpu_devices > 1 and name != 'mirrored':
    raise ValueError(f'cpu_devices={cpu_devices} splits the CPU for the '
                     f'mirrored strategy only, not {name!r}')
  key = (name, cpu_devices, tpu)
  if key not in _strategies:
    _strategies[key] = _make_strategy(name, cpu_devices, tpu)
  return _strategies[key]


# One of each per process: two strategies over the same devices number their
# collective ops alike, and the second one's all-reduces then fail.
_strategies = {}


def _make_strategy(name, cpu_devices, tpu):
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    if cpu_devices > 1:
      return snt.distribute.Replicator(split_cpu(cpu_devices))
    return snt.distribute.Replicator()
  if name == 'multi_worker':
    if task() is None:
      raise ValueError(
          'the multi_worker strategy reads its cluster from the TF_CONFIG '
          'environment variable, which is not set: set it on every worker, '
          'for example TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
          '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\'')
    return MultiWorkerReplicator()
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu='local' if tpu is None else tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return snt.distribute.TpuReplicator(resolver)


def distribute_batches(
    strategy: tf.distribute.Strategy,
    make_batches: Callable[[int, Sequence[int]], tf.data.Dataset]):
  """A distributed dataset of training batches, each worker reading its own.

  `make_batches(num_replicas, replicas)` is `data.batches` with those
  arguments: the parts of each global batch for `replicas`, in order. Each
  worker (input pipeline) builds the one for its local replicas, and
  `tf.distribute` hands its elements to them in turn.

  Args:
    strategy: The strategy the batches feed.
    make_batches: `(num_replicas, replicas)` to a dataset of those replicas'
      parts.
  """

  def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
    first = ctx.input_pipeline_id * local
    return make_batches(ctx.num_replicas_in_sync,
                        list(range(first, first + local)))

  return strategy.distribute_datasets_from_function(dataset_fn)


def per_worker(strategy: tf.distribute.Strategy) -> Callable[[int], List[int]]:
  """`gather(value)`: every worker's int `value`, in task order.

  A collective: every worker of the cluster must call it at the same point,
  and it waits for them all.

  Args:
    strategy: The cluster's strategy.
  """
  local = len(strategy.extended.worker_devices)

  @tf.function(autograph=False)
  def all_gather(value):
    def replica_fn():
      return tf.distribute.get_replica_context().all_gather(
          tf.reshape(value, [1]), axis=0)
    return strategy.experimental_local_results(strategy.run(replica_fn))[0]

  def gather(value: int) -> List[int]:
    values = all_gather(tf.constant(value, tf.int64)).numpy()
    return [int(v) for v in values[::local]]  # Replicas are by worker.

  return gather


def num_replicas(strategy: Optional[tf.distribute.Strategy]) -> int:
  """The replicas of `strategy` in sync: 1 without one.

  Args:
    strategy: A strategy, or None for one device.
  """
  return 1 if strategy is None else strategy.num_replicas_in_sync


# ------------------------------------------------------- replica-exact draws.

_local = threading.local()


@contextlib.contextmanager
def global_batch_draws(replica, num_replicas: int):
  """Within it, `sample` draws replica `replica`'s rows of the draws one
  device makes for the global batch of `num_replicas` equal parts.

  Enter it in the replica's own code (each of `strategy.run`'s threads has
  its own state), around the objective; `replica` is a scalar int tensor,
  such as the replica context's `replica_id_in_sync_group`, or an argument
  of a function compiled once for every replica.

  Args:
    replica: This replica's index, a scalar int tensor.
    num_replicas: The replicas the global batch is split among.
  """
  before = getattr(_local, 'replica', None)
  _local.replica = (replica, num_replicas)
  try:
    yield
  finally:
    _local.replica = before


def sample(distribution, sample_shape: Union[int, Sequence[int]] = (),
           seed=None) -> tf.Tensor:
  """`distribution.sample(sample_shape, seed)`, replica-exact.

  Inside `global_batch_draws(r, N)` with N > 1 and a stateless seed,
  `distribution` (batch shape [b]) is replica r's part of a global batch of
  N b rows, and the draws are those one device makes for the global batch,
  at rows [r b, (r+1) b). They are drawn so: the distribution's rows are
  repeated N times, giving batch shape [N b] and the same stateless stream
  as the one device's (whatever its layout: Normal's is row-major,
  MultivariateNormalTriL's is not), and row r b + i keeps its draw. Each
  row's sample depends only on its parameters and its place in the stream,
  so the kept rows are the one device's. The draws cost N times as much;
  the rest of the step does not. A `TransformedDistribution` (a flow
  posterior, whose bijector holds this replica's rows) draws its base so
  and maps the draws through its bijector, as its own `sample` does.
  Elsewhere this is `distribution.sample`.

  Args:
    distribution: The distribution to draw from.
    sample_shape: As `distribution.sample`'s.
    seed: A stateless seed [2], or None.
  """
  state = getattr(_local, 'replica', None)
  if state is None or seed is None or state[1] == 1:
    return distribution.sample(sample_shape, seed=seed)
  if hasattr(distribution, 'bijector'):  # A TransformedDistribution.
    return distribution.bijector.forward(
        sample(distribution.distribution, sample_shape, seed=seed))
  replica, replicas = state
  rows = distribution.batch_shape[0]
  if distribution.batch_shape.rank != 1 or rows is None:
    raise ValueError(f'replica-exact draws need a batch shape [rows], got '
                     f'{distribution.batch_shape}')
  draws = _repeat_rows(distribution, replicas, rows).sample(
      sample_shape, seed=seed)
  axis = draws.shape.rank - 1 - distribution.event_shape.rank
  return tf.gather(draws, replica * rows + tf.range(rows), axis=axis)


def _repeat_rows(distribution, times: int, rows: int):
  """`distribution` with its rows (leading batch axis) repeated `times`."""
  overrides = {}
  for name, value in distribution.parameters.items():
    if isinstance(value, tfp.distributions.Distribution):
      overrides[name] = _repeat_rows(value, times, rows)
    elif (tf.is_tensor(value) and value.shape.rank
          and value.shape[0] == rows):
      overrides[name] = tf.tile(value, [times] + [1] * (value.shape.rank - 1))
  return distribution.copy(**overrides)


def replica_sum(values: tf.Tensor) -> tf.Tensor:
  """`values` summed over the replicas, in replica context with N > 1;
  else `values`.

  Args:
    values: A tensor of this replica.
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return values
  return ctx.all_reduce('sum', values)


def global_mean(values: tf.Tensor) -> tf.Tensor:
  """Mean over axis 0 of the global batch, gradients included: in replica
  context with N > 1, all-reduced sums over the row count. A SUM
  all-reduce's gradient is the all-reduced sum of the replicas' upstream
  gradients, so a loss that every replica computes from it, each divided by
  the global batch (`tf.nn.compute_average_loss`), gives the gradients of
  one device on the whole batch once the replicas' gradients are summed.

  Args:
    values: This replica's rows, [rows, ...].
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return tf.reduce_mean(values, axis=0)
  total = ctx.all_reduce('sum', tf.reduce_sum(values, axis=0))
  count = ctx.all_reduce('sum', tf.cast(tf.shape(values)[0], values.dtype))
  return total / count


def global_rows(values: tf.Tensor) -> tf.Tensor:
  """The global batch's rows of `values` ([rows, ...], replica 0's rows
  first), gradients included; `values` itself on one device.

  Args:
    values: This replica's rows, [rows, ...].
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return values
  return ctx.all_gather(values, axis=0)


def local_rows(global_values: tf.Tensor, rows) -> tf.Tensor:
  """This replica's `rows` rows of a tensor over the global batch (as
  `global_rows` gives, replica 0's rows first); `global_values` itself on
  one device.

  Args:
    global_values: A tensor over the global batch, [global rows, ...].
    rows: The rows of each replica.
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return global_values
  start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * rows
  return global_values[start:start + rows]


def global_batch_mean(values: tf.Tensor) -> tf.Tensor:
  """Mean over axis 0 of the global batch, with no gradient: in replica
  context with N > 1, the sum over every replica's rows divided by the
  total row count.

  Args:
    values: This replica's rows, [rows, ...].
  """
  values = tf.stop_gradient(values)
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return tf.reduce_mean(values, axis=0)
  total = replica_sum(tf.reduce_sum(values, axis=0))
  count = replica_sum(tf.cast(tf.shape(values)[0], values.dtype))
  return total / count
