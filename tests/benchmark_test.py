"""Tests for experiments/benchmark.py: its FLOP count, memory probes, a run.

No speed is asserted here: speed claims come from running the benchmark.
"""

import importlib.util
import json
import logging
import os

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest
import tensorflow as tf

from experiments import benchmark
from experiments import run_flags
from tests import data_test
from vae import data
from vae.run import measure


def _linear_flops(batch, sizes):
  """2 * batch * sum(fan_in * fan_out) over a chain of dense layers."""
  return 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _config(name, batch_size=4):
  """The benchmark's configuration `name` on 8 blank images."""
  images = np.zeros([8, 28, 28, 1], np.uint8)
  examples = data.Examples(
      dataset=tf.data.Dataset.from_tensor_slices(
          {'image': images, 'label': np.zeros(8, np.int64)}),
      image_shape=(28, 28, 1), num_examples=8, source='test')
  config = benchmark.Config(name, examples, seed=0)
  config.batch_size = batch_size
  return config


class FlopsTest(tf.test.TestCase):

  def test_mlp_by_hand(self):
    # S: encoder 784-100-100-(10 means + 10 scales), decoder 10-100-100-784.
    forward = (_linear_flops(4, [784, 100, 100, 20])
               + _linear_flops(4, [10, 100, 100, 784]))
    self.assertEqual(_config('S').flops_per_step(), 3 * forward)
    self.assertEqual(2 * 64 * (784 * 100 + 100 * 100 + 100 * 20 + 10 * 100
                               + 100 * 100 + 100 * 784) * 3,
                     _config('S', 64).flops_per_step())

  def test_conv_by_hand(self):
    # C: 3x3 convolutions. Encoder 28x28x1 -> 14x14x32 -> 7x7x64, a dense
    # head 3136 -> 20; decoder 10 -> 7x7x64, transposed convolutions to
    # 14x14x64 and 28x28x32, and a stride-1 one to 28x28x1. A transposed
    # convolution costs 9 * C_in * C_out per input position.
    b = 4
    forward = (2 * b * (14 * 14 * 32 * 9 * 1 + 7 * 7 * 64 * 9 * 32)
               + _linear_flops(b, [3136, 20]) + _linear_flops(b, [10, 3136])
               + 2 * b * (7 * 7 * 64 * 9 * 64 + 14 * 14 * 64 * 9 * 32
                          + 28 * 28 * 32 * 9 * 1))
    self.assertEqual(_config('C').flops_per_step(), 3 * forward)

  def test_transposed_matmul(self):
    spec = tf.TensorSpec([6, 5])
    flops = measure.forward_flops(
        lambda a: tf.linalg.matmul(a, tf.ones([6, 3]), transpose_a=True),
        spec)
    self.assertEqual(flops, 2 * 5 * 6 * 3)

  def test_unknown_shape_refused(self):
    with self.assertRaisesRegex(ValueError, 'unknown shape'):
      measure.forward_flops(lambda a: tf.linalg.matmul(a, tf.ones([5, 3])),
                              tf.TensorSpec([None, 5]))


