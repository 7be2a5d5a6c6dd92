import os

import keras
import numpy as np
import pytest
from layer_checks import check_layer
from regularizers.regularizer_checks import check_counted_once, gradients

from keras_deepae.regularizers import ContractiveRegularizer

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

# Each activation as Keras takes it, and in float64 NumPy.
ACTIVATIONS = {
    "sigmoid": ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
    "tanh": ("tanh", np.tanh),
    "relu": ("relu", lambda a: np.maximum(a, 0)),
    "softplus": ("softplus", lambda a: np.log1p(np.exp(a))),
    "linear": ("linear", lambda a: a),
    "elu": ("elu", lambda a: np.where(a > 0, a, np.expm1(a))),
    "silu": ("silu", lambda a: a / (1 + np.exp(-a))),
    # Through the backend's automatic differentiation:
    "selu": (
        "selu",
        lambda a: SELU_SCALE * np.where(a > 0, a, SELU_ALPHA * np.expm1(a)),
    ),
    "custom": (lambda a: keras.ops.sin(a) + 0.5 * a, lambda a: np.sin(a) + 0.5 * a),
}


def value(tensor):
    return keras.ops.convert_to_numpy(tensor)


def finite_difference_norms(function, x, step=1e-6):
    """‖∂f(x)_b/∂x_b‖²_F per example, from central differences in float64.

    `function` maps a float64 batch to a batch; examples must not interact,
    so that one perturbation of input i, made on every example at once,
    gives column i of every example's Jacobian.
    """
    x = np.asarray(x, "float64")
    flat = x.reshape(len(x), -1)
    total = np.zeros(len(x))
    for i in range(flat.shape[1]):
        shift = np.zeros_like(flat)
        shift[:, i] = step
        up = function((flat + shift).reshape(x.shape))
        down = function((flat - shift).reshape(x.shape))
        column = (np.asarray(up) - np.asarray(down)) / (2 * step)
        total += np.sum(column.reshape(len(x), -1) ** 2, axis=1)
    return total


def dense_numpy(layer, activation):
    kernel, bias = (np.asarray(value(w), "float64") for w in layer.weights)
    return lambda x: activation(x @ kernel + bias)


def make_dense(units, activation=None, input_dim=5, seed=0):
    """A built Dense layer with fixed random weights (its bias is not zero)."""
    layer = keras.layers.Dense(units, activation=activation)
    layer.build((None, input_dim))
    rng = np.random.default_rng(100 + seed)
    layer.set_weights(
        [
            rng.normal(scale=0.7, size=(input_dim, units)).astype("float32"),
            rng.normal(scale=0.3, size=(units,)).astype("float32"),
        ]
    )
    return layer


def make_data(seed=0, n=8, d=5):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, d)).astype("float32")


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_closed_form_matches_finite_differences(name):
    keras_activation, numpy_activation = ACTIVATIONS[name]
    x = make_data()
    dense = make_dense(4, keras_activation)
    wrapper = ContractiveRegularizer(dense, weight=1.0, method="closed_form")
    wrapper(x)
    function = dense_numpy(dense, numpy_activation)
    pre = dense_numpy(dense, lambda a: a)(x)
    assert np.min(np.abs(pre)) > 1e-3  # away from the kinks of relu and elu
    expected = finite_difference_norms(function, x)
    np.testing.assert_allclose(value(wrapper.jacobian_norms(x)), expected, rtol=1e-3)
    np.testing.assert_allclose(value(wrapper.penalty(x)), expected.mean(), rtol=1e-3)


def test_sigmoid_closed_form_is_the_formula_of_the_paper():
    # Rifai et al. (2011), eq. 3: Σ_j (h_j (1 − h_j))² Σ_i W_ij².
    x = make_data()
    dense = make_dense(4, "sigmoid")
    wrapper = ContractiveRegularizer(dense, weight=0.3)
    wrapper(x)
    h = dense_numpy(dense, lambda a: 1 / (1 + np.exp(-a)))(x)
    kernel = np.asarray(value(dense.kernel), "float64")
    per_example = np.sum((h * (1 - h)) ** 2 * np.sum(kernel**2, axis=0), axis=1)
    np.testing.assert_allclose(
        value(wrapper.penalty(x)), 0.3 * per_example.mean(), rtol=1e-5
    )


