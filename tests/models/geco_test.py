"""Tests for vae/models/geco.py."""

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae import objectives
from vae.run import build


def _model(**values):
  config = config_lib.make(model='geco', latent_size=3, hidden_sizes=[8],
                           **values)
  return config, build.build(config.model, (4, 4, 1), seed=0)


def _images(seed):
  return tf.constant(np.random.default_rng(seed).integers(
      0, 2, size=(5, 4, 4, 1)), tf.float32)


class GECOTest(tf.test.TestCase):

  def test_loss_and_state_follow_algorithm_1(self):
    target, rate, decay = 8.0, 0.01, 0.9
    config, model = _model(geco_target=target, geco_rate=rate,
                           geco_decay=decay)
    objective = build.objective(config.objective, model, tf.Variable(1.0))
    multiplier, average = 1.0, None
    for step in range(3):
      x, seed = _images(step), tf.constant([step, 1])
      base = objectives.elbo(model.encoder, model.decoder, model.prior, x,
                             seed=seed)
      terms = objective(x, seed)
      # The loss weighs the distortion by the multiplier before the step.
      self.assertAllClose(
          terms.loss, base.rate + multiplier * (base.distortion - target),
          rtol=1e-5)
      constraint = float(np.mean(base.distortion)) - target
      average = (constraint if average is None
                 else decay * average + (1 - decay) * constraint)
      multiplier *= np.exp(rate * average)
      self.assertAllClose(model.constraint_average, average, rtol=1e-5)
      self.assertAllClose(model.multiplier, multiplier, rtol=1e-5)
    self.assertAllClose(terms.elbo, base.elbo)  # Reported as any VAE's.

  def test_state_is_checkpointed_and_not_trained(self):
    config, model = _model(geco_target=5.0)
    build.objective(config.objective, model, tf.Variable(1.0))(
        _images(0), tf.constant([0, 1]))
    self.assertNotIn(model.multiplier.ref(),
                     {v.ref() for v in model.trainable_variables})
    path = tf.train.Checkpoint(model=model).save(
        self.create_tempdir().full_path + '/ckpt')
    saved = model.multiplier.numpy()
    _, fresh = _model(geco_target=5.0)
    self.assertEqual(fresh.multiplier.numpy(), 1.0)
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    self.assertEqual(fresh.multiplier.numpy(), saved)
    self.assertNotEqual(saved, 1.0)
    self.assertEqual(list(model.training_state()),
                     ['geco_multiplier', 'geco_constraint'])

  def test_a_target_is_required(self):
    with self.assertRaisesRegex(ValueError, 'give geco_target'):
      config_lib.make(model='geco')
    with self.assertRaisesRegex(ValueError, 'beta=0.5 applies to'):
      config_lib.make(model='geco', geco_target=5.0, beta=0.5)


if __name__ == '__main__':
  tf.test.main()
