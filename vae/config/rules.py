"""The rules a configuration must keep, checked when a `Config` is made.

Two kinds:
- Ownership, one rule for every field. Each registered part declares the
  fields it reads (`fields=` in its registry line); a choice among them
  (`--prior`) brings in the fields of the part chosen there. A field that no
  chosen part reads and that no run reads (`is_global`) must keep its
  default, and a field a chosen part fixes (`fixed=`) must take that value.
  The error names the parts that would read it:
  `--prior_components=5 applies to --prior=mixture or vamp, not
  --prior=normal`.
- Combinations that mean nothing although every field is read, each a
  function below, refused with the reason.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from vae import data
from vae import decoders
from vae import encoders
from vae import latents
from vae import model as model_lib
from vae import objectives
from vae import priors
from vae import registry
from vae.config import sections


def _registry(name: str) -> Optional[registry.Registry]:
  """The registry of choice field `name`'s parts, if it is one."""
  choices = sections.fields()[name][1].metadata['choices']
  return choices if isinstance(choices, registry.Registry) else None


def _parts(value) -> Tuple:
  return value if isinstance(value, tuple) else (value,)


class Reading(NamedTuple):
  """Which fields a configuration's chosen parts read.

  Attributes:
    read: Field to the part that reads it, as `--prior=vamp` (None: every
      run reads it).
    fixed: Field to (the part that fixes it, its value).
  """
  read: Dict[str, Optional[str]]
  fixed: Dict[str, Tuple[str, Any]]


def reading(values: Dict[str, Any]) -> Reading:
  """The fields read by the parts that `values` (fields by name) choose:
  the global fields, then, from each choice read, the chosen part's.

  Args:
    values: Fields by name (a partial configuration).
  """
  read = {name: None for name, (_, f) in sections.fields().items()
          if f.metadata['is_global']}
  fixed = {}
  queue = list(read)
  while queue:
    name = queue.pop(0)
    parts = _registry(name)
    if parts is None:
      continue
    for part in _parts(values[name]):
      if part not in parts:
        continue  # An unknown name is refused with the field's checks.
      who = f'--{name}={part}'
      for field, value in parts.fixed(part).items():
        fixed.setdefault(field, (who, value))
      for field in parts.fields(part):
        if field not in read:
          read[field] = who
          queue.append(field)
  return Reading(read, fixed)


def owners(name: str) -> Dict[str, List[str]]:
  """The parts that read field `name`: choice field to part names.

  Args:
    name: A field's name.
  """
  found = {}
  for field in sections.fields():
    parts = _registry(field)
    for part in parts or ():
      if name in parts.fields(part):
        found.setdefault(field, []).append(part)
  return found


def _either(names: List[str]) -> str:
  return (', '.join(names[:-1]) + ' or ' + names[-1] if len(names) > 1
          else names[0])


def _why_unread(name: str, values: Dict[str, Any], read: Dict,
                depth: int = 0) -> str:
  """Why no chosen part reads `name`: the parts that would, and why the
  choices that pick them are not read either."""
  found = owners(name)
  why = 'applies to ' + ' or '.join(f'--{field}={_either(parts)}'
                                    for field, parts in found.items())
  current = [f'--{field}={sections.text(values[field])}'
             for field in found if field in read]
  if current:
    why += ', not ' + ' and '.join(current)
  unread = [field for field in found if field not in read]
  if unread and depth < 3:
    why += f'; --{unread[0]} ' + _why_unread(unread[0], values, read,
                                             depth + 1)
  return why


def _default(name: str) -> Any:
  return sections.fields()[name][1].default


def check_ownership(config):
  """Refuses a field that no chosen part reads, set away from its default,
  and a field set against the value a chosen part fixes.

  Args:
    config: A `config.Config`.
  """
  values = sections.values(config)
  read, fixed = reading(values)
  for name, value in values.items():
    if name in fixed:
      who, needed = fixed[name]
      if value != needed and (name in read or value != _default(name)):
        raise ValueError(
            f'{who} needs --{name}={sections.text(needed)}, not '
            f'--{name}={sections.text(value)}: pass '
            f'--{name}={sections.text(needed)}, or another '
            f'{who.split("=")[0]}.')
    elif name not in read and value != _default(name):
      raise ValueError(
          f'--{name}={sections.text(value)} '
          f'{_why_unread(name, values, read)}: drop it, or choose a part '
          'that reads it.')


# The combinations that mean nothing, refused with the reason.


def _refuse(config, names, why: str):
  values = sections.values(config)
  given = ' '.join(f'--{k}={sections.text(values[k])}' for k in names)
  raise ValueError(f'{given}: {why}')


def _is_default(config, name: str) -> bool:
  return sections.values(config)[name] == _default(name)


