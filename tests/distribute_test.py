"""Tests for vae/distribute.py and training under a strategy.

conftest.py splits the CPU into 2 logical devices before any test runs, so
`snt.distribute.Replicator` has 2 replicas here.
"""

import contextlib
import json
import os
from unittest import mock

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

from vae import categorical
from vae import config as config_lib
from vae import data
from vae import distribute
from vae import evaluation
from vae import schedules
from vae import training
from vae.run import build

tfd = tfp.distributions

IMAGE_SHAPE = (28, 28, 1)


def _replicator():
  # conftest.py has split the CPU in 2; one strategy serves every test.
  return distribute.make_strategy('mirrored', cpu_devices=2)


def _examples(n=96, seed=0, image_shape=IMAGE_SHAPE):
  """n random 8-bit images, labelled 0..n-1."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, size=(n, *image_shape), dtype=np.uint8)
  dataset = tf.data.Dataset.from_tensor_slices(
      {'image': images, 'label': np.arange(n)})
  return data.Examples(dataset, tuple(image_shape), n, 'random')


def _config(**overrides):
  small = dict(beta=1.0, latent_size=4, hidden_sizes=[32], seed=0)
  read = config_lib.fields_read(**overrides)
  return config_lib.make(**{**{k: v for k, v in small.items() if k in read},
                            **overrides})


class SampleTest(tf.test.TestCase, parameterized.TestCase):
  """Replica r's draws are rows of one draw for the whole batch."""

  def _distributions(self, batch):
    rng = np.random.default_rng(1)
    loc = tf.constant(rng.normal(size=(batch, 3)), tf.float32)
    scale = tf.constant(rng.uniform(0.5, 2, size=(batch, 3)), tf.float32)
    tril = tf.linalg.band_part(
        tf.constant(rng.normal(size=(batch, 3, 3)), tf.float32), -1, 0)
    tril = tf.linalg.set_diag(tril, tf.abs(tf.linalg.diag_part(tril)) + 1)
    logits = tf.constant(rng.normal(size=(batch, 2, 5)), tf.float32)
    return {
        'diagonal': tfd.Independent(tfd.Normal(loc, scale), 1),
        'full_covariance': tfd.MultivariateNormalTriL(loc, tril),
        'relaxed_categorical': categorical.relax(
            categorical.categorical(logits), 0.5),
    }

  @parameterized.product(
      kind=['diagonal', 'full_covariance', 'relaxed_categorical'],
      sample_shape=[(), 3, (2, 2)], replicas=[2, 4])
  def test_replica_draws_are_rows_of_the_global_draw(self, kind, sample_shape,
                                                     replicas):
    batch = 8
    seed = tf.constant([3, 7], tf.int32)
    whole = self._distributions(batch)[kind]
    expected = whole.sample(sample_shape, seed=seed)
    axis = np.ndim(np.zeros(sample_shape))  # Where the batch axis is.
    size = batch // replicas
    for r in range(replicas):
      part = self._distributions(batch)[kind][r * size:(r + 1) * size]
      with distribute.global_batch_draws(tf.constant(r), replicas):
        got = distribute.sample(part, sample_shape, seed=seed)
      want = tf.gather(expected, tf.range(r * size, (r + 1) * size),
                       axis=axis)
      self.assertAllEqual(got, want)

  def test_outside_the_context_it_is_sample(self):
    dist = self._distributions(4)['diagonal']
    seed = tf.constant([1, 2], tf.int32)
    self.assertAllEqual(distribute.sample(dist, 2, seed=seed),
                        dist.sample(2, seed=seed))
    with distribute.global_batch_draws(tf.constant(0), 1):
      self.assertAllEqual(distribute.sample(dist, seed=seed),
                          dist.sample(seed=seed))


