"""Two models from configurations, trained a little with one loop, then
evaluated alike: the ELBO, the NLL (k = 100) and the active units."""

import sonnet as snt
import tensorflow as tf
from vae import config, data, evaluation, training
from vae.run import build

examples = data.load('mnist', 'test[:9000]', data_dir='../shared/data/mnist')
test = data.load('mnist', 'test[9000:]', data_dir='../shared/data/mnist')
test_batches = data.batches(test, 500, train=False, seed=1)

for prior in ('normal', 'mixture'):
  cfg = config.make(beta=1.0, latent_size=8, prior=prior)
  model = build.build(cfg.model, examples.image_shape, seed=0)
  # The run's objective: the mixture's KL is estimated, as a run does.
  step = training.make_train_step(
      model, snt.optimizers.Adam(1e-3),
      objective=build.run_objective(cfg, model, tf.Variable(1.0)))
  for i, x in enumerate(data.batches(examples, 64, seed=0).take(300)):
    step(x, tf.constant([0, i]))
  results = evaluation.evaluate(model, test_batches, num_samples=100)
  print(f'{prior} prior: ELBO {results.elbo:.1f}, NLL {results.nll:.1f}, '
        f'{results.active_units} active units')
