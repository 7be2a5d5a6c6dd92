import os

import keras
import numpy as np
import pytest

from keras_deepae.layers import CorruptionLayer
from keras_deepae.models import Autoencoder
from keras_deepae.regularizers import (
    ActivityL1,
    ContractiveRegularizer,
    TargetSparsity,
    _activity_scale,
)


def data(n=32, d=6, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d)).astype("f4")


def value(tensor):
    return keras.ops.convert_to_numpy(tensor)


def bce(x, y):
    return -np.mean(x * np.log(y) + (1 - x) * np.log(1 - y))


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_without_regularizers_there_are_no_extra_losses():
    model = Autoencoder(3)
    model(data())
    assert model.losses == []
    assert model.get_config()["contractive"] is None


def test_contractive_penalty_of_one_hidden_layer_is_the_closed_form():
    x = data()
    model = Autoencoder(3, contractive=0.5)
    model.compile()
    y = model.predict(x, verbose=0)
    dense = model.encoder.layers[-1]
    kernel, bias = (np.asarray(value(w), "float64") for w in dense.weights)
    h = sigmoid(x @ kernel + bias)
    penalty = 0.5 * np.mean(
        np.sum((h * (1 - h)) ** 2 * np.sum(kernel**2, axis=0), axis=1)
    )
    model(x)
    assert len(model.losses) == 1
    np.testing.assert_allclose(value(model.losses[0]), penalty, rtol=1e-5)
    loss = model.evaluate(x, x, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(loss, bce(x, y) + penalty, rtol=1e-4)


def test_contractive_penalty_of_several_layers_uses_the_jacobians():
    x = data().reshape(32, 2, 3)  # Flatten is part of the encoder
    model = Autoencoder((5, 2), contractive=0.2, tied=False)
    model(x)
    [loss] = model.losses
    wrapper = ContractiveRegularizer(model.encoder, weight=0.2, method="jacobian")
    np.testing.assert_allclose(value(loss), value(wrapper.penalty(x)), rtol=1e-5)


def test_contractive_training_contracts_the_code():
    x = data(n=64, seed=1)
    plain = Autoencoder(4, contractive=0.0)
    contractive = Autoencoder(4, contractive=2.0)
    for model in (plain, contractive):
        keras.utils.set_random_seed(0)
        model(x)
        model.set_weights(plain.get_weights())
        model.compile(optimizer=keras.optimizers.Adam(0.05))
        model.fit(x, x, epochs=6, batch_size=16, verbose=0)
    norms = [
        value(ContractiveRegularizer(m.encoder).jacobian_norms(x)).mean()
        for m in (plain, contractive)
    ]
    assert norms[1] < 0.8 * norms[0]


@pytest.mark.parametrize(
    "regularizer", [ActivityL1(0.1), keras.regularizers.L1(0.1)], ids=["ours", "keras"]
)
def test_code_regularizer_is_counted_once(regularizer):
    x = data()
    model = Autoencoder((5, 3), code_regularizer=regularizer, contractive=0.1)
    model.compile()
    model(x)
    assert len(model.losses) == 2
    codes = model.encode(x)
    y = model.predict(x, verbose=0)
    contractive = value(ContractiveRegularizer(model.encoder, 0.1).penalty(x))
    l1 = 0.1 * np.abs(codes).sum(axis=1).mean()
    if isinstance(regularizer, keras.regularizers.L1):  # Keras's own convention
        l1 = l1 if _activity_scale.keras_divides_by_batch_size() else l1 * len(x)
    expected = bce(x, y) + l1 + contractive
    loss = model.evaluate(x, x, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_running_sparsity_estimate_is_held_by_the_model():
    x = data(n=24)
    regularizer = TargetSparsity(0.1, 1.0, momentum=0.9)
    model = Autoencoder(3, code_regularizer=regularizer)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # weights stay put
    model.fit(x, x, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert float(value(model.code_mean_steps)) == 6.0
    codes = model.encode(x)
    average = np.zeros(3)
    for start in [0, 8, 16] * 2:
        average = 0.9 * average + 0.1 * codes[start : start + 8].mean(axis=0)
    np.testing.assert_allclose(value(model.code_mean_estimate), average, rtol=1e-5)
    # Evaluation and prediction read the estimate but do not move it.
    before = value(model.code_mean_estimate)
    model.evaluate(x, x, verbose=0)
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(value(model.code_mean_estimate), before)
    assert float(value(model.code_mean_steps)) == 6.0
    assert len(model.non_trainable_weights) == 2


def test_save_and_load_with_regularizers(tmp_path):
    x = data()
    model = Autoencoder(
        3,
        code_regularizer=TargetSparsity(0.2, 2.0, momentum=0.5),
        contractive=0.3,
        corruption=CorruptionLayer("mask", 0.2, seed=1),
    )
    model.compile()
    model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    path = os.path.join(tmp_path, "regularized.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        value(reloaded.code_mean_estimate), value(model.code_mean_estimate)
    )
    np.testing.assert_allclose(
        reloaded.evaluate(x, x, verbose=0), model.evaluate(x, x, verbose=0), rtol=1e-6
    )


def test_config_round_trip():
    model = Autoencoder((4, 2), code_regularizer=ActivityL1(0.01), contractive=0.25)
    config = model.get_config()
    assert config["contractive"] == 0.25
    restored = Autoencoder.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored.code_regularizer, ActivityL1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"contractive": -1.0}, "`contractive` must be a finite number"),
        ({"contractive": "0.1"}, "`contractive` must be a finite number"),
        (
            {"code_regularizer": ContractiveRegularizer(keras.layers.Dense(2))},
            "pass `contractive=weight`",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Autoencoder(2, **kwargs)
