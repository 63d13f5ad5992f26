"""Tests for vae/schedules.py against NumPy's formulas."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import schedules

_STEPS = np.array([0, 1, 25, 99, 100, 101, 693, 694, 10**6])


def _kl_weight(step, beta, warmup):
  """Bowman et al.'s linear warm-up, in NumPy."""
  if not warmup:
    return np.full(np.shape(step), beta)
  return beta * np.minimum(step / warmup, 1.0)


def _temperature(step, start, minimum, decay):
  """Jang et al.'s schedule, section 4, in NumPy."""
  return np.maximum(minimum, start * np.exp(-decay * step))


class LearningRateTest(tf.test.TestCase, parameterized.TestCase):

  def test_burda_staircase_at_every_boundary(self):
    # Burda et al. (2016), section 5: 3^i epochs at 1e-3 * 10^(-i/7), i =
    # 0..7, 3280 epochs. At 7 steps an epoch, stage i runs from the step
    # after epoch sum_{j<i} 3^j's last one to epoch sum_{j<=i} 3^j's last.
    steps_per_epoch, total = 7, 3280 * 7
    start_epoch = 0
    for i in range(8):
      end_epoch = start_epoch + 3 ** i
      paper = 1e-3 * 10 ** (-i / 7)
      first, last = start_epoch * steps_per_epoch + 1, end_epoch * 7
      for step in (first, last):
        self.assertAllClose(
            schedules.learning_rate(step, 1e-3, 'burda', total), paper,
            rtol=1e-12, msg=f'stage {i}, step {step}')
      start_epoch = end_epoch
    self.assertEqual(start_epoch, 3280)
    self.assertAllClose(schedules.learning_rate(total, 1e-3, 'burda', total),
                        1e-4)

  def test_cosine_and_constant(self):
    total = 1000
    for step in (1, 2, 251, 501, 1000):
      self.assertAllClose(
          schedules.learning_rate(step, 0.01, 'cosine', total),
          0.01 * 0.5 * (1 + np.cos(np.pi * (step - 1) / total)), rtol=1e-12)
      self.assertEqual(
          schedules.learning_rate(step, 0.01, 'constant', total), 0.01)

  def test_constant_rate_is_a_float(self):
    # No variable for the optimiser to checkpoint: runs from before the
    # schedules resume.
    rate, assign = schedules.make_learning_rate(
        config_lib.make(learning_rate=0.02).train)
    self.assertEqual((rate, assign), (0.02, None))

  @parameterized.parameters(False, True)
  def test_variable_follows_the_staircase_in_a_compiled_loop(self,
                                                            jit_compile):
    config = config_lib.make(lr_schedule='burda', training_steps=3280,
                             learning_rate=0.1)
    rate, assign = schedules.make_learning_rate(config.train)
    self.assertAllClose(rate, 0.1)

    @tf.function(jit_compile=jit_compile, autograph=False)
    def run():
      def body(s, seen):
        assign(s)
        return s + 1, seen.write(s - 1, rate.read_value())
      seen = tf.TensorArray(tf.float32, size=3280)
      return tf.while_loop(lambda s, _: s <= 3280, body,
                           (tf.constant(1), seen))[1].stack()

    got = run().numpy()
    # Stage i starts at step 1 + sum_{j<i} 3^j; the step before it ends
    # stage i - 1.
    starts = np.concatenate([[0], np.cumsum(3 ** np.arange(8))[:-1]]) + 1
    self.assertAllClose(got[starts - 1], 0.1 * 10 ** (-np.arange(8) / 7))
    self.assertAllClose(got[starts[1:] - 2],
                        0.1 * 10 ** (-np.arange(7) / 7))


class SchedulesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((2.0, 100), (0.3, 7), (1.0, 0))
  def test_kl_weight(self, beta, warmup):
    got = [schedules.kl_weight(s, beta, warmup).numpy() for s in _STEPS]
    self.assertAllClose(got, _kl_weight(_STEPS, beta, warmup), rtol=1e-15)

  def test_temperature(self):
    got = [schedules.temperature(s, 1.0, 0.5, 1e-3).numpy() for s in _STEPS]
    self.assertAllClose(got, _temperature(_STEPS, 1.0, 0.5, 1e-3),
                        rtol=1e-15)
    self.assertEqual(got[-1], 0.5)

  @parameterized.parameters(False, True)
  def test_variables_follow_the_schedules_in_a_compiled_loop(self,
                                                              jit_compile):
    config = config_lib.make(latent='categorical', beta=2.0,
                             kl_warmup_steps=100, temperature=1.0,
                             min_temperature=0.5,
                             temperature_decay=1e-3).objective
    made = schedules.make(config, categorical=True)
    self.assertEqual(made.beta.numpy(), 0.0)  # Their values at step 0.
    self.assertEqual(made.temperature.numpy(), 1.0)

    @tf.function(jit_compile=jit_compile)
    def at(step):
      made.assign(step)
      return made.beta.read_value(), made.temperature.read_value()

    for step in _STEPS:
      beta, tau = at(tf.constant(step, tf.int32))
      self.assertAllClose(beta, _kl_weight(step, 2.0, 100), rtol=1e-7)
      self.assertAllClose(tau, _temperature(step, 1.0, 0.5, 1e-3),
                          rtol=1e-7)

  def test_nothing_to_assign_without_a_schedule(self):
    made = schedules.make(config_lib.make(beta=0.3).objective,
                          categorical=False)
    self.assertIsNone(made.assign)
    self.assertIsNone(made.temperature)
    self.assertEqual(made.beta.numpy(), np.float32(0.3))


if __name__ == '__main__':
  tf.test.main()
