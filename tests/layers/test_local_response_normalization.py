import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_checks import check_layer

from keras_deepae.layers import LocalResponseNormalization


def reference_lrn(x, size, k, alpha, beta, alpha_convention, channel_axis):
    """Local response normalization with explicit loops over the channels."""
    x = np.moveaxis(np.asarray(x, "float64"), channel_axis, -1)
    channels = x.shape[-1]
    radius = (size - 1) // 2
    scale = alpha / size if alpha_convention == "caffe" else alpha
    out = np.empty_like(x)
    for c in range(channels):
        total = np.zeros(x.shape[:-1])
        for neighbour in range(c - radius, c + radius + 1):
            if 0 <= neighbour < channels:
                total += x[..., neighbour] ** 2
        out[..., c] = x[..., c] / (k + scale * total) ** beta
    return np.moveaxis(out, -1, channel_axis)


def random_activations(shape, seed=0, scale=20.0):
    # Large enough for the normalization to matter: alpha * sum of squares
    # is then of the order of k.
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype("float32")


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_standard_layer_checks(tmp_path):
    check_layer(
        lambda: LocalResponseNormalization(size=3, alpha=0.1),
        input_shape=(4, 5, 5, 6),
        expected_output_shape=(4, 5, 5, 6),
        expected_num_weights=0,
        expected_num_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    "shape", [(2, 6, 6, 96), (3, 4, 5, 6), (2, 3, 3, 7), (4, 1, 1, 2)]
)
@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("alpha_convention", ["paper", "caffe"])
def test_matches_numpy_reference_channels_last(shape, size, alpha_convention):
    x = random_activations(shape, seed=size)
    layer = LocalResponseNormalization(
        size=size,
        k=2.0,
        alpha=1e-3,
        beta=0.75,
        alpha_convention=alpha_convention,
        data_format="channels_last",
    )
    expected = reference_lrn(x, size, 2.0, 1e-3, 0.75, alpha_convention, -1)
    np.testing.assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 6, 4, 5), (2, 9, 3, 3)])
@pytest.mark.parametrize("alpha_convention", ["paper", "caffe"])
def test_matches_numpy_reference_channels_first(shape, alpha_convention):
    x = random_activations(shape, seed=1)
    layer = LocalResponseNormalization(
        size=5,
        k=1.0,
        alpha=1e-3,
        beta=0.6,
        alpha_convention=alpha_convention,
        data_format="channels_first",
    )
    expected = reference_lrn(x, 5, 1.0, 1e-3, 0.6, alpha_convention, 1)
    np.testing.assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.75, 1.0, 1.3])
def test_every_beta_matches_numpy_reference(beta):
    # 0.5, 0.75 and 1 take the square-root shortcuts, the others `power`.
    x = random_activations((2, 3, 3, 8), seed=2)
    layer = LocalResponseNormalization(alpha=2e-3, beta=beta)
    expected = reference_lrn(x, 5, 2.0, 2e-3, beta, "paper", -1)
    np.testing.assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 12), (2, 3, 4, 5, 6)])
def test_other_ranks(shape):
    x = random_activations(shape, seed=3)
    layer = LocalResponseNormalization(size=3, alpha=1e-3, data_format="channels_last")
    expected = reference_lrn(x, 3, 2.0, 1e-3, 0.75, "paper", -1)
    np.testing.assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [1, 3, 5, 9])
@pytest.mark.parametrize("alpha_convention", ["paper", "caffe"])
def test_matches_tensorflow(size, alpha_convention):
    x = random_activations((2, 13, 13, 32), seed=4)
    layer = LocalResponseNormalization(
        size=size, alpha_convention=alpha_convention, data_format="channels_last"
    )
    # TensorFlow's radius is half the window, and its alpha scales the sum.
    tf_alpha = 1e-4 / size if alpha_convention == "caffe" else 1e-4
    expected = tf.nn.local_response_normalization(
        x, depth_radius=(size - 1) // 2, bias=2.0, alpha=tf_alpha, beta=0.75
    )
    np.testing.assert_allclose(
        as_numpy(layer(x)), expected.numpy(), rtol=1e-5, atol=1e-5
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="differentiates with TensorFlow"
)
def test_gradient_matches_tensorflow():
    x = tf.constant(random_activations((2, 7, 7, 16), seed=5))
    layer = LocalResponseNormalization(data_format="channels_last")
    weights = tf.constant(random_activations((2, 7, 7, 16), seed=6, scale=1.0))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(weights * layer(x))
        theirs = tf.reduce_sum(
            weights * tf.nn.local_response_normalization(x, 2, 2.0, 1e-4, 0.75)
        )
    np.testing.assert_allclose(
        tape.gradient(ours, x).numpy(),
        tape.gradient(theirs, x).numpy(),
        rtol=1e-4,
        atol=1e-6,
    )


def test_caffe_convention_is_paper_with_alpha_divided_by_size():
    x = random_activations((2, 4, 4, 10), seed=7)
    caffe = LocalResponseNormalization(size=5, alpha=5e-4, alpha_convention="caffe")
    paper = LocalResponseNormalization(size=5, alpha=1e-4, alpha_convention="paper")
    assert caffe.scaled_alpha == pytest.approx(paper.scaled_alpha)
    np.testing.assert_allclose(as_numpy(caffe(x)), as_numpy(paper(x)), rtol=1e-6)


