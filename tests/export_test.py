"""Tests for vae/export.py: the SavedModel repeats the live model."""

import shutil
import tempfile

import numpy as np
import tensorflow as tf

from vae import decoders
from vae import encoders
from vae import evaluation
from vae import export
from vae import model as model_lib
from vae import priors

IMAGE_SHAPE = (6, 5, 1)
LATENT = 3


def _functions():
  tf.random.set_seed(0)
  vae = model_lib.VAE(encoders.MLPEncoder([8], LATENT),
                      decoders.MLPDecoder([8], IMAGE_SHAPE),
                      priors.StandardNormal(LATENT))
  vae(tf.zeros([1, *IMAGE_SHAPE]))
  return export.ModelFunctions(vae, IMAGE_SHAPE, LATENT)


def _images(n, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.uniform(size=(n, *IMAGE_SHAPE)) > 0.5).astype(np.float32)


class ShapesTest(tf.test.TestCase):

  def test_the_latent_size_is_the_models_and_is_checked(self):
    vae = _functions().vae
    self.assertEqual(export.ModelFunctions(vae, IMAGE_SHAPE).encode(
        _images(2))['mean'].shape, [2, LATENT])
    with self.assertRaisesRegex(ValueError, f'latent_size=7: the encoder '
                                f'gives z of {LATENT} dimensions .* pass '
                                f'latent_size={LATENT}'):
      export.ModelFunctions(vae, IMAGE_SHAPE, 7)
    with self.assertRaisesRegex(ValueError, 'image_shape=.*: the encoder '
                                'does not take images of this shape'):
      export.ModelFunctions(vae, (5, 5, 1))


class ExportTest(tf.test.TestCase):
  """One model, saved and reloaded once for the class (saving takes
  seconds); no test changes it."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.live = _functions()
    folder = tempfile.mkdtemp()
    cls.addClassCleanup(shutil.rmtree, folder, ignore_errors=True)
    cls.loaded = export.load(export.save(cls.live, folder))

  def test_signatures(self):
    self.assertCountEqual(self.loaded.signatures.keys(), export.SIGNATURES)
    out = self.loaded.signatures['encode'](x=tf.constant(_images(4)))
    self.assertEqual(out['mean'].shape, [4, LATENT])
    out = self.loaded.signatures['sample'](num_samples=tf.constant(2),
                                           seed=tf.constant([0, 1]))
    self.assertEqual(out['mean'].shape, [2, *IMAGE_SHAPE])

  def test_reloaded_model_repeats_reconstructions_for_a_fixed_seed(self):
    x, seed = tf.constant(_images(5)), tf.constant([7, 8])
    live = self.live.reconstruct(x, seed)['mean']
    self.assertAllEqual(self.loaded.reconstruct(x, seed)['mean'], live)
    # The seed matters: another gives other z, so other images.
    self.assertNotAllClose(self.loaded.reconstruct(x, tf.constant([7, 9]))[
        'mean'], live)

  def test_reloaded_model_repeats_encode_decode_and_sample(self):
    x, seed = tf.constant(_images(3)), tf.constant([1, 2])
    for name in ('mean', 'stddev'):
      self.assertAllEqual(self.loaded.encode(x)[name],
                          self.live.encode(x)[name])
    z = tf.random.normal([4, LATENT])
    self.assertAllEqual(self.loaded.decode(z)['mean'],
                        self.live.decode(z)['mean'])
    self.assertAllEqual(self.loaded.sample(tf.constant(6), seed)['mean'],
                        self.live.sample(tf.constant(6), seed)['mean'])

  def test_reloaded_model_evaluates_the_same(self):
    batches = [(_images(4, 1), np.zeros(4)), (_images(3, 2), np.zeros(3))]
    live = evaluation.evaluate(self.live, batches, num_samples=20,
                               chunk_size=6, seed=3)
    loaded = evaluation.evaluate(self.loaded, batches, num_samples=20,
                                 chunk_size=6, seed=3)
    for field in ('elbo', 'rate', 'distortion', 'nll', 'active_units'):
      self.assertEqual(getattr(live, field), getattr(loaded, field), field)
    self.assertAllEqual(live.kl_per_dimension, loaded.kl_per_dimension)

  def test_decoded_means_are_probabilities(self):
    means = self.loaded.decode(tf.zeros([2, LATENT]))['mean'].numpy()
    self.assertTrue(np.all((means >= 0) & (means <= 1)))


if __name__ == '__main__':
  tf.test.main()
