"""Tests for vae/run/build.py: every combination of registered parts trains."""

import itertools

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from vae import config as config_lib
from vae import data
from vae import decoders
from vae import encoders
from vae import hierarchy
from vae import latents
from vae import model as model_lib
from vae import objectives
from vae import priors
from vae import schedules
from vae import training
from vae.run import build

_IMAGE_SHAPE = (8, 8, 1)
_SMALL = dict(beta=1.0, latent_size=3, hidden_sizes=[16],
              conv_channels=[4, 8], seed=0, binarization='none',
              prior_components=3, num_importance_samples=2, num_classes=3,
              codebook_size=5, embedding_dim=3, pixelcnn_channels=4,
              pixelcnn_layers=1, discriminator_hidden_sizes=[8],
              importance_groups=2, ciwae_beta=0.3, geco_target=50.0)


def _config(**choices) -> config_lib.Config:
  """The config of `choices`, with the small sizes of _SMALL for the fields
  its chosen parts read."""
  read = config_lib.fields_read(**choices)
  small = {k: v for k, v in _SMALL.items() if k in read and k not in choices}
  return config_lib.make(**small, **choices)


def _choices():
  """Combinations of the registered parts, valid or not. Each part meets
  those it interacts with, not every other part: a decoder each likelihood
  (the parameters it emits), an encoder the MLP decoder (they meet only
  through z), and every network and likelihood each model and latent; a
  posterior each prior (the VampPrior calls it) and each objective (of
  each set of traits), not each pair of them; every latent kind each model
  and objective. A new part so adds a row, not a factor, to the sweep."""
  likelihoods = ([(name, None) for name in decoders.LIKELIHOODS]
                 + [('gaussian', 0.3)])
  networks = ([dict(encoder='mlp', decoder=decoder, likelihood=likelihood,
                    likelihood_scale=scale)
               for decoder, (likelihood, scale) in itertools.product(
                   decoders.DECODERS, likelihoods)]
              + [dict(encoder=encoder, decoder='mlp', likelihood='bernoulli',
                      likelihood_scale=None)
                 for encoder in encoders.ENCODERS if encoder != 'mlp'])
  kinds = ([dict()]
           + [dict(latent=name) for name in latents.LATENTS
              if name != 'gaussian']
           + [dict(latent_sizes=(3, 2), inference=inference,
                   latent_size=10, latent_hidden_sizes=(8,))
              for inference in hierarchy.INFERENCES])
  for network, model in itertools.product(networks, model_lib.MODELS):
    yield dict(network, model=model, posterior='full_covariance',
               prior='vamp')  # The prior that calls the encoder.
    yield dict(network, model=model, latent='categorical')
  # A model with its own networks (the VQ-VAE) meets each likelihood.
  for model in model_lib.MODELS:
    if model_lib.MODELS.traits(model).get('own_networks'):
      for network in networks:
        if network['encoder'] == network['decoder'] == 'mlp':
          yield dict(model=model, likelihood=network['likelihood'],
                     likelihood_scale=network['likelihood_scale'])
  heads = _objective_heads()
  # A posterior meets each prior (the KL, the VampPrior's call) on the
  # ELBO, and each objective on the standard prior.
  for posterior, prior in itertools.product(encoders.POSTERIORS,
                                            priors.PRIORS):
    yield dict(model='vae', objective='elbo', posterior=posterior,
               prior=prior)
  for posterior, objective in itertools.product(
      encoders.POSTERIORS, [head for head in heads if head != 'elbo']):
    yield dict(model='vae', objective=objective, posterior=posterior)
  for latent, model, objective in itertools.product(
      kinds, model_lib.MODELS, heads):
    yield dict(model=model, objective=objective, **latent)
  # An objective with the traits of an earlier one meets the parts through
  # the same functions (`objectives.importance_weights`, `_held`) and the
  # same rules: one row of its own.
  for objective in objectives.OBJECTIVES:
    if objective not in heads:
      yield dict(model='vae', **objectives.OBJECTIVES.fixed(objective),
                 objective=objective)
  # The label in the conv networks and in the prior that calls the encoder.
  yield dict(model='vae', conditional=True, label_classes=3, encoder='conv',
             decoder='conv', prior='vamp', posterior='full_covariance')


def _objective_heads():
  """The first objective registered with each set of traits and fixed
  parts."""
  heads = {}
  for name in objectives.OBJECTIVES:
    traits = tuple(sorted(objectives.OBJECTIVES.traits(name).items())) + (
        tuple(sorted(objectives.OBJECTIVES.fixed(name).items())))
    heads.setdefault(traits, name)
  return list(heads.values())


