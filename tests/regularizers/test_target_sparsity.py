import math
import os

import keras
import numpy as np
import pytest
from regularizers.regularizer_checks import check_counted_once, gradients

from keras_deepae.regularizers import TargetSparsity, _activity_scale


def kl_reference(h, target, weight=1.0):
    """weight × Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the batch mean of unit j, in NumPy."""
    means = np.asarray(h, "float64").mean(axis=0)
    return weight * np.sum(
        target * np.log(target / means)
        + (1 - target) * np.log((1 - target) / (1 - means))
    )


def value(tensor):
    return keras.ops.convert_to_numpy(tensor)


def test_kl_of_the_lecture_example():
    # ρ = 0.1 and ρ̂ = 0.4: 0.1 log(1/4) + 0.9 log(1.5) = 0.2263 per unit.
    expected = 0.1 * math.log(0.1 / 0.4) + 0.9 * math.log(0.9 / 0.6)
    assert abs(expected - 0.2263) < 1e-4
    h = np.full((4, 3), 0.4, "float32")
    np.testing.assert_allclose(
        value(TargetSparsity(0.1, 1.0).penalty(h)), 3 * expected, rtol=1e-5
    )


def test_divergence_is_taken_on_the_batch_mean_not_per_element():
    # Each unit averages 0.4 over the batch, though no element is 0.4.
    h = np.array([[0.0, 0.8], [0.8, 0.0]], "float32")
    expected = 2 * (0.1 * math.log(0.1 / 0.4) + 0.9 * math.log(0.9 / 0.6))
    np.testing.assert_allclose(
        value(TargetSparsity(0.1, 1.0).penalty(h)), expected, rtol=1e-5
    )


def test_penalty_matches_numpy():
    h = np.random.default_rng(0).uniform(0.05, 0.95, size=(16, 5)).astype("float32")
    np.testing.assert_allclose(
        value(TargetSparsity(0.05, 3.0).penalty(h)),
        kl_reference(h, 0.05, 3.0),
        rtol=1e-5,
    )


def test_zero_when_the_means_hit_the_target():
    h = np.full((8, 4), 0.2, "float32")
    assert abs(value(TargetSparsity(0.2, 5.0).penalty(h))) < 1e-6


def test_gradient_matches_the_derivative_of_the_divergence():
    rho = 0.1
    h = np.random.default_rng(0).uniform(0.1, 0.9, size=(8, 3)).astype("float32")
    [grad] = gradients(lambda t: TargetSparsity(rho, 2.0).penalty(t), [h])
    means = h.astype("float64").mean(axis=0)
    slope = 2.0 * (-rho / means + (1 - rho) / (1 - means)) / len(h)
    np.testing.assert_allclose(grad, np.broadcast_to(slope, h.shape), rtol=1e-4)


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_all_off_or_all_on_units_stay_finite(level):
    h = np.full((8, 3), level, "float32")
    regularizer = TargetSparsity(0.05, 3.0)
    assert np.isfinite(value(regularizer.penalty(h)))
    [grad] = gradients(regularizer.penalty, [h])
    assert np.all(np.isfinite(grad))
    # The same through a layer whose units are all off (or on), in training.
    bias = -30.0 if level == 0.0 else 30.0
    layer = keras.layers.Dense(
        3,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(bias),
        activity_regularizer=regularizer,
    )
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.ones((8, 2), "float32")
    history = model.fit(x, np.full((8, 3), 0.5, "float32"), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(value(w))) for w in model.weights)


def test_layer_loss_is_the_penalty_on_this_keras_release():
    regularizer = TargetSparsity(0.1, 2.0)
    layer = keras.layers.Dense(
        4, activation="sigmoid", activity_regularizer=regularizer
    )
    x = np.random.default_rng(0).normal(size=(9, 3)).astype("float32")
    h = value(layer(x))
    loss = float(value(layer.losses[0]))
    np.testing.assert_allclose(loss, kl_reference(h, 0.1, 2.0), rtol=1e-5)


@pytest.mark.parametrize("divides", [True, False])
def test_call_undoes_what_keras_does(monkeypatch, divides):
    monkeypatch.setattr(_activity_scale, "keras_divides_by_batch_size", lambda: divides)
    h = np.random.default_rng(0).uniform(0.1, 0.9, size=(8, 3)).astype("float32")
    returned = float(value(TargetSparsity(0.1, 1.0)(h)))
    keras_term = returned / 8 if divides else returned
    np.testing.assert_allclose(keras_term, kl_reference(h, 0.1), rtol=1e-5)


