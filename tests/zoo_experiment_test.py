"""The model zoo through experiments/mnist.py and experiments/evaluate.py:
every dataset under tfds.testing.mock_data, and the models whose outputs
differ from a Gaussian VAE's (categorical latents, the autoencoder)."""

import os
import shutil

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from experiments import run_flags
from tests import data_test
from tests import evaluate_experiment_test
from tests import mnist_experiment_test as mnist_test

pytestmark = pytest.mark.slow

# Without XLA: its compile time is not what these runs test (the default,
# XLA, path is covered by mnist_experiment_test).
_MOCK = ['--train_split=train', '--eval_split=test', '--batch_size=8',
         '--eval_batch_size=10', '--eval_num_samples=4', '--training_steps=6',
         '--log_every=2', '--nojit_compile', '--noexport']
_MLP = ['--hidden_sizes=16']


class DatasetsTest(tf.test.TestCase, parameterized.TestCase):

  # The figures of grey images once (binarized_mnist: the others draw as
  # MNIST does) and of colour ones (cifar10).
  @parameterized.named_parameters(
      ('mnist', 'mnist', ['--nofigures'] + _MLP, None),
      ('fashion_mnist', 'fashion_mnist', ['--nofigures'] + _MLP, None),
      ('kmnist', 'kmnist', ['--nofigures'] + _MLP, None),
      ('binarized_mnist', 'binarized_mnist',
       ['--binarization=none'] + _MLP, 2),
      ('cifar10_gaussian_conv', 'cifar10',
       ['--likelihood=gaussian', '--binarization=none', '--encoder=conv',
        '--decoder=conv', '--conv_channels=4,8'], None),
  )
  def test_trains_under_mock_data(self, dataset, extra, max_value):
    output_dir = self.create_tempdir().full_path
    with data_test.mock_tfds(num_examples=20, max_value=max_value):
      mnist_test.run_main([f'--dataset={dataset}',
                           f'--output_dir={output_dir}'] + _MOCK + extra)
    summary = mnist_test.read_summary(output_dir)
    for key in ('train_loss', 'test_elbo', 'test_nll', 'test_distortion'):
      self.assertTrue(np.isfinite(summary[key]), msg=key)
    self.assertEqual(summary['train_examples'], 20)
    self.assertNotIn('mig', summary)  # No ground-truth factors.
    if '--nofigures' in extra:
      return
    figures = os.path.join(output_dir, 'figures')
    for name in mnist_test.FIGURES:
      self.assertGreater(os.path.getsize(os.path.join(figures, name)), 1000)

  def test_factor_vae_on_sprites_reports_the_metrics_asked_for(self):
    # Drawn here: no mock, no files. A hundredth of disentanglement_lib's
    # points: 100 training points for MIG and the rest. DCI's 11,300 trees
    # (100 rounds, one tree per class of each factor) would take 9 s of
    # the suite; metrics_test checks it.
    output_dir = self.create_tempdir().full_path
    mnist_test.run_main(['--dataset=sprites', '--train_split=train[:200]',
                         '--eval_split=train[200:220]',
                         '--metric_points_scale=0.01', '--model=factor_vae',
                         '--discriminator_hidden_sizes=16,16',
                         '--metrics=beta_vae,factor_vae,mig,sap',
                         f'--output_dir={output_dir}'] + _MOCK[2:] + _MLP)
    summary = mnist_test.read_summary(output_dir)
    self.assertEqual(summary['train_examples'], 200)
    for key in ('beta_vae_score', 'factor_vae_score', 'mig', 'sap'):
      self.assertBetween(summary[key], 0.0, 1.0, msg=key)
    self.assertNotIn('dci_disentanglement', summary)
    # The runner ran the discriminator's update every step: its optimiser
    # counted them, and the checkpoint holds it.
    reader = tf.train.load_checkpoint(os.path.join(output_dir,
                                                   'checkpoints'))
    (name,) = [n for n in reader.get_variable_to_shape_map()
               if 'discriminator_optimizer' in n and '/step/' in n]
    self.assertEqual(reader.get_tensor(name), 6)


class ModelsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.mnist_dir = data_test.require_mnist(self)
    self.output_dir = self.create_tempdir().full_path

  def _train(self, *extra):
    mnist_test.run_main([f'--data_dir={self.mnist_dir}',
                         '--training_steps=30',
                         f'--output_dir={self.output_dir}']
                        + mnist_test.TINY + ['--export', '--figures']
                        + list(extra))
    return mnist_test.read_summary(self.output_dir)

  def _evaluate_matches_training(self, summary):
    # The numbers; evaluate's figures are evaluate_experiment_test's.
    for source in ('checkpoint', 'saved_model'):
      evaluate_experiment_test.run_evaluate(
          [f'--output_dir={self.output_dir}', f'--source={source}',
           '--nofigures'])
      now = mnist_test.read_summary(self.output_dir, 'evaluation.json')
      for key in ('test_elbo', 'test_nll', 'test_rate', 'test_distortion',
                  'active_units'):
        self.assertEqual(now[key], summary[key], msg=f'{source} {key}')

  def test_categorical_latent(self):
    summary = self._train('--latent=categorical', '--latent_size=4',
                          '--num_classes=5', '--beta=1',
                          '--temperature_decay=0.01')
    self.assertEqual(summary['latent_dims'], 20)
    self.assertEqual(summary['kl_estimator'], 'analytic')
    # The schedule max(0.5, exp(-0.01 * 30)) = 0.741 at the last step.
    self.assertAllClose(summary['temperature'], np.exp(-0.3), rtol=1e-6)
    self.assertIn('temperature', mnist_test.event_tags(
        os.path.join(self.output_dir, 'train'))['tensors'])
    # Evaluation is the discrete model's: the rate is the exact categorical
    # KL, at most 4 log 5 nats, and the NLL estimate is below -ELBO.
    self.assertBetween(summary['test_rate'], 0, 4 * np.log(5))
    self.assertLess(summary['test_nll'], -summary['test_elbo'] + 1e-3)
    self.assertLen(summary['unit_variances'], 20)
    figures = os.listdir(os.path.join(self.output_dir, 'figures'))
    self.assertIn('samples.png', figures)
    self.assertNotIn('latent_traversal.png', figures)  # Not Gaussian codes.
    self._evaluate_matches_training(summary)

  def test_autoencoder(self):
    summary = self._train('--model=autoencoder', '--latent_size=2')
    self.assertIsNone(summary['test_elbo'])
    self.assertIsNone(summary['test_nll'])
    self.assertEqual(summary['test_rate'], 0.0)
    self.assertEqual(summary['test_loss'], summary['test_distortion'])
    figures = os.listdir(os.path.join(self.output_dir, 'figures'))
    self.assertIn('reconstructions.png', figures)
    self.assertIn('latent_means.png', figures)
    self.assertNotIn('samples.png', figures)  # No prior to sample.
    loaded = tf.saved_model.load(os.path.join(self.output_dir,
                                              'saved_model'))
    self.assertCountEqual(loaded.signatures.keys(),
                          ['encode', 'decode', 'reconstruct', 'elbo'])
    self._evaluate_matches_training(summary)

  def test_vamp_prior_iwae_with_warmup_resumes(self):
    flags = ['--prior=vamp', '--prior_components=5', '--objective=iwae',
             '--num_importance_samples=3', '--kl_warmup_steps=20',
             '--beta=1', '--checkpoint_every=10']
    whole = self._train(*flags)
    self.assertIsNone(whole['test_kl_per_dimension'])  # Not factorised.
    # Its evaluation's ELBO estimates the rate, and says so.
    self.assertEqual(whole['kl_estimator'], 'monte_carlo: log q(z|x) - '
                     'log p(z) at the distortion\'s draw')
    # Stop at 10 (inside the warm-up) and resume: the same run exactly.
    resumed_dir = self.create_tempdir().full_path
    common_args = [f'--data_dir={self.mnist_dir}',
                   f'--output_dir={resumed_dir}'] + mnist_test.TINY + flags
    mnist_test.run_main(common_args + ['--training_steps=10'])
    mnist_test.run_main(common_args + ['--training_steps=30'])
    resumed = mnist_test.read_summary(resumed_dir)
    for key in ('train_loss', 'test_elbo', 'test_nll'):
      self.assertEqual(resumed[key], whole[key], msg=key)

  def test_annealed_vae_sets_its_capacity_in_the_loop(self):
    # The runner runs the model's assign_step in the compiled loop: the
    # checkpoint holds C at the last step, 30 of 40 steps to C_max = 8.
    self._train('--model=annealed_vae', '--capacity_max=8',
                '--capacity_steps=40', '--capacity_gamma=10', '--noexport',
                '--nofigures')
    reader = tf.train.load_checkpoint(os.path.join(self.output_dir,
                                                   'checkpoints'))
    (name,) = [n for n in reader.get_variable_to_shape_map()
               if 'capacity' in n]
    self.assertAllClose(reader.get_tensor(name), 6.0)

  def test_vqvae_resumes_across_its_phases_and_evaluates_alike(self):
    flags = ['--model=vqvae', '--conv_channels=4,8', '--codebook_size=16',
             '--embedding_dim=4', '--pixelcnn_channels=8',
             '--pixelcnn_layers=1', '--prior_training_steps=15',
             '--checkpoint_every=10']
    whole = self._train(*flags)
    self.assertEqual(whole['latent_dims'], 49)  # A 7x7 code map.
    self.assertEqual(whole['codebook_size'], 16)
    # exp(entropy) of the codes' frequencies: at most the codes used.
    self.assertBetween(whole['codebook_perplexity'], 1.0,
                       16 - whole['dead_codes'])
    self.assertEqual(whole['test_nll'], -whole['test_elbo'])  # A point mass.
    figures = os.listdir(os.path.join(self.output_dir, 'figures'))
    self.assertIn('samples.png', figures)
    self.assertNotIn('latent_means.png', figures)  # Indices: no geometry.
    self._evaluate_matches_training(whole)
    # A run lost after its step-10 checkpoint (the autoencoder's phase)
    # resumes from it: its prior's phase starts at 16 as the whole run's
    # did, and it repeats that run exactly.
    lost_dir = os.path.join(self.create_tempdir().full_path, 'run')
    shutil.copytree(self.output_dir, lost_dir)
    checkpoints = os.path.join(lost_dir, 'checkpoints')
    for name in os.listdir(checkpoints):
      if name.startswith(('ckpt-20', 'ckpt-30')):
        os.remove(os.path.join(checkpoints, name))
    mnist_test.run_main([f'--data_dir={self.mnist_dir}',
                         '--training_steps=30', f'--output_dir={lost_dir}']
                        + mnist_test.TINY + flags)  # No export.
    resumed = mnist_test.read_summary(lost_dir)
    self.assertEqual(resumed['resumed_from_step'], 10)
    for key in ('train_loss', 'train_rate', 'test_elbo', 'test_nll',
                'codebook_perplexity'):
      self.assertEqual(resumed[key], whole[key], msg=key)

  def test_impossible_combination_writes_nothing(self):
    with self.assertRaisesRegex(run_flags.InputError,
                                '--likelihood=gaussian --binarization=dynamic'
                                '.*pass --binarization=none'):
      self._train('--likelihood=gaussian')
    self.assertEmpty(os.listdir(self.output_dir))


if __name__ == '__main__':
  tf.test.main()
