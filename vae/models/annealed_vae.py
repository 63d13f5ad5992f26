"""The annealed-capacity beta-VAE (Burgess et al. 2018): the KL held near a
capacity C that grows during training,

  loss = distortion + gamma |KL - C|,  C = min(C_max, C_max t / T),

at step t, with gamma = --capacity_gamma, C_max = --capacity_max nats and
T = --capacity_steps, as disentanglement_lib's `AnnealedVAE` does it: the
KL is the batch's mean (the global batch's, under a strategy), so the
penalty is one number per batch, which each example carries.
"""

import tensorflow as tf

from vae import distribute
from vae import model as model_lib
from vae import objectives


def capacity(step, capacity_max: float, capacity_steps: int) -> tf.Tensor:
  """C at `step`: capacity_max reached linearly at capacity_steps.

  Args:
    step: The training step.
    capacity_max: The final capacity C (nats).
    capacity_steps: The steps over which C rises from 0.
  """
  step = tf.cast(step, tf.float32)
  return tf.minimum(capacity_max,
                    capacity_max * step / float(capacity_steps))


class AnnealedVAE(model_lib.VAE):
  """A VAE trained on `regularized_loss`; `assign_step(step)` sets C.

  Args:
    encoder, decoder, prior: The VAE's parts.
    gamma: The weight of |KL - C| in the loss.
    capacity_max: The capacity C reached at the end, in nats.
    capacity_steps: The steps over which C grows linearly from 0.
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, gamma: float,
               capacity_max: float, capacity_steps: int, name=None):
    super().__init__(encoder, decoder, prior, name=name)
    self.gamma = gamma
    self.capacity_max = capacity_max
    self.capacity_steps = capacity_steps
    with self.name_scope:
      self.capacity = tf.Variable(0.0, trainable=False, name='capacity')

  def assign_step(self, step):
    self.capacity.assign(capacity(step, self.capacity_max,
                                  self.capacity_steps))

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    del posterior, seed
    gap = tf.abs(distribute.global_mean(terms.rate)
                 - tf.cast(self.capacity, terms.rate.dtype))
    return terms.distortion + self.gamma * gap


model_lib.MODELS.register(
    'annealed_vae', lambda c, parts: AnnealedVAE(
        parts.encoder, parts.decoder, parts.prior, c.capacity_gamma,
        c.capacity_max, c.capacity_steps),
    'the annealed-capacity beta-VAE (Burgess et al. 2018): --capacity_gamma '
    'times the KL\'s distance from a capacity that grows to --capacity_max '
    'over --capacity_steps',
    fields=model_lib.DISENTANGLING_FIELDS + (
        'capacity_gamma', 'capacity_max', 'capacity_steps'),
    fixed=model_lib.DISENTANGLING_FIXED,
    rate_weight=1.0, reduces_across_replicas=True,
    loss_title='annealed VAE: loss = distortion + gamma |rate - C|')
