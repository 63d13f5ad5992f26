"""The kinds of latent variable: each one's posterior head, prior and size.

`LATENTS` maps `--latent` to the factory of q(z|x)'s head, with traits that
`build.build` reads: `prior` (the factory of p(z)), `dims` (the dimensions of
z) and `decoder` (what the decoder is given of z). A Gaussian latent of
several layers (`--latent_sizes`) is a hierarchy: its head holds the prior it
shares, and the decoder sees the bottom layer.
"""

from typing import Optional, Sequence

from vae import categorical
from vae import encoders
from vae import hierarchy
from vae import model as model_lib
from vae import priors
from vae import registry


def _hierarchical(config) -> bool:
  return len(hierarchy.layer_sizes(config)) > 1


LATENTS = registry.Registry('latent')
LATENTS.register(
    'gaussian',
    lambda c, parts: (hierarchy.posterior(c, parts) if _hierarchical(c) else
                      encoders.POSTERIORS.build(c.posterior, c, parts)),
    'a Gaussian vector (--posterior, --prior), or stochastic layers '
    '(--latent_sizes, --inference)',
    fields=('latent_size', 'posterior', 'prior', 'latent_sizes', 'inference',
            'latent_hidden_sizes', 'activation'),
    prior=lambda c, parts: (parts.head.prior if _hierarchical(c) else
                            priors.PRIORS.build(c.prior, c, parts)),
    dims=lambda c: sum(hierarchy.layer_sizes(c)),
    decoder=lambda c, decoder: (
        hierarchy.BottomLayer(decoder, hierarchy.layer_sizes(c)[0],
                              name='bottom_layer')
        if _hierarchical(c) else decoder))
LATENTS.register(
    'categorical',
    lambda c, parts: categorical.CategoricalPosterior(
        c.latent_size, c.num_classes, name='posterior'),
    '--latent_size one-hot categoricals of --num_classes classes, trained '
    'through the Gumbel-softmax relaxation',
    fields=('latent_size', 'num_classes', 'temperature', 'min_temperature',
            'temperature_decay'),
    prior=lambda c, parts: categorical.UniformCategorical(
        c.latent_size, c.num_classes, name='prior'),
    dims=lambda c: c.latent_size * c.num_classes)


def latent_dims(config, image_shape: Optional[Sequence[int]] = None) -> int:
  """The dimensions of z.

  Args:
    config: A `config.ModelConfig`.
    image_shape: [height, width, channels]; needed by a model whose code
      depends on the image's size (the VQ-VAE's map).

  Returns:
    The number of dimensions of z (of the one-hot codes, for categorical
    latents).

  Raises:
    ValueError: if the model needs `image_shape` and it is not given.
  """
  dims = model_lib.MODELS.traits(config.model).get('latent_dims')
  if dims is None:
    return LATENTS.traits(config.latent)['dims'](config)
  if image_shape is None:
    raise ValueError(f'the code of --model={config.model} depends on the '
                     'image shape: pass image_shape')
  return dims(config, image_shape)