def _accepted(**choices) -> bool:
  """Whether the configuration accepts `choices` (it refuses the rest with
  a reason, tested in config_test)."""
  try:
    _config(**choices)
  except ValueError:
    return False
  return True


def _loss_only(model: str) -> bool:
  """Whether `model` trains the VAE's own parts on a loss of its own (the
  disentangling models, InfoVAE, GECO): it meets the networks, latents and
  priors through `objectives.elbo`'s terms, as the VAE's rows do."""
  traits = model_lib.MODELS.traits(model)
  return model != 'vae' and not (traits.get('own_networks')
                                 or traits.get('point_mass_code'))


def _combinations():
  """Every combination of `_choices` the configuration accepts; a model
  that only changes the VAE's loss, in its first accepted combination."""
  accepted, seen = [], set()
  for choices in _choices():
    model = choices.get('model', 'vae')
    if _loss_only(model) and model in seen or not _accepted(**choices):
      continue
    seen.add(model)
    accepted.append(choices)
  return accepted


def _name(choices):
  return '_'.join(f'{v}' for v in choices.values()).replace('.', '')


def _images(seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.uniform(size=(4,) + _IMAGE_SHAPE), tf.float32)


def _batch(config, seed=0):
  """`_images`, with labels 0, 1, 2, 0 for a conditional model."""
  if not config.model.conditional:
    return _images(seed)
  return _images(seed), tf.constant([0, 1, 2, 0])


def _train_every_phase(model, config, images, seed, steps=1):
  """`steps` steps of each of the run's training phases (the VQ-VAE has
  two); the last step's metrics."""
  temperature = (tf.Variable(0.7) if config.model.latent == 'categorical'
                 else None)
  for phase in build.phases(config, model, tf.Variable(1.0), temperature):
    step = training.make_train_step(phase.trains, snt.optimizers.Adam(0.01),
                                    objective=phase.objective,
                                    after=phase.after)
    for _ in range(steps):
      metrics = step(images, seed)
  return metrics


def _objective(model, config, beta=1.0):
  """The objective, relaxing a categorical latent at temperature 0.7."""
  temperature = None
  if config.model.latent == 'categorical':
    temperature = tf.Variable(0.7)
  return build.run_objective(config, model, tf.Variable(beta), temperature)


class SectionTest(tf.test.TestCase):

  def test_a_whole_config_where_a_section_belongs_says_which(self):
    config = config_lib.make()
    with self.assertRaisesRegex(ValueError, 'build.build takes the model '
                                'section .* pass config.model'):
      build.build(config, (4, 4, 1))
    with self.assertRaisesRegex(ValueError, 'pass config.objective'):
      build.objective(config, None, tf.Variable(1.0))

  def test_factories_get_the_fields_their_parts_declare_and_no_more(self):
    # So a factory reading a field it does not declare fails in every
    # build, as one made from keywords (registry.build) would.
    made_from = vars(build.settings(config_lib.make().model))
    self.assertEqual(made_from['hidden_sizes'], (100, 100))
    self.assertNotIn('prior_components', made_from)
    self.assertNotIn('codebook_size', made_from)
    vamp = vars(build.settings(config_lib.make(prior='vamp', beta=1.0).model))
    self.assertEqual(vamp['prior_components'], 10)
    self.assertCountEqual(
        made_from, config_lib.fields_read() & set(vars(
            config_lib.make().model)))

  def test_the_objective_takes_its_seed_as_an_option(self):
    for choices in (dict(), dict(model='beta_tcvae')):
      config = _config(**choices)
      model = build.build(config.model, _IMAGE_SHAPE, seed=0)
      objective = build.run_objective(config, model, tf.Variable(1.0))
      self.assertEqual(objective(_images()).loss.shape, [4])
      self.assertAllEqual(objective(_images(), [1, 2]).loss,
                          objective(_images(), [1, 2]).loss)


class RegistryCoverageTest(tf.test.TestCase):

  def test_every_registered_part_is_in_a_trained_combination(self):
    combinations = list(_combinations())
    for key, registry in (('encoder', encoders.ENCODERS),
                          ('decoder', decoders.DECODERS),
                          ('likelihood', decoders.LIKELIHOODS),
                          ('posterior', encoders.POSTERIORS),
                          ('prior', priors.PRIORS),
                          ('model', model_lib.MODELS),
                          ('objective', objectives.OBJECTIVES)):
      used = {c[key] for c in combinations if key in c}
      self.assertEqual(used, set(registry), msg=key)
    self.assertEqual({c.get('latent', 'gaussian') for c in combinations},
                     set(latents.LATENTS))


