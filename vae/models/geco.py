"""GECO (Rezende and Viola 2018, "Taming VAEs", algorithm 1): the KL
minimised under a constraint on the distortion, with its Lagrange
multiplier learnt alongside.

The constraint is E[C] <= 0 with C = distortion - kappa, kappa the target
distortion in nats per example (`--geco_target`). Each step:

  C_t   = the batch's mean distortion - kappa,
  C_ma  = C_t at the first step, then alpha C_ma + (1 - alpha) C_t,
  loss  = rate + lambda (distortion - kappa),
  lambda <- lambda exp(nu C_ma),  kept within [1e-6, 1e6],

with alpha `--geco_decay` and nu `--geco_rate`. The paper's loss is
KL + lambda (C_t + sg(C_ma - C_t)): the moving average enters its value
only, so its gradient is this loss's. lambda grows while the distortion is
above its target and shrinks below it; at equilibrium the run is a
beta-VAE with beta = 1 / lambda whose distortion is kappa.

lambda and C_ma are training state: non-trainable variables of the model,
so checkpoints keep them and a resumed run continues them exactly. They
are updated in the forward pass of the training loss, as Sonnet's
`VectorQuantizerEMA` updates its averages, from the mean over the global
batch (`distribute.global_batch_mean`), so 2 replicas update them as one
device. `training_state()` names them for the run's logs.
"""

from typing import Dict

import tensorflow as tf

from vae import distribute
from vae import model as model_lib
from vae import objectives


class GECO(model_lib.VAE):
  """A VAE whose KL is minimised with its distortion held at a target.

  Args:
    encoder, decoder, prior: The VAE's parts.
    target: kappa, the distortion the constraint holds, in nats per
      example.
    rate: nu, the step of log lambda per nat of the averaged constraint.
    decay: alpha, the constraint's moving-average decay.
    name: The module's name.
  """

  def __init__(self, encoder, decoder, prior, target: float, rate: float,
               decay: float, name=None):
    super().__init__(encoder, decoder, prior, name=name)
    if not 0.0 <= decay < 1.0:
      raise ValueError(f'decay must be in [0, 1), got {decay}')
    self.target = target
    self.rate = rate
    self.decay = decay
    self.multiplier = tf.Variable(1.0, trainable=False,
                                  name='geco_multiplier')
    self.constraint_average = tf.Variable(0.0, trainable=False,
                                          name='geco_constraint_average')
    self._steps = tf.Variable(0, trainable=False, name='geco_steps')

  def training_state(self) -> Dict[str, tf.Variable]:
    """The state training updates outside the gradient, by log column."""
    return {'geco_multiplier': self.multiplier,
            'geco_constraint': self.constraint_average}

  def regularized_loss(self, terms: objectives.ELBOTerms, posterior,
                       seed) -> tf.Tensor:
    """rate + lambda (distortion - kappa) per example, with lambda as it
    was before this step; then the state's update."""
    del posterior, seed  # The terms hold all it needs.
    multiplier = tf.identity(self.multiplier)  # Read before the update.
    loss = terms.rate + multiplier * (terms.distortion - self.target)
    constraint = distribute.global_batch_mean(terms.distortion) - self.target
    average = tf.where(
        self._steps > 0,
        self.decay * self.constraint_average + (1 - self.decay) * constraint,
        constraint)
    with tf.control_dependencies([loss]):
      self.constraint_average.assign(average)
      self.multiplier.assign(tf.clip_by_value(
          multiplier * tf.exp(self.rate * average), *MULTIPLIER_RANGE))
      self._steps.assign_add(1)
    return loss


# lambda stays finite and positive: beta = 1 / lambda between 1e-6 and 1e6.
MULTIPLIER_RANGE = (1e-6, 1e6)


def _refuse(settings):
  if settings.geco_target is None:
    return (('geco_target',), 'GECO holds the distortion at a target: give '
            '--geco_target in nats per example (for example 100 on binarised '
            'MNIST).')
  return None


model_lib.MODELS.register(
    'geco', lambda c, parts: GECO(parts.encoder, parts.decoder, parts.prior,
                                  c.geco_target, c.geco_rate, c.geco_decay),
    'GECO (Rezende and Viola 2018): the KL under the constraint distortion '
    '<= --geco_target, its Lagrange multiplier learnt alongside',
    fields=('encoder', 'decoder', 'latent', 'kl_samples', 'geco_target',
            'geco_rate', 'geco_decay'),
    fixed={'objective': 'elbo', 'loss_normalization': 'per_example'},
    rate_weight=1.0, reduces_across_replicas=True, refuse=_refuse,
    loss_title='GECO: loss = rate + lambda (distortion - target)')
