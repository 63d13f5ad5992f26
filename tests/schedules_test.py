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
    config = config_lib.make(beta=2.0, kl_warmup_steps=100,
                             temperature=1.0, min_temperature=0.5,
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
