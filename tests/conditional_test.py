"""Tests for vae/conditional.py and the parts it gives the label to."""

import os

import numpy as np
import pytest
from scipy import special
from scipy import stats
import sonnet as snt
import tensorflow as tf

from vae import ais
from vae import conditional
from vae import config as config_lib
from vae import data
from vae import decoders
from vae import encoders
from vae import errors
from vae import evaluation
from vae import export
from vae import priors
from vae import training
from vae.run import annealing
from vae.run import build
from vae.run import figures
from vae.run import inputs
from vae.run import report

_SHAPE = (3, 3, 1)


def _model(**values):
  values = dict(dict(latent_size=1, hidden_sizes=[8], beta=1.0), **values)
  config = config_lib.make(conditional=True, label_classes=3, **values)
  return config, build.build(config.model, _SHAPE, seed=0)


def _images(n=4, seed=0):
  return tf.constant(np.random.default_rng(seed).integers(
      0, 2, size=(n, *_SHAPE)), tf.float32)


def _relu(a):
  return np.maximum(a, 0.0)


def _values(module, suffix):
  """The value of `module`'s one variable whose name ends in `suffix`."""
  (found,) = [v.numpy().astype(np.float64) for v in module.variables
              if v.name.endswith(suffix)]
  return found


class PartsTest(tf.test.TestCase):

  def test_mlp_encoder_reads_the_label_beside_the_pixels(self):
    encoder = encoders.MLPEncoder([5], latent_size=2)
    x, c = _images(), tf.one_hot([0, 2, 1, 2], 3)
    posterior = encoder(x, condition=c)
    # The network by hand: relu([x, c] W1 + b1) W2 + b2 -> loc, raw scale.
    inputs_ = np.concatenate([x.numpy().reshape(4, -1), c.numpy()], axis=1)
    hidden = _relu(inputs_ @ _values(encoder, 'torso/linear_0/w:0')
                   + _values(encoder, 'torso/linear_0/b:0'))
    params = (hidden @ _values(encoder, 'posterior/params/w:0')
              + _values(encoder, 'posterior/params/b:0'))
    scale = np.log1p(np.exp(params[:, 2:] + np.log(np.expm1(1.0)))) + 1e-4
    self.assertAllClose(posterior.mean(), params[:, :2], rtol=1e-5)
    self.assertAllClose(posterior.stddev(), scale, rtol=1e-5)

  def test_conv_encoder_sees_a_plane_per_class(self):
    encoder = encoders.ConvEncoder(2, channels=[4])
    x = _images()
    c = tf.one_hot([0, 2, 1, 2], 3)
    encoder(x, condition=c)
    kernel = _values(encoder, 'conv_0/w:0')
    self.assertEqual(kernel.shape, (3, 3, 1 + 3, 4))  # Pixels, 3 planes.
    # Examples 1 and 3 share a label: the same image gives the same q.
    same = encoder(tf.stack([x[0], x[0]]), condition=tf.stack([c[1], c[3]]))
    self.assertAllEqual(same.mean()[0], same.mean()[1])
    other = encoder(tf.stack([x[0], x[0]]), condition=c[:2])
    self.assertNotAllClose(other.mean()[0], other.mean()[1])

  def test_decoder_gives_each_draw_its_example_s_label(self):
    decoder = decoders.MLPDecoder([5], _SHAPE)
    z = tf.random.stateless_normal([6, 4, 2], [1, 2])  # [k, batch, latent]
    c = tf.one_hot([0, 2, 1, 2], 3)
    logits = decoder(z, condition=c).distribution.logits
    self.assertEqual(logits.shape, (6, 4, *_SHAPE))
    for j, i in ((0, 0), (5, 1), (3, 2)):
      alone = decoder(z[j, i][None], condition=c[i][None])
      self.assertAllClose(logits[j, i], alone.distribution.logits[0],
                          rtol=1e-6)

  def test_mixture_prior_weighs_its_components_per_class(self):
    prior = priors.MixtureOfGaussians(2, 4, seed=0)
    c = tf.one_hot([1, 0, 2], 3)
    prior(condition=c)  # Makes the class weights.
    prior.class_logits.assign(
        tf.random.stateless_normal([3, 4], [3, 4]) * 2.0)
    prior.logits.assign(tf.random.stateless_normal([4], [5, 6]))
    z = tf.random.stateless_normal([5, 3, 2], [7, 8])
    got = prior(condition=c).log_prob(z)
    locs, scales = (prior.locs.numpy().astype(np.float64),
                    np.log1p(np.exp(prior.raw_scales.numpy())) + 1e-4)
    for i, label in enumerate([1, 0, 2]):
      log_pi = special.log_softmax(prior.logits.numpy()
                                   + prior.class_logits.numpy()[label])
      for s in range(5):
        want = special.logsumexp(log_pi + stats.norm.logpdf(
            z.numpy()[s, i], locs, scales).sum(axis=1))
        self.assertAllClose(got[s, i], want, rtol=1e-5)

  def test_vamp_prior_given_a_class_mixes_that_class_s_pseudo_inputs(self):
    encoder = encoders.MLPEncoder([5], latent_size=2)
    prior = priors.VampPrior(encoder, 5, _SHAPE, seed=0)
    labels = [1, 0]
    z = tf.random.stateless_normal([3, 2, 2], [1, 1])
    got = prior(condition=tf.one_hot(labels, 2)).log_prob(z).numpy()
    u = tf.clip_by_value(prior.pseudo_inputs, 0.0, 1.0)
    owners = np.arange(5) % 2  # Pseudo-input k is class k mod 2's.
    q = encoder(u, condition=tf.one_hot(owners, 2))
    means, stddevs = q.mean().numpy(), q.stddev().numpy()
    for i, label in enumerate(labels):
      mine = owners == label
      for s in range(3):
        densities = stats.norm.logpdf(z.numpy()[s, i], means[mine],
                                      stddevs[mine]).sum(axis=1)
        want = special.logsumexp(densities) - np.log(mine.sum())
        self.assertAllClose(got[s, i], want, rtol=1e-5)
    with self.assertRaisesRegex(ValueError, 'prior_components=6'):
      prior(condition=tf.one_hot([0], 6))

  def test_a_learnt_prior_that_ignores_the_label_is_refused(self):
    encoder = encoders.MLPEncoder([5], latent_size=2)
    decoder = decoders.MLPDecoder([5], _SHAPE)

    class Learnt(snt.Module):

      def __init__(self):
        super().__init__()
        self.loc = tf.Variable(tf.zeros([2]))

      def __call__(self):
        return priors.StandardNormal(2)()

    with self.assertRaisesRegex(ValueError, 'learnt but takes no condition'):
      conditional.ConditionalVAE(encoder, decoder, Learnt(), 3)
    with self.assertRaisesRegex(ValueError, 'takes no condition'):
      conditional.ConditionalVAE(encoder, lambda z: None,
                                 priors.StandardNormal(2), 3)