def _unused(config, owner: str, names, why: str):
  """Refuses fields of `names` set while `owner`'s value has no use for
  them, saying `why`."""
  for name in names:
    if not _is_default(config, name):
      _refuse(config, [owner, name], f'--{name} {why}')


def _categorical_rules(config):
  if config.model.latent != 'categorical':
    return
  if _importance_weighted(config):
    _refuse(config, ['latent', 'objective'], 'the IWAE bound needs q(z|x) '
            'at each sample, and the relaxed samples that carry the '
            'gradients have no categorical probability; train on the ELBO.')


def _importance_weighted(config) -> bool:
  """Whether the objective is an estimate of the IWAE bound."""
  return objectives.OBJECTIVES.traits(config.objective.objective).get(
      'importance_weighted', False)


def _holding_refused(config, owner: str, weights: str):
  """Refuses an objective that holds q's parameters fixed, when
  `weights` (network weights) are among them."""
  if objectives.OBJECTIVES.traits(config.objective.objective).get(
      'holds_posterior'):
    _refuse(config, [owner, 'objective'], 'this objective holds q(z|x)\'s '
            f'parameters fixed inside log q(z|x), and {weights} are network '
            'weights it cannot hold; train with --objective=iwae.')


def _flow_rules(config):
  traits = encoders.POSTERIORS.traits(config.model.posterior)
  if config.model.latent_size < traits.get('min_latent_size', 1):
    _refuse(config, ['posterior', 'latent_size'], 'this posterior needs '
            f'--latent_size of at least {traits["min_latent_size"]}.')
  component = traits.get('vamp_component', True)
  if config.model.prior == 'vamp' and component is not True:
    _refuse(config, ['posterior', 'prior'], 'the VampPrior evaluates '
            'q(z|u_k) of every pseudo-input at each z, and ' + (
                component or 'this posterior does not broadcast z against '
                'them') + '; use --posterior=iaf.')
  if traits.get('flow'):
    _holding_refused(config, 'posterior', 'a flow\'s parameters')


def _hierarchy_rules(config):
  sizes = config.model.latent_sizes
  if len(sizes) == 1:
    _refuse(config, ['latent_sizes'], 'a hierarchy needs two or more '
            f'layers; one layer is --latent_size={sizes[0]}.')
  if not sizes:
    _unused(config, 'latent_sizes', ('inference', 'latent_hidden_sizes'),
            'shapes a hierarchy; give its layers with --latent_sizes.')
    return
  _unused(config, 'latent_sizes', ('latent', 'latent_size', 'posterior',
                                   'prior'),
          'does not apply: a hierarchy has Gaussian layers of '
          '--latent_sizes, diagonal posteriors and the hierarchical prior.')
  _holding_refused(config, 'latent_sizes', 'a hierarchy\'s upper layers')


def _likelihood_rules(config):
  likelihood = config.model.likelihood
  traits = decoders.LIKELIHOODS.traits(likelihood)
  binarization = config.data.binarization
  if traits.get('discrete_levels') and binarization != 'none':
    _refuse(config, ['likelihood', 'binarization'], f'this likelihood '
            f'models {traits["discrete_levels"]} grey levels, which only '
            '--binarization=none serves.')
  if traits.get('density') and binarization not in ('none', 'dequantize'):
    _refuse(config, ['likelihood', 'binarization'], 'a density over grey '
            'levels on binary pixels grows without bound as it sharpens on '
            '0 and 1; pass --binarization=none to model the grey levels, '
            'or dequantize for bits per dimension.')


def _binarization_rules(config):
  data_config = config.data
  if (data_config.eval_binarization_seed is not None
      and data_config.binarization != 'dynamic'):
    _refuse(config, ['eval_binarization_seed', 'binarization'], 'a fixed '
            'binarisation of the evaluated splits goes with dynamic '
            'binarisation of the training batches: pass '
            '--binarization=dynamic, or drop --eval_binarization_seed.')


def kl_samples(config) -> Optional[int]:
  """The `kl_samples` a run's ELBO takes: `--kl_samples` if set; else 1
  (log q(z|x) - log p(z) at the distortion's draw of z) where a chosen part
  has no closed-form KL (its trait `analytic_kl=False`, or a hierarchy);
  else None, the analytic KL.

  Args:
    config: A `config.Config`.
  """
  if config.objective.kl_samples is not None:
    return config.objective.kl_samples
  m = config.model
  traits = model_lib.MODELS.traits(m.model)
  if traits.get('own_networks') or traits.get('point_mass_code'):
    return None if traits.get('analytic_kl', True) else 1
  if m.latent == 'gaussian' and (m.latent_sizes or not all(
      parts.traits(name).get('analytic_kl', True) for parts, name in
      ((encoders.POSTERIORS, m.posterior), (priors.PRIORS, m.prior)))):
    return 1
  return None


