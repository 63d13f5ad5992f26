import sonnet as snt
import tensorflow as tf
from vae import data, decoders, encoders, evaluation, model, priors, training

examples = data.load('mnist', 'test[:9000]', data_dir='../shared/data/mnist')
vae = model.VAE(encoder=encoders.MLPEncoder([100, 100], latent_size=10),
                decoder=decoders.MLPDecoder([100, 100], examples.image_shape),
                prior=priors.StandardNormal(10))
step = training.make_train_step(vae, snt.optimizers.Adam(1e-3), beta=1.0)
for i, x in enumerate(data.batches(examples, batch_size=64, seed=0).take(300)):
  metrics = step(x, tf.constant([0, i]))  # Batch means of ELBOTerms.

x = next(iter(data.batches(examples, 100, train=False, seed=1)))
log_px = evaluation.log_likelihood(vae.encoder, vae.decoder, vae.prior, x,
                                   num_samples=100, chunk_size=20, seed=[0, 0])
print(f'ELBO {float(metrics.elbo):.1f}, NLL {-float(tf.reduce_mean(log_px)):.1f}')