@pytest.mark.parametrize("name", ["sigmoid", "relu", "custom"])
def test_jacobian_method_equals_the_closed_form(name):
    x = make_data(seed=1)
    dense = make_dense(3, ACTIVATIONS[name][0], seed=1)
    closed = ContractiveRegularizer(dense, method="closed_form")
    closed(x)
    general = ContractiveRegularizer(dense, method="jacobian")
    np.testing.assert_allclose(
        value(general.jacobian_norms(x)), value(closed.jacobian_norms(x)), rtol=1e-5
    )


def test_jacobian_method_matches_finite_differences_on_two_layers():
    x = make_data(seed=2)
    first = make_dense(6, "tanh", seed=2)
    second = make_dense(3, "sigmoid", input_dim=6, seed=3)
    encoder = keras.Sequential([keras.Input((5,)), first, second])
    wrapper = ContractiveRegularizer(encoder, weight=1.0)
    wrapper(x)
    one = dense_numpy(first, np.tanh)
    two = dense_numpy(second, lambda a: 1 / (1 + np.exp(-a)))
    expected = finite_difference_norms(lambda v: two(one(v)), x)
    np.testing.assert_allclose(value(wrapper.jacobian_norms(x)), expected, rtol=1e-3)


def test_jacobian_method_matches_finite_differences_on_a_convolution():
    x = np.random.default_rng(3).uniform(size=(3, 4, 4, 1)).astype("float32")
    conv = keras.layers.Conv2D(2, 3, activation="tanh")
    dense = keras.layers.Dense(3, activation="sigmoid")
    encoder = keras.Sequential(
        [keras.Input((4, 4, 1)), conv, keras.layers.Flatten(), dense]
    )
    wrapper = ContractiveRegularizer(encoder)
    kernel, bias = (np.asarray(value(w), "float64") for w in conv.weights)
    dense_function = dense_numpy(dense, lambda a: 1 / (1 + np.exp(-a)))

    def function(v):  # a valid 3x3 convolution, then the Dense layer
        maps = np.zeros((len(v), 2, 2, 2))
        for i in range(2):
            for j in range(2):
                patch = v[:, i : i + 3, j : j + 3, :]
                maps[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, kernel) + bias
        return dense_function(np.tanh(maps).reshape(len(v), -1))

    np.testing.assert_allclose(value(encoder(x)), function(x), rtol=1e-5)
    expected = finite_difference_norms(function, x)
    np.testing.assert_allclose(value(wrapper.jacobian_norms(x)), expected, rtol=1e-3)


def test_examples_do_not_interact():
    x = make_data(seed=4)
    encoder = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, "tanh"), keras.layers.Dense(2)]
    )
    wrapper = ContractiveRegularizer(encoder)
    together = value(wrapper.jacobian_norms(x))
    alone = [value(wrapper.jacobian_norms(x[i : i + 1]))[0] for i in range(3)]
    np.testing.assert_allclose(together[:3], alone, rtol=1e-5)


def test_softmax_goes_through_the_jacobian():
    x = make_data(seed=5)
    dense = make_dense(3, "softmax", seed=4)
    auto = ContractiveRegularizer(dense)
    auto(x)
    general = ContractiveRegularizer(dense, method="jacobian")
    np.testing.assert_allclose(
        value(auto.jacobian_norms(x)), value(general.jacobian_norms(x)), rtol=1e-6
    )
    function = dense_numpy(
        dense, lambda a: np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    )
    np.testing.assert_allclose(
        value(auto.jacobian_norms(x)), finite_difference_norms(function, x), rtol=1e-3
    )


