"""The typed configuration of a run: every default in one place, checked once.

`sections` holds the four sections and each field's metadata, `values` makes a
`Config` from fields by name and writes it back, and `rules` says which
configurations mean something. A research script uses this package's names:

  from vae import config
  run_config = config.make(beta=1.0, prior='vamp')
"""

# pylint: disable=g-multiple-import,g-importing-member
from vae.config.sections import (DataConfig, ModelConfig, ObjectiveConfig,
                               SECTIONS, TrainConfig, field_type, fields)
from vae.config.rules import (kl_estimator, kl_samples, owners,
                              reduces_across_replicas)
from vae.config.values import (Config, changed, check_field, fields_read,
                              from_dict, make)
