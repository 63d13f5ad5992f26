"""Tests for vae/training.py: the compiled training step."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import decoders
from vae import encoders
from vae import model as model_lib
from vae import priors
from vae import training


def _model(covariance='diagonal', latent_size=3):
  return model_lib.VAE(
      encoders.MLPEncoder([16], latent_size, covariance=covariance),
      decoders.MLPDecoder([16], (4, 4, 1)),
      priors.StandardNormal(latent_size))


def _data(n=32, seed=0):
  """Binary 4x4 images, each one of 4 random templates with 5% pixel flips."""
  rng = np.random.default_rng(seed)
  templates = rng.uniform(size=(4, 4, 4, 1)) < 0.5
  flips = rng.uniform(size=(n, 4, 4, 1)) < 0.05
  return (templates[rng.integers(4, size=n)] ^ flips).astype(np.float32)


class TrainStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(
      covariance=['diagonal', 'full_covariance'],
      jit_compile=[False, True],
      kl_samples=[None, 4],
      normalization=['per_example', 'notebook'])
  def test_smoke_train(self, covariance, jit_compile, kl_samples,
                       normalization):
    tf.random.set_seed(0)
    vae = _model(covariance)
    optimizer = snt.optimizers.Adam(1e-2)
    step = training.make_train_step(vae, optimizer, beta=0.5,
                                    kl_samples=kl_samples,
                                    normalization=normalization,
                                    jit_compile=jit_compile)
    x = tf.constant(_data())
    metrics = step(x)
    before = [np.array(v.numpy(), copy=True) for v in vae.trainable_variables]
    for _ in range(3):
      metrics = step(x)
    for value in metrics:
      self.assertEqual(value.shape, [])
      self.assertEqual(value.dtype, tf.float32)
      self.assertTrue(np.isfinite(value.numpy()))
    self.assertAllClose(metrics.elbo, -(metrics.distortion + metrics.rate),
                        rtol=1e-5)
    self.assertLen(before, 8)  # Two linear layers each side, w and b each.
    for old, new in zip(before, vae.trainable_variables):
      self.assertNotAllClose(old, new.numpy(), msg=new.name)
    self.assertEqual(int(optimizer.step.numpy()), 4)

  def test_loss_falls(self):
    tf.random.set_seed(1)
    vae = _model()
    step = training.make_train_step(vae, snt.optimizers.Adam(1e-2), beta=1.0)
    x = tf.constant(_data(64))
    first = np.mean([step(x).loss.numpy() for _ in range(5)])
    for _ in range(200):
      step(x)
    last = np.mean([step(x).loss.numpy() for _ in range(5)])
    self.assertLess(last, 0.8 * first)

  def test_step_is_sgd_on_the_batch_mean_loss(self):
    # The step's update equals SGD on the gradient of the batch-mean loss,
    # written out here with the same (stateless) random draws. SGD, unlike
    # Adam, would also catch a summed loss.
    x = tf.constant(_data(8))
    vae_a, vae_b = _model(), _model()
    vae_a.elbo(x), vae_b.elbo(x)
    for a, b in zip(vae_a.trainable_variables, vae_b.trainable_variables):
      b.assign(a)
    seed = tf.constant([4, 2])
    step = training.make_train_step(vae_a, snt.optimizers.SGD(0.1), beta=0.3)
    step(x, seed)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(vae_b.elbo(x, beta=0.3, seed=seed).loss)
    grads = tape.gradient(loss, vae_b.trainable_variables)
    for v, g in zip(vae_b.trainable_variables, grads):
      v.assign_sub(0.1 * g)
    for a, b in zip(vae_a.trainable_variables, vae_b.trainable_variables):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  def test_seeded_steps_repeat_exactly(self):
    # The stateless seed fixes z: two models from the same weights take the
    # same steps, as a resumed run must.
    x = tf.constant(_data(16))

    def losses():
      tf.random.set_seed(3)
      vae = _model()
      step = training.make_train_step(vae, snt.optimizers.Adam(1e-2))
      return [step(x, tf.constant([0, i])).loss.numpy() for i in range(5)]

    first = losses()
    self.assertAllEqual(first, losses())
    self.assertGreater(len(set(first)), 1)

  def test_bad_normalization(self):
    with self.assertRaisesRegex(ValueError, "'sum'"):
      training.make_train_step(_model(), snt.optimizers.Adam(),
                               normalization='sum')


if __name__ == '__main__':
  tf.test.main()