@pytest.mark.slow  # Trains every model family the registries make.
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
    model = build.build(config.model, _IMAGE_SHAPE, seed=0)
    before = [v.numpy().copy() for v in model.trainable_variables]
    self.assertNotEmpty(before)
    # A layer that starts at zero (the VQ-VAE prior's output) passes no
    # gradient back on the first step: a model of phases takes two.
    steps = 2 if hasattr(model, 'phases') else 1
    metrics = _train_every_phase(model, config, _batch(config),
                                 tf.constant([0, 1]), steps=steps)
    self.assertEqual(metrics.loss.dtype, tf.float32)
    self.assertEqual(metrics.loss.shape, [])
    self.assertTrue(np.isfinite(metrics.loss.numpy()))
    for name, old, new in zip(
        [v.name for v in model.trainable_variables], before,
        model.trainable_variables):
      self.assertFalse(np.array_equal(old, new.numpy()),
                       msg=f'{name} did not move')

  @parameterized.parameters(
      choices for choices in
      [dict(latent='categorical')]
      + [dict(posterior=posterior, prior=prior) for posterior, prior
         in itertools.product(encoders.POSTERIORS, priors.PRIORS)]
      if _accepted(free_bits=0.5, kl_warmup_steps=10, **choices))
  def test_free_bits_and_warmup(self, **choices):
    config = _config(free_bits=0.5, kl_warmup_steps=10, **choices)
    model = build.build(config.model, _IMAGE_SHAPE, seed=0)
    # Free bits may hold the prior still (a rate below lambda gives it no
    # gradient), so only the networks must move.
    networks = (model.encoder.trainable_variables
                + model.decoder.trainable_variables)
    before = [v.numpy().copy() for v in networks]
    beta = float(schedules.kl_weight(1, config.objective.beta,
                                     config.objective.kl_warmup_steps))
    step = training.make_train_step(
        model, snt.optimizers.Adam(0.01),
        objective=_objective(model, config, beta=beta))
    loss = step(_images(), tf.constant([0, 1])).loss
    self.assertTrue(np.isfinite(loss.numpy()))
    for old, new in zip(before, networks):
      self.assertFalse(np.array_equal(old, new.numpy()), msg=new.name)


@pytest.mark.slow  # Traces a training step of whole model families.
class CompiledStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('conv_vamp_full', dict(encoder='conv', decoder='conv', prior='vamp',
                              posterior='full_covariance')),
      ('categorical_cb', dict(latent='categorical',
                              likelihood='continuous_bernoulli')),
      ('mixture_iwae_iaf_gaussian', dict(prior='mixture', objective='iwae',
                                         posterior='iaf',
                                         likelihood='gaussian')),
      ('autoencoder_conv_discretized',
       dict(model='autoencoder', encoder='conv',
            likelihood='discretized_logistic')),
      ('beta_tcvae', dict(model='beta_tcvae')),
      ('dip_vae_ii', dict(model='dip_vae_ii')),
      ('annealed_vae', dict(model='annealed_vae', capacity_steps=2)),
  )
  def test_compiled_and_eager_agree(self, choices):
    config = _config(**choices)
    losses = []
    for eager in (True, False):
      tf.random.set_seed(0)  # The same initial weights.
      model = build.build(config.model, _IMAGE_SHAPE, seed=0)
      tf.config.run_functions_eagerly(eager)
      try:
        step = training.make_train_step(model, snt.optimizers.Adam(0.01),
                                        objective=_objective(model, config))
        losses.append([step(_images(i), tf.constant([0, i])).loss.numpy()
                       for i in range(3)])
      finally:
        tf.config.run_functions_eagerly(False)
    # The same seeds and weights; only float reordering differs.
    self.assertAllClose(losses[0], losses[1], rtol=1e-4)


