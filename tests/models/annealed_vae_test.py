"""Tests for vae/models/annealed_vae.py."""

import numpy as np
import sonnet as snt
import tensorflow as tf

from vae import config as config_lib
from vae import data
from vae import training
from vae.models import annealed_vae
from vae.run import build


class AnnealedVAETest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = config_lib.make(model='annealed_vae', capacity_max=10.0,
                                  capacity_steps=4, capacity_gamma=50.0,
                                  latent_size=3, hidden_sizes=[8])
    self.model = build.build(self.config.model, (4, 4, 1), seed=0)
    self.x = tf.constant(np.random.default_rng(0).integers(
        0, 2, size=(6, 4, 4, 1)), tf.float32)

  def test_capacity_grows_linearly_then_holds(self):
    self.assertAllClose(
        [annealed_vae.capacity(s, 10.0, 4) for s in (0, 1, 2, 4, 9)],
        [0.0, 2.5, 5.0, 10.0, 10.0])

  def test_loss_is_the_distortion_plus_gamma_times_the_gap(self):
    self.model.assign_step(3)  # C = 7.5.
    terms = build.objective(self.config.objective, self.model,
                            tf.Variable(1.0))(self.x, tf.constant([0, 1]))
    gap = abs(np.mean(terms.rate.numpy()) - 7.5)
    self.assertAllClose(terms.loss, terms.distortion + 50.0 * gap,
                        rtol=1e-5)

  def test_the_training_loop_sets_the_capacity_each_step(self):
    examples = data.Examples(
        dataset=tf.data.Dataset.from_tensor_slices(
            {'image': tf.cast(self.x, tf.uint8),
             'label': tf.zeros(6, tf.int64)}),
        image_shape=(4, 4, 1), num_examples=6, source='test', pixel_max=1)
    batches = data.batches(examples, 2, 'none', train=True, seed=0)
    loop = training.make_train_loop(
        self.model, snt.optimizers.Adam(1e-3), iter(batches), 0,
        steps_per_call=3, jit_compile=False,
        objective=build.objective(self.config.objective, self.model,
                                  tf.Variable(1.0)),
        schedule=self.model.assign_step)
    loop(1, 3)  # Steps 1, 2, 3: C is set before each, to C(3) last.
    self.assertAllClose(self.model.capacity, 7.5)


if __name__ == '__main__':
  tf.test.main()
