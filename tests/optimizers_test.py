"""Tests for vae/optimizers.py."""

import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import optimizers


def _adam_reference(params, grads_per_step, lr, eps, beta1=0.9, beta2=0.999,
                    normalize=False):
  """Kingma and Ba's Algorithm 1 in float64 NumPy, epsilon added to the
  bias-corrected root (Sonnet's rule). The hyperparameters are rounded to
  float32 first, as `tf.cast` of a Python float rounds them. `normalize`
  divides each gradient by its L2 norm + 1e-7 first: the VampPrior code's
  AdamNormGrad."""
  lr, eps, beta1, beta2 = (float(np.float32(h))
                           for h in (lr, eps, beta1, beta2))
  m = [np.zeros_like(p) for p in params]
  v = [np.zeros_like(p) for p in params]
  params = [p.astype(np.float64).copy() for p in params]
  for t, grads in enumerate(grads_per_step, start=1):
    for i, g in enumerate(grads):
      if normalize:
        g = g / (np.linalg.norm(g) + 1e-7)
      m[i] = beta1 * m[i] + (1 - beta1) * g
      v[i] = beta2 * v[i] + (1 - beta2) * g * g
      m_hat = m[i] / (1 - beta1**t)
      v_hat = v[i] / (1 - beta2**t)
      params[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)
  return params


class AdamTest(tf.test.TestCase):

  def _grads(self, steps=5):
    rng = np.random.default_rng(1)
    start = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    grads = [[rng.normal(size=(3, 4)) * 10.0**-t, rng.normal(size=(5,))]
             for t in range(steps)]
    return start, grads

  def test_matches_algorithm_1_over_several_steps(self):
    # An epsilon near the gradients' root, so where it is added matters:
    # the fused kernel's own rule (epsilon on the uncorrected root) is
    # off by up to 3e-2 here.
    start, grads = self._grads()
    variables = [tf.Variable(p, dtype=tf.float64) for p in start]
    optimizer = optimizers.Adam(0.01, epsilon=0.05)
    for step in grads:
      optimizer.apply([tf.constant(g) for g in step], variables)
    expected = _adam_reference(start, grads, lr=0.01, eps=0.05)
    for variable, want in zip(variables, expected):
      self.assertAllClose(variable.numpy(), want, rtol=1e-12, atol=1e-14)

  def test_float32_and_compiled_agree_with_sonnets_adam(self):
    start, grads = self._grads(10)

    def run(optimizer, jit_compile):
      variables = [tf.Variable(p, dtype=tf.float32) for p in start]
      apply = tf.function(optimizer.apply, jit_compile=jit_compile)
      for step in grads:
        apply([tf.constant(g, tf.float32) for g in step], variables)
      return [v.numpy() for v in variables]

    want = run(snt.optimizers.Adam(0.01), False)
    for jit_compile in (False, True):
      for got, expected in zip(run(optimizers.Adam(0.01), jit_compile), want):
        self.assertAllClose(got, expected, rtol=1e-5, atol=1e-6)

  def test_sparse_and_missing_updates_are_sonnets(self):
    def run(optimizer):
      table = tf.Variable(np.arange(12.0).reshape(4, 3))
      other = tf.Variable([1.0, 2.0], dtype=tf.float64)
      for rows in ([0, 2], [2, 2, 3]):
        values = tf.ones([len(rows), 3], tf.float64) * (1 + rows[0])
        sparse = tf.IndexedSlices(values, tf.constant(rows),
                                  tf.constant([4, 3]))
        optimizer.apply([sparse, None], [table, other])
      return table.numpy(), other.numpy()

    for got, want in zip(run(optimizers.Adam(0.1)),
                         run(snt.optimizers.Adam(0.1))):
      self.assertAllEqual(got, want)

  def test_reads_sonnets_checkpoints(self):
    variable = tf.Variable([1.0, -1.0])
    sonnet = snt.optimizers.Adam(0.1)
    sonnet.apply([tf.constant([0.5, 0.25])], [variable])
    path = tf.train.Checkpoint(optimizer=sonnet).write(
        self.get_temp_dir() + '/ckpt')
    ours = optimizers.Adam(0.1)
    ours._initialize([variable])  # pylint: disable=protected-access
    tf.train.Checkpoint(optimizer=ours).read(path).assert_consumed()
    self.assertEqual(int(ours.step), 1)
    self.assertAllEqual(ours.m[0], sonnet.m[0])
    self.assertAllEqual(ours.v[0], sonnet.v[0])


class AdamNormGradTest(tf.test.TestCase):

  def test_matches_the_reference_over_several_steps(self):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    # Gradients whose scale changes from step to step (Adam alone is
    # invariant to a constant scale only): normalised, each step counts
    # alike.
    grads = [[rng.normal(size=(3, 4)) * 10.0**t,
              rng.normal(size=(5,)) * 10.0**-t] for t in range(4)]
    variables = [tf.Variable(p, dtype=tf.float64) for p in start]
    optimizer = optimizers.AdamNormGrad(0.01, epsilon=1e-8)
    for step in grads:
      optimizer.apply([tf.constant(g) for g in step], variables)
    expected = _adam_reference(start, grads, lr=0.01, eps=1e-8,
                               normalize=True)
    for variable, want in zip(variables, expected):
      self.assertAllClose(variable.numpy(), want, rtol=1e-12, atol=1e-14)

  def test_differs_from_adam_on_unnormalised_gradients(self):
    # The second step sees a gradient 100 times the first: Adam's moments
    # weigh it 100 times as much, the normalised ones alike.
    def run(optimizer):
      variable = tf.Variable([1.0, 1.0], dtype=tf.float64)
      for g in ([1.0, -1.0], [100.0, 50.0]):
        optimizer.apply([tf.constant(g, tf.float64)], [variable])
      return variable.numpy()
    self.assertNotAllClose(run(optimizers.AdamNormGrad(0.1)),
                           run(optimizers.OPTIMIZERS['adam'](0.1)))

  def test_normalize(self):
    g = tf.constant([3.0, 4.0])
    self.assertAllClose(optimizers.normalize(g), [0.6, 0.8], rtol=1e-6)
    self.assertAllEqual(optimizers.normalize(tf.zeros([2])), [0.0, 0.0])
    self.assertIsNone(optimizers.normalize(None))
    sparse = tf.IndexedSlices(tf.constant([[3.0, 4.0]]), tf.constant([1]),
                              tf.constant([2, 2]))
    self.assertAllClose(optimizers.normalize(sparse), [[0, 0], [0.6, 0.8]])

  def test_make(self):
    self.assertIsInstance(optimizers.make('adam', 0.1), optimizers.Adam)
    self.assertIsInstance(optimizers.make('adam_normgrad', 0.1),
                          optimizers.AdamNormGrad)
    with self.assertRaisesRegex(ValueError, 'the optimizers are adam, '
                                'adam_normgrad'):
      optimizers.make('sgd', 0.1)


if __name__ == '__main__':
  tf.test.main()