class MemoryTest(tf.test.TestCase):

  def test_peak_sees_a_short_lived_allocation(self):
    baseline = measure.resident_bytes()
    self.assertGreater(baseline, 10 * 2**20)
    with measure.PeakMemory() as memory:
      block = np.ones(200 * 2**20 // 8)  # 200 MB, touched.
      block.sum()
      del block
    self.assertGreater(memory.peak - baseline, 150 * 2**20)
    # The kernel's peak counts in KB, statm in pages: agree within a MB.
    self.assertGreaterEqual(measure.peak_resident_bytes() + 2**20,
                            memory.peak)


class WaysTest(tf.test.TestCase):

  def test_ways_follow_compare(self):
    every = benchmark._ways(_config('S'), True, 10, benchmark.COMPARISONS)
    self.assertEqual(list(every), [
        'loop, real pipeline', 'loop, fixed batch', 'loop, XLA off',
        'tf.function per step', 'tf.function per step, XLA',
        'eager (the notebook)'])
    # In COMPARISONS' order; only S, the notebook's model, runs eagerly.
    self.assertEqual(list(benchmark._ways(_config('L'), False, 10,
                                          ('eager', 'per_step',
                                           'xla_toggled'))),
                     ['loop, real pipeline', 'loop, fixed batch',
                      'loop, XLA on', 'tf.function per step'])


def _ab_tool():
  """tool/ab_benchmark.py as a module (tool/ is not a package)."""
  path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'tool',
                      'ab_benchmark.py')
  spec = importlib.util.spec_from_file_location('ab_benchmark', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class ABBenchmarkTest(tf.test.TestCase):

  def test_medians_and_ratios(self):
    ab = _ab_tool()

    def run(s32, s16, xla=None):
      rows = [dict(config='L', precision='float32', way='loop',
                   steps_per_second=s32),
              dict(config='L', precision='bfloat16', way='loop',
                   steps_per_second=s16)]
      if xla is not None:
        rows.append(dict(config='L', precision='bfloat16',
                         way='loop, XLA off', steps_per_second=xla))
      return dict(rows=rows, ceiling_gflops=s32)

    old = ab.medians([run(100, 80), run(150, 60), run(120, 90)])
    new = ab.medians([run(150, 200, 210), run(130, 240, 190)])
    self.assertEqual(old, {('L', 'float32', 'loop'): 120,
                           ('L', 'bfloat16', 'loop'): 80})
    self.assertEqual(new[('L', 'bfloat16', 'loop')], 220)  # Mean of two.
    rows = {(r['precision'], r['way']): r for r in ab.table(old, new)}
    self.assertAllClose(rows['float32', 'loop']['ratio'], 140 / 120)
    self.assertAllClose(rows['bfloat16', 'loop']['ratio'], 220 / 80)
    self.assertAllClose(rows['bfloat16', 'loop']['over_baseline_float32'],
                        220 / 120)
    # A way only one side measured has no ratio.
    self.assertIsNone(rows['bfloat16', 'loop, XLA off']['ratio'])
    self.assertIsNone(rows['bfloat16', 'loop, XLA off']['baseline'])
    self.assertEqual(ab.ceiling([run(1, 1), run(3, 1), run(2, 1)],
                                'ceiling_gflops'), 2)
    self.assertIsNone(ab.ceiling([run(1, 1)], 'bfloat16_ceiling_gflops'))


class LoggingTest(tf.test.TestCase):

  def test_only_the_retracing_warning_is_dropped(self):
    def record(message):
      return logging.LogRecord('tensorflow', logging.WARNING, __file__, 1,
                               message, None, None)
    self.assertFalse(benchmark._not_a_retracing_warning(record(
        '5 out of the last 12 calls to <function f> triggered tf.function '
        'retracing. Tracing is expensive')))
    self.assertTrue(benchmark._not_a_retracing_warning(record(
        'Skipping the delay kernel')))


@pytest.mark.slow
class BenchmarkRunTest(tf.test.TestCase):

  def test_writes_every_measurement(self):
    mnist_dir = data_test.require_mnist(self)
    output = os.path.join(self.create_tempdir().full_path, 'bench.json')
    with flagsaver.flagsaver():
      flags.FLAGS(['benchmark', f'--data_dir={mnist_dir}',
                   '--train_split=test[:300]', '--configs=S',
                   '--compare=eager', '--presets=pythae_vae_static',
                   # XLA compiles are tested where XLA is (training_test).
                   '--nojit_compile',
                   '--seconds=0.1', '--rounds=1', '--steps_per_call=10',
                   '--memory_steps=20', '--iwae_samples=20,60',
                   '--iwae_batch_size=10', '--matmul_size=256',
                   f'--output={output}'])
      benchmark.main([])
    with open(output) as f:
      results = json.load(f)
    self.assertGreater(results['ceiling_gflops'], 0)
    self.assertGreater(results['bfloat16_ceiling_gflops'], 0)
    self.assertIsInstance(results['machine']['cpu_bfloat16_units'], list)
    summary, preset = results['configs']
    self.assertEqual(summary['flops_per_step'],
                     3 * (_linear_flops(64, [784, 100, 100, 20])
                          + _linear_flops(64, [10, 100, 100, 784])))
    # The preset's own network and batch: 784-400-z40, batch 100.
    self.assertEqual(preset['config'], 'pythae_vae_static')
    self.assertEqual(preset['flops_per_step'],
                     3 * (_linear_flops(100, [784, 400, 80])
                          + _linear_flops(100, [40, 400, 784])))
    self.assertAllClose(preset['images_per_second'],
                        100 * preset['steps_per_second'])
    self.assertEqual([r['way'] for r in results['rows'][-2:]],
                     ['loop, real pipeline', 'loop, fixed batch'])
    # The two loops, and of the slower ways only the one asked for.
    self.assertFalse(summary['xla'])
    ways = [r['way'] for r in results['rows'][:-2]]
    self.assertEqual(ways, ['loop, real pipeline', 'loop, fixed batch',
                            'eager (the notebook)'])
    self.assertNotIn('speedup_over_per_step', summary)
    self.assertAllClose(summary['speedup_over_eager'],
                        results['rows'][0]['steps_per_second']
                        / results['rows'][2]['steps_per_second'])
    flops = {c['config']: c['flops_per_step'] for c in results['configs']}
    for row in results['rows']:
      self.assertGreater(row['steps_per_second'], 0)
      # Building, tracing and compiling take longer than a step.
      self.assertGreater(row['first_step_seconds'],
                         1 / row['steps_per_second'])
      self.assertAllClose(row['fraction_of_ceiling'],
                          row['gflops'] / results['ceiling_gflops'])
      self.assertAllClose(row['gflops'], flops[row['config']]
                          * row['steps_per_second'] / 1e9)
    self.assertAllClose(summary['pipeline_ratio'],
                        results['rows'][0]['steps_per_second']
                        / results['rows'][1]['steps_per_second'])
    self.assertEqual([r['k'] for r in results['iwae']], [20, 60])
    self.assertEqual(results['memory']['steps'], 20)
    self.assertLen(results['memory']['trace'], 2)
    self.assertGreater(results['peak_resident_mb'], 0)

  def test_unknown_config_refused(self):
    with flagsaver.flagsaver():
      flags.FLAGS(['benchmark', '--configs=S,XL'])
      with self.assertRaisesRegex(run_flags.InputError, "unknown \\['XL'\\]"):
        benchmark.main([])

  def test_unknown_comparison_refused(self):
    with flagsaver.flagsaver():
      flags.FLAGS(['benchmark', '--compare=eager,jax'])
      with self.assertRaisesRegex(run_flags.InputError,
                                  r"--compare: unknown \['jax'\]"):
        benchmark.main([])

  def test_unknown_preset_refused(self):
    with flagsaver.flagsaver():
      flags.FLAGS(['benchmark', '--presets=kingma2014'])
      with self.assertRaisesRegex(run_flags.InputError,
                                  'unknown; the presets are'):
        benchmark.main([])


if __name__ == '__main__':
  tf.test.main()
