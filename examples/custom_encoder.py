"""A custom encoder: any module that returns a TFP distribution over z
works with the objectives and the training step."""

import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp
from vae import data, decoders, objectives, priors, training

tfd = tfp.distributions


class StudentTEncoder(snt.Module):
  """q(z|x): a factorised Student-t with 5 degrees of freedom."""

  def __init__(self, latent_size: int):
    super().__init__(name='encoder')
    self._net = snt.nets.MLP([200, 2 * latent_size], activation=tf.nn.elu)

  def __call__(self, x):
    loc, raw_scale = tf.split(self._net(snt.flatten(x)), 2, axis=-1)
    # The latent dimensions are the event: one distribution per image.
    return tfd.Independent(
        tfd.StudentT(5.0, loc, tf.nn.softplus(raw_scale) + 1e-3),
        reinterpreted_batch_ndims=1)


examples = data.load('mnist', 'test[:9000]', data_dir='../shared/data/mnist')
encoder = StudentTEncoder(latent_size=8)
decoder = decoders.MLPDecoder([200], examples.image_shape)
prior = priors.StandardNormal(8)


def objective(x, seed):
  # No closed-form KL between a Student-t and a Normal: estimate the rate
  # at the distortion's draw of z.
  return objectives.elbo(encoder, decoder, prior, x, kl_samples=1, seed=seed)


module = snt.Module(name='model')
module.encoder, module.decoder, module.prior = encoder, decoder, prior
step = training.make_train_step(module, snt.optimizers.Adam(1e-3),
                                objective=objective)
for i, x in enumerate(data.batches(examples, 64, seed=0).take(200)):
  metrics = step(x, tf.constant([0, i]))

x = next(iter(data.batches(examples, 100, train=False, seed=1)))
elbo = objectives.elbo(encoder, decoder, prior, x, kl_samples=1, seed=[0, 1])
bound = objectives.iwae_bound(encoder, decoder, prior, x, num_samples=50,
                              seed=[0, 2])
print(f'ELBO {float(tf.reduce_mean(elbo.elbo)):.1f}, '
      f'IWAE bound (k = 50) {float(tf.reduce_mean(bound)):.1f}')
