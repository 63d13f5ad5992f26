"""Tests for vae/config.py: defaults, checks, rules and old config files."""

import json
import math

from absl.testing import parameterized
import tensorflow as tf

from vae import config as config_lib
from vae import encoders
from vae import priors


class ConfigTest(tf.test.TestCase, parameterized.TestCase):

  def test_defaults_are_the_notebook_model(self):
    config = config_lib.Config()
    self.assertEqual(config.objective.beta, 0.01)
    self.assertEqual(config.model.latent_size, 10)
    self.assertEqual(config.model.hidden_sizes, (100, 100))
    self.assertEqual(config.train.batch_size, 64)
    self.assertEqual(config.data.binarization, 'dynamic')

  def test_frozen(self):
    with self.assertRaises(Exception):
      config_lib.Config().model.latent_size = 3

  def test_round_trip_through_json(self):
    config = config_lib.make(beta=1.0, hidden_sizes=[5, 6], prior='vamp',
                             kl_samples=3, jit_compile=False)
    again = config_lib.from_dict(json.loads(json.dumps(config.to_dict())))
    self.assertEqual(again, config)

  def test_field_names_are_unique_across_sections(self):
    names = [f for cls in config_lib.SECTIONS.values()
             for f in cls.__dataclass_fields__]
    self.assertEqual(len(names), len(set(names)))

  def test_flag_strings_are_parsed(self):
    config = config_lib.from_dict(dict(hidden_sizes=['100', '100'],
                                       encoder='conv', conv_channels='8,16',
                                       beta=1))
    self.assertEqual(config.model.hidden_sizes, (100, 100))
    self.assertEqual(config.model.conv_channels, (8, 16))
    self.assertIsInstance(config.objective.beta, float)

  def test_metrics_are_a_list_of_names(self):
    self.assertEqual(config_lib.make().train.metrics,
                     ('beta_vae', 'factor_vae', 'mig', 'sap', 'dci'))
    self.assertEqual(config_lib.make(metrics='mig,sap').train.metrics,
                     ('mig', 'sap'))
    self.assertEqual(config_lib.make(metrics='').train.metrics, ())

  @parameterized.parameters(
      ('beta', -1.0, '^beta=-1.0: must be at least 0$'),
      ('beta', math.nan, '^beta=nan: must be a finite number$'),
      ('beta', math.inf, '^beta=inf: must be a finite number$'),
      ('free_bits', -math.inf, 'free_bits=-inf: must be a finite number'),
      ('learning_rate', 0.0, '^learning_rate=0.0: must be above 0$'),
      ('learning_rate', math.nan, 'learning_rate=nan: must be a finite'),
      ('likelihood_scale', math.nan, 'likelihood_scale=nan: must be a'),
      ('latent_size', 0, '^latent_size=0: must be at least 1$'),
      ('hidden_sizes', [100, 0], '^hidden_sizes=100,0: must be at least 1$'),
      ('hidden_sizes', ['a'], '^hidden_sizes=a: must be a list of int$'),
      ('batch_size', 2.5, '^batch_size=2.5: must be int$'),
      ('num_classes', 1, 'num_classes=1: must be at least 2'),
      ('eval_num_samples', -1, 'eval_num_samples=-1: must be at least 0'),
      ('export', 'yes', '^export=yes: must be bool$'),
      ('prior', 'laplace', '^prior=laplace: unknown prior; the known ones '
       f'are {", ".join(priors.PRIORS.names())}$'),
      ('encoder', 'resnet', 'unknown encoder; the known ones are '
       f'{", ".join(encoders.ENCODERS.names())}$'),
      ('binarization', 'otsu', 'the known ones are dynamic, static, none'),
      ('activation', 'sigmoid', 'the known ones are relu, tanh, elu'),
      ('inference', 'top_down', 'the known ones are bottom_up, ladder'),
      ('metrics', 'mig,dci_score', '^metrics=dci_score: unknown metric; the '
       'known ones are beta_vae, factor_vae, mig, sap, dci$'),
  )
  def test_bad_field_is_named(self, name, value, message):
    with self.assertRaisesRegex(ValueError, message):
      config_lib.make(**{name: value})

  def test_unknown_field_lists_the_known_ones(self):
    with self.assertRaisesRegex(ValueError, r'unknown configuration fields: '
                                r'betta; the known ones are .*beta'):
      config_lib.make(betta=1.0)

  @parameterized.parameters(
      # The field, then the parts that would read it, then what was chosen.
      (dict(prior_components=5), '^prior_components=5 applies to '
       'prior=mixture or vamp, not prior=normal: drop it'),
      (dict(num_importance_samples=50), '^num_importance_samples=50 '
       'applies to objective=iwae, dreg, miwae, ciwae or piwae, not '
       'objective=elbo'),
      (dict(model='autoencoder', prior='vamp'), '^prior=vamp applies to '
       'latent=gaussian; latent applies to model=vae, .*, not '
       'model=autoencoder'),
      (dict(model='autoencoder', kl_samples=2), 'not model=autoencoder'),
      (dict(latent='categorical', prior='mixture'), '^prior=mixture '
       'applies to latent=gaussian, not latent=categorical'),
      (dict(latent='categorical', posterior='full_covariance'),
       'not latent=categorical'),
      (dict(objective='iwae', free_bits=1.0), '^free_bits=1.0 applies to '
       'objective=elbo, not objective=iwae'),
      (dict(objective='dreg', kl_samples=3), 'or objective=elbo, not '
       'model=vae and objective=dreg'),
      (dict(objective='iwae', loss_normalization='notebook'),
       'not model=vae and objective=iwae'),
      (dict(flow_steps=3), '^flow_steps=3 applies to posterior=iaf, '
       'realnvp, planar or radial, not posterior=diagonal'),
      (dict(flow_hidden_sizes=(8,)), 'applies to posterior=iaf or realnvp'),
      (dict(mixture_components=3), 'applies to '
       'likelihood=discretized_logistic, not likelihood=bernoulli'),
      (dict(likelihood='bernoulli', likelihood_scale=0.1),
       'applies to likelihood=gaussian'),
      (dict(model='vqvae', beta=0.5), '^beta=0.5 applies to '
       'objective=elbo, iwae, dreg, miwae, ciwae or piwae; '
       'objective applies to model=vae, '
       'not model=vqvae'),
      (dict(model='vqvae', hidden_sizes=(5,)), 'not model=vqvae'),
      (dict(codebook_size=8), 'applies to model=vqvae, not model=vae'),
      (dict(model='beta_tcvae', beta=4.0), 'not model=beta_tcvae'),
      (dict(model='vae', tc_weight=2.0), '^tc_weight=2.0 applies to '
       'model=beta_tcvae, not model=vae'),
      # A value a chosen part fixes.
      (dict(model='dip_vae_i', posterior='full_covariance'),
       '^model=dip_vae_i needs posterior=diagonal, not '
       'posterior=full_covariance: pass posterior=diagonal, or another '
       'model'),
      (dict(model='factor_vae', latent_sizes=(3, 2)),
       'needs latent_sizes=, not latent_sizes=3,2'),
      (dict(objective='autoencoder'), '^objective=autoencoder needs '
       'model=autoencoder, not model=vae'),
      (dict(model='autoencoder', objective='iwae'), '^model=autoencoder '
       'needs objective=autoencoder, not objective=iwae'),
  )
  def test_a_field_no_chosen_part_reads_is_refused(self, values, message):
    with self.assertRaisesRegex(ValueError, message):
      config_lib.make(**values)

  def test_errors_name_fields_from_code_and_flags_from_the_command_line(
      self):
    values = dict(prior_components=5)
    with self.assertRaisesRegex(ValueError, '^prior_components=5 applies to '
                                'prior=mixture or vamp, not prior=normal'):
      config_lib.from_dict(values)
    with self.assertRaisesRegex(ValueError, '^--prior_components=5 applies '
                                'to --prior=mixture or vamp, not '
                                '--prior=normal'):
      config_lib.from_dict(values, flag_names=True)
    with self.assertRaisesRegex(ValueError, '^--beta=-1.0: must be at least'):
      config_lib.from_dict(dict(beta=-1.0), flag_names=True)

  @parameterized.parameters(
      dict(model='autoencoder', objective='autoencoder'),
      dict(model='autoencoder', loss_normalization='notebook'),
      dict(model='beta_tcvae', tc_weight=3.0, kl_samples=2),
      dict(model='vqvae', codebook_size=8, conv_channels=(8, 16)),
      dict(prior='vamp', prior_components=5),
      dict(objective='iwae', num_importance_samples=50, beta=1.0),
      dict(latent='categorical', num_classes=3, temperature=2.0),
      dict(encoder='conv', conv_channels=(8,)),
  )
  def test_a_field_a_chosen_part_reads_is_accepted(self, **values):
    config = config_lib.make(**values)
    for name, value in values.items():
      self.assertEqual(config.to_dict()[name],
                       list(value) if isinstance(value, tuple) else value)

  def test_every_field_is_read_by_a_part_or_by_every_run(self):
    for name, (_, field) in config_lib.fields().items():
      with self.subTest(name):
        self.assertTrue(field.metadata['is_global'] or config_lib.owners(name),
                        f'{name}: no registered part declares it and it is '
                        'not marked is_global')

  def test_every_declared_field_exists(self):
    known = config_lib.fields()
    for name, (_, field) in known.items():
      parts = field.metadata['choices']
      for part in getattr(parts, 'fields', None) and parts or ():
        with self.subTest(f'--{name}={part}'):
          self.assertEqual(set(parts.fields(part)) - set(known), set())
          self.assertEqual(set(parts.fixed(part)) - set(known), set())

  @parameterized.parameters(
      (dict(latent='categorical', objective='iwae'), 'train on the ELBO'),
      (dict(latent='categorical', objective='dreg'), 'train on the ELBO'),
      (dict(posterior='iaf', objective='dreg'), 'cannot hold'),
      (dict(posterior='realnvp', objective='dreg'), 'cannot hold'),
      (dict(posterior='realnvp', latent_size=1), 'at least 2'),
      (dict(posterior='realnvp', prior='vamp'), 'use posterior=iaf'),
      (dict(latent_sizes=(10,)), 'one layer is latent_size=10'),
      (dict(inference='ladder'), 'give its layers with latent_sizes'),
      (dict(latent_sizes=(3, 2), prior='mixture'),
       '^latent_sizes=3,2 prior=mixture: prior does not apply: a '
       'hierarchy'),
      (dict(latent_sizes=(3, 2), latent_size=4),
       'latent_size does not apply'),
      (dict(latent_sizes=(3, 2), objective='dreg'), 'cannot hold'),
      (dict(likelihood='gaussian'), 'binarization=none'),
      (dict(binarization='static', eval_binarization_seed=777),
       'goes with dynamic binarisation'),
      (dict(likelihood='discretized_logistic'), 'models 256 grey levels'),
      (dict(likelihood='discretized_logistic', binarization='dequantize'),
       'only binarization=none'),
      (dict(temperature=0.4, min_temperature=0.5, latent='categorical'),
       'must not be below'),
      (dict(strategy='mirrored', free_bits=0.5, jit_compile=True),
       'drop jit_compile'),
      (dict(early_stopping_steps=10), 'pass validation_split'),
      (dict(model='vqvae', early_stopping_steps=10,
            validation_split='train[50000:]'),
       'trains in phases'),
      (dict(model='vqvae', prior_training_steps=10, training_steps=10),
       'below training_steps'),
      (dict(model='autoencoder', curve_num_samples=10),
       'no likelihood to estimate'),
      (dict(model='factor_vae', strategy='mirrored', cpu_devices=2,
            jit_compile=True), 'drop jit_compile'),
      (dict(model='dip_vae_ii', strategy='mirrored', cpu_devices=2,
            jit_compile=True), 'drop jit_compile'),
  )
  def test_meaningless_combination_is_refused(self, values, message):
    with self.assertRaisesRegex(ValueError, message):
      config_lib.make(**values)

  @parameterized.parameters(
      (dict(), None),
      (dict(prior='vamp'), 1),
      (dict(prior='mixture', kl_samples=4), 4),
      (dict(posterior='iaf'), 1),
      (dict(posterior='full_covariance'), None),
      (dict(latent_sizes=(3, 2)), 1),
      (dict(latent='categorical'), None),
      (dict(model='vqvae'), 1),
      (dict(model='autoencoder'), None),
      (dict(model='beta_tcvae'), None),
  )
  def test_kl_samples_where_the_kl_has_no_closed_form(self, values,
                                                       expected):
    config = config_lib.make(**values)
    self.assertEqual(config_lib.kl_samples(config), expected)
    self.assertEqual(config_lib.kl_estimator(config).split(':')[0],
                     'analytic' if expected is None else 'monte_carlo')

  def test_config_from_before_the_zoo_fills_in_defaults(self):
    # A config.json written before the model zoo and the strategies: flags
    # as strings, no zoo or strategy keys, and the run-level flags.
    old = dict(beta=0.01, latent_size=10, hidden_sizes=['100', '100'],
               batch_size=64, learning_rate=0.001, training_steps=1024,
               seed=0, dataset='mnist', data_dir='/data', download=True,
               train_split='test[:9000]', eval_split='test[9000:]',
               binarization='dynamic', loss_normalization='per_example',
               kl_samples=None, log_every=100, eval_every=1000,
               eval_batch_size=500, eval_num_samples=1000,
               eval_chunk_size=20, checkpoint_every=500, keep_checkpoints=3,
               restart=False, export=True, output_dir='runs/mnist')
    config = config_lib.from_dict(old)
    self.assertEqual(config.model, config_lib.ModelConfig())
    self.assertEqual(config.train.strategy, 'default')
    self.assertEqual(config.data.data_dir, '/data')

  def test_changed_names_what_changes_training_only(self):
    earlier = config_lib.make(beta=0.01, training_steps=100)
    now = config_lib.make(beta=1.0, training_steps=200, eval_num_samples=5)
    self.assertEqual(config_lib.changed(earlier, now),
                     ['--beta: 0.01 then, 1.0 now'])

  def test_replace(self):
    config = config_lib.Config().replace(prior='mixture', beta=2.0)
    self.assertEqual(config.model.prior, 'mixture')
    self.assertEqual(config.objective.beta, 2.0)
    with self.assertRaisesRegex(ValueError, 'beta=nan: must be a finite'):
      config.replace(beta=math.nan)

  def test_a_registered_prior_becomes_a_choice(self):
    # What the README's worked example does: one class, one registry line.
    priors.PRIORS.register('test_laplace', lambda c, parts: None, 'a test')
    try:
      config = config_lib.make(prior='test_laplace')
      self.assertEqual(config.model.prior, 'test_laplace')
    finally:
      del priors.PRIORS._factories['test_laplace']  # pylint: disable=protected-access


if __name__ == '__main__':
  tf.test.main()
