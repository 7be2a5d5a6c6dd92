"""Argument checks shared by the autoencoder models."""

import numbers

import keras

from keras_deepae.layers.corruption_layer import CorruptionLayer


def check_hidden_units(hidden_units):
    """`hidden_units` as a tuple of positive ints; one int means one layer."""
    received = hidden_units
    if isinstance(hidden_units, numbers.Integral) and not isinstance(
        hidden_units, bool
    ):
        hidden_units = (hidden_units,)
    try:
        hidden_units = tuple(hidden_units)
    except TypeError:
        hidden_units = ()
    if not hidden_units or not all(
        isinstance(u, numbers.Integral) and not isinstance(u, bool) and u > 0
        for u in hidden_units
    ):
        raise ValueError(
            "`hidden_units` must be a positive integer or a non-empty list "
            f"of positive integers. Received: hidden_units={received!r}"
        )
    return tuple(int(u) for u in hidden_units)


def check_layer_arguments(tied, corruption, code_regularizer, hint=""):
    """Checks `tied`, `corruption` and `code_regularizer` of a model."""
    if not isinstance(tied, bool):
        raise ValueError(f"`tied` must be True or False. Received: tied={tied!r}")
    if corruption is not None and not isinstance(corruption, CorruptionLayer):
        raise ValueError(
            "`corruption` must be a `keras_deepae.layers.CorruptionLayer` or "
            f"None. Received: corruption={corruption!r}"
        )
    if isinstance(code_regularizer, keras.layers.Layer):
        raise ValueError(
            f"`code_regularizer` must be a regularizer{hint}. "
            f"Received: code_regularizer={code_regularizer!r}"
        )
