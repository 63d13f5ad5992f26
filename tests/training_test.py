"""Tests for vae/training.py: the compiled training step and loop."""

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from vae import data
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

  def test_a_model_built_in_part_is_refused_when_the_step_is_made(self):
    model = _model()
    model.encoder(tf.constant(_data(2)))  # The decoder is not built yet.
    with self.assertRaisesRegex(ValueError, 'built in part: its encoder has '
                                'variables, its decoder none yet'):
      training.make_train_step(model, snt.optimizers.Adam(0.01))
    # Built whole, or not at all, it trains.
    model(tf.constant(_data(2)))
    step = training.make_train_step(model, snt.optimizers.Adam(0.01))
    self.assertTrue(np.isfinite(step(tf.constant(_data(8))).loss.numpy()))

  # Each pair of the choices meets once; XLA compiles of the step are
  # tested in build_test.XLATest (slow).
  @parameterized.parameters(
      ('diagonal', None, 'per_example'),
      ('diagonal', 4, 'notebook'),
      ('full_covariance', None, 'notebook'),
      ('full_covariance', 4, 'per_example'))
  def test_smoke_train(self, covariance, kl_samples, normalization):
    tf.random.set_seed(0)
    vae = _model(covariance)
    optimizer = snt.optimizers.Adam(1e-2)
    step = training.make_train_step(vae, optimizer, beta=0.5,
                                    kl_samples=kl_samples,
                                    normalization=normalization)
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

  def test_optimiser_state_made_before_the_step_and_traced_once(self):
    vae = _model()
    x = tf.constant(_data(8))
    vae(x)  # Its variables exist: the step makes Adam's moments up front.
    optimizer = snt.optimizers.Adam(1e-2)
    step = training.make_train_step(vae, optimizer, beta=1.0)
    self.assertLen(optimizer.m, len(vae.trainable_variables))
    step(x, tf.constant([0, 1]))
    step(x, tf.constant([0, 2]))
    # One trace: variables made in a first trace would force a second.
    self.assertEqual(step.experimental_get_tracing_count(), 1)

  def test_optimiser_state_missing_variables_is_an_error(self):
    vae = _model()
    x = tf.constant(_data(8))
    vae(x)
    optimizer = snt.optimizers.Adam(1e-2)
    # State for the encoder's variables only, made by hand.
    training.create_optimizer_state(optimizer,
                                    vae.encoder.trainable_variables)
    step = training.make_train_step(vae, optimizer, beta=1.0)
    with self.assertRaisesRegex(ValueError, 'state for 4 variables but is '
                                'given 8'):
      step(x, tf.constant([0, 1]))

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

  def test_eager_step_equals_compiled(self):
    x = tf.constant(_data(16))
    losses = []
    for compiled in (True, False):
      tf.random.set_seed(5)
      vae = _model()
      vae.elbo(x)  # Creates the variables eagerly: the same initial weights.
      step = training.make_train_step(vae, snt.optimizers.Adam(1e-2),
                                      compile=compiled)
      self.assertEqual(isinstance(step, tf.types.experimental.PolymorphicFunction), compiled)
      losses.append([step(x, tf.constant([0, i])).loss.numpy()
                     for i in range(4)])
    # The same ops, run by the graph executor or one by one: float
    # reordering at most.
    self.assertAllClose(losses[0], losses[1], rtol=1e-5)

  def test_bad_normalization(self):
    with self.assertRaisesRegex(ValueError, "'sum'"):
      training.make_train_step(_model(), snt.optimizers.Adam(),
                               normalization='sum')


def _batches(n=48, batch_size=8, seed=0):
  """A dataset of full batches from `_data`, repeated forever."""
  return data.without_tuning_thread(
      tf.data.Dataset.from_tensor_slices(_data(n, seed)).repeat().batch(
          batch_size, drop_remainder=True))


