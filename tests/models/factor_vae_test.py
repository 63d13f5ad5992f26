"""Tests for vae/models/factor_vae.py."""

import os

import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import config as config_lib
from vae import objectives
from vae import training
from vae.models import factor_vae
from vae.run import build


def _setup(**overrides):
  config = config_lib.make(model='factor_vae', latent_size=3,
                           hidden_sizes=[8], factor_gamma=2.0,
                           discriminator_hidden_sizes=[6, 6], **overrides)
  model = build.build(config.model, (4, 4, 1), seed=0)
  x = tf.constant(np.random.default_rng(0).integers(
      0, 2, size=(6, 4, 4, 1)), tf.float32)
  return config, model, x


class PermuteDimsTest(tf.test.TestCase):

  def test_each_column_permuted_on_its_own(self):
    z = tf.constant(np.arange(40, dtype=np.float32).reshape(10, 4))
    permuted = factor_vae.permute_dims(z, tf.constant([1, 2])).numpy()
    orders = []
    for d in range(4):
      self.assertCountEqual(permuted[:, d], z.numpy()[:, d])
      orders.append(tuple(np.argsort(permuted[:, d])))
    self.assertGreater(len(set(orders)), 1)  # Not one shared order.
    again = factor_vae.permute_dims(z, tf.constant([1, 2]))
    self.assertAllEqual(permuted, again)


class LossTest(tf.test.TestCase):

  def test_vae_loss_adds_gamma_times_the_logit_gap(self):
    config, model, x = _setup()
    seed = tf.constant([3, 4])
    terms = build.objective(config.objective, model,
                            tf.Variable(1.0))(x, seed)
    base = objectives.elbo(model.encoder, model.decoder, model.prior, x,
                           seed=seed)
    z = model.encoder(x).sample(
        seed=tf.random.experimental.stateless_fold_in(seed, 1))
    logits = model.discriminator(z).numpy()
    self.assertAllClose(terms.loss, base.distortion + base.rate
                        + 2.0 * (logits[:, 0] - logits[:, 1]), rtol=1e-5)

  def test_discriminator_loss_is_the_cross_entropy(self):
    _, model, x = _setup()
    seed = tf.constant([5, 6])
    z = model.encoder(x).mean()
    permuted = factor_vae.permute_dims(
        z, tf.random.experimental.stateless_fold_in(seed, 2))

    def log_softmax(logits):
      logits = logits.numpy()
      return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    expected = -0.5 * (log_softmax(model.discriminator(z))[:, 0].mean()
                       + log_softmax(model.discriminator(permuted))[:, 1]
                       .mean())
    self.assertAllClose(model.discriminator_loss(z, seed), expected)


class StepTest(tf.test.TestCase):

  def test_each_update_moves_only_its_own_variables(self):
    config, model, x = _setup()
    (phase,) = build.phases(config, model, tf.Variable(1.0))
    mine = model.discriminator.trainable_variables
    vae = phase.trains.trainable_variables
    self.assertEmpty({v.ref() for v in mine} & {v.ref() for v in vae})
    self.assertLen(vae + mine, len(model.trainable_variables))
    before = [v.numpy().copy() for v in vae + mine]
    step = training.make_train_step(phase.trains, snt.optimizers.Adam(0.01),
                                    objective=phase.objective, compile=False)
    step(x, tf.constant([0, 1]))
    moved = [not np.array_equal(b, v.numpy())
             for b, v in zip(before, vae + mine)]
    self.assertTrue(all(moved[:len(vae)]))
    self.assertFalse(any(moved[len(vae):]))  # The loss leaves D alone...
    model.auxiliary_update(x, tf.constant([0, 1]))
    self.assertTrue(all(not np.array_equal(b, v.numpy())  # ...its own not.
                        for b, v in zip(before[len(vae):], mine)))

  def test_both_updates_in_the_compiled_step_as_eager(self):
    losses, weights = [], []
    for compiled in (False, True):
      tf.random.set_seed(0)
      config, model, x = _setup()
      (phase,) = build.phases(config, model, tf.Variable(1.0))
      step = training.make_train_step(
          phase.trains, snt.optimizers.Adam(0.01), objective=phase.objective,
          compile=compiled, after=phase.after)
      losses.append([float(step(x, tf.constant([0, i])).loss)
                     for i in range(3)])
      weights.append(model.discriminator.trainable_variables[0].numpy())
    self.assertAllClose(losses[0], losses[1], rtol=1e-5)
    self.assertAllClose(weights[0], weights[1], rtol=1e-5)


class CheckpointTest(tf.test.TestCase):

  def _steps(self):
    config, model, x = _setup()
    (phase,) = build.phases(config, model, tf.Variable(1.0))
    optimizer = snt.optimizers.Adam(0.01)
    step = training.make_train_step(
        phase.trains, optimizer, objective=phase.objective, compile=False,
        after=phase.after)
    return model, optimizer, x, lambda i: float(
        step(x, tf.constant([0, i])).loss)

  def test_a_restored_run_trains_on_as_the_original(self):
    # The discriminator's weights and its Adam's moments are the model's,
    # so the checkpoint of a run holds them.
    model, optimizer, _, step = self._steps()
    for i in range(2):
      step(i)
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).save(
        os.path.join(self.create_tempdir().full_path, 'ckpt'))
    later = [step(i) for i in (2, 3)]
    weights = model.discriminator.trainable_variables[-1].numpy()
    restored, restored_optimizer, _, restored_step = self._steps()
    tf.train.Checkpoint(model=restored,
                        optimizer=restored_optimizer).read(path)
    self.assertEqual([restored_step(i) for i in (2, 3)], later)
    self.assertAllEqual(restored.discriminator.trainable_variables[-1],
                        weights)


if __name__ == '__main__':
  tf.test.main()
