"""Applications: complete networks built from the library's layers."""

from keras_deepae.applications.alexnet import AlexNet

__all__ = ["AlexNet"]
