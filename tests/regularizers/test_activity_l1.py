import os

import keras
import numpy as np
import pytest
from regularizers.regularizer_checks import check_counted_once

from keras_deepae.regularizers import ActivityL1, _activity_scale


def l1_reference(h, l1):
    """l1 × the mean over the batch of Σ_units |h|, in NumPy."""
    h = np.asarray(h, "float64")
    return l1 * np.abs(h.reshape(len(h), -1)).sum(axis=1).mean()


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2)])
def test_penalty_matches_numpy(shape):
    h = np.random.default_rng(0).normal(size=shape).astype("float32")
    value = keras.ops.convert_to_numpy(ActivityL1(0.3).penalty(h))
    np.testing.assert_allclose(value, l1_reference(h, 0.3), rtol=1e-6)


def test_layer_loss_is_the_penalty_on_this_keras_release():
    layer = keras.layers.Dense(
        4, activation="relu", activity_regularizer=ActivityL1(0.2)
    )
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    h = keras.ops.convert_to_numpy(layer(x))
    assert len(layer.losses) == 1
    loss = float(keras.ops.convert_to_numpy(layer.losses[0]))
    np.testing.assert_allclose(loss, l1_reference(h, 0.2), rtol=1e-6)


def test_probe_agrees_with_the_keras_changelog():
    # Keras 3.14 (keras-team/keras#22021) started to divide by the batch size.
    major, minor = (int(part) for part in keras.version().split(".")[:2])
    assert _activity_scale.keras_divides_by_batch_size() == ((major, minor) >= (3, 14))


@pytest.mark.parametrize("divides", [True, False])
def test_call_undoes_what_keras_does(monkeypatch, divides):
    monkeypatch.setattr(_activity_scale, "keras_divides_by_batch_size", lambda: divides)
    h = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    value = float(keras.ops.convert_to_numpy(ActivityL1(0.5)(h)))
    keras_term = value / 8 if divides else value
    np.testing.assert_allclose(keras_term, l1_reference(h, 0.5), rtol=1e-6)


def test_loss_does_not_change_with_the_batch_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    inputs = keras.Input((5,))
    code = keras.layers.Dense(
        4, activation="relu", activity_regularizer=ActivityL1(0.1), name="code"
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5)(code))
    model.compile(loss="mse")
    small = model.evaluate(x, x, batch_size=8, verbose=0)
    large = model.evaluate(x, x, batch_size=64, verbose=0)
    np.testing.assert_allclose(small, large, rtol=1e-5)
    codes = keras.Model(inputs, code).predict(x, verbose=0)
    mse = np.mean((model.predict(x, verbose=0) - x) ** 2)
    np.testing.assert_allclose(large, mse + l1_reference(codes, 0.1), rtol=1e-5)


def test_counted_once_in_every_kind_of_model():
    regularizer = ActivityL1(0.05)

    def make_layer():
        return keras.layers.Dense(
            3, activation="sigmoid", activity_regularizer=regularizer
        )

    check_counted_once(make_layer, lambda layer, x: regularizer.penalty(layer(x)))


def test_config_round_trip():
    regularizer = ActivityL1(0.25)
    assert regularizer.get_config() == {"l1": 0.25}
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))
    assert isinstance(restored, ActivityL1)
    assert restored.get_config() == regularizer.get_config()


def test_save_and_load_with_safe_mode(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(
        2, activation="relu", activity_regularizer=ActivityL1(0.125)
    )(inputs)
    model = keras.Model(inputs, outputs)
    path = os.path.join(tmp_path, "l1.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    regularizer = reloaded.layers[-1].activity_regularizer
    assert isinstance(regularizer, ActivityL1) and regularizer.l1 == 0.125


@pytest.mark.parametrize("l1", [-0.1, float("nan"), float("inf"), "0.1", True, None])
def test_bad_l1(l1):
    with pytest.raises(ValueError, match="`l1` must be a finite number"):
        ActivityL1(l1)
