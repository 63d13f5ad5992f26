"""Measures training and evaluation speed on this machine, in one run.

  python -m experiments.benchmark
  python -m experiments.benchmark --data_dir=../shared/data/mnist \
      --train_split='test[:9000]'

Prints a table and writes --output (JSON):
  - the ceilings: float32 and bfloat16 GFLOP/s of a large
    `tf.linalg.matmul`, and the CPU's bfloat16 units (`precision`);
  - per configuration (S: the notebook's MLP [100, 100], latent 10, batch
    64; L: MLP [500, 500], latent 50, batch 128; C: the conv model), the
    training steps/s of the project's own path (`training.make_train_loop`
    fed by `data.batches`, as `experiments.mnist` trains), the FLOPs per
    step (counted from the shapes of every matmul and convolution of the
    forward pass, times 3 for forward plus backward) and the GFLOP/s
    achieved as a fraction of the ceiling;
  - the same with a fixed in-memory batch, so the input pipeline's cost
    shows; and the slower ways to run the same step (eager as the notebook,
    one `tf.function` call per step, with and without XLA; `--compare`
    chooses them), so each lever is a measurement;
  - with --presets, the same two loops for each preset's model and batch
    (`experiments.reproduce --list`), with its images per second: the
    speed side of a preset's time to quality (RESULTS.md);
  - the IWAE log-likelihood estimate's throughput (images x samples / s) and
    its peak memory for several k;
  - resident memory over a long S run, and the peak.

Ratios are measured in one run on one machine; absolute numbers move with
load, so compare rows of the same run.
"""

import gc
import logging as std_logging
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from experiments import run_flags
from vae import config as config_lib
from vae import data
from vae import optimizers
from vae import precision as precision_lib
from vae import training
from vae.run import build
from vae.run import folder as run_folder
from vae.run import inputs
from vae.run import measure
from vae.run import presets
from vae.run import runner

CONFIGS = {
    'S': dict(hidden_sizes=['100', '100'], latent_size=10, batch_size=64),
    'L': dict(hidden_sizes=['500', '500'], latent_size=50, batch_size=128),
    'C': dict(hidden_sizes=['100', '100'], latent_size=10, batch_size=64,
              encoder='conv', decoder='conv'),
}

# Flags shared with experiments.mnist (`run_flags` defines them). Here
# --mixed_precision measures each configuration in bfloat16 as well, against
# a bfloat16 matmul ceiling; --jit_compile sets the loops' XLA as it does a
# run's (unset: XLA unless a conv network runs on a CPU). Of --compare, the
# bfloat16 rows take only xla_toggled.
for _name in ('dataset', 'data_dir', 'download', 'train_split', 'seed',
              'mixed_precision', 'jit_compile'):
  flags.declare_key_flag(_name)
flags.DEFINE_list('configs', list(CONFIGS), 'Configurations to measure.')
# The slower ways a configuration's two training loops are compared with.
COMPARISONS = ('xla_toggled', 'per_step', 'per_step_xla', 'eager')
flags.DEFINE_list('compare', list(COMPARISONS),
                  'The slower ways each configuration\'s training loops are '
                  'compared with: xla_toggled (the loop with XLA the other '
                  'way), per_step (a tf.function call per step), '
                  'per_step_xla (the same with XLA), eager (the notebook\'s '
                  'way; the S configuration only).')
flags.DEFINE_list('presets', [], 'Presets whose model and batch size to '
                  'measure too, by their two training loops.')
flags.DEFINE_float('seconds', 6.0,
                   'Seconds each way of training is timed, after compiling, '
                   'over --rounds rounds.', lower_bound=0.01)
flags.DEFINE_integer('rounds', 3,
                     'Rounds of timing; the best of each way counts.',
                     lower_bound=1)
flags.DEFINE_integer('steps_per_call', 100,
                     'Steps per compiled call (experiments.mnist: '
                     '--log_every).', lower_bound=1)
flags.DEFINE_integer('memory_steps', 10000,
                     'Steps of the S run whose resident memory is tracked; '
                     '0 skips it.', lower_bound=0)
flags.DEFINE_list('iwae_samples', ['100', '1000', '5000'],
                  'k of the IWAE estimates measured.')
flags.DEFINE_integer('iwae_batch_size', 500, 'Images per IWAE estimate.',
                     lower_bound=1)