class BatchesTest(tf.test.TestCase, parameterized.TestCase):
  """Part r of a global batch holds exactly its rows, binarised alike."""

  @parameterized.parameters((2, None), (4, None), (4, [1, 3]), (3, [2]))
  def test_parts_are_rows_of_the_global_batch(self, replicas, which):
    examples = _examples()
    whole = iter(data.batches(examples, 24, seed=3, labels=True))
    batches = [next(whole) for _ in range(9)]  # 24 * 9 > 2 epochs of 96.
    parts = iter(data.batches(examples, 24, seed=3, labels=True,
                              num_replicas=replicas, replicas=which,
                              first_step=2))
    size = 24 // replicas
    for step in range(2, 9):
      for r in which or range(replicas):
        x, labels = next(parts)
        self.assertAllEqual(x, batches[step][0][r * size:(r + 1) * size])
        self.assertAllEqual(labels,
                            batches[step][1][r * size:(r + 1) * size])

  @parameterized.parameters(0, 1, 2, 3, 4, 13, 401)
  def test_offset_draws_continue_the_stream(self, offset):
    shape = (5, 7, 3)
    seed = tf.constant([4, 9], tf.int64)
    stream = tf.random.stateless_uniform([2 * 105 + 401], seed=seed)
    images = tf.fill(shape, 0.5)
    got = data.binarize(images, 'dynamic', seed=seed, offset=offset)
    want = tf.cast(stream[offset:offset + 105] < 0.5, tf.float32)
    self.assertAllEqual(tf.reshape(got, [-1]), want)

  def test_uneven_split_is_refused(self):
    with self.assertRaisesRegex(ValueError, 'does not split into'):
      data.batches(_examples(), 24, num_replicas=5)
    with self.assertRaisesRegex(ValueError, 'replicas must be'):
      data.batches(_examples(), 24, num_replicas=2, replicas=[2])


class StrategyTest(tf.test.TestCase):

  def test_make_strategy(self):
    self.assertIs(distribute.make_strategy('default'),
                  tf.distribute.get_strategy())
    mirrored = distribute.make_strategy('mirrored', cpu_devices=2)
    self.assertIsInstance(mirrored, snt.distribute.Replicator)
    self.assertEqual(mirrored.num_replicas_in_sync, 2)

  def test_bad_requests_say_what_to_do(self):
    with self.assertRaisesRegex(ValueError, 'strategy must be one of'):
      distribute.make_strategy('parameter_server')
    with self.assertRaisesRegex(ValueError, 'mirrored strategy only'):
      distribute.make_strategy('default', cpu_devices=2)
    with mock.patch.dict(os.environ, {}, clear=True):
      with self.assertRaisesRegex(ValueError, 'TF_CONFIG'):
        distribute.make_strategy('multi_worker')
    tf.constant(0)  # Devices are initialised by now.
    with self.assertRaisesRegex(RuntimeError, 'initialised its devices'):
      distribute.split_cpu(3)
    self.assertLen(distribute.split_cpu(2), 2)  # As it is: allowed.

  def test_chief(self):
    cluster = {'worker': ['localhost:1', 'localhost:2']}
    cases = [({'cluster': cluster, 'task': {'type': 'worker', 'index': 0}},
              True),
             ({'cluster': cluster, 'task': {'type': 'worker', 'index': 1}},
              False),
             ({'cluster': {**cluster, 'chief': ['localhost:3']},
               'task': {'type': 'worker', 'index': 0}}, False),
             ({'cluster': {**cluster, 'chief': ['localhost:3']},
               'task': {'type': 'chief', 'index': 0}}, True)]
    for config, chief in cases:
      with mock.patch.dict(os.environ, {'TF_CONFIG': json.dumps(config)}):
        self.assertEqual(distribute.is_chief(), chief, config)
    with mock.patch.dict(os.environ, {}, clear=True):
      self.assertTrue(distribute.is_chief())
    with mock.patch.dict(os.environ, {'TF_CONFIG': '{"task": 1}'}):
      with self.assertRaisesRegex(ValueError, 'TF_CONFIG must be JSON'):
        distribute.task()

  def test_global_batch_mean(self):
    strategy = _replicator()
    values = np.arange(12, dtype=np.float32).reshape(6, 2) ** 2
    parts = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(values[3 * ctx.replica_id_in_sync_group:][:3]))
    means = strategy.run(distribute.global_batch_mean, args=(parts,))
    for mean in strategy.experimental_local_results(means):
      self.assertAllClose(mean, values.mean(axis=0))


