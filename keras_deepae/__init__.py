"""keras-deepae: autoencoders, their regularizers, stacked pre-training and
convolutional networks as Keras 3 components."""

from keras_deepae import decomposition, layers, models, regularizers

__version__ = "0.1.0"

__all__ = ["__version__", "decomposition", "layers", "models", "regularizers"]
