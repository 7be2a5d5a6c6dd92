"""Models: autoencoders built from the library's layers."""

from keras_deepae.models.autoencoder import Autoencoder

__all__ = ["Autoencoder"]