def test_zero_alpha_is_a_constant_scaling():
    x = random_activations((2, 3, 3, 4), seed=8)
    layer = LocalResponseNormalization(k=4.0, alpha=0.0, beta=0.5)
    np.testing.assert_allclose(as_numpy(layer(x)), x / 2.0, rtol=1e-6)


def test_zero_inputs_give_zero_outputs():
    # k > 0 keeps the all-zero windows of ReLU outputs away from 0 / 0.
    layer = LocalResponseNormalization()
    out = as_numpy(layer(np.zeros((1, 2, 2, 8), "float32")))
    np.testing.assert_array_equal(out, 0.0)


def test_functional_model_and_output_shape():
    inputs = keras.Input((None, None, 6))
    layer = LocalResponseNormalization()
    outputs = layer(inputs)
    assert tuple(outputs.shape) == (None, None, None, 6)
    assert layer.compute_output_shape((None, 8, 8, 6)) == (None, 8, 8, 6)
    model = keras.Model(inputs, outputs)
    x = random_activations((2, 5, 3, 6))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), as_numpy(layer(x)), rtol=1e-6
    )
    assert layer.weights == []


def test_data_format_defaults_to_keras_config():
    assert LocalResponseNormalization().data_format == (
        keras.config.image_data_format()
    )
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        assert LocalResponseNormalization().data_format == "channels_first"
    finally:
        keras.config.set_image_data_format(previous)


def test_config_round_trip_keeps_every_argument():
    layer = LocalResponseNormalization(
        size=7,
        k=1.5,
        alpha=3e-4,
        beta=0.5,
        alpha_convention="caffe",
        data_format="channels_first",
        name="norm",
    )
    config = layer.get_config()
    for key, value in {
        "size": 7,
        "k": 1.5,
        "alpha": 3e-4,
        "beta": 0.5,
        "alpha_convention": "caffe",
        "data_format": "channels_first",
        "name": "norm",
    }.items():
        assert config[key] == value
    restored = LocalResponseNormalization.from_config(config)
    assert restored.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, LocalResponseNormalization)
    assert restored.get_config() == config


@pytest.mark.parametrize("safe_mode", [True, False])
def test_keras_file_round_trip(tmp_path, safe_mode):
    inputs = keras.Input((5, 5, 6))
    outputs = LocalResponseNormalization(
        size=3, alpha=1e-3, alpha_convention="caffe", data_format="channels_last"
    )(inputs)
    model = keras.Model(inputs, outputs)
    path = os.path.join(str(tmp_path), "lrn.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
    x = random_activations((3, 5, 5, 6))
    np.testing.assert_array_equal(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    layer = reloaded.layers[-1]
    assert isinstance(layer, LocalResponseNormalization)
    assert layer.alpha_convention == "caffe"


def test_one_fit_step_in_a_small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    x = LocalResponseNormalization(size=3, alpha=0.05)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    data = np.random.default_rng(0).uniform(size=(16, 8, 8, 3)).astype("float32")
    target = keras.utils.to_categorical(np.arange(16) % 2, 2)
    before = model.get_layer("conv").get_weights()[0]
    history = model.fit(data, target, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The gradient reaches the convolution through the normalization.
    assert not np.array_equal(before, model.get_layer("conv").get_weights()[0])


def test_mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = LocalResponseNormalization(data_format="channels_last")
        assert layer.compute_dtype == "float16"
        # Squares of these overflow in float16 (> 65504); the sums must not.
        x = random_activations((2, 4, 4, 12), seed=9, scale=300.0)
        out = layer(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        out = as_numpy(out).astype("float64")
        assert np.all(np.isfinite(out))
        expected = reference_lrn(x.astype("float16"), 5, 2.0, 1e-4, 0.75, "paper", -1)
        np.testing.assert_allclose(out, expected, rtol=2e-3, atol=1e-3)
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 0}, "size=0"),
        ({"size": -3}, "size=-3"),
        ({"size": 4}, "size=4"),
        ({"size": 2.5}, "size=2.5"),
        ({"size": True}, "size=True"),
        ({"size": "5"}, "size='5'"),
        ({"k": 0.0}, "k=0.0"),
        ({"k": -1}, "k=-1"),
        ({"k": float("inf")}, "k=inf"),
        ({"k": "2"}, "k='2'"),
        ({"alpha": -1e-4}, "alpha=-0.0001"),
        ({"alpha": float("nan")}, "alpha=nan"),
        ({"alpha": None}, "alpha=None"),
        ({"beta": -0.75}, "beta=-0.75"),
        ({"beta": True}, "beta=True"),
        ({"alpha_convention": "torch"}, "alpha_convention='torch'"),
        ({"data_format": "NHWC"}, "data_format='NHWC'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalResponseNormalization(**kwargs)


def test_rank_one_input_is_rejected():
    with pytest.raises(ValueError, match="rank >= 2"):
        LocalResponseNormalization()(keras.Input(batch_shape=(4,)))