class LikelihoodTest(tf.test.TestCase):

  def _model_and_exact(self):
    """A model of a 1-d z with a class-weighted mixture prior, three
    images, and `exact(i, y)`: log p(x_i|y) = log int p(x_i|z, y) p(z|y) dz
    by quadrature, with p(z|y) the class's mixture in NumPy."""
    config, model = _model(prior='mixture', prior_components=3)
    prior = model.prior
    prior.class_logits.assign(
        tf.random.stateless_normal([3, 3], [1, 2]) * 3.0)
    prior.locs.assign(tf.constant([[-2.0], [0.5], [2.5]]))
    # q(z|x, y) = N(0, 3^2), wider than each component: bounded weights,
    # so k = 20000 draws estimate the integral closely.
    head = {v.name: v for v in model.encoder.variables
            if 'posterior/params' in v.name}
    for name, variable in head.items():
      variable.assign(tf.zeros_like(variable))
      if name.endswith('b:0'):
        variable.assign([0.0, np.log(np.expm1(3.0)) - np.log(np.expm1(1.0))])
    x = _images(n=3, seed=1)
    grid = np.linspace(-12.0, 12.0, 4801)
    scales = np.log1p(np.exp(prior.raw_scales.numpy()[:, 0])) + 1e-4

    def exact(i, label):
      log_pi = special.log_softmax(prior.logits.numpy()
                                   + prior.class_logits.numpy()[label])
      log_prior = special.logsumexp(
          log_pi[:, None] + stats.norm.logpdf(
              grid[None], prior.locs.numpy()[:, :1], scales[:, None]),
          axis=0)
      logits = model.given(tf.fill([len(grid)], label)).decoder(
          tf.constant(grid[:, None], tf.float32)).distribution.logits
      pixels = x.numpy()[i].ravel()
      flat = logits.numpy().reshape(len(grid), -1).astype(np.float64)
      log_lik = -np.sum(np.logaddexp(0, -flat) * pixels
                        + np.logaddexp(0, flat) * (1 - pixels), axis=1)
      return special.logsumexp(log_prior + log_lik) + np.log(
          grid[1] - grid[0])

    return build.model_functions(model, config, _SHAPE), x, exact, model

  def test_log_likelihood_given_the_label_is_the_integral(self):
    # The IWAE estimate at large k must reach the integral. A model ignoring
    # y, or the wrong class's prior, misses by nats.
    functions, x, exact, _ = self._model_and_exact()
    labels = tf.constant([2, 0, 1])
    estimate = functions.log_likelihood(
        x, labels, tf.constant(20000), tf.constant(5000),
        tf.constant([0, 1]))['log_likelihood'].numpy()
    for i, label in enumerate(labels.numpy()):
      self.assertAllClose(estimate[i], exact(i, label), atol=0.02)

  def test_marginal_log_likelihood_sums_the_classes_out(self):
    # log p(x) = log (1/C) sum_y p(x|y).
    functions, x, exact, _ = self._model_and_exact()
    marginal = evaluation.marginal_log_likelihood(functions, x, 20000,
                                                  chunk_size=5000)
    for i in range(len(x)):
      want = special.logsumexp([exact(i, c) for c in range(3)]) - np.log(3)
      self.assertAllClose(marginal[i], want, atol=0.02)

  def test_ais_given_the_label_is_the_integral(self):
    # AIS's chains of each image move under p(z|y) p(x|z, y) of its label.
    _, x, exact, model = self._model_and_exact()
    labels = tf.constant([2, 0, 1])
    decoder, prior, _ = ais.model_parts(model, labels)
    estimate = ais.log_likelihood(decoder, prior, x, num_steps=300,
                                  num_chains=16, seed=[0, 3])
    for i, label in enumerate(labels.numpy()):
      self.assertAllClose(estimate.log_likelihood[i], exact(i, label),
                          atol=0.05)
    with self.assertRaisesRegex(ValueError, 'needs the examples\' labels'):
      ais.model_parts(model)

  def test_pieces_keep_their_labels_and_bdmc_cycles_the_classes(self):
    # pylint: disable=protected-access
    batches = [(tf.range(60), tf.range(60) + 100), (tf.range(5), tf.range(5))]
    pieces = list(annealing._pieces(batches, 62))
    self.assertEqual([len(x) for x, _ in pieces], [50, 10, 2])
    for x, labels in pieces:
      self.assertAllEqual(labels, x + 100 if len(x) > 2 else x)
    _, model = _model()
    self.assertAllEqual(annealing._labels(model, 7), [0, 1, 2, 0, 1, 2, 0])

  @pytest.mark.slow  # Compiles AIS, and runs BDMC's chains eagerly twice.
  def test_a_runs_ais_and_bdmc_are_of_the_label(self):
    # The run's summary gives each piece's chains its own labels (the same
    # numbers as AIS given them by hand, to the float) and simulates
    # BDMC's examples for labels 0, 1, 2, 0, ... in turn.
    _, x, _, model = self._model_and_exact()
    labels = tf.constant([2, 0, 1])
    settings = annealing.Settings(steps=5, chains=2, bdmc_examples=4)
    numbers = annealing.summary(model, [(x, labels)], settings)
    decoder, prior, _ = ais.model_parts(model, labels)
    by_hand = ais.log_likelihood(decoder, prior, x, 5, 2, seed=[0, 0])
    self.assertAllClose(numbers['test_nll_ais'],
                        -np.mean(by_hand.log_likelihood), atol=1e-4)
    decoder, prior, _ = ais.model_parts(model, tf.constant([0, 1, 2, 0]))
    sandwich = ais.bdmc(decoder, prior, 4, 5, 2, seed=(0, 1 << 20))
    self.assertAllClose(numbers['bdmc_lower'],
                        np.mean(sandwich.lower), atol=1e-4)
    self.assertAllClose(numbers['bdmc_upper'],
                        np.mean(sandwich.upper), atol=1e-4)