flags.DEFINE_integer('iwae_chunk_size', 20,
                     'Samples drawn at once (experiments.mnist: '
                     '--eval_chunk_size).', lower_bound=1)
flags.DEFINE_integer('matmul_size', None,
                     'n of the n x n matmul of the ceiling; default 2048 on '
                     'a CPU, 8192 on a GPU.', lower_bound=64)
flags.DEFINE_string('output', 'benchmark.json', 'Where the JSON goes.')

FLAGS = flags.FLAGS


class _Timed:
  """A way of training, compiled, timed in rounds: its best rate counts."""

  def __init__(self, make: Callable[[], Callable[[int, int], tf.Tensor]],
               max_block: int):
    start = time.perf_counter()
    self._run = run = make()
    np.asarray(run(1, 1))  # Traces and compiles.
    # Building the way, tracing and compiling it, and its first step: the
    # wait before a run's first step.
    self.first_step_seconds = time.perf_counter() - start
    start = time.perf_counter()
    np.asarray(run(2, 1))
    per_step = time.perf_counter() - start
    self._step = 3
    # Blocks of up to a second: the loop's calls run max_block steps, as
    # training's do (shorter calls cost several percent).
    self._block = int(min(max_block, max(1, 1.0 / max(per_step, 1e-6))))
    self.steps_per_second = 0.0

  def time(self, seconds: float):
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or not done:
      np.asarray(self._run(self._step, self._block))  # Waits for the result.
      self._step += self._block
      done += self._block
    self.steps_per_second = max(self.steps_per_second,
                                done / (time.perf_counter() - start))


class Config:
  """One configuration's model, optimiser and batches, built afresh."""

  def __init__(self, name: str, examples: data.Examples, seed: int,
               mixed_precision: bool = False,
               config: config_lib.Config = None,
               jit_compile: Optional[bool] = None):
    """`name` of CONFIGS, or any name for a given `config`."""
    self.name = name
    self.precision = 'bfloat16' if mixed_precision else 'float32'
    self.config = config or config_lib.make(
        **CONFIGS[name], beta=0.01, seed=seed,
        mixed_precision=mixed_precision, jit_compile=jit_compile)
    self.examples = examples
    self.seed = seed
    self.batch_size = self.config.train.batch_size

  def build(self):
    tf.random.set_seed(self.seed)
    model = build.build(self.config.model, self.examples.image_shape,
                        seed=self.seed)
    optimizer = optimizers.Adam(1e-3)
    beta = tf.Variable(self.config.objective.beta, trainable=False)
    return model, optimizer, build.run_objective(self.config, model, beta)

  def batches(self, fixed: bool) -> tf.data.Dataset:
    dataset = data.batches(self.examples, self.batch_size,
                           self.config.data.binarization, seed=self.seed)
    if fixed:
      batch = next(iter(dataset))
      dataset = tf.data.Dataset.from_tensors(batch).repeat().with_options(
          dataset.options())  # Tuned as the real pipeline is.
    return dataset

  def flops_per_step(self) -> int:
    model, _, objective = self.build()
    spec = tf.TensorSpec([self.batch_size, *self.examples.image_shape])
    return 3 * measure.forward_flops(lambda x: objective(x, tf.constant([0, 0])).loss,
                             spec)

  def loop(self, fixed: bool, jit_compile: bool, steps_per_call: int):
    model, optimizer, objective = self.build()
    train = training.make_train_loop(
        model, optimizer, iter(self.batches(fixed)), self.seed,
        steps_per_call=steps_per_call, jit_compile=jit_compile,
        objective=objective)
    return lambda first, n: train(first, n).loss

  def per_step(self, compiled: bool, jit_compile: bool = False):
    """One call per step, fed from the pipeline in Python (as before the
    loop; eager when not `compiled`, as the notebook trains)."""
    model, optimizer, objective = self.build()
    step_fn = training.make_train_step(model, optimizer, objective=objective,
                                       jit_compile=jit_compile,
                                       compile=compiled)
    iterator = iter(self.batches(fixed=False))

    def run(first, n):
      metrics = [step_fn(next(iterator), tf.constant([self.seed, s]))
                 for s in range(first, first + n)]
      return metrics[-1].loss

    return run


