"""Tests for vae/models/vqvae.py: the quantiser, the PixelCNN prior, the bound and
the two training phases, against NumPy and Sonnet's own quantiser.

conftest.py splits the CPU into 2 logical devices, so the replica tests run
on 2 replicas.
"""

import contextlib
import itertools

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from tests import distribute_test
from vae import config as config_lib
from vae import data
from vae import distribute
from vae import encoders
from vae import evaluation
from vae import export
from vae import latents
from vae import training
from vae.models import vqvae
from vae.run import build
from vae.run import report

IMAGE_SHAPE = (8, 8, 1)
_SMALL = dict(model='vqvae', conv_channels=[4, 8], codebook_size=6,
              embedding_dim=3, pixelcnn_channels=5, pixelcnn_layers=1,
              seed=0, training_steps=6, prior_training_steps=3)


def _config(**overrides) -> config_lib.Config:
  return config_lib.make(**dict(_SMALL, **overrides))


def _images(n=5, seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.integers(0, 2, size=(n, *IMAGE_SHAPE)), tf.float32)


def _randomise(module: snt.Module, seed=1):
  """Fills every variable of `module` with N(0, 0.5) draws: a prior whose
  logits are not all zero."""
  rng = np.random.default_rng(seed)
  for v in module.variables:
    v.assign(rng.normal(0, 0.5, v.shape).astype(np.float32))


def _log_softmax(logits):
  logits = logits - logits.max(-1, keepdims=True)
  return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


class CodeShapeTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(((28, 28, 1), 2, (7, 7)), ((8, 8, 1), 2, (2, 2)),
                            ((30, 17, 3), 2, (8, 5)), ((64, 64, 1), 3, (8, 8)))
  def test_each_conv_halves_rounding_up(self, image_shape, convs, expected):
    self.assertEqual(vqvae.code_shape(image_shape, convs), expected)

  def test_networks_keep_the_shapes(self):
    config = _config()
    model = build.build(config.model, (9, 7, 1), seed=0)
    z_e = model.encoder_net(tf.zeros([2, 9, 7, 1]))
    self.assertEqual(z_e.shape, [2, 3, 2, 3])
    self.assertEqual(latents.latent_dims(config.model, (9, 7, 1)), 6)
    codes = tf.zeros([4, 2, 6])  # Leading sample and batch dimensions.
    self.assertEqual(model.decoder(codes).batch_shape, [4, 2])
    self.assertEqual(model.decoder(codes).event_shape, [9, 7, 1])
    with self.assertRaisesRegex(ValueError, 'image shape'):
      latents.latent_dims(config.model)