@pytest.mark.slow  # Trains model families on 2 replicas and on one.
class MirroredTrainingTest(tf.test.TestCase, parameterized.TestCase):
  """2 replicas train as one device does on the same global batches."""

  def _train(self, config, strategy, jit_compile, steps=6, block=3,
             eagerly=False):
    tf.random.set_seed(0)
    examples = _examples()
    make = lambda num_replicas=1, replicas=None: data.batches(
        examples, 16, seed=5, num_replicas=num_replicas, replicas=replicas,
        labels=config.model.conditional)
    with strategy.scope() if strategy else contextlib.nullcontext():
      model = build.build(config.model, IMAGE_SHAPE, seed=0)
      # SGD: its step is continuous in the gradient. Adam's first steps move
      # each weight by +-lr whatever the gradient's size, so a gradient near
      # 0 that rounds to the other sign moves it 2 lr apart. Adam under a
      # strategy is tested through experiments.mnist.
      optimizer = snt.optimizers.SGD(1e-3)
      variables = schedules.make(config.objective,
                                 config.model.latent == 'categorical')
    batches = iter(distribute.distribute_batches(strategy, make)
                   if strategy else make())
    # After the data's own functions are traced: they always are.
    tf.config.run_functions_eagerly(eagerly)
    self.addCleanup(tf.config.run_functions_eagerly, False)
    # The run's one phase: the FactorVAE's trains its VAE on the loss, then
    # its discriminator (`after`).
    (phase,) = build.phases(config, model, variables.beta,
                            variables.temperature)
    train = training.make_train_loop(
        phase.trains, optimizer, batches, seed=0, steps_per_call=block,
        jit_compile=jit_compile, objective=phase.objective,
        schedule=schedules.both(variables.assign,
                                getattr(model, 'assign_step', None)),
        strategy=strategy, after=phase.after)
    losses = []
    for first in range(1, steps + 1, block):
      metrics = train(first, block)
      losses.append(np.stack([m.numpy() for m in metrics], axis=1))
    # Off before the next run builds its data (tf.data warns otherwise).
    tf.config.run_functions_eagerly(False)
    return np.concatenate(losses), [v.numpy() for v in model.variables]

  # Each family once, folded into 4 runs: each pair of runs traces both
  # replicas' graphs, which takes seconds. The plain ELBO is the XLA case's.
  @parameterized.named_parameters(
      ('free_bits_discretized_realnvp',
       dict(free_bits=2.0, likelihood='discretized_logistic',
            binarization='none', posterior='realnvp'), False),
      ('iwae_mixture_prior_iaf', dict(objective='iwae', prior='mixture',
                                      posterior='iaf'), False),
      ('full_covariance_vamp_mc_kl_warmup',
       dict(posterior='full_covariance', prior='vamp', kl_samples=3,
            kl_warmup_steps=4), False),
      ('categorical', dict(latent='categorical', temperature_decay=0.1),
       False),
      # Wood's rejection sampler: its loop's draws are the one device's.
      ('von_mises_fisher', dict(latent='von_mises_fisher', latent_size=4),
       False),
      ('ladder_iwae', dict(latent_sizes=(3, 2), inference='ladder',
                           latent_size=10, objective='iwae'), False),
      ('dreg_vamp_warmup', dict(objective='dreg', prior='vamp',
                                kl_warmup_steps=4), False),
      # Penalties of the global batch: its covariance, its mean KL, TC
      # over every row.
      ('dip_vae_ii', dict(model='dip_vae_ii', dip_lambda_od=2.0), False),
      ('annealed_vae', dict(model='annealed_vae', capacity_max=5.0,
                            capacity_steps=4, capacity_gamma=3.0), False),
      ('beta_tcvae', dict(model='beta_tcvae'), False),
      # GECO's multiplier, updated from the global batch's distortion.
      ('geco', dict(model='geco', geco_target=30.0, geco_rate=0.01), False),
      # The MMD of every code against the same prior draws.
      ('wae_mmd', dict(model='wae_mmd', mmd_weight=50.0), False),
      ('info_vae', dict(model='info_vae', info_lambda=50.0,
                        mmd_kernel='rbf'), False),
      # (images, labels) parts; each replica's rows given their labels.
      ('conditional_mixture', dict(conditional=True, label_classes=96,
                                   prior='mixture'), False),
      # The discriminator's update after the VAE's, its codes permuted over
      # the global batch.
      ('factor_vae', dict(model='factor_vae', factor_gamma=5.0,
                          discriminator_hidden_sizes=[16, 16]), False),
  )
  def test_equals_one_device(self, overrides, jit_compile):
    self._equals_one_device(overrides, jit_compile)

  def _equals_one_device(self, overrides, jit_compile):
    config = _config(**overrides)
    # One device without XLA runs eagerly: TensorFlow's kernels, as its
    # tf.function would run them, without a trace to wait for.
    one, one_variables = self._train(config, None, jit_compile,
                                     eagerly=not jit_compile)
    two, two_variables = self._train(config, _replicator(), jit_compile)
    self.assertEqual(one.shape, (6, 4))
    # Float sums in another order (over 8 rows per replica, then 2
    # replicas; under XLA, other fusions) move the 6th significant digit.
    self.assertAllClose(two, one, rtol=2e-5, atol=1e-4)
    # Looser for the discretised logistic: its loss (6 nats per pixel, a
    # binary pixel's 0.7) and rounding errors are larger, and TFP's
    # quantised log-probability picks one of two formulas by comparing two
    # logs, which rounding can flip (one weight in 10^5 moved 1e-3).
    discrete = config.model.likelihood == 'discretized_logistic'
    for a, b in zip(two_variables, one_variables):
      self.assertAllClose(a, b, rtol=1e-3 if discrete else 1e-4,
                          atol=1e-5 if discrete else 1e-6)

  @pytest.mark.slow
  def test_xla_equals_one_device(self):
    # XLA compiles each replica's pass (one case: the compiles are slow).
    self._equals_one_device({}, True)

  def test_free_bits_under_xla_is_refused(self):
    with self.assertRaisesRegex(ValueError, 'jit_compile=False'):
      self._train(_config(free_bits=2.0), _replicator(), True, steps=1,
                  block=1)