class TrainingTest(tf.test.TestCase):

  def test_loop_on_labelled_batches_repeats_the_steps(self):
    images = _images(n=16, seed=2)
    labels = tf.constant(np.arange(16) % 3)
    outputs = []
    for loop in (False, True):
      tf.random.set_seed(0)  # The same initial weights.
      config, model = _model(prior='mixture', prior_components=3)
      optimizer = snt.optimizers.Adam(0.01)
      objective = build.run_objective(config, model, tf.Variable(1.0))
      if loop:
        batches = data.without_tuning_thread(
            tf.data.Dataset.from_tensor_slices((images, labels)).batch(
                4, drop_remainder=True))
        train = training.make_train_loop(
            model, optimizer, iter(batches.repeat()), seed=3,
            steps_per_call=4, jit_compile=False, objective=objective)
        losses = train(1, 4).loss.numpy()
      else:
        step = training.make_train_step(model, optimizer,
                                        objective=objective)
        losses = [step((images[4 * s:4 * s + 4], labels[4 * s:4 * s + 4]),
                       tf.constant([3, s + 1])).loss.numpy()
                  for s in range(4)]
      outputs.append((np.array(losses), model.prior.class_logits.numpy()))
    self.assertAllEqual(outputs[0][0], outputs[1][0])
    self.assertAllEqual(outputs[0][1], outputs[1][1])
    self.assertNotAllClose(outputs[0][1], 0.0)  # The class weights train.

  def test_a_step_without_an_objective_takes_labelled_batches(self):
    _, model = _model()
    labels, seed = tf.constant([0, 1, 2, 0]), tf.constant([0, 1])
    want = model.elbo(_images(), labels, seed=seed)  # Before the update.
    step = training.make_train_step(model, snt.optimizers.Adam(0.01))
    metrics = step((_images(), labels), seed)
    self.assertAllClose(metrics.elbo, np.mean(want.elbo), rtol=1e-5)
    self.assertAllClose(metrics.loss, np.mean(want.loss), rtol=1e-5)


