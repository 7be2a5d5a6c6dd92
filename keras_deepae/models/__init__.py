"""Models: autoencoders built from the library's layers."""

from keras_deepae.models.autoencoder import Autoencoder
from keras_deepae.models.stacked_autoencoder import StackedAutoencoder
from keras_deepae.models.stacked_autoencoder_features import (
    StackedAutoencoderFeatures,
)

__all__ = ["Autoencoder", "StackedAutoencoder", "StackedAutoencoderFeatures"]