@pytest.mark.slow  # Evaluates model families on 2 replicas and on one.
class EvaluationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      # No analytic KL: all is sampled.
      ('mixture_prior', lambda: _config(prior='mixture')),
      # Each batch's labels go to its replica.
      ('conditional_mixture', lambda: _config(
          conditional=True, label_classes=83, prior='mixture')),
      # Convolutions (the VQ-VAE's, here): the replica left without a batch
      # in the last round must not get an empty one (see
      # evaluation._distributed). Its point-mass code and code usage too.
      ('vqvae', lambda: config_lib.make(
          model='vqvae', conv_channels=[4, 8], codebook_size=6,
          embedding_dim=3, pixelcnn_channels=4, pixelcnn_layers=1)),
  )
  def test_distributed_evaluation_equals_one_device(self, make_config):
    # 4 batches of 20 and one of 3 on 2 replicas: the last round has one.
    examples = _examples(n=83)
    batches = data.batches(examples, 20, 'dynamic', train=False, seed=1,
                           labels=True)
    config = make_config()
    results = {}
    for name, strategy in (('one', None), ('two', _replicator())):
      tf.random.set_seed(0)
      with strategy.scope() if strategy else contextlib.nullcontext():
        model = build.build(config.model, IMAGE_SHAPE, seed=0)
      functions = build.model_functions(model, config, IMAGE_SHAPE)
      results[name] = evaluation.evaluate(functions, batches, num_samples=7,
                                          chunk_size=3, seed=4,
                                          strategy=strategy)
    one, two = results['one'], results['two']
    self.assertEqual(two.num_examples, 83)
    # Each batch is computed as one device computes it, on the same kernels,
    # and summed in the same order: equal to the bit.
    for field in ('elbo', 'rate', 'distortion', 'nll', 'active_units'):
      self.assertEqual(getattr(two, field), getattr(one, field), field)
    self.assertAllEqual(two.posterior_means, one.posterior_means)
    self.assertAllEqual(two.labels, np.arange(83))


if __name__ == '__main__':
  tf.test.main()