class ExportTest(tf.test.TestCase):

  def test_saved_model_takes_the_labels_and_evaluates_alike(self):
    config, model = _model(prior='vamp', prior_components=3)
    functions = build.model_functions(model, config, _SHAPE)
    path = export.save(functions,
                       os.path.join(self.create_tempdir().full_path, 'sm'))
    loaded = export.load(path)
    self.assertEqual(int(loaded.num_label_classes.numpy()), 3)
    labels, seed = tf.constant([2, 0, 1, 1]), tf.constant([4, 5])
    for live, saved in ((functions.sample(labels, seed),
                         loaded.sample(labels, seed)),
                        (functions.encode(_images(), labels),
                         loaded.encode(_images(), labels))):
      for key in live:
        self.assertAllClose(live[key], saved[key], rtol=1e-6)
    self.assertEqual(loaded.sample(labels, seed)['mean'].shape,
                     (4, *_SHAPE))
    batches = [(_images(seed=s), tf.constant([s % 3, 1, 2, 0]))
               for s in range(2)]
    results = [evaluation.evaluate(f, batches, num_samples=5, seed=1)
               for f in (functions, loaded)]
    self.assertAllClose(results[0].nll, results[1].nll, rtol=1e-6)
    self.assertAllClose(results[0].elbo, results[1].elbo, rtol=1e-6)
    # The label matters: the same images given other labels.
    other = evaluation.evaluate(
        functions, [(x, (y + 1) % 3) for x, y in batches], num_samples=5,
        seed=1)
    self.assertNotAllClose(other.elbo, results[0].elbo)

  def test_figures_give_each_row_its_class(self):
    config, model = _model(latent_size=2)
    functions = build.model_functions(model, config, _SHAPE)
    labels = tf.constant([0, 1, 2, 0])
    results = evaluation.evaluate(functions, [(_images(), labels)])
    folder = self.create_tempdir().full_path
    rows = [dict(step=s, loss=5.0 / s, distortion=4.0 / s, rate=1.0 / s)
            for s in (1, 2)]
    written = figures.write_figures(functions, results, _images().numpy(),
                                    rows, [], folder, config)
    self.assertCountEqual(
        [os.path.basename(p) for p in written],
        ['loss_curves.png', 'reconstructions.png', 'samples.png',
         'latent_means.png', 'latent_traversal.png'])
    with tf.summary.create_file_writer(folder).as_default(step=0):
      figures.image_summaries(functions, _images().numpy(), 0,
                              labels.numpy())

  def test_evaluating_images_without_labels_is_refused(self):
    config, model = _model()
    functions = build.model_functions(model, config, _SHAPE)
    with self.assertRaisesRegex(ValueError, 'batch 0 has no labels'):
      evaluation.evaluate(functions, [_images()])

  def test_summary_says_the_nll_is_conditional(self):
    config, model = _model()
    functions = build.model_functions(model, config, _SHAPE)
    results = evaluation.evaluate(
        functions, [(_images(), tf.constant([0, 1, 2, 0]))], num_samples=3)
    summary = report.results_summary(results, config, _SHAPE)
    self.assertIn('log p(x|y)', summary['conditional_on'])
    plain = config_lib.make(latent_size=1, hidden_sizes=[8])
    self.assertNotIn('conditional_on', report.results_summary(
        results, plain, _SHAPE))