def kl_estimator(config) -> str:
  """How a run estimates the rate, for its summary.

  Args:
    config: A `config.Config`.
  """
  samples = kl_samples(config)
  if samples is None:
    return 'analytic'
  return ('monte_carlo: log q(z|x) - log p(z) at the distortion\'s draw'
          if samples == 1 else f'monte_carlo: {samples} draws')


def reduces_across_replicas(config) -> bool:
  """Whether the step needs an all-reduce inside it, on a strategy other
  than the default: free bits' mean over the global batch, or a model's
  (the VQ-VAE's codebook statistics).

  Args:
    config: A `config.Config`.
  """
  return config.train.strategy != 'default' and (
      bool(config.objective.free_bits)
      or model_lib.MODELS.traits(config.model.model).get(
          'reduces_across_replicas', False))


def _strategy_rules(config):
  if reduces_across_replicas(config) and config.train.jit_compile:
    owner = ('free_bits' if config.objective.free_bits else 'model')
    _refuse(config, ['strategy', owner, 'jit_compile'], 'this step sums '
            'over the global batch (free bits\' mean KL, the VQ-VAE\'s '
            'codebook statistics, the disentangling models\' penalties and '
            'the FactorVAE\'s discriminator update): an '
            'all-reduce between the replicas, which '
            'cannot run inside an XLA-compiled replica step; drop '
            '--jit_compile.')


def _vqvae_rules(config):
  steps = config.train.prior_training_steps
  if steps is not None and steps >= config.train.training_steps:
    _refuse(config, ['prior_training_steps', 'training_steps'], 'the '
            'prior trains on the codes of a trained autoencoder: leave it '
            'steps before, with --prior_training_steps below '
            '--training_steps.')


def _schedule_rules(config):
  if config.objective.temperature < config.objective.min_temperature:
    _refuse(config, ['temperature', 'min_temperature'], 'the temperature '
            'schedule starts at --temperature and falls to '
            '--min_temperature: the start must not be below the end.')


def _validation_rules(config):
  train = config.train
  if train.early_stopping_steps and config.data.validation_split is None:
    _refuse(config, ['early_stopping_steps'], 'early stopping chooses the '
            'model on a validation split: pass --validation_split, for '
            'example \'train[50000:]\' with --train_split=\'train[:50000]\'.')
  if train.early_stopping_steps and model_lib.MODELS.traits(
      config.model.model).get('phased'):
    _refuse(config, ['model', 'early_stopping_steps'], 'this model trains '
            'in phases (the VQ-VAE\'s prior after its autoencoder); '
            'stopping the first would skip the rest.')
  if not train.eval_ais_steps:
    _unused(config, 'eval_ais_steps', ['eval_ais_chains', 'eval_ais_examples',
                                       'eval_bdmc_examples'],
            'sets up the AIS estimate at the end of training, which '
            '--eval_ais_steps=0 skips: give --eval_ais_steps too.')
  no_elbo = model_lib.MODELS.traits(config.model.model).get('no_elbo')
  if train.curve_num_samples and no_elbo:
    _refuse(config, ['model', 'curve_num_samples'], f'{no_elbo}, so there '
            'is no likelihood to estimate: drop --curve_num_samples.')


def _conditional_rules(config):
  if (config.model.conditional and config.train.metrics
      and config.train.metric_points_scale
      and data.has_factors(config.data.dataset)):
    _refuse(config, ['conditional', 'dataset', 'metrics'], 'the '
            'disentanglement metrics score a representation of x alone, and '
            'a conditional VAE\'s encoder also takes y: pass --metrics= '
            '(none).')


def _own_rules(config):
  """The chosen model's and latent's own rules: a trait
  `refuse(settings)` gives the fields and the reason of a combination the
  part cannot train, or None."""
  for parts, field in ((model_lib.MODELS, 'model'),
                       (latents.LATENTS, 'latent')):
    refuse = parts.traits(getattr(config.model, field)).get('refuse')
    refused = refuse(config.model) if refuse else None
    if refused:
      names, why = refused
      _refuse(config, [field, *names], why)


def check(config):
  """Raises a `ValueError` that says what is wrong and what to do, unless
  `config` keeps every rule.

  Args:
    config: A `config.Config`.
  """
  check_ownership(config)
  for rule in (_categorical_rules, _flow_rules,
               _hierarchy_rules, _likelihood_rules, _binarization_rules,
               _strategy_rules,
               _schedule_rules, _vqvae_rules, _validation_rules,
               _conditional_rules, _own_rules):
    rule(config)