class PixelCNNTest(tf.test.TestCase):

  def _prior(self, code_map=(2, 2), num_codes=3, layers=1):
    # tanh: no unit is dead, so every dependence the masks allow shows.
    pixelcnn = vqvae.PixelCNN(code_map, num_codes, channels=4, layers=layers,
                              activation=tf.tanh)
    prior = vqvae.CodePrior(pixelcnn, int(np.prod(code_map)))
    prior().log_prob(tf.zeros([1, prior.positions]))  # Creates variables.
    return prior

  def test_untrained_prior_is_uniform(self):
    # The output layer starts at zero: every map has probability K^-hw.
    prior = self._prior()
    codes = tf.constant([[0., 1., 2., 1.], [2., 2., 0., 0.]])
    self.assertAllClose(prior().log_prob(codes), [-4 * np.log(3)] * 2)

  def test_probabilities_of_every_map_sum_to_one(self):
    # Only an autoregressive (causal) network normalises: sum over all
    # 3^4 maps of a 2x2 map with 3 codes, and of a 1x5 map with 2.
    for code_map, num_codes in (((2, 2), 3), ((1, 5), 2)):
      prior = self._prior(code_map, num_codes, layers=2)
      _randomise(prior)
      positions = int(np.prod(code_map))
      maps = np.array(list(itertools.product(range(num_codes),
                                             repeat=positions)), np.float32)
      total = np.exp(prior().log_prob(maps).numpy().astype(np.float64)).sum()
      self.assertAllClose(total, 1.0, rtol=1e-5, msg=str(code_map))

  def test_each_position_sees_only_the_positions_before_it(self):
    prior = self._prior((3, 3), 4, layers=2)
    _randomise(prior)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(1, 9)).astype(np.float32)
    logits = prior.pixelcnn(codes).numpy()
    for j in range(9):
      changed = codes.copy()
      changed[0, j] = (changed[0, j] + 1) % 4
      moved = np.any(prior.pixelcnn(changed).numpy() != logits, axis=-1)[0]
      self.assertFalse(moved[:j + 1].any(), msg=f'position {j}')
      if j < 8:  # The next position (in raster order) sees it.
        self.assertTrue(moved[j + 1], msg=f'position {j}')

  def test_log_prob_is_the_sum_of_each_positions_log_softmax(self):
    prior = self._prior((2, 3), 5)
    _randomise(prior)
    codes = np.array([[0, 4, 2, 2, 1, 3], [1, 1, 0, 4, 4, 2]], np.float32)
    logits = prior.pixelcnn(codes).numpy().astype(np.float64)
    expected = np.take_along_axis(_log_softmax(logits),
                                  codes.astype(int)[..., None], -1).sum((1, 2))
    self.assertAllClose(prior().log_prob(codes), expected, rtol=1e-5)

  def test_samples_are_codes_and_repeat_with_the_seed(self):
    prior = self._prior((2, 2), 3)
    _randomise(prior)
    draw = lambda: prior().sample(50, seed=tf.constant([3, 4])).numpy()
    samples = draw()
    self.assertEqual(samples.shape, (50, 4))
    self.assertTrue(np.all(np.isin(samples, [0, 1, 2])))
    self.assertAllEqual(samples, draw())

  def test_samples_follow_the_prior(self):
    # The frequency of each of the 9 maps of a 1x2 map of 3 codes against
    # its probability, over 20000 draws (a chi-square test at 0.1%).
    prior = self._prior((1, 2), 3)
    _randomise(prior, seed=2)
    samples = prior().sample(20000, seed=tf.constant([1, 2])).numpy()
    maps = np.array(list(itertools.product(range(3), repeat=2)), np.float32)
    probs = np.exp(prior().log_prob(maps).numpy().astype(np.float64))
    counts = np.array([np.sum(np.all(samples == m, axis=1)) for m in maps])
    expected = probs * len(samples)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    self.assertLess(chi2, 26.1)  # scipy.stats.chi2.ppf(0.999, 8) = 26.12.


