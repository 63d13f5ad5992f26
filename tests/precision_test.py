"""Tests for vae/precision.py and mixed-precision encoders and decoders."""

from unittest import mock

import numpy as np
import sonnet as snt
import tensorflow as tf

from tests import training_test
from vae import config as config_lib
from vae import decoders
from vae import encoders
from vae import precision
from vae import training
from vae.run import build

# bfloat16 keeps 8 bits of mantissa: one rounding is a relative error of at
# most 2^-8 = 0.4%; a few layers of sums of such products stay within ~2%.
_BF16_RTOL = 2e-2


class BFloat16UnitsTest(tf.test.TestCase):

  def _cpuinfo(self, flags):
    path = self.create_tempfile(content=(
        'processor\t: 0\nmodel name\t: a CPU\nflags\t\t: fpu sse2 '
        f'{flags}\n\nprocessor\t: 1\nflags\t\t: fpu {flags}\n')).full_path
    return precision.cpu_bfloat16_units(path)

  def test_reads_the_flags_of_either_unit(self):
    self.assertEqual(self._cpuinfo('avx512f avx512_bf16'), ('avx512_bf16',))
    self.assertEqual(self._cpuinfo('amx_tile amx_bf16 avx512_bf16'),
                     ('amx_bf16', 'avx512_bf16'))
    self.assertEqual(self._cpuinfo('avx512f avx2'), ())
    self.assertEqual(precision.cpu_bfloat16_units('/no/such/file'), ())

  def test_warns_once_without_units_and_accelerators(self):
    precision.warn_if_slow.cache_clear()
    self.addCleanup(precision.warn_if_slow.cache_clear)
    with mock.patch.object(precision, 'cpu_bfloat16_units', return_value=()):
      with self.assertLogs(level='WARNING') as logs:
        self.assertTrue(precision.warn_if_slow())
      self.assertIn('training will be slower than in float32', logs.output[0])
      with self.assertNoLogs(level='WARNING'):
        precision.warn_if_slow()  # Once a process.
    precision.warn_if_slow.cache_clear()
    with mock.patch.object(precision, 'cpu_bfloat16_units',
                           return_value=('avx512_bf16',)):
      self.assertFalse(precision.warn_if_slow())


class CastCallTest(tf.test.TestCase):

  def test_matmul_in_bfloat16_variables_and_result_float32(self):
    linear = snt.Linear(3)
    x = tf.random.stateless_normal([4, 5], seed=[0, 1])
    expected = linear(x)  # Creates w and b in float32.

    fn = tf.function(lambda x: precision.cast_call(linear, x, tf.bfloat16))
    y = fn(x)
    self.assertEqual(y.dtype, tf.float32)
    self.assertEqual(linear.w.dtype, tf.float32)
    self.assertAllClose(y, expected, rtol=_BF16_RTOL, atol=1e-2)
    self.assertNotAllEqual(y, expected)  # It did round.
    graph = fn.get_concrete_function(x).graph
    matmuls = [op for op in graph.get_operations() if op.type == 'MatMul']
    self.assertLen(matmuls, 1)
    self.assertEqual(matmuls[0].get_attr('T'), tf.bfloat16)

  def test_gradients_reach_the_float32_variables(self):
    linear = snt.Linear(3)
    x = tf.random.stateless_normal([4, 5], seed=[0, 2])
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(linear(x)**2)
    expected = tape.gradient(loss, linear.trainable_variables)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(precision.cast_call(linear, x, tf.bfloat16)**2)
    grads = tape.gradient(loss, linear.trainable_variables)
    for g, e in zip(grads, expected):
      self.assertEqual(g.dtype, tf.float32)
      self.assertAllClose(g, e, rtol=_BF16_RTOL, atol=5e-2)

  def test_same_dtype_is_the_plain_call(self):
    linear = snt.Linear(3)
    x = tf.ones([2, 4])
    self.assertAllEqual(precision.cast_call(linear, x, tf.float32), linear(x))


class MixedPrecisionNetworksTest(tf.test.TestCase):

  def test_encoder(self):
    x = tf.random.stateless_uniform([6, 8, 8, 1], seed=[1, 1])
    for make in (lambda d: encoders.MLPEncoder([32], 4, compute_dtype=d),
                 lambda d: encoders.ConvEncoder(4, [4, 8], compute_dtype=d)):
      full, mixed = make(tf.float32), make(tf.bfloat16)
      full(x), mixed(x)  # The first call creates float32 variables.
      for a, b in zip(full.variables, mixed.variables):
        self.assertEqual(b.dtype, tf.float32)
        b.assign(a)
      q_full, q_mixed = full(x), mixed(x)
      self.assertEqual(q_mixed.dtype, tf.float32)
      self.assertAllClose(q_mixed.mean(), q_full.mean(), rtol=_BF16_RTOL,
                          atol=2e-2)
      self.assertAllClose(q_mixed.stddev(), q_full.stddev(),
                          rtol=_BF16_RTOL, atol=2e-2)

  def test_decoder(self):
    z = tf.random.stateless_normal([2, 3, 4], seed=[1, 2])
    x = tf.cast(tf.random.stateless_uniform([2, 3, 8, 8, 1], seed=[1, 3])
                < 0.5, tf.float32)
    for make in (lambda d: decoders.MLPDecoder([32], (8, 8, 1),
                                               compute_dtype=d),
                 lambda d: decoders.ConvDecoder((8, 8, 1), [8, 4],
                                                compute_dtype=d)):
      full, mixed = make(tf.float32), make(tf.bfloat16)
      full(z), mixed(z)
      for a, b in zip(full.variables, mixed.variables):
        self.assertEqual(b.dtype, tf.float32)
        b.assign(a)
      log_p_full, log_p_mixed = full(z).log_prob(x), mixed(z).log_prob(x)
      self.assertEqual(log_p_mixed.dtype, tf.float32)
      self.assertEqual(log_p_mixed.shape, [2, 3])
      self.assertAllClose(log_p_mixed, log_p_full, rtol=_BF16_RTOL)

  def test_model_trains_as_in_float32(self):
    # The same model from the same weights, trained in float32 and in mixed
    # precision on structured 4x4 images: the losses start within bfloat16
    # rounding of each other and fall alike.
    x = tf.constant(training_test._data(64))
    curves = {}
    for mixed in (False, True):
      config = config_lib.ModelConfig(latent_size=3, hidden_sizes=(32,),
                                      mixed_precision=mixed)
      tf.random.set_seed(0)
      model = build.build(config, (4, 4, 1), seed=0)
      dtype = tf.bfloat16 if mixed else tf.float32
      self.assertEqual(model.encoder.compute_dtype, dtype)
      self.assertEqual(model.decoder.compute_dtype, dtype)
      step = training.make_train_step(model, snt.optimizers.Adam(1e-2))
      curves[mixed] = [float(step(x, tf.constant([0, i])).loss)
                       for i in range(300)]
      for v in model.trainable_variables:
        self.assertEqual(v.dtype, tf.float32)
    self.assertAllClose(curves[True][0], curves[False][0], rtol=_BF16_RTOL)
    for curve in curves.values():
      self.assertLess(np.mean(curve[-10:]), 0.5 * curve[0])
    self.assertAllClose(np.mean(curves[True][-10:]),
                        np.mean(curves[False][-10:]), rtol=0.25)


if __name__ == '__main__':
  tf.test.main()