@pytest.mark.slow
class XLATest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('full_vamp_gaussian_free_bits_warmup',
       dict(prior='vamp', posterior='full_covariance', likelihood='gaussian',
            free_bits=0.5, kl_warmup_steps=3)),
      ('categorical_cb', dict(latent='categorical',
                              likelihood='continuous_bernoulli')),
      ('mixture_iwae_iaf', dict(prior='mixture', objective='iwae',
                                posterior='iaf')),
      # The autoencoder's loss is the decoder's and encoder's ops, which
      # these compile: not a case of its own.
      ('ladder_iwae_discretized', dict(
          latent_sizes=(3, 2), inference='ladder', latent_size=10,
          objective='iwae', likelihood='discretized_logistic')),
      # MIWAE's groups and the held copy (CIWAE's ops are IWAE's).
      ('piwae', dict(objective='piwae')),
      # (images, labels) batches through the loop; the mixture's weights
      # per class.
      ('conditional_mixture', dict(conditional=True, label_classes=3,
                                   prior='mixture')),
      # Both of its updates in the loop.
      ('factor_vae', dict(model='factor_vae', factor_gamma=1.0,
                          discriminator_hidden_sizes=(8,))),
  )
  def test_every_family_compiles_with_xla(self, choices):
    # The training loop compiles each kind of prior, posterior, likelihood,
    # latent, objective and schedule with XLA (MLPs: a conv network on a CPU
    # does not use XLA by default). That the XLA loop's steps are the XLA
    # step's is tested once, in training_test. XLA draws other random
    # numbers from the same seeds than TensorFlow's kernels, so against the
    # loop without XLA the losses (nats on 64 pixels) agree only as two
    # Monte Carlo estimates do. That loop runs eagerly: the same kernels and
    # numbers as its tf.function, without a trace to wait for.
    config = _config(**choices)
    losses = {}
    self.addCleanup(tf.config.run_functions_eagerly, False)
    for jit_compile in (False, True):
      tf.config.run_functions_eagerly(not jit_compile)
      tf.random.set_seed(0)
      model = build.build(config.model, _IMAGE_SHAPE, seed=0)
      variables = schedules.make(
          config.objective, config.model.latent == 'categorical')
      batches = data.without_tuning_thread(
          tf.data.Dataset.from_tensors(_batch(config)).repeat())
      (phase,) = build.phases(config, model, variables.beta,
                              variables.temperature)
      train = training.make_train_loop(
          phase.trains, snt.optimizers.Adam(0.01), iter(batches), seed=0,
          steps_per_call=4, jit_compile=jit_compile,
          objective=phase.objective, schedule=variables.assign,
          after=phase.after)
      losses[jit_compile] = train(1, 4).loss.numpy()
      self.assertTrue(np.all(np.isfinite(losses[jit_compile])),
                      msg=jit_compile)
    self.assertAllClose(losses[True], losses[False], rtol=0.1, atol=1.0)


class BuildTest(tf.test.TestCase):

  def test_default_is_the_notebook_model(self):
    model = build.build(_config().model, _IMAGE_SHAPE, seed=0)
    self.assertIsInstance(model, model_lib.VAE)
    self.assertIsInstance(model.encoder, encoders.MLPEncoder)
    self.assertIsInstance(model.decoder.likelihood,
                          decoders.BernoulliLikelihood)
    self.assertIsInstance(model.prior, priors.StandardNormal)
    self.assertEqual(latents.latent_dims(_config().model), 3)
    self.assertEqual(
        latents.latent_dims(_config(latent='categorical').model), 9)

  def test_autoencoder_has_a_point_mass_code_and_no_prior(self):
    model = build.build(_config(model='autoencoder').model, _IMAGE_SHAPE)
    self.assertIsInstance(model, model_lib.Autoencoder)
    self.assertIsNone(model.prior)
    code = model.encoder(_images())
    self.assertAllEqual(code.stddev(), tf.zeros_like(code.mean()))

  def test_vamp_prior_shares_the_encoder(self):
    model = build.build(_config(prior='vamp').model, _IMAGE_SHAPE, seed=0)
    self.assertIs(model.prior.encoder, model.encoder)

  def test_an_objective_with_loss_arguments_beside_it_is_refused(self):
    config = _config()
    model = build.build(config.model, _IMAGE_SHAPE, seed=0)
    with self.assertRaisesRegex(ValueError, 'no other loss arguments'):
      training.make_train_step(model, snt.optimizers.Adam(0.01),
                               beta=2.0, objective=_objective(model, config))


class ActivationTest(tf.test.TestCase):

  def test_every_network_takes_the_activation(self):
    # Burda et al.'s setup: tanh in the encoder, the decoder and the
    # networks between stochastic layers.
    config = _config(activation='tanh', latent_sizes=(3, 2), latent_size=10)
    model = build.build(config.model, _IMAGE_SHAPE, seed=0)
    mlps = [m for m in model.submodules if isinstance(m, snt.nets.MLP)]
    self.assertLen(mlps, 4)  # Encoder, decoder, q(z2|z1), p(z1|z2).
    for mlp in mlps:
      self.assertIs(mlp._activation, tf.tanh, msg=mlp.name)  # pylint: disable=protected-access