class RefusalTest(tf.test.TestCase):

  def test_settings_a_conditional_vae_cannot_take_are_refused(self):
    for values, message in (
        (dict(label_classes=5), 'label_classes is the classes of a '
         'conditional'),
        (dict(conditional=True, latent_sizes=(4, 2)), 'one stochastic '
         'layer'),
        (dict(conditional=True, model='wae_mmd'), 'conditional'),
        (dict(conditional=True, dataset='sprites'), 'pass (--)?metrics='),
    ):
      with self.assertRaisesRegex(ValueError, message, msg=values):
        config_lib.make(**values)

  def test_data_without_fitting_labels_is_refused(self):
    config = config_lib.make(conditional=True, label_classes=3)
    images = np.zeros((4, *_SHAPE), np.uint8)
    unlabelled = data.Examples(tf.data.Dataset.from_tensor_slices(
        {'image': images}), _SHAPE, 4, 'test')
    with self.assertRaisesRegex(errors.InputError, 'have no labels'):
      inputs.check_labels(unlabelled, config, 'train_split')
    labelled = data.Examples(tf.data.Dataset.from_tensor_slices(
        {'image': images, 'label': np.array([0, 1, 4, 2])}), _SHAPE, 4,
                             'test')
    with self.assertRaisesRegex(errors.InputError,
                                'from 0 to 4.*--label_classes=5'):
      inputs.check_labels(labelled, config, 'train_split')
    inputs.check_labels(labelled, config_lib.make(
        conditional=True, label_classes=5), 'train_split')


if __name__ == '__main__':
  tf.test.main()
