"""Tests for experiments/mnist.py: smoke runs on real MNIST and bad input."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from unittest import mock

from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized
import numpy as np
from tensorboard.backend.event_processing import event_accumulator
import pytest
import tensorflow as tf

from experiments import mnist
from experiments import run_flags
from tests import data_test
from tests import plotting_test
from vae import data
from vae import errors
from vae.run import console
from vae.run import folder as run_folder
from vae.run import lock as run_lock
from vae.run import runner

pytestmark = pytest.mark.slow

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = ('loss_curves.png', 'reconstructions.png', 'samples.png',
           'latent_traversal.png', 'latent_means.png', 'kl_per_dimension.png',
           'traversal_by_kl.png', 'traversal_by_kl.gif', 'interpolation.png')
# A small run. Without XLA, export and figures, unless a test tests them:
# XLA's compiles, the SavedModel's writing and the figures each cost a
# second or more a run.
TINY = ['--train_split=test[:500]', '--eval_split=test[500:600]',
        '--batch_size=16', '--eval_num_samples=20', '--log_every=10',
        '--nojit_compile', '--noexport', '--nofigures']


# A line of TensorFlow's C++ logger (absl's format, or TensorFlow's own).
CPP_LOG_LINE = (r'(?m)^([IWEF]\d{4} [\d:.]+ +\d+ [\w.]+\.(cc|h):\d+\]|'
                r'[-\d]+ [\d:.]+: [IWEF] \S+\.(cc|h):\d+\]|'
                r'WARNING: All log messages before absl::InitializeLog)')


def run_main(argv):
  """Parses argv as the command line would, then runs main, in-process."""
  with flagsaver.flagsaver():  # Restores every flag afterwards.
    flags.FLAGS(['mnist'] + list(argv))
    mnist.main([])


def read_metrics(output_dir, name='metrics.csv'):
  """The rows of a metrics CSV; the columns a row did not log are left
  out of it."""
  return run_folder.read_rows(os.path.join(output_dir, name))


def read_summary(output_dir, name='summary.json'):
  with open(os.path.join(output_dir, name)) as f:
    return json.load(f)


def event_tags(folder):
  """{'scalars': [...], 'images': [...]} as TensorBoard reads the folder."""
  accumulator = event_accumulator.EventAccumulator(folder, size_guidance={
      event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return accumulator.Tags()


class SmokeTest(tf.test.TestCase):

  def test_main_job_on_real_mnist(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    # The README's offline command, shortened to 300 steps and 100
    # importance samples, at the default verbosity (.ci/run sets a level).
    env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
    process = subprocess.Popen(
        [sys.executable, '-m', 'experiments.mnist', f'--data_dir={mnist_dir}',
         '--train_split=test[:9000]', '--eval_split=test[9000:]',
         '--training_steps=300', '--log_every=50', '--eval_num_samples=100',
         f'--output_dir={output_dir}'],
        cwd=_REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
      # A second run on the busy folder is refused, and touches nothing.
      deadline = time.time() + 120
      while not run_lock.holder(output_dir) and process.poll() is None:
        self.assertLess(time.time(), deadline)
        time.sleep(0.05)
      with self.assertRaisesRegex(
          run_lock.BusyError, f'^--output_dir={output_dir} is in use by '
          f'process {process.pid} on '):
        run_main([f'--output_dir={output_dir}', '--training_steps=5'])
      stdout, stderr = process.communicate(timeout=300)
    finally:
      process.kill()
    self.assertEqual(process.returncode, 0, msg=stderr[-3000:])
    # Only the run's own lines: none of TensorFlow's C++ logger (which the
    # killed run below shows with --verbosity=1).
    self.assertNotRegex(stderr, CPP_LOG_LINE)
    self.assertRegex(stderr, r'(?m)^\d\d:\d\d:\d\d step 300/300: loss ')
    self.assertRegex(stdout, r'^Trained 300 steps \(\d+ steps/s\)\. On '
                     r'test\[9000:\]: ELBO -\d+\.\d{3} nats, NLL \d+\.\d{3} '
                     r'nats \(100 importance samples\); \d+ of 10 latent units '
                     r'active\.\nWrote ' + re.escape(output_dir) + ':\n')
    for name in ('summary.json', 'figures/', 'checkpoints/', 'saved_model/'):
      self.assertIn(f'\n  {name}', stdout)
    self.assertFalse(os.path.exists(os.path.join(output_dir, run_lock.LOCK)))

    with open(os.path.join(output_dir, 'summary.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['steps'], 300)
    self.assertEqual(summary['train_examples'], 9000)
    self.assertEqual(summary['eval_examples'], 1000)
    self.assertAllClose(summary['test_elbo'],
                        -(summary['test_rate'] + summary['test_distortion']))
    self.assertAllClose(summary['test_loss'], summary['test_distortion']
                        + 0.01 * summary['test_rate'])
    self.assertGreater(summary['train_steps_per_second'], 0)
    # 784 binary pixels: an untrained model is near 784 log 2 = 543 nats; after
    # 300 steps the ELBO is far better, and the rate is positive.
    self.assertBetween(summary['test_elbo'], -250.0, -60.0)
    self.assertGreater(summary['test_rate'], 1.0)
    # The 100-sample IWAE bound is tighter than the ELBO, by a few nats at
    # this stage (it cannot be looser, up to its Monte Carlo noise).
    self.assertEqual(summary['eval_num_samples'], 100)
    self.assertBetween(summary['test_nll'], -summary['test_elbo'] - 20.0,
                       -summary['test_elbo'])
    # A diagonal posterior's per-dimension KLs add up to the rate.
    self.assertLen(summary['test_kl_per_dimension'], 10)
    self.assertAllClose(sum(summary['test_kl_per_dimension']),
                        summary['test_rate'], rtol=1e-4)
    self.assertEqual(summary['active_units'],
                     sum(v > 0.01 for v in summary['unit_variances']))
    self.assertBetween(summary['active_units'], 1, 10)

    eval_rows = read_metrics(output_dir, 'eval_metrics.csv')
    self.assertEqual([int(r['step']) for r in eval_rows],
                     [1, 2, 4, 8, 16, 32, 64, 128, 256, 300])
    self.assertEqual(eval_rows[-1]['elbo'], summary['test_elbo'])
    self.assertTrue(os.path.isfile(
        os.path.join(output_dir, 'checkpoints', 'ckpt-300.index')))
    self.assertTrue(os.path.isfile(
        os.path.join(output_dir, 'saved_model', 'saved_model.pb')))
    train_tags = event_tags(os.path.join(output_dir, 'train'))
    self.assertContainsSubset(
        ['loss', 'elbo', 'rate', 'distortion', 'learning_rate', 'beta',
         'steps_per_second'], train_tags['tensors'])
    eval_tags = event_tags(os.path.join(output_dir, 'eval'))
    self.assertContainsSubset(['loss', 'elbo', 'rate', 'distortion', 'nll',
                               'reconstructions', 'samples'],
                              eval_tags['tensors'])

    rows = read_metrics(output_dir)
    self.assertEqual([int(r['step']) for r in rows],
                     [1, 2, 4, 8, 16, 32, 50, 64, 100, 128, 150, 200, 250, 256,
                      300])
    self.assertLess(rows[-1]['loss'], 0.5 * rows[0]['loss'])
    self.assertEqual(summary['train_loss'], rows[-1]['loss'])

    with open(os.path.join(output_dir, 'config.json')) as f:
      self.assertEqual(json.load(f)['beta'], 0.01)
    for name in FIGURES:
      path = os.path.join(output_dir, 'figures', name)
      magic = (b'GIF89a' if name.endswith('.gif')
               else plotting_test.PNG_MAGIC)
      with open(path, 'rb') as f:
        self.assertEqual(f.read(len(magic)), magic, msg=name)
      self.assertGreater(os.path.getsize(path), 5_000, msg=name)


class ConfigurationsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      # Without XLA (TINY): its compiles are slow. SmokeTest runs the
      # default, XLA, end to end; build_test's XLATest compiles each family
      # (a Monte Carlo KL in the VampPrior's).
      ('notebook', ['--loss_normalization=notebook', '--binarization=none']),
      ('static_mc_kl', ['--binarization=static', '--kl_samples=3']),
      ('beta0_latent2', ['--beta=0', '--latent_size=2',
                         '--hidden_sizes=32']),
      ('mixed_precision', ['--mixed_precision']),
  )
  def test_configuration_trains(self, extra):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    run_main([f'--data_dir={mnist_dir}', '--training_steps=20',
              f'--output_dir={output_dir}'] + TINY + ['--figures'] + extra)
    with open(os.path.join(output_dir, 'summary.json')) as f:
      summary = json.load(f)
    for key in ('train_loss', 'test_elbo', 'test_rate', 'test_distortion'):
      self.assertTrue(np.isfinite(summary[key]), msg=key)
    for name in FIGURES + (('manifold.png',) if '--latent_size=2' in extra
                           else ()):
      self.assertGreater(
          os.path.getsize(os.path.join(output_dir, 'figures', name)), 1000)

  def test_latent_size_one_has_no_traversal(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    run_main([f'--data_dir={mnist_dir}', '--training_steps=5',
              '--latent_size=1', '--nojit_compile',
              f'--output_dir={output_dir}'] + TINY + ['--figures'])
    figures = os.listdir(os.path.join(output_dir, 'figures'))
    self.assertNotIn('latent_traversal.png', figures)
    self.assertIn('latent_means.png', figures)


class StrategyTest(tf.test.TestCase, parameterized.TestCase):
  """Runs under tf.distribute; conftest.py splits the CPU in 2."""

  # Without XLA: the replicas then run the one device's kernels.
  FLAGS = ['--training_steps=20', '--checkpoint_every=10',
           '--nojit_compile'] + TINY
  _one_device = None  # The run on one device that both tests compare to.

  def one_device(self):
    if StrategyTest._one_device is None:
      StrategyTest._one_device = tempfile.mkdtemp()
      self.addClassCleanup(shutil.rmtree, StrategyTest._one_device)
      run_main([f'--data_dir={data_test.MNIST_DIR}',
                f'--output_dir={StrategyTest._one_device}'] + self.FLAGS)
    return StrategyTest._one_device

  def assert_trains_as_one_device(self, output_dir):
    # The same batches, draws and updates; only float sums run in another
    # order (8 rows per replica, then 2 replicas).
    one, two = read_metrics(self.one_device()), read_metrics(output_dir)
    self.assertEqual([r['step'] for r in two], [r['step'] for r in one])
    for key in ('loss', 'rate', 'distortion'):
      self.assertAllClose([r[key] for r in two], [r[key] for r in one],
                          rtol=1e-5, msg=key)
    self.assertAllClose(read_summary(output_dir)['test_elbo'],
                        read_summary(self.one_device())['test_elbo'],
                        rtol=1e-5)

  def test_mirrored_run_trains_as_one_device(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    run_main([f'--data_dir={mnist_dir}', '--strategy=mirrored',
              '--cpu_devices=2', f'--output_dir={output_dir}'] + self.FLAGS
             + ['--figures'])
    self.assert_trains_as_one_device(output_dir)
    summary = read_summary(output_dir)
    self.assertEqual((summary['strategy'], summary['num_replicas'],
                      summary['replica_batch_size']), ('mirrored', 2, 8))
    for name in FIGURES:
      self.assertTrue(os.path.exists(os.path.join(output_dir, 'figures',
                                                  name)))

  # The two-worker run: its steps and checkpoints. Each step all-reduces
  # over gRPC between the processes, tens of ms on 2 cores.
  STEPS, EVERY = 80, 20

  def launch_workers(self, output_dir):
    """Starts `experiments.mnist` on 2 workers of a localhost cluster."""
    ports = []
    for _ in range(2):
      with socket.socket() as s:
        s.bind(('localhost', 0))
        ports.append(s.getsockname()[1])
    cluster = {'worker': [f'localhost:{p}' for p in ports]}
    workers = []
    for index in range(2):
      env = dict(os.environ, TF_CONFIG=json.dumps(
          {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}))
      workers.append(subprocess.Popen(
          [sys.executable, '-m', 'experiments.mnist',
           f'--data_dir={data_test.MNIST_DIR}', '--strategy=multi_worker',
           f'--output_dir={output_dir}', f'--training_steps={self.STEPS}',
           f'--checkpoint_every={self.EVERY}'] + self.FLAGS[2:] + ['--export',
                                                         '--figures'],
          cwd=_REPO, env=env, stdout=subprocess.DEVNULL,
          stderr=subprocess.PIPE, text=True))
    return workers

  def wait_for(self, path, workers):
    deadline = time.time() + 240
    while not os.path.exists(path):
      self.assertTrue(all(w.poll() is None for w in workers),
                      [w.returncode for w in workers])
      self.assertLess(time.time(), deadline, f'no {path} in time')
      time.sleep(0.05)

  def ended(self, workers, timeout):
    """Each worker's (exit code, stderr), once all end within `timeout` s."""
    ends = []
    try:
      for w in workers:
        # A worker waiting for a dead peer would wait forever: bound it.
        err = w.communicate(timeout=timeout)[1]
        ends.append((w.returncode, err))
      return ends
    finally:
      for w in workers:
        w.kill()

  def test_two_workers_agree_and_survive_sigterm_and_a_lost_worker(self):
    data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    worker_dir = os.path.join(output_dir, run_folder.WORKERS, 'worker-1')
    ckpt = lambda d, step: os.path.join(d, 'checkpoints', f'ckpt-{step}.index')

    # SIGTERM to worker 1: both stop at the same step with a checkpoint.
    workers = self.launch_workers(output_dir)
    self.wait_for(ckpt(output_dir, self.EVERY), workers)
    workers[1].send_signal(signal.SIGTERM)
    ends = self.ended(workers, 60)
    self.assertEqual([code for code, _ in ends], [143, 143], ends)
    stopped_at = int(read_metrics(output_dir)[-1]['step'])
    for folder, (_, err) in zip((output_dir, worker_dir), ends):
      self.assertIn(f'Stopped by SIGTERM to worker 1 at step {stopped_at} '
                    f'of {self.STEPS}, with a checkpoint', err)
      self.assertTrue(os.path.exists(ckpt(folder, stopped_at)))
    before_sigterm = read_metrics(output_dir)

    # kill -9 of the chief: worker 1 stops in seconds, with a message.
    workers = self.launch_workers(output_dir)
    next_checkpoint = (stopped_at // self.EVERY + 1) * self.EVERY
    self.wait_for(ckpt(output_dir, next_checkpoint), workers)
    workers[0].send_signal(signal.SIGKILL)
    killed = time.time()
    (_, _), (code, err) = self.ended(workers, 60)
    self.assertLess(time.time() - killed, 30)
    self.assertEqual(code, 1, err[-3000:])
    self.assertIn('Error: lost a worker of the cluster: ', err)
    before_kill = read_metrics(output_dir)

    # Relaunched, the run ends; resumed twice, its losses are the ones the
    # interrupted runs logged, step for step.
    ends = self.ended(self.launch_workers(output_dir), 240)
    for code, err in ends:
      self.assertEqual(code, 0, err[-3000:])
    chief, other = (read_summary(d) for d in (output_dir, worker_dir))
    self.assertBetween(chief['resumed_from_step'], next_checkpoint,
                       before_kill[-1]['step'])
    rows = read_metrics(output_dir)
    steps = [r['step'] for r in rows]
    self.assertEqual(steps, sorted(set(steps)))
    self.assertEqual(steps[-1], self.STEPS)
    by_step = {r['step']: r['loss'] for r in rows}
    for earlier in (before_sigterm, before_kill):
      self.assertAllClose([by_step[r['step']] for r in earlier],
                          [r['loss'] for r in earlier], rtol=1e-6)

    self.assertEqual((chief['strategy'], chief['num_replicas']),
                     ('multi_worker', 2))
    self.assertEqual(other['task'], {'type': 'worker', 'index': 1})
    self.assertEqual(other['test_elbo'], chief['test_elbo'])
    # Both workers hold every variable, the optimiser's included, equal.
    a, b = (tf.train.load_checkpoint(os.path.join(d, 'checkpoints'))
            for d in (output_dir, worker_dir))
    names = [n for n in a.get_variable_to_shape_map()
             if n != '_CHECKPOINTABLE_OBJECT_GRAPH']
    self.assertGreater(len(names), 30)
    for name in names:
      self.assertAllEqual(a.get_tensor(name), b.get_tensor(name), msg=name)
    # Each worker read its own rows of each batch: together they trained
    # (and evaluated) as one device does on the whole batches, over the
    # steps the one-device run has.
    one = read_metrics(self.one_device())
    self.assertEqual(steps[:len(one)], [r['step'] for r in one])
    for key in ('loss', 'rate', 'distortion'):
      self.assertAllClose([r[key] for r in rows[:len(one)]],
                          [r[key] for r in one], rtol=1e-5, msg=key)
    one_eval = read_metrics(self.one_device(), 'eval_metrics.csv')[:-1]
    two_eval = read_metrics(output_dir, 'eval_metrics.csv')[:len(one_eval)]
    self.assertEqual([r['step'] for r in two_eval],
                     [r['step'] for r in one_eval])
    self.assertAllClose([r['elbo'] for r in two_eval],
                        [r['elbo'] for r in one_eval], rtol=1e-5)
    # The chief alone draws figures and exports.
    self.assertTrue(os.path.isdir(os.path.join(output_dir, 'saved_model')))
    self.assertFalse(os.path.exists(os.path.join(worker_dir, 'figures')))

  @parameterized.parameters(
      (['--strategy=mirrored', '--cpu_devices=2', '--batch_size=15'],
       'split evenly across the 2 replicas'),
      (['--strategy=mirrored', '--cpu_devices=3'],
       'cannot split the CPU into 3'),
      (['--strategy=multi_worker'], 'TF_CONFIG'),
      (['--strategy=mirrored', '--cpu_devices=2', '--free_bits=1',
        '--jit_compile'], 'drop --jit_compile'),
  )
  def test_impossible_strategy(self, extra, message):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    with mock.patch.dict(os.environ):
      os.environ.pop('TF_CONFIG', None)
      with self.assertRaisesRegex(run_flags.InputError, message):
        run_main([f'--data_dir={mnist_dir}', f'--output_dir={output_dir}']
                 + TINY[:2] + extra)
    self.assertFalse(os.path.exists(os.path.join(output_dir, 'metrics.csv')))


@pytest.mark.usefixtures('share_runs')
class ResumeTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.mnist_dir = data_test.require_mnist(self)
    self.output_dir = self.create_tempdir().full_path

  def args(self, steps, *extra):
    # Without XLA, whose compile each run would pay: a resumed XLA loop
    # repeats its steps as well (training_test.py, the killed run below).
    return [f'--data_dir={self.mnist_dir}', f'--training_steps={steps}',
            '--checkpoint_every=10'] + TINY + list(extra)

  def train(self, steps, *extra, output_dir=None):
    run_main(self.args(steps, *extra)
             + [f'--output_dir={output_dir or self.output_dir}'])

  def use_trained(self, steps):
    """Makes self.output_dir a copy of the session's run of `steps`."""
    self.output_dir = self.trained_runs(self.args(steps))

  def test_resumed_run_repeats_the_uninterrupted_run(self):
    straight = self.create_tempdir().full_path
    self.train(40, output_dir=straight)
    self.use_trained(20)
    self.train(40)  # The same command with more steps resumes at step 20.
    rows, expected = read_metrics(self.output_dir), read_metrics(straight)
    steps = [int(r['step']) for r in rows]
    self.assertEqual(steps, [int(r['step']) for r in expected])
    self.assertEqual(steps, sorted(set(steps)))  # Appended, none repeated.
    # Restored weights, optimiser, data position and per-step seeds: the
    # losses and the final numbers repeat exactly.
    self.assertEqual([r['loss'] for r in rows], [r['loss'] for r in expected])
    summary, straight_summary = read_summary(self.output_dir), read_summary(
        straight)
    self.assertEqual(summary['resumed_from_step'], 20)
    for key in ('test_elbo', 'test_nll', 'test_rate', 'train_loss'):
      self.assertEqual(summary[key], straight_summary[key], msg=key)
    self.assertEqual(len(tf.io.gfile.glob(
        os.path.join(self.output_dir, 'train', 'events.out.tfevents.*'))), 2)

  def test_same_seed_same_numbers(self):
    def rows(output_dir):
      return [(r['loss'], r['rate']) for r in read_metrics(output_dir)]

    self.use_trained(20)  # The default seed's run, shared with the others.
    first = rows(self.output_dir)
    again, other = (self.create_tempdir().full_path for _ in range(2))
    self.train(20, output_dir=again)
    self.train(20, '--seed=2', output_dir=other)
    self.assertNotEmpty(first)
    self.assertEqual(first, rows(again))
    self.assertNotEqual(first, rows(other))

  def test_killed_run_loses_at_most_the_steps_since_its_checkpoint(self):
    flags_used = [f'--data_dir={self.mnist_dir}', '--training_steps=500',
                  '--checkpoint_every=100', '--log_every=25',
                  f'--output_dir={self.output_dir}'] + TINY
    # With --verbosity=1, which shows TensorFlow's lines, in absl's format.
    env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
    stderr = tempfile.TemporaryFile('w+')
    self.addCleanup(stderr.close)
    process = subprocess.Popen(
        [sys.executable, '-m', 'experiments.mnist', '--verbosity=1']
        + flags_used, cwd=_REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=stderr)
    checkpoint = os.path.join(self.output_dir, 'checkpoints', 'ckpt-200.index')
    try:
      deadline = time.time() + 240
      while not os.path.exists(checkpoint) and process.poll() is None:
        self.assertLess(time.time(), deadline, 'no checkpoint in time')
        time.sleep(0.05)
      process.send_signal(signal.SIGKILL)
    finally:
      process.kill()
      process.wait()
    stderr.seek(0)
    printed = stderr.read()
    self.assertRegex(printed, CPP_LOG_LINE)
    self.assertRegex(printed, r'(?m)^I\d{4} [\d:.]+ +\d+ '
                     r'metrics_log\.py:\d+\] step 1/500: ')
    logged = read_metrics(self.output_dir)
    killed_at = int(logged[-1]['step'])
    self.assertLess(killed_at, 500)
    # Its lock file is left, and blocks nothing: the lock died with it.
    self.assertTrue(os.path.exists(os.path.join(self.output_dir,
                                                run_lock.LOCK)))
    self.assertIsNone(run_lock.holder(self.output_dir))

    with flagsaver.flagsaver():
      flags.FLAGS(['mnist'] + flags_used)
      mnist.main([])
    summary = read_summary(self.output_dir)
    resumed_from = summary['resumed_from_step']
    # It resumed from its newest checkpoint: a multiple of 100 at least 200,
    # at most the steps logged before the kill, within 100 steps of them.
    self.assertEqual(resumed_from % 100, 0)
    self.assertBetween(resumed_from, 200, killed_at)
    self.assertLessEqual(killed_at - resumed_from, 100)
    steps = [int(r['step']) for r in read_metrics(self.output_dir)]
    self.assertEqual(steps, sorted(set(steps)))
    self.assertEqual(steps[-1], 500)
    self.assertEqual(summary['steps'], 500)

  def test_sigterm_stops_with_a_checkpoint_and_the_run_resumes(self):
    log_step = runner.Run._log_step

    def log_step_then_sigterm(run, first, step, *args):
      log_step(run, first, step, *args)
      if step == 16:  # Not a checkpoint step.
        os.kill(os.getpid(), signal.SIGTERM)

    handler = signal.getsignal(signal.SIGTERM)
    with mock.patch.object(runner.Run, '_log_step', log_step_then_sigterm):
      with self.assertRaisesRegex(
          errors.Stopped, r'^Stopped by SIGTERM at step 16 of 40, with a '
          r'checkpoint: \S+/ckpt-16\. Run the same command again') as caught:
        self.train(40)
    self.assertEqual(caught.exception.exit_code, 143)
    self.assertEqual(signal.getsignal(signal.SIGTERM), handler)
    self.assertEqual(read_metrics(self.output_dir)[-1]['step'], 16)
    self.train(40)
    self.assertEqual(read_summary(self.output_dir)['resumed_from_step'], 16)

  def test_finished_run_is_evaluated_again_not_retrained(self):
    self.use_trained(20)
    first = read_summary(self.output_dir)
    with open(os.path.join(self.output_dir, 'metrics.csv')) as f:
      log = f.read()
    self.train(20)
    again = read_summary(self.output_dir)
    with open(os.path.join(self.output_dir, 'metrics.csv')) as f:
      self.assertEqual(f.read(), log)
    self.assertEqual(again['resumed_from_step'], 20)
    for key in ('test_elbo', 'test_nll', 'active_units'):
      self.assertEqual(again[key], first[key], msg=key)

  def test_changed_flags_are_refused_and_nothing_is_touched(self):
    self.use_trained(20)
    with open(os.path.join(self.output_dir, 'metrics.csv'), 'rb') as f:
      log = f.read()
    with self.assertRaisesRegex(
        run_flags.InputError, r'(?s)other flags.*--beta: 0.01 then, 1.0 now.*'
        r'--restart'):
      self.train(40, '--beta=1')
    with open(os.path.join(self.output_dir, 'metrics.csv'), 'rb') as f:
      self.assertEqual(f.read(), log)
    with self.assertRaisesRegex(run_flags.InputError,
                                'trained to step 20, past --training_steps=10'):
      self.train(10)

  def test_restart_starts_afresh(self):
    self.use_trained(20)
    self.train(10, '--beta=1', '--restart')
    rows = read_metrics(self.output_dir)
    self.assertEqual(int(rows[0]['step']), 1)
    self.assertEqual(int(rows[-1]['step']), 10)
    self.assertEqual(read_summary(self.output_dir, 'config.json')['beta'], 1.0)
    self.assertEqual(
        sorted(os.listdir(os.path.join(self.output_dir, 'checkpoints'))),
        ['checkpoint', 'ckpt-10.data-00000-of-00001', 'ckpt-10.index'])

  def test_corrupt_checkpoint_is_named_and_the_one_before_used(self):
    self.use_trained(20)
    newest = os.path.join(self.output_dir, 'checkpoints', 'ckpt-20')
    data_file = newest + '.data-00000-of-00001'
    with open(data_file, 'r+b') as f:
      f.truncate(100)
    with self.assertRaisesRegex(run_flags.InputError,
                                r'(?s)cannot restore the checkpoint .*ckpt-20.*'
                                r'Move .*ckpt-20\.\* out .*ckpt-10'):
      self.train(30)
    moved = self.create_tempdir().full_path
    for suffix in ('.index', '.data-00000-of-00001'):
      os.replace(newest + suffix, os.path.join(moved, 'ckpt-20' + suffix))
    self.train(30)
    self.assertEqual(read_summary(self.output_dir)['resumed_from_step'], 10)


class BadInputTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.output_dir = self.create_tempdir().full_path

  def assert_nothing_trained(self):
    self.assertFalse(
        os.path.exists(os.path.join(self.output_dir, 'metrics.csv')))

  @parameterized.parameters(
      ('--beta=-1', '^--beta=-1.0: must be at least 0$'),
      ('--beta=nan', '^--beta=nan: must be a finite number$'),
      ('--free_bits=inf', '^--free_bits=inf: must be a finite number$'),
      ('--latent_size=0', '^--latent_size=0: must be at least 1$'),
      ('--training_steps=0', '^--training_steps=0: must be at least 1$'),
      ('--hidden_sizes=100,abc', '^--hidden_sizes=100,abc: must be a list '
       'of int$'),
      ('--learning_rate=0', '^--learning_rate=0.0: must be above 0$'),
      ('--eval_ais_chains=4', '^--eval_ais_steps=0 --eval_ais_chains=4: '
       '--eval_ais_chains sets up the AIS estimate'),
  )
  def test_impossible_flag(self, flag, message):
    with self.assertRaisesRegex(run_flags.InputError, message):
      run_main([flag, f'--output_dir={self.output_dir}'])
    self.assertFalse(os.path.exists(self.output_dir + '/config.json'))

  def test_unknown_choice_lists_the_known_ones(self):
    with self.assertRaisesRegex(flags.IllegalFlagValueError,
                                r'--binarization=maybe: .*dynamic\|static\|none'):
      run_main(['--binarization=maybe', f'--output_dir={self.output_dir}'])

  def test_unknown_dataset(self):
    with self.assertRaisesRegex(run_flags.InputError,
                                r"--dataset=mnistt .*Did you mean 'mnist'"):
      run_main(['--dataset=mnistt', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_folder_without_mnist_files(self):
    empty = self.create_tempdir().full_path
    with mock.patch.object(data, 'can_reach_download_host',
                           return_value=False):
      with self.assertRaisesRegex(
          run_flags.InputError,
          r'(?s)--dataset=mnist --train_split=train --data_dir=\S+: '
          r'.*holds no mnist data.*'
          r'Offline.*--data_dir=/path/to/idx_folder'):
        run_main([f'--data_dir={empty}', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_missing_data_folder(self):
    with self.assertRaisesRegex(run_flags.InputError, r'--data_dir=/no/such/dir.*'
                                'is not a folder'):
      run_main(['--data_dir=/no/such/dir', f'--output_dir={self.output_dir}'])

  @parameterized.parameters(
      ('--train_split', 'train', "Unknown split 'train'"),
      ('--train_split', 'test[:20000]', 'incompatible with 10000'),
      ('--eval_split', 'test[9999:10]', 'selects no examples'),
  )
  def test_impossible_split(self, flag, split, message):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(run_flags.InputError,
                                f'{flag}={split}.*{message}'.replace('[', r'\[')
                                ):
      run_main([f'--data_dir={mnist_dir}', f'{flag}={split}',
                '--train_split=test[:100]' if flag == '--eval_split' else
                '--eval_split=test', f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_batch_larger_than_training_split(self):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(run_flags.InputError,
                                r'--batch_size=64 with --train_split=test\[:10'
                                r'\]: batch_size 64 is larger than the 10'):
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:10]',
                f'--output_dir={self.output_dir}'])
    self.assert_nothing_trained()

  def test_ais_of_a_model_without_a_density(self):
    # Refused before training, not after it.
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(
        run_flags.InputError, '^--eval_ais_steps=100: AIS needs a VAE: a '
        'density p\\(z\\).*Autoencoder is not one'):
      run_main(['--model=autoencoder', '--eval_ais_steps=100',
                f'--data_dir={mnist_dir}', '--train_split=test[:100]',
                f'--output_dir={self.output_dir}'])
    self.assertFalse(os.path.exists(self.output_dir + '/config.json'))

  def test_output_dir_that_cannot_be_made(self):
    with self.assertRaisesRegex(
        run_flags.InputError, '^--output_dir=/proc/no_vae/run: cannot create '
        r'the folder \(No such file or directory\)\. Pass a --output_dir you '
        'can write to'):
      run_main(['--output_dir=/proc/no_vae/run'])

  def test_unknown_results_are_kept(self):
    with open(os.path.join(self.output_dir, 'summary.json'), 'w') as f:
      f.write('{"test_elbo": -90.0}')
    with self.assertRaisesRegex(run_flags.InputError, 'holds results .*summary'
                                r'\.json.* but no config\.json.*--restart'):
      run_main([f'--output_dir={self.output_dir}'])
    with open(os.path.join(self.output_dir, 'summary.json')) as f:
      self.assertEqual(f.read(), '{"test_elbo": -90.0}')

  def test_divergence_stops_with_the_log_kept(self):
    mnist_dir = data_test.require_mnist(self)
    with self.assertRaisesRegex(FloatingPointError,
                                r'diverged.*metrics\.csv.*--learning_rate'):
      run_main([f'--data_dir={mnist_dir}', '--train_split=test[:500]',
                '--eval_split=test[500:600]', '--learning_rate=1e30',
                '--training_steps=50', f'--output_dir={self.output_dir}'])
    rows = read_metrics(self.output_dir)
    self.assertNotEmpty(rows)
    self.assertFalse(np.isfinite(rows[-1]['loss']))
    self.assertFalse(
        os.path.exists(os.path.join(self.output_dir, 'summary.json')))

  def test_command_line_error_names_flag_and_value(self):
    # The script's entry point, in-process (a process would spend seconds
    # importing TensorFlow): absl parses sys.argv, and the error becomes
    # SystemExit('Error: ...'), which Python prints to stderr with exit
    # code 1. The smoke and killed-run tests start the script for real.
    argv = ['mnist', '--latent_size=0', f'--output_dir={self.output_dir}']
    with flagsaver.flagsaver(), mock.patch.object(sys, 'argv', argv), \
        mock.patch.object(console, 'configure_logging'):
      with self.assertRaises(SystemExit) as caught:
        mnist.run()
    self.assertEqual(caught.exception.code,
                     'Error: --latent_size=0: must be at least 1')
    self.assert_nothing_trained()


if __name__ == '__main__':
  tf.test.main()