def _ways(config: Config, xla: bool, steps_per_call: int,
          compare: Sequence[str]) -> Dict[str, Callable]:
  """A configuration's ways of training by their labels: its two loops,
  then the `compare` ones (`COMPARISONS`) in their order."""
  ways = {'loop, real pipeline': lambda: config.loop(False, xla,
                                                     steps_per_call),
          'loop, fixed batch': lambda: config.loop(True, xla,
                                                   steps_per_call)}
  others = {
      'xla_toggled': (f'loop, XLA {"off" if xla else "on"}',
                      lambda: config.loop(False, not xla, steps_per_call)),
      'per_step': ('tf.function per step', lambda: config.per_step(True)),
      'per_step_xla': ('tf.function per step, XLA',
                       lambda: config.per_step(True, True)),
      'eager': ('eager (the notebook)', lambda: config.per_step(False))}
  for name in COMPARISONS:
    if name in compare and (name != 'eager' or config.name == 'S'):
      label, make = others[name]
      ways[label] = make
  return ways


def measure_config(config: Config, ceiling: float, seconds: float,
                   steps_per_call: int, rounds: int,
                   compare: Sequence[str] = ()) -> Dict:
  """The rows of one configuration: its two loops, and the slower ways of
  `compare` (`COMPARISONS`).

  Every way is built and compiled first, then each is timed for
  `seconds / rounds` in turn, `rounds` times; its best round counts. Load
  from elsewhere on the machine then slows all ways alike, or is dropped.
  """
  xla = runner.uses_xla(config.config)
  flops = config.flops_per_step()
  ways = _ways(config, xla, steps_per_call, compare)
  timed = {}
  for way, make in ways.items():
    logging.info('%s: compiling %s', config.name, way)
    timed[way] = _Timed(make, steps_per_call)
  for r in range(rounds):
    logging.info('%s: round %d of %d', config.name, r + 1, rounds)
    for way in ways:
      timed[way].time(seconds / rounds)
  rows = []
  for way in ways:
    rate = timed[way].steps_per_second
    rows.append(dict(config=config.name, precision=config.precision,
                     way=way, steps_per_second=rate,
                     first_step_seconds=timed[way].first_step_seconds,
                     gflops=flops * rate / 1e9,
                     fraction_of_ceiling=flops * rate / 1e9 / ceiling))
  del timed
  gc.collect()  # The models, their iterators and the iterators' threads.
  by_way = {r['way']: r['steps_per_second'] for r in rows}
  summary = dict(
      config=config.name, precision=config.precision,
      **{**CONFIGS.get(config.name, {}), 'batch_size': config.batch_size},
      xla=xla,
      flops_per_step=flops,
      steps_per_second=by_way['loop, real pipeline'],
      images_per_second=by_way['loop, real pipeline'] * config.batch_size,
      fraction_of_ceiling=rows[0]['fraction_of_ceiling'],
      pipeline_ratio=(by_way['loop, real pipeline']
                      / by_way['loop, fixed batch']))
  if 'tf.function per step' in by_way:
    summary['speedup_over_per_step'] = (by_way['loop, real pipeline']
                                        / by_way['tf.function per step'])
  if 'eager (the notebook)' in by_way:
    summary['speedup_over_eager'] = (by_way['loop, real pipeline']
                                     / by_way['eager (the notebook)'])
  return dict(summary=summary, rows=rows)


def measure_iwae(config: Config, samples: List[int], batch_size: int,
                 chunk_size: int) -> List[Dict]:
  """Throughput and peak memory of the IWAE estimate, per k."""
  model, _, _ = config.build()
  functions = build.model_functions(model, config.config,
                                    config.examples.image_shape)
  x = next(iter(data.batches(config.examples, batch_size, train=False,
                             seed=config.seed)))
  seed = tf.constant([config.seed, 0])
  chunk = tf.constant(chunk_size)
  # Warm up with several chunks, so the allocator's first growth is not
  # counted against the smallest k.
  functions.log_likelihood(x, tf.constant(3 * chunk_size), chunk, seed)
  rows = []
  for k in samples:
    baseline = measure.resident_bytes()
    with measure.PeakMemory() as memory:
      start = time.perf_counter()
      functions.log_likelihood(x, tf.constant(k), chunk,
                               seed)['log_likelihood'].numpy()
      seconds = time.perf_counter() - start
    rows.append(dict(config=config.name, k=k, images=int(x.shape[0]),
                     samples_per_second=int(x.shape[0]) * k / seconds,
                     peak_extra_mb=(memory.peak - baseline) / 2**20))
  return rows