def test_loss_does_not_change_with_the_batch_size():
    rows = np.random.default_rng(0).normal(size=(1, 5)).astype("float32")
    x = np.repeat(rows, 64, axis=0)  # identical rows: the same ρ̂ in any batch
    inputs = keras.Input((5,))
    code = keras.layers.Dense(
        4, activation="sigmoid", activity_regularizer=TargetSparsity(0.1, 1.0)
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5)(code))
    model.compile(loss="mse")
    small = model.evaluate(x, x, batch_size=8, verbose=0)
    large = model.evaluate(x, x, batch_size=64, verbose=0)
    np.testing.assert_allclose(small, large, rtol=1e-5)
    codes = keras.Model(inputs, code).predict(x, verbose=0)
    mse = np.mean((model.predict(x, verbose=0) - x) ** 2)
    np.testing.assert_allclose(large, mse + kl_reference(codes, 0.1), rtol=1e-5)


def test_counted_once_in_every_kind_of_model():
    regularizer = TargetSparsity(0.1, 0.5)

    def make_layer():
        return keras.layers.Dense(
            3, activation="sigmoid", activity_regularizer=regularizer
        )

    check_counted_once(make_layer, lambda layer, x: regularizer.penalty(layer(x)))


def test_running_estimate_with_zero_momentum_is_the_batch_estimate():
    h = np.random.default_rng(0).uniform(0.1, 0.9, size=(8, 3)).astype("float32")
    batch, running = TargetSparsity(0.1, 2.0), TargetSparsity(0.1, 2.0, momentum=0.0)
    state = (np.zeros(3, "float32"), np.float32(0.0))
    penalty, _, _ = running.running_penalty(h, *state)
    np.testing.assert_allclose(value(penalty), value(batch.penalty(h)), rtol=1e-5)
    [expected] = gradients(batch.penalty, [h])
    [grad] = gradients(lambda t: running.running_penalty(t, *state)[0], [h])
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


def test_running_estimate_is_a_bias_corrected_moving_average():
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0.1, 0.9, size=(4, 2)).astype("float32") for _ in range(3)]
    regularizer = TargetSparsity(0.2, 1.0, momentum=0.5)
    estimate, steps = np.zeros(2, "float32"), np.float32(0.0)
    average = np.zeros(2)
    for t, h in enumerate(batches, start=1):
        penalty, estimate, steps = regularizer.running_penalty(h, estimate, steps)
        average = 0.5 * average + 0.5 * h.mean(axis=0)
        corrected = average / (1 - 0.5**t)
        target = 0.2
        expected = np.sum(
            target * np.log(target / corrected)
            + (1 - target) * np.log((1 - target) / (1 - corrected))
        )
        np.testing.assert_allclose(value(penalty), expected, rtol=1e-5)
    assert float(value(steps)) == 3.0
    np.testing.assert_allclose(value(estimate), average, rtol=1e-5)
    # The gradient is KL′ at the running estimate times ∂ρ̂_batch.
    [grad] = gradients(
        lambda t: regularizer.running_penalty(t, np.zeros(2, "float32"), 0.0)[0],
        [batches[0]],
    )
    means = batches[0].astype("float64").mean(axis=0)
    slope = (-0.2 / means + 0.8 / (1 - means)) / 4
    np.testing.assert_allclose(grad, np.broadcast_to(slope, (4, 2)), rtol=1e-4)


def test_momentum_needs_a_host_layer():
    layer = keras.layers.Dense(
        2, activity_regularizer=TargetSparsity(momentum=0.9), name="code"
    )
    with pytest.raises(ValueError, match="needs a layer that holds the estimate"):
        layer(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="needs a `momentum`"):
        TargetSparsity().running_penalty(np.ones((2, 3)), np.zeros(3), 0.0)


@pytest.mark.parametrize("momentum", [None, 0.9])
def test_config_round_trip(momentum):
    regularizer = TargetSparsity(0.1, 2.5, momentum=momentum)
    config = regularizer.get_config()
    assert config == {"target": 0.1, "weight": 2.5, "momentum": momentum}
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))
    assert isinstance(restored, TargetSparsity)
    assert restored.get_config() == config


def test_save_and_load_with_safe_mode(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(
        2, activation="sigmoid", activity_regularizer=TargetSparsity(0.2, 4.0)
    )(inputs)
    model = keras.Model(inputs, outputs)
    path = os.path.join(tmp_path, "kl.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    regularizer = reloaded.layers[-1].activity_regularizer
    assert isinstance(regularizer, TargetSparsity)
    assert regularizer.get_config() == {"target": 0.2, "weight": 4.0, "momentum": None}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target": 0.0}, "`target` must be a finite number in \\(0, 1\\)"),
        ({"target": 1.0}, "`target` must be"),
        ({"target": -0.5}, "`target` must be"),
        ({"target": float("nan")}, "`target` must be"),
        ({"target": "0.05"}, "`target` must be"),
        ({"weight": -1.0}, "`weight` must be a finite number in \\[0, inf\\]"),
        ({"weight": float("inf")}, "`weight` must be"),
        ({"momentum": 1.0}, "`momentum` must be a finite number in \\[0, 1\\)"),
        ({"momentum": -0.1}, "`momentum` must be"),
        ({"momentum": True}, "`momentum` must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TargetSparsity(**kwargs)
