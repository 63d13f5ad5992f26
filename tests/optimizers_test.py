"""Tests for vae/optimizers.py."""

import numpy as np
import tensorflow as tf

from vae import optimizers


def _adam_normgrad_reference(params, grads_per_step, lr, eps,
                             beta1=0.9, beta2=0.999):
  """The VampPrior code's AdamNormGrad step, in NumPy, with the epsilon
  where Sonnet's Adam adds it (to the bias-corrected root)."""
  m = [np.zeros_like(p) for p in params]
  v = [np.zeros_like(p) for p in params]
  params = [p.astype(np.float64).copy() for p in params]
  for t, grads in enumerate(grads_per_step, start=1):
    for i, g in enumerate(grads):
      g = g / (np.linalg.norm(g) + 1e-7)
      m[i] = beta1 * m[i] + (1 - beta1) * g
      v[i] = beta2 * v[i] + (1 - beta2) * g * g
      m_hat = m[i] / (1 - beta1**t)
      v_hat = v[i] / (1 - beta2**t)
      params[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)
  return params


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
    expected = _adam_normgrad_reference(start, grads, lr=0.01, eps=1e-8)
    for variable, want in zip(variables, expected):
      # Sonnet keeps beta1 and beta2 in float32: a relative 1e-8.
      self.assertAllClose(variable.numpy(), want, rtol=1e-7, atol=1e-9)

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
    self.assertIsInstance(optimizers.make('adam_normgrad', 0.1),
                          optimizers.AdamNormGrad)
    with self.assertRaisesRegex(ValueError, 'the optimizers are adam, '
                                'adam_normgrad'):
      optimizers.make('sgd', 0.1)


if __name__ == '__main__':
  tf.test.main()
