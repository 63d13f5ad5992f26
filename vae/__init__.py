"""vae: variational autoencoders on Sonnet 2, TensorFlow Probability and TFDS."""

__version__ = '0.2.0'
