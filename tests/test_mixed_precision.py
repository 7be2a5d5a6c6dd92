"""Every layer and regularizer respects the `mixed_float16` dtype policy.

Under the policy layers compute in float16 and keep float32 variables. The
penalties must still be float32 and finite, and a training step must leave
finite weights.
"""

import keras
import numpy as np
import pytest

from keras_deepae.layers import (
    CorruptionLayer,
    LocalResponseNormalization,
    TiedDense,
)
from keras_deepae.models import Autoencoder
from keras_deepae.regularizers import (
    ActivityL1,
    ContractiveRegularizer,
    TargetSparsity,
)


@pytest.fixture
def mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy(previous)


def digits_like(n=64, d=36, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d)).astype("float32")


def dtypes(values):
    return {keras.backend.standardize_dtype(v.dtype) for v in values}


def finite(values):
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in values)


@pytest.mark.parametrize(
    "regularizer", [ActivityL1(1e-2), TargetSparsity(0.05, 3.0)], ids=str
)
def test_functional_tied_model(mixed_float16, regularizer):
    inputs = keras.Input((36,))
    noisy = CorruptionLayer("mask", 0.25, seed=0)(inputs)
    encoder = keras.layers.Dense(
        16, activation="sigmoid", activity_regularizer=regularizer
    )
    decoder = TiedDense(encoder, activation="sigmoid")
    outputs = decoder(encoder(noisy))
    model = keras.Model(inputs, outputs)
    assert decoder.compute_dtype == "float16"
    assert decoder.bias.dtype == "float32"
    assert outputs.dtype == "float16"
    x = digits_like()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, x, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model(x, training=True)
    assert dtypes(model.losses) == {"float32"}
    assert finite(model.losses) and finite(model.weights)


def test_target_sparsity_stays_finite_at_saturated_float16_codes(mixed_float16):
    # float16 sigmoid outputs round to exactly 0 or 1 far from the origin.
    codes = keras.ops.cast(np.array([[0.0, 1.0]] * 8), "float16")
    penalty = TargetSparsity(0.05, 3.0)(codes)
    assert dtypes([penalty]) == {"float32"}
    assert np.isfinite(keras.ops.convert_to_numpy(penalty))


def test_autoencoder_with_every_penalty(mixed_float16):
    model = Autoencoder(
        16,
        corruption=CorruptionLayer("gaussian", stddev=0.1, seed=0),
        code_regularizer=TargetSparsity(0.1, 1.0, momentum=0.9),
        contractive=0.1,
    )
    model.compile(optimizer="adam")
    x = digits_like()
    history = model.fit(x, x, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.predict(x, verbose=0).dtype == np.float16
    model(x, training=True)
    assert dtypes(model.losses) == {"float32"}
    assert finite(model.losses) and finite(model.weights)


def test_contractive_wrapper_and_lrn(mixed_float16):
    inputs = keras.Input((6, 6, 8))
    x = LocalResponseNormalization()(inputs)
    x = keras.layers.Flatten()(x)
    encoder = ContractiveRegularizer(
        keras.layers.Dense(12, activation="tanh"), weight=0.1
    )
    outputs = keras.layers.Dense(1)(encoder(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    data = np.random.default_rng(0).uniform(0, 200, size=(16, 6, 6, 8))
    data = data.astype("float32")
    history = model.fit(data, np.ones((16, 1)), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model(data, training=True)
    assert dtypes(model.losses) == {"float32"}
    assert finite(model.losses) and finite(model.weights)
