"""Times `priors.DiagonalGaussianMixture.log_prob` against TFP's.

  python tool/mixture_log_prob_speed.py [--components=500 --latent=40
                                         --images=100 --draws=100]

The defaults are the VampPrior preset's prior (K = 500 components over
z = 40) on one chunk of the NLL estimate (100 images x 100 draws, as
`evaluation.log_likelihood` draws them). Draws lie around each image's own
posterior mean, as the estimate's do. Prints both times, their ratio, and
the largest relative difference between the two log-densities.
"""

import argparse
import os
import sys
import timeit

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae import priors

tfd = tfp.distributions


def mixtures(components: int, latent: int, rng: np.random.Generator):
  """The same random mixture as TFP's class and as ours."""
  parts = dict(
      mixture_distribution=tfd.Categorical(
          logits=tf.constant(rng.normal(size=components), tf.float32)),
      components_distribution=tfd.Independent(tfd.Normal(
          tf.constant(rng.normal(size=(components, latent)), tf.float32),
          tf.constant(np.exp(rng.normal(-1.0, 0.5, (components, latent))),
                      tf.float32)), 1))
  return tfd.MixtureSameFamily(**parts), priors.DiagonalGaussianMixture(**parts)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--components', type=int, default=500)
  parser.add_argument('--latent', type=int, default=40)
  parser.add_argument('--images', type=int, default=100)
  parser.add_argument('--draws', type=int, default=100)
  parser.add_argument('--repeats', type=int, default=20)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  theirs, ours = mixtures(args.components, args.latent, rng)
  means = rng.normal(size=(args.images, args.latent))
  z = tf.constant(means + 0.1 * rng.normal(
      size=(args.draws, args.images, args.latent)), tf.float32)
  times = {}
  values = {}
  for name, mixture in (('tfp', theirs), ('matmul', ours)):
    log_prob = tf.function(mixture.log_prob)
    values[name] = log_prob(z).numpy()  # Traces it.
    times[name] = min(timeit.repeat(lambda f=log_prob: f(z).numpy(),
                                    number=1, repeat=args.repeats))
  relative = np.abs(values['matmul'] - values['tfp']) / np.abs(values['tfp'])
  print(f'K={args.components} D={args.latent} z={list(z.shape)}: '
        f'tfp {times["tfp"] * 1e3:.1f} ms, matmul {times["matmul"] * 1e3:.1f} '
        f'ms, {times["tfp"] / times["matmul"]:.1f}x; largest relative '
        f'difference {relative.max():.1e}')


if __name__ == '__main__':
  main()
