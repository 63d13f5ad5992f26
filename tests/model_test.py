"""Tests for vae/model.py."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import decoders
from vae import encoders
from vae import model as model_lib
from vae import priors

tfd = tfp.distributions


class LearnablePrior(tf.Module):
  """A prior with a variable, standing for the learnable priors to come."""

  def __init__(self):
    super().__init__()
    self.loc = tf.Variable(tf.zeros([3]))

  def __call__(self):
    return tfd.Independent(tfd.Normal(self.loc, 1.), 1)


def _model(prior=None):
  return model_lib.VAE(encoders.MLPEncoder([8], 3),
                       decoders.MLPDecoder([8], (4, 4, 1)),
                       prior or priors.StandardNormal(3))


class VAETest(tf.test.TestCase):

  def test_output(self):
    out = _model()(tf.random.uniform([5, 4, 4, 1]))
    self.assertIsInstance(out, model_lib.VAEOutput)
    self.assertEqual(out.z.shape, [5, 3])
    self.assertEqual(out.likelihood.batch_shape, [5])
    out = _model()(tf.random.uniform([5, 4, 4, 1]), num_samples=2)
    self.assertEqual(out.z.shape, [2, 5, 3])
    self.assertEqual(out.likelihood.batch_shape, [2, 5])

  def test_elbo_and_iwae_shapes(self):
    vae = _model()
    x = tf.cast(tf.random.uniform([6, 4, 4, 1]) < 0.5, tf.float32)
    terms = vae.elbo(x, beta=2.0)
    for t in terms:
      self.assertEqual(t.shape, [6])
      self.assertEqual(t.dtype, tf.float32)
    self.assertAllClose(terms.loss, terms.distortion + 2.0 * terms.rate)
    self.assertEqual(vae.iwae_bound(x, 4).shape, [6])

  def test_sample(self):
    images = _model().sample(7).mean()
    self.assertEqual(images.shape, [7, 4, 4, 1])
    self.assertTrue(np.all((images.numpy() > 0) & (images.numpy() < 1)))

  def test_learnable_prior_variables_are_trained(self):
    prior = LearnablePrior()
    vae = _model(prior)
    vae.elbo(tf.zeros([2, 4, 4, 1]))
    names = [v.name for v in vae.trainable_variables]
    self.assertIn(prior.loc.name, names)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(vae.elbo(tf.zeros([2, 4, 4, 1])).loss)
    self.assertIsNotNone(tape.gradient(loss, prior.loc))

  def test_eager_and_function_agree_with_unknown_batch(self):
    vae = _model()
    x = tf.cast(tf.random.uniform([6, 4, 4, 1]) < 0.5, tf.float32)
    seed = tf.constant([3, 9])
    eager = vae.elbo(x, beta=0.5, seed=seed)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 1])])
    def elbo(x):
      return vae.elbo(x, beta=0.5, seed=seed)

    concrete = elbo.get_concrete_function()
    for shape in concrete.output_shapes:
      self.assertEqual(shape.as_list(), [None])
    graph = elbo(x)
    for name, a, b in zip(eager._fields, eager, graph):
      self.assertAllClose(a, b, rtol=1e-5, msg=name)
    self.assertEqual(elbo(x[:5]).elbo.shape, [5])

  def test_prior_as_plain_distribution(self):
    vae = _model(tfd.Independent(tfd.Normal(tf.zeros(3), 1.), 1))
    self.assertEqual(vae.elbo(tf.zeros([2, 4, 4, 1])).rate.shape, [2])


if __name__ == '__main__':
  tf.test.main()