class QuantizerTest(tf.test.TestCase):

  def _pair(self):
    ours = vqvae.VectorQuantizerEMA(3, 6, 0.25, 0.9)
    sonnets = snt.nets.VectorQuantizerEMA(3, 6, 0.25, 0.9)
    sonnets.embeddings.assign(ours.embeddings)
    return ours, sonnets

  def test_one_device_is_sonnets(self):
    ours, sonnets = self._pair()
    rng = np.random.default_rng(0)
    for _ in range(3):
      inputs = tf.constant(rng.normal(size=(4, 2, 2, 3)), tf.float32)
      a = ours(inputs, is_training=True)
      b = sonnets(inputs, is_training=True)
      for key in ('quantize', 'encoding_indices', 'perplexity'):
        self.assertAllClose(a[key], b[key], msg=key)
      self.assertAllClose(ours.embeddings, sonnets.embeddings, rtol=1e-6)

  def test_nearest_code_and_straight_through_gradient(self):
    ours, _ = self._pair()
    inputs = tf.constant(np.random.default_rng(1).normal(size=(5, 3)),
                         tf.float32)
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      out = ours(inputs, is_training=False)
      total = tf.reduce_sum(out['quantize'] * tf.range(1.0, 4.0))
    table = ours.embeddings.numpy().T  # [codes, D]
    nearest = np.argmin(((inputs.numpy()[:, None] - table[None]) ** 2).sum(-1),
                        axis=1)
    self.assertAllEqual(out['encoding_indices'], nearest)
    self.assertAllClose(out['quantize'], table[nearest])
    # Straight through: d/d inputs of sum(z_q * c) is c.
    self.assertAllClose(tape.gradient(total, inputs),
                        np.tile([1.0, 2.0, 3.0], (5, 1)))

  def test_two_replicas_update_as_one_device(self):
    strategy = distribute.make_strategy('mirrored', cpu_devices=2)
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(8, 2, 2, 3)).astype(np.float32)
               for _ in range(3)]
    one, sonnets = self._pair()
    with strategy.scope():
      two = vqvae.VectorQuantizerEMA(3, 6, 0.25, 0.9)
      theirs = snt.nets.VectorQuantizerEMA(3, 6, 0.25, 0.9)
    initial = one.embeddings.numpy()
    strategy.run(lambda: (two.embeddings.assign(initial),
                          theirs.embeddings.assign(initial)))
    for batch in batches:
      one(tf.constant(batch), is_training=True)
      halves = strategy.experimental_distribute_values_from_function(
          lambda ctx, b=batch: tf.constant(
              b[4 * ctx.replica_id_in_sync_group:][:4]))
      strategy.run(lambda x: (two(x, is_training=True),
                              theirs(x, is_training=True)), args=(halves,))
    for copy in strategy.experimental_local_results(two.embeddings):
      self.assertAllClose(copy, one.embeddings, rtol=1e-5, atol=1e-6)
    # Sonnet's own module updates each replica from its own half.
    first, second = strategy.experimental_local_results(theirs.embeddings)
    self.assertNotAllClose(first, second)


class ModelTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = _config()
    self.model = build.build(self.config.model, IMAGE_SHAPE, seed=0)
    _randomise(self.model.prior)

  def _nearest_codes(self, x):
    """The index map by NumPy: each z_e vector's nearest codebook vector."""
    z_e = self.model.encoder_net(x).numpy().reshape(len(x), -1, 3)
    table = self.model.quantizer.embeddings.numpy().T
    return np.argmin(((z_e[..., None, :] - table) ** 2).sum(-1), axis=-1)

  def test_posterior_is_a_point_mass_on_the_nearest_codes(self):
    x = _images()
    posterior = self.model.encoder(x)
    self.assertTrue(evaluation.is_point_mass(posterior))
    self.assertAllEqual(posterior.sample(seed=[1, 2]), self._nearest_codes(x))
    mean, stddev = encoders.moments(posterior)
    self.assertAllEqual(mean, self._nearest_codes(x))
    self.assertAllEqual(stddev, tf.zeros_like(stddev))

  def test_elbo_and_nll_are_the_one_point_bound(self):
    # log p(x) >= log p(x|c(x)) + log p(c(x)), and every importance weight
    # is that: the NLL at any k is the ELBO's bound.
    x = _images()
    functions = build.model_functions(self.model, self.config,
                                      IMAGE_SHAPE)
    codes = self._nearest_codes(x).astype(np.float32)
    distortion = -self.model.decoder(codes).log_prob(x).numpy()
    logits = self.model.prior.pixelcnn(codes).numpy().astype(np.float64)
    log_prior = np.take_along_axis(
        _log_softmax(logits), codes.astype(int)[..., None], -1).sum((1, 2))
    terms = functions.elbo(x, tf.constant([0, 1]))
    self.assertAllClose(terms['distortion'], distortion, rtol=1e-5)
    self.assertAllClose(terms['rate'], -log_prior, rtol=1e-5)
    self.assertAllClose(terms['elbo'], log_prior - distortion, rtol=1e-5)
    for k in (1, 7):
      self.assertAllClose(
          functions.log_likelihood(x, tf.constant(k), tf.constant(3),
                                   tf.constant([0, 2]))['log_likelihood'],
          terms['elbo'], rtol=1e-6)
    usage = terms['code_usage'].numpy()
    self.assertAllEqual(usage.sum(1), [4] * 5)  # 2x2 positions each.
    self.assertAllEqual(usage, np.stack(
        [np.bincount(c, minlength=6) for c in codes.astype(int)]))

  def test_loss_is_distortion_plus_commitment(self):
    x = _images()
    codes = self._nearest_codes(x)
    z_e = self.model.encoder_net(x).numpy().reshape(5, -1, 3)
    z_q = self.model.quantizer.embeddings.numpy().T[codes]
    commitment = 0.25 * ((z_e - z_q) ** 2).sum((1, 2))
    distortion = -self.model.decoder(codes.astype(np.float32)).log_prob(x)
    terms = self.model.loss_terms(x)
    self.assertAllClose(terms.distortion, distortion, rtol=1e-5)
    self.assertAllClose(terms.loss, distortion + commitment, rtol=1e-5)

  def test_untrained_rate_is_uniform(self):
    model = build.build(self.config.model, IMAGE_SHAPE, seed=0)
    self.assertAllClose(model.loss_terms(_images()).rate,
                        [4 * np.log(6)] * 5)

  def test_each_phase_trains_its_own_variables(self):
    model = self.model
    prior = {v.ref() for v in model.prior.variables}
    codebook = {v.ref() for v in model.quantizer.variables}
    phases = build.phases(self.config, model, tf.Variable(1.0))
    self.assertEqual([(p.name, p.last_step) for p in phases],
                     [('optimizer', 3), ('prior_optimizer', 6)])
    for phase, trains_prior in zip(phases, (False, True)):
      before = {v.ref(): v.numpy().copy() for v in model.variables}
      step = training.make_train_step(phase.trains, snt.optimizers.SGD(0.1),
                                      objective=phase.objective)
      for i in range(2):
        step(_images(seed=i), tf.constant([0, i]))
      for v in model.variables:
        moved = not np.array_equal(before[v.ref()], v.numpy())
        # Phase 1 moves the networks and the codebook (its moving
        # averages); phase 2 the prior alone.
        if v.ref() in codebook:
          expected = not trains_prior
        else:
          expected = (v.ref() in prior) == trains_prior
        self.assertEqual(moved, expected, msg=f'{phase.name}: {v.name}')

  def test_codebook_summary(self):
    summary = report.codebook_summary(np.array([2.0, 2.0, 0.0, 0.0]))
    self.assertAllClose(summary['codebook_perplexity'], 2.0)
    self.assertEqual(summary['dead_codes'], 2)
    self.assertAllClose(report.codebook_summary(np.array(
        [1.0, 3.0]))['codebook_perplexity'],
                        np.exp(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75))))

  @pytest.mark.slow  # A SavedModel round trip.
  def test_export_reloads_with_the_same_numbers(self):
    functions = build.model_functions(self.model, self.config,
                                      IMAGE_SHAPE)
    path = export.save(functions, self.create_tempdir().full_path)
    loaded = export.load(path)
    x, seed = _images(), tf.constant([3, 4])
    for name in ('elbo', 'rate', 'code_usage'):
      self.assertAllClose(loaded.elbo(x, seed)[name],
                          functions.elbo(x, seed)[name], msg=name)
    a = loaded.sample(tf.constant(3), seed)
    b = functions.sample(tf.constant(3), seed)
    self.assertAllEqual(a['z'], b['z'])
    self.assertAllClose(a['mean'], b['mean'])


class MixedPrecisionTest(tf.test.TestCase):

  def test_networks_in_bfloat16_give_float32_terms_near_float32s(self):
    terms = {}
    for mixed in (False, True):
      tf.random.set_seed(0)
      model = build.build(_config(mixed_precision=mixed).model, IMAGE_SHAPE,
                          seed=0)
      terms[mixed] = model.loss_terms(_images())
      for value in terms[mixed]:
        self.assertEqual(value.dtype, tf.float32)
      for v in model.variables:
        self.assertIn(v.dtype, (tf.float32, tf.int64), msg=v.name)
    # The same weights; bfloat16's 8-bit mantissa in the convolutions.
    self.assertAllClose(terms[True].loss, terms[False].loss, rtol=0.02)


