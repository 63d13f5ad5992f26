"""Tests for experiments/common.py: every model-zoo combination trains."""

import itertools

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from experiments import common
from vae import encoders
from vae import model as model_lib
from vae import training

_IMAGE_SHAPE = (8, 8, 1)
_LIKELIHOODS = (('bernoulli', None), ('continuous_bernoulli', None),
                ('gaussian', None), ('gaussian', 0.3))


def _config(**choices):
  config = dict(common.MODEL_DEFAULTS, beta=1.0, latent_size=3,
                hidden_sizes=['16'], conv_channels=['4', '8'], seed=0,
                loss_normalization='per_example', kl_samples=None,
                binarization='none', prior_components=3,
                num_importance_samples=2, num_classes=3)
  config.update(choices)
  return config


def _combinations():
  """Every valid combination of the model-zoo choices."""
  networks = list(itertools.product(common.NETWORKS, common.NETWORKS))
  for (encoder, decoder), (likelihood, scale) in itertools.product(
      networks, _LIKELIHOODS):
    base = dict(encoder=encoder, decoder=decoder, likelihood=likelihood,
                likelihood_scale=scale)
    yield dict(base, model='autoencoder')
    yield dict(base, latent='categorical')
    for objective in common.OBJECTIVES:
      for posterior, prior in itertools.product(encoders.COVARIANCES,
                                                common.PRIORS):
        yield dict(base, posterior=posterior, prior=prior,
                   objective=objective)


def _name(choices):
  return '_'.join(f'{v}' for v in choices.values()).replace('.', '')


def _images(seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.uniform(size=(4,) + _IMAGE_SHAPE), tf.float32)


class EveryCombinationTrainsTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    # Eager: 240 models compile in minutes; eager steps take milliseconds.
    # `tf.function` is covered below and by the experiment tests.
    tf.config.run_functions_eagerly(True)

  def tearDown(self):
    tf.config.run_functions_eagerly(False)
    super().tearDown()

  @parameterized.named_parameters(
      (_name(choices), choices) for choices in _combinations())
  def test_loss_is_finite_and_every_variable_moves(self, choices):
    config = _config(**choices)
    model = common.build_model(config, _IMAGE_SHAPE)
    before = [v.numpy().copy() for v in model.trainable_variables]
    self.assertNotEmpty(before)
    step = training.make_train_step(
        model, snt.optimizers.Adam(0.01),
        objective=common.objective(model, config, tf.Variable(1.0),
                                   tf.Variable(0.7)))
    metrics = step(_images(), tf.constant([0, 1]))
    self.assertEqual(metrics.loss.dtype, tf.float32)
    self.assertEqual(metrics.loss.shape, [])
    self.assertTrue(np.isfinite(metrics.loss.numpy()))
    for name, old, new in zip(
        [v.name for v in model.trainable_variables], before,
        model.trainable_variables):
      self.assertFalse(np.array_equal(old, new.numpy()),
                       msg=f'{name} did not move')

  @parameterized.product(posterior=encoders.COVARIANCES,
                         prior=common.PRIORS + ('categorical',))
  def test_free_bits_and_warmup(self, posterior, prior):
    choices = (dict(latent='categorical') if prior == 'categorical' else
               dict(posterior=posterior, prior=prior))
    if prior == 'categorical' and posterior != 'diagonal':
      self.skipTest('a categorical latent has no covariance')
    config = _config(free_bits=0.5, kl_warmup_steps=10, **choices)
    model = common.build_model(config, _IMAGE_SHAPE)
    # Free bits may hold the prior still (a rate below lambda gives it no
    # gradient), so only the networks must move.
    networks = (model.encoder.trainable_variables
                + model.decoder.trainable_variables)
    before = [v.numpy().copy() for v in networks]
    beta = tf.Variable(common.kl_weight(config, 1))
    step = training.make_train_step(
        model, snt.optimizers.Adam(0.01),
        objective=common.objective(model, config, beta, tf.Variable(0.7)))
    loss = step(_images(), tf.constant([0, 1])).loss
    self.assertTrue(np.isfinite(loss.numpy()))
    for old, new in zip(before, networks):
      self.assertFalse(np.array_equal(old, new.numpy()), msg=new.name)


class CompiledStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('conv_vamp_full', dict(encoder='conv', decoder='conv', prior='vamp',
                              posterior='full_covariance')),
      ('categorical_cb', dict(latent='categorical',
                              likelihood='continuous_bernoulli')),
      ('mixture_iwae_gaussian', dict(prior='mixture', objective='iwae',
                                     likelihood='gaussian')),
      ('autoencoder_conv', dict(model='autoencoder', encoder='conv')),
  )
  def test_compiled_and_eager_agree(self, choices):
    config = _config(**choices)
    losses = []
    for eager in (True, False):
      tf.random.set_seed(0)  # The same initial weights.
      model = common.build_model(dict(config), _IMAGE_SHAPE)
      tf.config.run_functions_eagerly(eager)
      try:
        step = training.make_train_step(
            model, snt.optimizers.Adam(0.01),
            objective=common.objective(model, config, tf.Variable(1.0),
                                       tf.Variable(0.7)))
        losses.append([step(_images(i), tf.constant([0, i])).loss.numpy()
                       for i in range(3)])
      finally:
        tf.config.run_functions_eagerly(False)
    # The same seeds and weights; only float reordering differs.
    self.assertAllClose(losses[0], losses[1], rtol=1e-4)


class XLATest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('full_vamp_gaussian', dict(prior='vamp', posterior='full_covariance',
                                  likelihood='gaussian')),
      ('categorical_cb', dict(latent='categorical',
                              likelihood='continuous_bernoulli')),
      ('mixture_iwae', dict(prior='mixture', objective='iwae')),
      ('autoencoder', dict(model='autoencoder')),
      ('free_bits_warmup', dict(free_bits=0.5, kl_warmup_steps=3)),
  )
  def test_every_family_compiles_with_xla(self, choices):
    # The training loop compiles each kind of prior, posterior, likelihood,
    # latent and objective with XLA (MLPs: a conv network on a CPU does not
    # use XLA by default). Under XLA the loop's steps are the compiled steps
    # one by one, with the same random draws; XLA fuses the loop as one
    # program, so floats may round differently. XLA draws other random
    # numbers from the same seeds than TensorFlow's kernels, so against the
    # loop without XLA the losses (nats on 64 pixels) agree only as two
    # Monte Carlo estimates do.
    config = _config(**choices)
    losses = {}
    for way in ('loop', 'xla_loop', 'xla_steps'):
      tf.random.set_seed(0)
      model = common.build_model(dict(config), _IMAGE_SHAPE)
      beta = tf.Variable(common.kl_weight(config, 0), dtype=tf.float32)
      tau = (tf.Variable(common.temperature(config, 0), dtype=tf.float32)
             if config['latent'] == 'categorical' else None)
      optimizer = snt.optimizers.Adam(0.01)
      objective = common.objective(model, config, beta, tau)
      schedule = common.schedule(config, beta, tau)
      batches = iter(tf.data.Dataset.from_tensors(_images()).repeat())
      if way == 'xla_steps':
        step = training.make_train_step(model, optimizer, jit_compile=True,
                                        objective=objective)
        losses[way] = []
        for s in range(1, 5):
          if schedule is not None:
            schedule(tf.constant(s))
          losses[way].append(
              step(next(batches), tf.constant([0, s])).loss.numpy())
      else:
        train = training.make_train_loop(
            model, optimizer, batches, seed=0, steps_per_call=4,
            jit_compile=way == 'xla_loop', objective=objective,
            schedule=schedule)
        losses[way] = train(1, 4).loss.numpy()
      self.assertTrue(np.all(np.isfinite(losses[way])), msg=way)
    self.assertAllClose(losses['xla_loop'], losses['xla_steps'], rtol=1e-5)
    self.assertAllClose(losses['xla_loop'], losses['loop'], rtol=0.1,
                        atol=1.0)

  def test_xla_by_default_except_conv_on_cpu(self):
    on_gpu = bool(tf.config.list_physical_devices('GPU'))
    self.assertTrue(common.uses_xla(_config(jit_compile=None)))
    self.assertTrue(common.uses_xla({}))  # A run from before the flag.
    self.assertEqual(common.uses_xla(_config(encoder='conv')), on_gpu)
    self.assertEqual(common.uses_xla(_config(decoder='conv',
                                             jit_compile=None)), on_gpu)
    self.assertTrue(common.uses_xla(_config(encoder='conv', jit_compile=True)))
    self.assertFalse(common.uses_xla(_config(jit_compile=False)))


class ConfigTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      (dict(model='autoencoder', prior='vamp'), '--model=autoencoder '
       '--prior=vamp: a plain autoencoder'),
      (dict(model='autoencoder', kl_samples=2), 'an autoencoder has no KL'),
      (dict(latent='categorical', objective='iwae'), 'train on the ELBO'),
      (dict(latent='categorical', prior='mixture'), 'uniform categorical'),
      (dict(latent='categorical', posterior='full_covariance'),
       'has none'),
      (dict(objective='iwae', free_bits=1.0), 'no separate KL term'),
      (dict(objective='iwae', loss_normalization='notebook'), 'ELBO only'),
      (dict(likelihood='gaussian', binarization='dynamic'),
       '--binarization=none'),
      (dict(likelihood='bernoulli', likelihood_scale=0.1),
       'Gaussian likelihood only'),
      (dict(temperature=0.4, min_temperature=0.5), 'must not be below'),
  )
  def test_refused(self, choices, message):
    with self.assertRaisesRegex(common.InputError, message):
      common.check_config(_config(**choices))

  def test_schedules(self):
    config = _config(beta=2.0, kl_warmup_steps=100, temperature=1.0,
                     min_temperature=0.5, temperature_decay=1e-3)
    self.assertEqual(common.kl_weight(config, 0), 0.0)
    self.assertAlmostEqual(common.kl_weight(config, 25), 0.5)
    self.assertEqual(common.kl_weight(config, 100), 2.0)
    self.assertEqual(common.kl_weight(config, 10**6), 2.0)
    self.assertAlmostEqual(common.temperature(config, 0), 1.0)
    self.assertAlmostEqual(common.temperature(config, 200), np.exp(-0.2))
    self.assertEqual(common.temperature(config, 10**6), 0.5)

  @parameterized.parameters(False, True)
  def test_schedule_in_the_graph_matches_python(self, jit_compile):
    config = _config(beta=2.0, kl_warmup_steps=100, latent='categorical',
                     temperature=1.0, min_temperature=0.5,
                     temperature_decay=1e-3)
    beta, tau = tf.Variable(0.0), tf.Variable(0.0)
    assign = common.schedule(config, beta, tau)

    @tf.function(jit_compile=jit_compile)
    def at(step):
      assign(step)
      return beta.read_value(), tau.read_value()

    for step in (0, 1, 25, 99, 100, 101, 693, 694, 10**6):
      got_beta, got_tau = at(tf.constant(step))
      self.assertEqual(got_beta.numpy(),
                       np.float32(common.kl_weight(config, step)), msg=step)
      self.assertAllClose(got_tau.numpy(),
                          np.float32(common.temperature(config, step)),
                          rtol=1e-7, atol=0, msg=step)
    self.assertIsNone(common.schedule(_config(), beta))

  def test_config_from_before_the_zoo_builds_the_default_model(self):
    config = {k: v for k, v in _config().items()
              if k not in common.MODEL_DEFAULTS}
    model = common.build_model(config, _IMAGE_SHAPE)
    self.assertIsInstance(model, model_lib.VAE)
    self.assertIsInstance(model.encoder, encoders.MLPEncoder)
    self.assertEqual(common.latent_dims(config), 3)
    self.assertEqual(common.latent_dims(_config(latent='categorical')), 9)
