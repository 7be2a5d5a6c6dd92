"""keras-deepae: autoencoders, their regularizers, stacked pre-training and
convolutional networks as Keras 3 components."""

from keras_deepae import (
    applications,
    datasets,
    decomposition,
    layers,
    models,
    plotting,
    profile,
    protocols,
    regularizers,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "applications",
    "datasets",
    "decomposition",
    "layers",
    "models",
    "plotting",
    "profile",
    "protocols",
    "regularizers",
]