class CompiledTest(tf.test.TestCase):

  def _train(self, mode):
    """Losses of 2 steps of each phase, in `mode`, on batches of 5 and 3
    (a function traced for an unknown batch is not needed: each shape
    traces once)."""
    tf.random.set_seed(0)
    config = _config()
    model = build.build(config.model, IMAGE_SHAPE, seed=0)
    losses = []
    for phase in build.phases(config, model, tf.Variable(1.0)):
      step = training.make_train_step(
          phase.trains, snt.optimizers.SGD(0.05), objective=phase.objective,
          jit_compile=mode == 'xla', compile=mode != 'eager')
      for i, n in enumerate((5, 3)):
        losses.append(step(_images(n, seed=i), tf.constant([0, i])).loss)
    return np.array(losses)

  # Nothing is drawn: the modes differ by float reordering only.
  def test_eager_and_function_agree(self):
    self.assertAllClose(self._train('function'), self._train('eager'),
                        rtol=1e-5)

  @pytest.mark.slow
  def test_xla_agrees(self):
    self.assertAllClose(self._train('xla'), self._train('eager'), rtol=1e-4)


@pytest.mark.slow  # Trains on 2 replicas and on one.
class ReplicaTrainingTest(tf.test.TestCase):
  """2 replicas train both phases as one device does."""

  def _train(self, strategy):
    config = _config()
    tf.random.set_seed(0)
    examples = distribute_test._examples(48, image_shape=IMAGE_SHAPE)
    with strategy.scope() if strategy else contextlib.nullcontext():
      model = build.build(config.model, IMAGE_SHAPE, seed=0)
      phases = build.phases(config, model, tf.Variable(1.0))
      optimizers = [snt.optimizers.SGD(0.01) for _ in phases]
    loops, first = [], 0
    for phase, optimizer in zip(phases, optimizers):
      make = lambda num_replicas=1, replicas=None, first=first: data.batches(
          examples, 8, seed=5, first_step=first, num_replicas=num_replicas,
          replicas=replicas)
      batches = iter(distribute.distribute_batches(strategy, make)
                     if strategy else make())
      loops.append((phase.last_step, training.make_train_loop(
          phase.trains, optimizer, batches, seed=0, steps_per_call=3,
          jit_compile=False, objective=phase.objective, strategy=strategy)))
      first = phase.last_step
    train = training.in_phases(loops)
    metrics = np.concatenate([np.stack([m.numpy() for m in train(s, 2)], 1)
                              for s in (1, 3, 5)])  # Across the boundary.
    return metrics, [v.numpy() for v in model.variables]

  def test_equals_one_device(self):
    one, one_variables = self._train(None)
    two, two_variables = self._train(distribute.make_strategy(
        'mirrored', cpu_devices=2))
    self.assertEqual(one.shape, (6, 4))
    self.assertAllClose(two, one, rtol=2e-5, atol=1e-4)
    for a, b in zip(two_variables, one_variables):
      self.assertAllClose(a, b, rtol=1e-4, atol=1e-6)


class ConfigTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      (dict(model='vqvae', posterior='iaf'), '^posterior=iaf .*not '
       'model=vqvae'),
      (dict(model='vqvae', latent_size=4), '^latent_size=4 .*not '
       'model=vqvae'),
      (dict(model='vqvae', beta=1.0), '^beta=1.0 .*not model=vqvae'),
      (dict(codebook_size=16), '^codebook_size=16 applies to '
       'model=vqvae, not model=vae'),
      (dict(model='vqvae', training_steps=10, prior_training_steps=10),
       'below training_steps'),
      (dict(model='vqvae', strategy='mirrored', jit_compile=True),
       'drop jit_compile'),
  )
  def test_refusals_say_why(self, values, message):
    with self.assertRaisesRegex(ValueError, message):
      config_lib.make(**values)

  def test_prior_steps_default_to_half(self):
    config = config_lib.make(model='vqvae', training_steps=11)
    self.assertEqual(vqvae.prior_training_steps(config.train), 5)


if __name__ == '__main__':
  tf.test.main()
