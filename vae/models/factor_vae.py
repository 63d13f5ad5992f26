"""The FactorVAE (Kim and Mnih 2018): the ELBO plus gamma times a total
correlation estimated by a discriminator.

A discriminator D tells codes z ~ q(z|x) of a batch from the same codes
with each dimension permuted across the batch on its own (permute-dims:
draws from prod_d q(z_d)). With D's two logits (class 0: from q(z)),

  TC(z) ~= logit_0(z) - logit_1(z)       (the density-ratio trick),
  loss = distortion + KL + gamma TC(z),

and D trains on 0.5 [CE(D(z), 0) + CE(D(permute(z)), 1)] with an Adam of
its own (Kim and Mnih's: learning rate 1e-4, beta1 0.5, beta2 0.9), as
disentanglement_lib's `FactorVAE` does. Both updates run in one compiled
step: the VAE's (`build.objective` with `regularized_loss`, on
`trained_by_loss`), then the discriminator's (`auxiliary_update`, the
step's `after`) on codes drawn again from the updated encoder, D's inputs
held fixed. The discriminator, 6 layers of 1000 leaky ReLUs as in the
paper, and its optimiser are part of the model, so checkpoints keep them.

Under a strategy, 2 replicas train as one device on the global batch:
the codes are the global batch's draws (`distribute.sample`), permute-dims
shuffles the global batch's codes (`distribute.global_rows`) and each
replica keeps its rows of the result, and D's loss is divided by the
global batch with its gradients summed over the replicas before its Adam
applies them. That update gathers across replicas, so it runs outside XLA,
and a replicated run is not compiled with XLA at all: XLA on a CPU draws
other random numbers from the same stateless seed than TensorFlow's own
kernels do, so a half-compiled step would not be the one-device step.
"""

from typing import Sequence

import sonnet as snt
import tensorflow as tf

from vae import distribute
from vae import model as model_lib
from vae import objectives
from vae import optimizers
from vae import training


def permute_dims(z: tf.Tensor, seed) -> tf.Tensor:
  """Each column of [batch, latent] z shuffled across the batch on its
  own, by a stateless draw from `seed`.

  Args:
    z: [batch, latent] codes.
    seed: A stateless seed [2].
  """
  noise = tf.random.stateless_uniform(tf.shape(z), seed)
  order = tf.transpose(tf.argsort(noise, axis=0))  # [latent, batch].
  return tf.transpose(tf.gather(tf.transpose(z), order, batch_dims=1))


class Discriminator(snt.Module):
  """z -> 2 logits: from q(z) (0) or from the permuted codes (1).

  Args:
    hidden_sizes: The hidden layers' sizes (leaky ReLU).
    name: The module's name.
  """

  def __init__(self, hidden_sizes: Sequence[int], name=None):
    super().__init__(name=name)
    self.net = snt.nets.MLP(list(hidden_sizes) + [2],
                            activation=lambda h: tf.nn.leaky_relu(h, 0.2))

  def __call__(self, z):
    return self.net(z)


class FactorVAE(model_lib.VAE):
  """A VAE, its discriminator and the discriminator's optimiser.

  Args:
    encoder, decoder, prior: The VAE's parts.
    gamma: The weight of the discriminator's total correlation estimate.
    hidden_sizes: The discriminator's hidden layers.
    learning_rate: Its Adam learning rate.
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, gamma: float,
               hidden_sizes: Sequence[int], learning_rate: float,
               name=None):
    super().__init__(encoder, decoder, prior, name=name)
    self.gamma = gamma
    self.discriminator = snt.allow_empty_variables(
        Discriminator(hidden_sizes, name='discriminator'))
    self.discriminator_optimizer = optimizers.Adam(
        learning_rate, beta1=0.5, beta2=0.9, name='discriminator_optimizer')

  def __call__(self, x, num_samples=None) -> model_lib.VAEOutput:
    output = super().__call__(x, num_samples)
    if not self.discriminator.variables:  # Its first call makes them,
      self.discriminator(tf.reshape(output.z, [-1, output.z.shape[-1]]))
      # and its Adam's moments now, in the scope of a strategy if any: a
      # replica's thread cannot create them in the compiled step.
      training.create_optimizer_state(
          self.discriminator_optimizer,
          self.discriminator.trainable_variables)
    return output

  @property
  def trained_by_loss(self) -> training.Variables:
    """The VAE's variables: what the loss's optimiser updates."""
    mine = {v.ref() for v in self.discriminator.trainable_variables}
    return training.Variables(tuple(v for v in self.trainable_variables
                                    if v.ref() not in mine))

  def _codes(self, x, seed):
    return self._draw(self.encoder(x), seed)

  def _draw(self, posterior, seed):
    return distribute.sample(
        posterior, seed=tf.random.experimental.stateless_fold_in(seed, 1))

  def total_correlation(self, z: tf.Tensor) -> tf.Tensor:
    logits = self.discriminator(z)
    return logits[:, 0] - logits[:, 1]

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    tc = self.total_correlation(self._draw(posterior, seed))
    return (terms.distortion + terms.rate
            + self.gamma * tf.cast(tc, terms.rate.dtype))

  def discriminator_loss(self, z: tf.Tensor, seed) -> tf.Tensor:
    """0.5 [CE(D(z), 0) + CE(D(permute(z)), 1)], the (global) batch's mean;
    under a strategy, this replica's share of it, divided by the global
    batch.

    The cross-entropies are computed exactly from the logits
    (`sparse_softmax_cross_entropy_with_logits`, stable at any logit).
    disentanglement_lib instead clips the discriminator's probabilities to
    [1e-6, 1 - 1e-6] before their log, which caps each term at 13.8 nats;
    the two agree wherever the discriminator is less sure than that.
    """
    z = tf.stop_gradient(z)
    permuted = distribute.local_rows(
        permute_dims(distribute.global_rows(z),
                     tf.random.experimental.stateless_fold_in(seed, 2)),
        tf.shape(z)[0])
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    batch = tf.shape(z)[:1]
    return 0.5 * tf.nn.compute_average_loss(
        ce(tf.zeros(batch, tf.int32), self.discriminator(z))
        + ce(tf.ones(batch, tf.int32), self.discriminator(permuted)))

  def auxiliary_update(self, x: tf.Tensor, seed) -> None:
    """The discriminator's step, on codes of the updated encoder."""
    z = self._codes(x, seed)
    variables = self.discriminator.trainable_variables
    with tf.GradientTape() as tape:
      loss = self.discriminator_loss(z, seed)
    gradients = distribute.replica_sum(tape.gradient(loss, variables))
    self.discriminator_optimizer.apply(gradients, variables)


model_lib.MODELS.register(
    'factor_vae', lambda c, parts: FactorVAE(
        parts.encoder, parts.decoder, parts.prior, c.factor_gamma,
        c.discriminator_hidden_sizes, c.discriminator_learning_rate),
    'the FactorVAE (Kim and Mnih 2018): the ELBO plus --factor_gamma times a '
    'discriminator\'s total correlation estimate',
    fields=model_lib.DISENTANGLING_FIELDS + (
        'factor_gamma', 'discriminator_hidden_sizes',
        'discriminator_learning_rate'),
    fixed=model_lib.DISENTANGLING_FIXED,
    rate_weight=1.0, reduces_across_replicas=True,
    loss_title='FactorVAE: loss = distortion + rate + gamma TC (discriminator)')
