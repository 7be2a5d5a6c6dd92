"""Layers: tied decoders and input corruption for autoencoders."""

from keras_deepae.layers.corruption_layer import CorruptionLayer
from keras_deepae.layers.local_response_normalization import LocalResponseNormalization
from keras_deepae.layers.tied_dense import TiedDense

__all__ = ["CorruptionLayer", "LocalResponseNormalization", "TiedDense"]
