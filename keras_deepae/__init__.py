"""keras-deepae: autoencoders, their regularizers, stacked pre-training and
convolutional networks as Keras 3 components."""

from keras_deepae import layers, models

__version__ = "0.1.0"

__all__ = ["__version__", "layers", "models"]
