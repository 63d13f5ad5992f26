"""The zoo's whole models beyond `vae.model`'s VAE and autoencoder.

Importing this package registers each of them in `model.MODELS`.
"""

# pylint: disable=unused-import (each registers its models)
from vae.models import annealed_vae
from vae.models import beta_tcvae
from vae.models import dip_vae
from vae.models import factor_vae
from vae.models import geco
from vae.models import info_vae
from vae.models import vqvae
from vae.models import wae_mmd
