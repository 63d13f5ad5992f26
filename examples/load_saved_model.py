"""A model exported as a SavedModel, used with nothing but TensorFlow.

The export's functions take float32 images [n, 28, 28, 1] with pixels in
[0, 1], and stateless seeds [2] where they draw."""

import tempfile

import sonnet as snt
import tensorflow as tf
from vae import data, decoders, encoders, export, model, priors, training

examples = data.load('mnist', 'test[:9000]', data_dir='../shared/data/mnist')
vae = model.VAE(encoders.MLPEncoder([100], latent_size=4),
                decoders.MLPDecoder([100], examples.image_shape),
                priors.StandardNormal(4))
step = training.make_train_step(vae, snt.optimizers.Adam(1e-3), beta=1.0)
for i, x in enumerate(data.batches(examples, 64, seed=0).take(100)):
  step(x, tf.constant([0, i]))
path = export.save(export.ModelFunctions(vae, examples.image_shape, 4),
                   tempfile.mkdtemp())

loaded = tf.saved_model.load(path)  # Plain TensorFlow from here on.
images = next(iter(data.batches(examples, 8, train=False, seed=1)))
codes = loaded.encode(images)['mean']                          # [8, 4]
again = loaded.decode(codes)['mean']                           # [8, 28, 28, 1]
drawn = loaded.sample(tf.constant(16), tf.constant([0, 0]))['mean']
elbo = loaded.elbo(images, tf.constant([0, 1]))['elbo']        # [8]
print(codes.shape, again.shape, drawn.shape,
      f'ELBO {float(tf.reduce_mean(elbo)):.1f}')
