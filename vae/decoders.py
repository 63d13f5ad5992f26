"""Decoders: networks mapping a latent code z to the likelihood p(x|z)."""

from typing import Callable, Optional, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class MLPDecoder(snt.Module):
  """An MLP from z to the logits of independent Bernoulli pixels.

  Returns `Independent(Bernoulli(logits))` whose event shape is
  `output_shape`, so `log_prob(x)` sums over pixels and gives one number per
  example. `z` may carry any number of leading sample and batch dimensions:
  z of shape [k, batch, latent] gives a distribution of batch shape
  [k, batch]. Samples are float32, so they can be fed back as images.
  """

  def __init__(self,
               hidden_sizes: Sequence[int],
               output_shape: Sequence[int],
               activation: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               name: Optional[str] = None):
    super().__init__(name=name)
    hidden_sizes = list(hidden_sizes)
    output_shape = tuple(int(d) for d in output_shape)
    if any(size < 1 for size in hidden_sizes):
      raise ValueError(f'hidden_sizes must be positive, got {hidden_sizes}')
    if not output_shape or any(d < 1 for d in output_shape):
      raise ValueError(
          f'output_shape must be non-empty and positive, got {output_shape}')
    self.output_shape = output_shape
    self._net = snt.nets.MLP(hidden_sizes + [int(np.prod(output_shape))],
                             activation=activation, name='net')

  def __call__(self, z: tf.Tensor) -> tfd.Distribution:
    z = tf.convert_to_tensor(z)
    # One 2-D matmul per layer whatever the leading dimensions are.
    logits = self._net(tf.reshape(z, [-1, z.shape[-1]]))
    batch_shape = tf.shape(z)[:-1]
    logits = tf.reshape(logits, tf.concat([batch_shape, self.output_shape], 0))
    return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32),
                           reinterpreted_batch_ndims=len(self.output_shape))