class TrainLoopTest(tf.test.TestCase, parameterized.TestCase):

  def _run_steps(self, block_sizes, jit_compile, loop=True, beta=0.5,
                 schedule=None):
    """Losses and final weights of training in blocks of `block_sizes`."""
    tf.random.set_seed(7)  # The same initial weights every time.
    vae = _model()
    vae.elbo(tf.constant(_data(1)))
    optimizer = snt.optimizers.Adam(1e-2)
    batches = iter(_batches())
    losses = []
    if loop:
      train = training.make_train_loop(vae, optimizer, batches, seed=3,
                                       steps_per_call=40, beta=beta,
                                       jit_compile=jit_compile,
                                       schedule=schedule)
      step = 1
      for n in block_sizes:
        metrics = train(step, n)
        self.assertEqual(metrics.loss.shape, [n])
        losses.extend(metrics.loss.numpy())
        step += n
    else:
      train_step = training.make_train_step(vae, optimizer, beta=beta,
                                            jit_compile=jit_compile)
      for step in range(1, sum(block_sizes) + 1):
        losses.append(train_step(next(batches),
                                 tf.constant([3, step])).loss.numpy())
    return np.array(losses), [v.numpy() for v in vae.trainable_variables]

  def test_loop_is_the_steps_one_by_one(self):
    self._loop_is_the_steps_one_by_one(jit_compile=False)

  @pytest.mark.slow
  def test_xla_loop_is_the_steps_one_by_one(self):
    self._loop_is_the_steps_one_by_one(jit_compile=True)

  def _loop_is_the_steps_one_by_one(self, jit_compile):
    # Step s of the loop is make_train_step on the next batch with seed
    # [seed, s]: without XLA the same ops, so the same bits, step after
    # step; XLA compiles the loop as one program, whose fusions may round
    # differently from the single step's.
    loop_losses, loop_weights = self._run_steps([1, 2, 30], jit_compile)
    step_losses, step_weights = self._run_steps([1, 2, 30], jit_compile,
                                                loop=False)
    tolerance = dict(rtol=1e-5, atol=1e-6) if jit_compile else dict(
        rtol=0, atol=0)
    self.assertAllClose(loop_losses, step_losses, **tolerance)
    for a, b in zip(loop_weights, step_weights):
      self.assertAllClose(a, b, **tolerance)
    self.assertLess(np.mean(loop_losses[-5:]), np.mean(loop_losses[:5]))

  def test_blocks_do_not_change_the_steps(self):
    self._blocks_do_not_change_the_steps(jit_compile=False)

  @pytest.mark.slow
  def test_xla_blocks_do_not_change_the_steps(self):
    self._blocks_do_not_change_the_steps(jit_compile=True)

  def _blocks_do_not_change_the_steps(self, jit_compile):
    # A run resumed at any step, in other blocks, repeats the uninterrupted.
    losses_a, weights_a = self._run_steps([1, 1, 2, 4, 13, 19], jit_compile)
    losses_b, weights_b = self._run_steps([40], jit_compile)
    self.assertAllEqual(losses_a, losses_b)
    for a, b in zip(weights_a, weights_b):
      self.assertAllEqual(a, b)

  def test_schedule_runs_before_each_step(self):
    beta = tf.Variable(0.0)
    seen = tf.Variable(tf.zeros([40]))

    def schedule(step):
      beta.assign(tf.cast(step, tf.float32) / 10)
      seen.scatter_nd_update([[step - 1]], [beta])

    self._run_steps([3, 5], jit_compile=False, beta=beta, schedule=schedule)
    self.assertAllClose(seen.numpy()[:8], np.arange(1, 9) / 10)
    self.assertAllEqual(seen.numpy()[8:], np.zeros(32))
    self.assertAllClose(beta.numpy(), 0.8)

  def test_bad_arguments(self):
    vae, optimizer = _model(), snt.optimizers.Adam()
    with self.assertRaisesRegex(ValueError, 'steps_per_call must be positive'):
      training.make_train_loop(vae, optimizer, iter(_batches()), 0,
                               steps_per_call=0)
    ragged = data.without_tuning_thread(
        tf.data.Dataset.from_tensor_slices(_data(10)).batch(4))
    with self.assertRaisesRegex(ValueError, 'drop_remainder=True'):
      training.make_train_loop(vae, optimizer, iter(ragged), 0)
    train = training.make_train_loop(vae, optimizer, iter(_batches()), 0,
                                     steps_per_call=5)
    with self.assertRaisesRegex(ValueError, r'num_steps must be in \[1, 5\]'):
      train(1, 6)
    with self.assertRaisesRegex(ValueError, 'first_step must be positive'):
      train(0, 1)


if __name__ == '__main__':
  tf.test.main()