def penalty_numpy(kernel, bias, x, weight):
    """The sigmoid closed form in float64 NumPy."""
    h = 1 / (1 + np.exp(-(x @ kernel + bias)))
    per_example = np.sum((h * (1 - h)) ** 2 * np.sum(kernel**2, axis=0), axis=1)
    return weight * per_example.mean()


@pytest.mark.parametrize("method", ["closed_form", "jacobian"])
def test_gradients_reach_kernel_and_bias(method):
    x = make_data(seed=6)
    dense = make_dense(3, "sigmoid", seed=5)
    wrapper = ContractiveRegularizer(dense, weight=2.0, method=method)
    wrapper(x)
    kernel_grad, bias_grad = gradients(
        lambda: wrapper.penalty(x), [dense.kernel, dense.bias]
    )
    kernel = np.asarray(value(dense.kernel), "float64")
    bias = np.asarray(value(dense.bias), "float64")
    x64 = x.astype("float64")
    step = 1e-6
    expected_bias = np.zeros_like(bias)
    for j in range(len(bias)):
        shift = np.zeros_like(bias)
        shift[j] = step
        expected_bias[j] = (
            penalty_numpy(kernel, bias + shift, x64, 2.0)
            - penalty_numpy(kernel, bias - shift, x64, 2.0)
        ) / (2 * step)
    expected_kernel = np.zeros_like(kernel)
    for index in np.ndindex(*kernel.shape):
        shift = np.zeros_like(kernel)
        shift[index] = step
        expected_kernel[index] = (
            penalty_numpy(kernel + shift, bias, x64, 2.0)
            - penalty_numpy(kernel - shift, bias, x64, 2.0)
        ) / (2 * step)
    assert np.all(np.abs(bias_grad) > 0) and np.all(np.abs(kernel_grad) > 0)
    np.testing.assert_allclose(bias_grad, expected_bias, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(kernel_grad, expected_kernel, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("method", ["closed_form", "jacobian"])
def test_penalty_follows_the_live_weights(method):
    x = make_data(seed=7)
    dense = make_dense(3, "sigmoid", seed=6)
    wrapper = ContractiveRegularizer(dense, weight=1.0, method=method)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, wrapper(inputs))
    model.compile(loss="mse")
    zeros = np.zeros((len(x), 3), "float32")
    for scale in (1.0, 3.0):
        dense.kernel.assign(scale * np.ones((5, 3), "float32") / 5)
        kernel = np.asarray(value(dense.kernel), "float64")
        bias = np.asarray(value(dense.bias), "float64")
        expected = penalty_numpy(kernel, bias, x.astype("float64"), 1.0)
        np.testing.assert_allclose(value(wrapper.penalty(x)), expected, rtol=1e-5)
        h = model.predict(x, verbose=0)
        loss = model.evaluate(x, zeros, batch_size=len(x), verbose=0)
        np.testing.assert_allclose(loss, np.mean(h**2) + expected, rtol=1e-5)


@pytest.mark.parametrize("method", ["auto", "jacobian"])
def test_counted_once_in_every_kind_of_model(method):
    def make_layer():
        return ContractiveRegularizer(
            keras.layers.Dense(3, activation="sigmoid"), weight=0.5, method=method
        )

    check_counted_once(make_layer, lambda layer, x: layer.penalty(x))


def test_inner_losses_are_not_counted_twice():
    x = make_data(seed=8)
    dense = keras.layers.Dense(
        3, activation="sigmoid", activity_regularizer=keras.regularizers.L2(0.1)
    )
    encoder = keras.Sequential([keras.Input((5,)), dense])
    wrapper = ContractiveRegularizer(encoder, method="jacobian")
    wrapper(x)
    assert len(wrapper.losses) == 2  # the encoder's own, and the penalty


def test_zero_weight_adds_nothing():
    wrapper = ContractiveRegularizer(keras.layers.Dense(2), weight=0.0)
    wrapper(make_data())
    assert wrapper.losses == []


def test_standard_layer_checks(tmp_path):
    check_layer(
        lambda: ContractiveRegularizer(
            keras.layers.Dense(3, activation="sigmoid"), weight=0.5
        ),
        input_shape=(8, 5),
        expected_output_shape=(8, 3),
        expected_num_weights=2,
        expected_num_trainable_weights=2,
        tmp_path=tmp_path,
    )


def test_save_and_load_a_two_layer_encoder(tmp_path):
    x = make_data(seed=9)
    encoder = keras.Sequential(
        [keras.layers.Dense(4, "tanh"), keras.layers.Dense(2, "sigmoid")]
    )
    inputs = keras.Input((5,))
    wrapper = ContractiveRegularizer(encoder, weight=0.25, method="jacobian")
    model = keras.Model(inputs, keras.layers.Dense(5)(wrapper(inputs)))
    path = os.path.join(tmp_path, "cae.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    model.compile(loss="mse")
    expected = model.evaluate(x, x, verbose=0)
    reloaded.compile(loss="mse")
    restored = reloaded.layers[1]
    assert isinstance(restored, ContractiveRegularizer)
    assert (restored.weight, restored.method) == (0.25, "jacobian")
    np.testing.assert_allclose(reloaded.evaluate(x, x, verbose=0), expected, rtol=1e-6)


def test_config_round_trip():
    wrapper = ContractiveRegularizer(
        keras.layers.Dense(3, activation="tanh"), weight=0.7, method="jacobian"
    )
    config = wrapper.get_config()
    assert config["weight"] == 0.7 and config["method"] == "jacobian"
    restored = ContractiveRegularizer.from_config(config)
    assert restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weight": -0.1}, "`weight` must be a finite number in \\[0, inf\\]"),
        ({"weight": float("nan")}, "`weight` must be"),
        ({"weight": "1"}, "`weight` must be"),
        ({"method": "exact"}, "`method` must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContractiveRegularizer(keras.layers.Dense(2), **kwargs)


def test_layer_must_be_a_layer():
    with pytest.raises(ValueError, match="supported layer type"):
        ContractiveRegularizer("dense")


def test_closed_form_needs_a_dense_layer():
    encoder = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
    wrapper = ContractiveRegularizer(encoder, method="closed_form")
    with pytest.raises(ValueError, match="method='closed_form' needs a `Dense`"):
        wrapper(make_data())


@pytest.mark.parametrize(
    "activation", ["sigmoid", "tanh", "relu", "softplus", "linear"]
)
def test_closed_form_from_the_outputs_equals_the_one_from_the_inputs(activation):
    """s′ read off h = s(a) gives the same norms and the same weight gradients."""
    from keras_deepae.regularizers.contractive_regularizer import (
        squared_jacobian_norms,
    )

    dense = keras.layers.Dense(7, activation=activation)
    x = np.random.default_rng(3).normal(size=(9, 5)).astype("float32")
    dense.build((None, 5))
    outputs = dense(x)
    from_inputs = squared_jacobian_norms(dense, x)
    from_outputs = squared_jacobian_norms(dense, x, outputs=outputs)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(from_outputs),
        keras.ops.convert_to_numpy(from_inputs),
        rtol=1e-5,
        atol=1e-6,
    )
    wrapped = ContractiveRegularizer(dense, weight=1.0)
    sources = [dense.kernel, dense.bias]
    from_outputs = gradients(lambda: wrapped.penalty(x, outputs=dense(x)), sources)
    from_inputs = gradients(lambda: wrapped.penalty(x), sources)
    # Where the penalty does not depend on a weight (the bias, for linear and
    # relu units) a backend may return no gradient: that counts as zeros.
    for a, b, source in zip(from_outputs, from_inputs, sources):
        zeros = np.zeros(source.shape)
        a = zeros if a is None else a
        b = zeros if b is None else b
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert np.any(np.asarray(from_inputs[0]) != 0)
