"""Tests for vae/run/presets.py and experiments/reproduce.py."""

import json
import os

from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from experiments import reproduce
from experiments import run_flags
from tests import data_test
from tests import mnist_experiment_test as mnist_test
from vae import schedules
from vae import training
from vae.run import build
from vae.run import presets

_NAMES = ('burda2016_vae', 'burda2016_iwae5', 'burda2016_iwae50',
          'burda2016_vae_2layer', 'burda2016_iwae5_2layer',
          'burda2016_iwae50_2layer', 'vampprior2018', 'pythae_vae_static',
          'norouzi2020_vae', 'norouzi2020_vampprior')
# Where each dataset's published NLLs lie (nats, binarised 28x28 images).
_NLL_RANGES = {'mnist': (80, 100), 'fashion_mnist': (220, 240)}


class PresetsTest(tf.test.TestCase, parameterized.TestCase):

  def test_the_named_presets_exist(self):
    self.assertCountEqual(presets.names(), _NAMES)

  @parameterized.parameters(*_NAMES)
  def test_preset_cites_its_paper_and_trains_a_few_steps(self, name):
    preset = presets.load(name)
    self.assertRegex(preset.paper, r'\(20\d\d\)')
    self.assertTrue(preset.table and preset.differs)
    nll = preset.reported['test_nll']
    low, high = _NLL_RANGES[preset.dataset]
    self.assertTrue(nll is None or low < nll < high, msg=nll)
    if nll is None:
      self.assertIn('note', preset.reported)
    config = presets.make_config(preset, 60000)
    self.assertEqual(config.train.eval_num_samples,
                     preset.reported['eval_num_samples'])
    model = build.build(config.model, (28, 28, 1), seed=0)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(8, 28, 28, 1)), tf.float32)
    variables = schedules.make(config.objective, categorical=False)
    for phase in build.phases(config, model, variables.beta):
      step = training.make_train_step(  # Eager: no trace to pay for.
          phase.trains, snt.optimizers.Adam(config.train.learning_rate),
          objective=phase.objective, compile=False)
      losses = [float(step(x, tf.constant([0, i])).loss) for i in range(2)]
      self.assertTrue(np.all(np.isfinite(losses)), msg=losses)

  def test_epochs_become_steps(self):
    # Burda et al.: 3280 epochs of 60,000 images in batches of 20.
    preset = presets.load('burda2016_vae')
    config = presets.make_config(preset, 60000)
    self.assertEqual(config.train.training_steps, 3280 * 3000)
    self.assertEqual(config.train.lr_schedule, 'burda')
    self.assertEqual(config.train.adam_epsilon, 1e-4)
    self.assertEqual(config.model.activation, 'tanh')
    # Shortened: 1% of the epochs on 9,000 images, 450 steps an epoch.
    short = presets.make_config(preset, 9000, epochs_scale=0.01)
    self.assertEqual(short.train.training_steps, 14760)
    record = presets.record(preset, short, 9000, 0.01)
    self.assertAllClose(record['epochs_run'], 32.8)
    self.assertTrue(record['shortened'])
    self.assertFalse(presets.record(preset, config, 60000, 1.0)['shortened'])

  @parameterized.parameters('norouzi2020_vae', 'norouzi2020_vampprior')
  def test_exemplar_vae_recipe(self, name):
    # As read from sajadn/Exemplar-VAE: 50,000 training images and the
    # last 10,000 for validation, in file order, 500 steps an epoch.
    config = presets.make_config(presets.load(name), 50000)
    self.assertEqual(config.data.dataset, 'fashion_mnist')
    self.assertEqual(config.data.train_split, 'train[:50000]')
    self.assertEqual(config.data.validation_split, 'train[50000:]')
    self.assertEqual(config.data.eval_binarization_seed, 777)
    self.assertEqual(config.train.optimizer, 'adam_normgrad')
    self.assertEqual(config.train.seed, 14)
    self.assertEqual(config.train.training_steps, 2000 * 500)
    self.assertEqual(config.objective.kl_warmup_steps, 100 * 500)
    self.assertEqual(config.train.early_stopping_steps, 50 * 500)
    self.assertEqual(config.train.eval_every, 500)
    self.assertEqual((config.model.encoder, config.model.decoder,
                      config.model.posterior),
                     ('gated_mlp', 'gated_mlp', 'log_variance'))
    self.assertEqual(config.model.hidden_sizes, (300, 300))
    self.assertEqual(config.model.latent_size, 40)

  def test_warmup_in_epochs_scales_with_the_run(self):
    # The VampPrior's 100 warm-up epochs of 2000, on 9,000 images in
    # batches of 100: 90 steps an epoch.
    preset = presets.load('vampprior2018')
    config = presets.make_config(preset, 9000, epochs_scale=0.1)
    self.assertEqual(config.train.training_steps, 200 * 90)
    self.assertEqual(config.objective.kl_warmup_steps, 10 * 90)
    self.assertEqual(config.model.prior_components, 500)
    # Its patience is the paper's 50 epochs, not scaled, judged each epoch
    # on the last 10,000 training images.
    self.assertEqual(config.train.early_stopping_steps, 50 * 90)
    self.assertEqual(config.train.eval_every, 90)
    self.assertEqual(config.data.train_split, 'train[:50000]')
    self.assertEqual(config.data.validation_split, 'train[50000:]')

  def test_overrides_come_last_and_are_checked(self):
    preset = presets.load('pythae_vae_static')
    config = presets.make_config(preset, 1000, overrides=dict(
        training_steps=7, eval_num_samples=3))
    self.assertEqual(config.train.training_steps, 7)
    self.assertEqual(config.train.eval_num_samples, 3)
    # A batch size given on the command line keeps the paper's epochs:
    # 500 epochs of 1,000 images in batches of 50.
    bigger = presets.make_config(preset, 1000,
                                 overrides=dict(batch_size=50))
    self.assertEqual(bigger.train.training_steps, 500 * 20)
    self.assertEqual(bigger.train.eval_every, 500)
    with self.assertRaisesRegex(ValueError, 'epochs_scale=0'):
      presets.make_config(preset, 1000, epochs_scale=0)
    with self.assertRaisesRegex(ValueError, '^codebook_size=16 applies'):
      presets.make_config(preset, 1000, overrides=dict(codebook_size=16))
    with self.assertRaisesRegex(ValueError, '^--codebook_size=16 applies'):
      presets.make_config(preset, 1000, overrides=dict(codebook_size=16),
                          flag_names=True)

  def test_unknown_preset_names_the_known_ones(self):
    with self.assertRaisesRegex(ValueError, 'unknown; the presets are '
                                'burda2016_iwae5, '):
      presets.load('kingma2014')