def measure_memory(config: Config, num_steps: int, steps_per_call: int
                   ) -> Dict:
  """Resident memory every `steps_per_call` steps of a long training run."""
  train = config.loop(False, runner.uses_xla(config.config), steps_per_call)
  trace = []
  step = 1
  while step <= num_steps:
    n = min(steps_per_call, num_steps - step + 1)
    np.asarray(train(step, n))
    step += n
    trace.append((step - 1, measure.resident_bytes() / 2**20))
  # From the end of the first tenth on: the first blocks allocate for good.
  settled = [mb for s, mb in trace if s >= num_steps // 10]
  second_half = [mb for s, mb in trace if s >= num_steps // 2]
  return dict(config=config.name, steps=num_steps,
              mb_at_tenth=settled[0], mb_at_end=settled[-1],
              growth_mb=settled[-1] - settled[0],
              growth_second_half_mb=second_half[-1] - second_half[0],
              band_mb=max(settled) - min(settled),
              max_mb=max(mb for _, mb in trace),
              trace=trace)


def _table(rows: List[Dict], columns: List[str]) -> str:
  def cell(v):
    if isinstance(v, float):
      return f'{v:.3g}' if abs(v) < 1 else f'{v:,.1f}'
    return str(v)
  lines = [' | '.join(columns), ' | '.join('---' for _ in columns)]
  lines += [' | '.join(cell(r.get(c, '')) for c in columns) for r in rows]
  return '\n'.join(lines)


def _not_a_retracing_warning(record) -> bool:
  """Each way builds its own model and functions on purpose; TensorFlow's
  warning that many functions of one Python function were traced says
  nothing wrong here."""
  return 'triggered tf.function retracing' not in record.getMessage()


def _check_flags():
  """Refuses unknown --configs or --compare values."""
  for flag, known in (('configs', CONFIGS), ('compare', COMPARISONS)):
    unknown = [c for c in FLAGS[flag].value if c not in known]
    if unknown:
      raise run_flags.InputError(f'--{flag}: unknown {unknown}; choose from '
                                 f'{list(known)}')


def _flag_values():
  """The presets and IWAE k of the flags, checked."""
  _check_flags()
  try:
    measured_presets = [presets.load(name) for name in FLAGS.presets]
  except ValueError as e:
    raise run_flags.InputError(str(e)) from e
  try:
    iwae_samples = [int(k) for k in FLAGS.iwae_samples]
  except ValueError as e:
    raise run_flags.InputError(f'--iwae_samples must be integers, got '
                               f'{FLAGS.iwae_samples}') from e
  return measured_presets, iwae_samples


def _machine(examples: data.Examples) -> Dict:
  gpus = tf.config.list_physical_devices('GPU')
  return dict(
      date=time.strftime('%Y-%m-%d'), cpus=os.cpu_count(),
      cpu_bfloat16_units=list(precision_lib.cpu_bfloat16_units()),
      gpus=[tf.config.experimental.get_device_details(g).get('device_name',
                                                           g.name)
            for g in gpus],
      tensorflow=tf.__version__, data=examples.source,
      train_examples=examples.num_examples)


def _measure_configs(examples: data.Examples, measured_presets,
                     ceilings: Dict[str, float]):
  """The summaries and rows of every configuration and preset."""
  summaries, rows = [], []
  precisions = ['float32'] + (['bfloat16'] if FLAGS.mixed_precision else [])
  for name in FLAGS.configs:
    for precision in precisions:
      result = measure_config(
          Config(name, examples, FLAGS.seed, precision == 'bfloat16',
                 jit_compile=FLAGS.jit_compile),
          ceilings[precision], FLAGS.seconds, FLAGS.steps_per_call,
          FLAGS.rounds, compare=FLAGS.compare if precision == 'float32'
          else [way for way in FLAGS.compare if way == 'xla_toggled'])
      summaries.append(result['summary'])
      rows += result['rows']
  # The presets' own XLA setting, unless --jit_compile says otherwise.
  xla = ({} if FLAGS.jit_compile is None
         else dict(jit_compile=FLAGS.jit_compile))
  for preset in measured_presets:
    config = presets.make_config(preset, examples.num_examples,
                                 overrides=dict(seed=FLAGS.seed, **xla))
    result = measure_config(
        Config(preset.name, examples, FLAGS.seed, config=config),
        ceilings['float32'], FLAGS.seconds, FLAGS.steps_per_call,
        FLAGS.rounds)
    summaries.append(result['summary'])
    rows += result['rows']
  return summaries, rows


def _print_results(results: Dict, ceilings: Dict[str, float], n: int):
  machine, memory = results['machine'], results['memory']
  print(f'\n{machine["date"]}, {machine["cpus"]} CPUs, GPUs: '
        f'{machine["gpus"] or "none"}, TensorFlow {machine["tensorflow"]}, '
        f'bfloat16 units in the CPU: '
        f'{", ".join(machine["cpu_bfloat16_units"]) or "none"}')
  for precision, ceiling in ceilings.items():
    print(f'Ceiling: {ceiling:,.1f} GFLOP/s ({precision} {n}x{n} matmul)')
  print()
  print(_table(results['configs'],
               ['config', 'precision', 'xla', 'flops_per_step',
                'steps_per_second', 'images_per_second',
                'fraction_of_ceiling', 'pipeline_ratio',
                'speedup_over_per_step', 'speedup_over_eager']))
  print()
  print(_table(results['rows'], ['config', 'precision', 'way',
                                 'steps_per_second', 'gflops',
                                 'fraction_of_ceiling',
                                 'first_step_seconds']))
  print()
  print(_table(results['iwae'], ['config', 'k', 'images',
                                 'samples_per_second', 'peak_extra_mb']))
  if memory:
    print(f'\nMemory over {memory["steps"]} S steps: '
          f'{memory["mb_at_tenth"]:.1f} MB at step {memory["steps"] // 10}, '
          f'{memory["mb_at_end"]:.1f} MB at the end '
          f'(growth {memory["growth_mb"]:+.1f} MB; '
          f'{memory["growth_second_half_mb"]:+.1f} MB over the second half; '
          f'all within a band of {memory["band_mb"]:.1f} MB)')
    every = max(1, len(memory['trace']) // 10)
    print('  MB by step: ' + ', '.join(
        f'{s}: {mb:.1f}' for s, mb in memory['trace'][::every]))
  print(f'Peak resident memory: {results["peak_resident_mb"]:.0f} MB')
  print(f'Wrote {FLAGS.output}')


def main(argv):
  del argv
  std_logging.getLogger('tensorflow').addFilter(_not_a_retracing_warning)
  measured_presets, iwae_samples = _flag_values()
  examples = inputs.load_examples(
      config_lib.DataConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                            download=FLAGS.download),
      FLAGS.train_split, 'train_split')
  machine = _machine(examples)
  n = FLAGS.matmul_size or (8192 if machine['gpus'] else 2048)
  logging.info('Machine: %s', machine)
  # Both, whatever is measured: what bfloat16 could gain is a fact of the
  # machine.
  ceilings = {'float32': measure.matmul_ceiling(n),
              'bfloat16': measure.matmul_ceiling(n, tf.bfloat16)}
  logging.info('Ceilings (GFLOP/s, %dx%d matmuls): %s', n, n, ceilings)
  # First, so its resident memory is that of one model's training.
  memory = (measure_memory(Config('S', examples, FLAGS.seed,
                                  jit_compile=FLAGS.jit_compile),
                           FLAGS.memory_steps, FLAGS.steps_per_call)
            if FLAGS.memory_steps else None)
  summaries, rows = _measure_configs(examples, measured_presets, ceilings)
  iwae = measure_iwae(Config('S', examples, FLAGS.seed,
                             jit_compile=FLAGS.jit_compile), iwae_samples,
                      FLAGS.iwae_batch_size, FLAGS.iwae_chunk_size)
  results = dict(machine=machine, ceiling_gflops=ceilings['float32'],
                 bfloat16_ceiling_gflops=ceilings['bfloat16'],
                 matmul_size=n,
                 configs=summaries, rows=rows, iwae=iwae, memory=memory,
                 peak_resident_mb=measure.peak_resident_bytes() / 2**20)
  run_folder.write_json(FLAGS.output, results)
  _print_results(results, ceilings, n)


if __name__ == '__main__':
  run_flags.run_main(main)
