"""Where a benchmark configuration's training step spends its time.

  python tool/step_breakdown.py L --data_dir=../shared/data/mnist

Times three compiled loops of 200 steps on one fixed batch, with and without
XLA, in alternating rounds (the best of 3 counts): the loss alone (the
forward pass), the loss and its gradients, and the whole step with the
optimiser's update. The differences are the backward pass and the update.
The configurations are `experiments.benchmark`'s (S, L, C); --mixed_precision
computes their networks in bfloat16.
"""

import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import tensorflow as tf

from experiments import benchmark
from vae import data

# --data_dir and --mixed_precision are experiments.mnist's (`run_flags`): a
# folder of MNIST's IDX files, here ../shared/data/mnist unless given, and
# the networks in bfloat16.
flags.DEFINE_string('split', 'test[:9000]', 'The split the batch is from.')
flags.DEFINE_integer('steps', 200, 'Steps per timed loop.', lower_bound=1)
FLAGS = flags.FLAGS


def _parts(name: str):
  """(loss of step s, the model's variables, the optimiser) of one fixed
  batch of configuration `name`."""
  examples = data.load('mnist', FLAGS.split,
                       data_dir=FLAGS.data_dir or '../shared/data/mnist')
  config = benchmark.Config(name, examples, 0,
                            mixed_precision=FLAGS.mixed_precision)
  model, optimizer, objective = config.build()
  batch = next(iter(config.batches(True)))
  x = batch[0] if isinstance(batch, (tuple, list)) else batch
  loss = lambda s: tf.reduce_mean(objective(x, tf.stack([0, s])).loss)
  return loss, model.trainable_variables, optimizer


def _ways(name: str):
  """The three loops of configuration `name`, with and without XLA."""
  loss, variables, optimizer = _parts(name)

  def gradients(s):
    with tf.GradientTape() as tape:
      value = loss(s)
    grads = tape.gradient(value, variables)
    # Each gradient feeds the result, so none is pruned.
    return value + 0.0 * tf.add_n([tf.reduce_sum(g) for g in grads])

  def step(s):
    with tf.GradientTape() as tape:
      value = loss(s)
    optimizer.apply(tape.gradient(value, variables), variables)
    return value

  def loop(fn, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def run(n):
      return tf.while_loop(lambda i, total: i < n,
                           lambda i, total: (i + 1, total + fn(i)),
                           (0, 0.0))[1]
    return run

  return {f'{label}, XLA {"on" if xla else "off"}': loop(fn, xla)
          for label, fn in (('loss', loss), ('loss and gradients', gradients),
                            ('whole step', step))
          for xla in (True, False)}


def main(argv):
  name = argv[1] if len(argv) > 1 else 'L'
  ways = _ways(name)
  for run in ways.values():
    run(tf.constant(2)).numpy()  # Compiles.
  best = dict.fromkeys(ways, 0.0)
  for _ in range(3):
    for label, run in ways.items():
      start = time.perf_counter()
      run(tf.constant(FLAGS.steps)).numpy()
      best[label] = max(best[label],
                        FLAGS.steps / (time.perf_counter() - start))
  for label, rate in best.items():
    print(f'{name}: {label}: {rate:,.0f} steps/s, {1000 / rate:.2f} ms')


if __name__ == '__main__':
  app.run(main)