class ReproduceTest(tf.test.TestCase):

  def _main(self, argv):
    with flagsaver.flagsaver():
      flags.FLAGS(['reproduce'] + argv)
      reproduce.main([])

  def test_list_names_every_preset_and_its_number(self):
    text = reproduce.listing()
    for name in _NAMES:
      self.assertIn(f'{name}\n', text)
    self.assertIn('NLL 86.76 (k = 5000)', text)
    # Burda et al.'s Table 1, IWAE at k = 1, 5, 50, one and two layers.
    for name, nll in (('burda2016_iwae5', 85.54), ('burda2016_iwae50', 84.78),
                      ('burda2016_vae_2layer', 85.33),
                      ('burda2016_iwae5_2layer', 83.89),
                      ('burda2016_iwae50_2layer', 82.90)):
      self.assertEqual(presets.load(name).reported['test_nll'], nll)

  def test_comparison_says_why_there_is_no_nll(self):
    record = dict(preset='burda2016_vae', epochs_run=1, paper_epochs=3280,
                  train_examples=100, reported={'test_nll': 86.76})
    self.assertIn('No test NLL (--eval_num_samples=0).',
                  reproduce.comparison(record, {'test_nll': None}))
    self.assertIn('No test NLL (point masses).', reproduce.comparison(
        record, {'test_nll': None, 'no_elbo': 'point masses'}))

  def test_unknown_preset_is_an_input_error(self):
    with self.assertRaisesRegex(run_flags.InputError, 'unknown; the presets'):
      self._main(['--preset=kingma2014'])

  @pytest.mark.slow
  def test_shortened_preset_runs_and_records_its_budget(self):
    mnist_dir = data_test.require_mnist(self)
    output_dir = self.create_tempdir().full_path
    self._main(['--preset=pythae_vae_static', '--epochs_scale=0.002',
                f'--data_dir={mnist_dir}', '--train_split=test[:500]',
                '--eval_split=test[500:600]', '--eval_num_samples=10',
                '--nojit_compile', '--noexport', '--nofigures',
                f'--output_dir={output_dir}'])
    with open(os.path.join(output_dir, reproduce.PRESET_JSON)) as f:
      record = json.load(f)
    # 1 epoch of 500 images in batches of 100.
    self.assertEqual(record['training_steps'], 5)
    self.assertAllClose(record['epochs_run'], 1.0)
    self.assertTrue(record['shortened'])
    self.assertEqual(record['reported']['test_nll'], 89.78)
    summary = mnist_test.read_summary(output_dir)
    self.assertEqual(summary['steps'], 5)
    with open(os.path.join(output_dir, 'config.json')) as f:
      config = json.load(f)
    self.assertEqual(config['binarization'], 'static')
    self.assertEqual(config['hidden_sizes'], [400])
    self.assertEqual(config['eval_num_samples'], 10)  # The flag's, given.

  def test_comparison_only_on_the_papers_dataset(self):
    record = dict(preset='p', epochs_run=1.0, paper_epochs=10.0,
                  train_examples=500, reported={'test_nll': 90.0,
                                                'eval_num_samples': 200},
                  paper_dataset='mnist', dataset='mnist')
    summary = dict(test_nll=95.5, eval_num_samples=200)
    self.assertIn('published 90.0 (k = 200), a gap of +5.50 nats',
                  reproduce.comparison(record, summary))
    record['dataset'] = 'fashion_mnist'
    self.assertIn('not comparable', reproduce.comparison(record, summary))


if __name__ == '__main__':
  tf.test.main()
