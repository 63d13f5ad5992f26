"""Trains a beta-VAE on MNIST, evaluates it and draws its figures.

  python -m experiments.mnist --beta=0.01
  python -m experiments.mnist --data_dir=../shared/data/mnist \
      --train_split='test[:9000]' --eval_split='test[9000:]'

The model zoo's flags choose the networks, posterior, prior, likelihood,
latent, objective and dataset (--encoder=conv, --prior=vamp,
--latent=categorical, --objective=iwae, --dataset=cifar10, ...; see the
README's table); their defaults are the notebook's model.

Writes to --output_dir:
  config.json        the flags of the run;
  metrics.csv        the training log; eval_metrics.csv, the eval-set ELBO
                     (and NLL, and a validation split's) during training;
  summary.json       the final numbers: test ELBO, rate, distortion, the
                     importance-sampled NLL, KL per dimension, active units
                     (and the disentanglement metrics, on data with factors);
  figures/           loss curves, reconstructions, samples, the latent
                     space and its traversals;
  checkpoints/       model, optimiser and step (batch s depends on s alone);
  saved_model/       the model with encode, decode and sample signatures;
  train/, eval/      TensorBoard summaries (tensorboard --logdir OUTPUT_DIR).

Running the same command again resumes from the last checkpoint and appends
to the logs; --restart starts afresh.

--strategy=mirrored|multi_worker|tpu trains data-parallel on every GPU, on a
cluster (TF_CONFIG) or on a TPU, as one device would on the same global
batch; under multi_worker, workers other than the chief write their logs and
checkpoints to OUTPUT_DIR/workers/<task>/. See the README.
"""

from absl import flags

from experiments import run_flags
from vae import errors
from vae.run import report
from vae.run import runner

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(run_flags)  # --help lists them.


def main(argv):
  del argv
  config = run_flags.config_from_flags()
  with runner.Run(config, FLAGS.output_dir, FLAGS.restart) as run:
    run.train()
    print(report.closing_lines(run.output_dir, run.finish()))


def run():
  """Runs main; bad input, divergence and a lost worker end in a message,
  not a traceback; so does a stop on SIGTERM or Ctrl-C, with the signal's
  exit code."""
  run_flags.run_main(main, (run_flags.InputError, FloatingPointError,
                            errors.WorkerLost))


if __name__ == '__main__':
  run()
