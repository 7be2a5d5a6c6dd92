import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_deepae.applications import AlexNet
from keras_deepae.applications.alexnet import GroupedConv2D
from keras_deepae.layers import LocalResponseNormalization

PAPER_SHAPES = {
    "conv1": (55, 55, 96),
    "lrn1": (55, 55, 96),
    "pool1": (27, 27, 96),
    "conv2": (27, 27, 256),
    "lrn2": (27, 27, 256),
    "pool2": (13, 13, 256),
    "conv3": (13, 13, 384),
    "conv4": (13, 13, 384),
    "conv5": (13, 13, 256),
    "pool5": (6, 6, 256),
    "flatten": (9216,),
    "fc6": (4096,),
    "drop6": (4096,),
    "fc7": (4096,),
    "drop7": (4096,),
    "predictions": (1000,),
}


def small_alexnet(**kwargs):
    """The variant the course trains on MNIST."""
    options = dict(
        input_shape=(28, 28, 1), classes=10, stem="small", width=0.25, fc_units=64
    )
    options.update(kwargs)
    return AlexNet(**options)


def as_json(config):
    return json.loads(json.dumps(config))


def output_shape(model, layer_name):
    return tuple(model.get_layer(layer_name).output.shape[1:])


@pytest.fixture(scope="module")
def paper_model():
    return AlexNet()


def test_paper_parameter_count(paper_model):
    assert paper_model.count_params() == 60_965_224
    assert paper_model.name == "alexnet"


def test_ungrouped_parameter_count():
    model = AlexNet(groups=1)
    assert model.count_params() == 62_378_344
    # No grouped layer at all: plain Keras convolutions.
    assert not any(isinstance(layer, GroupedConv2D) for layer in model.layers)


def test_paper_layer_shapes_and_order(paper_model):
    names = [layer.name for layer in paper_model.layers[1:]]
    assert names == list(PAPER_SHAPES)
    for name, shape in PAPER_SHAPES.items():
        assert output_shape(paper_model, name) == shape, name


def test_paper_layer_parameters(paper_model):
    expected = {
        "conv1": 11 * 11 * 3 * 96 + 96,
        "conv2": 5 * 5 * 48 * 256 + 256,
        "conv3": 3 * 3 * 256 * 384 + 384,
        "conv4": 3 * 3 * 192 * 384 + 384,
        "conv5": 3 * 3 * 192 * 256 + 256,
        "fc6": 9216 * 4096 + 4096,
        "fc7": 4096 * 4096 + 4096,
        "predictions": 4096 * 1000 + 1000,
    }
    for name, count in expected.items():
        assert paper_model.get_layer(name).count_params() == count, name
    conv1 = paper_model.get_layer("conv1")
    assert (conv1.kernel_size, conv1.strides, conv1.padding) == (
        (11, 11),
        (4, 4),
        "valid",
    )
    for name in ("conv2", "conv4", "conv5"):
        layer = paper_model.get_layer(name)
        assert isinstance(layer, GroupedConv2D) and layer.groups == 2
    assert paper_model.get_layer("conv3").groups == 1
    lrn = paper_model.get_layer("lrn1")
    assert isinstance(lrn, LocalResponseNormalization)
    assert (lrn.size, lrn.k, lrn.alpha, lrn.beta) == (5, 2.0, 1e-4, 0.75)
    assert paper_model.get_layer("drop6").rate == 0.5


def test_forward_pass_at_227(paper_model):
    x = np.random.default_rng(0).uniform(size=(2, 227, 227, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(paper_model(x, training=False))
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_input_224_gives_the_documented_sizes():
    model = AlexNet(input_shape=(224, 224, 3))
    assert output_shape(model, "conv1") == (54, 54, 96)
    assert output_shape(model, "pool1") == (26, 26, 96)
    assert output_shape(model, "pool2") == (12, 12, 256)
    assert output_shape(model, "pool5") == (5, 5, 256)
    assert output_shape(model, "flatten") == (6400,)
    assert model.count_params() == 49_430_888


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_convolution_matches_keras_conv2d(groups):
    x = np.random.default_rng(1).standard_normal((2, 9, 9, 8)).astype("float32")
    options = dict(filters=12, kernel_size=3, strides=2, padding="same", groups=groups)
    ours = GroupedConv2D(**options)
    native = keras.layers.Conv2D(**options)
    expected_kernel_shape = (3, 3, 8 // groups, 12)
    ours.build(x.shape)
    native.build(x.shape)
    assert tuple(ours.kernel.shape) == expected_kernel_shape
    assert ours.count_params() == native.count_params()
    native.set_weights(ours.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)),
        keras.ops.convert_to_numpy(native(x)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_grouped_convolution_keeps_groups_apart():
    # With 2 groups, the first half of the filters sees only the first
    # half of the channels.
    layer = GroupedConv2D(4, 1, groups=2, use_bias=False)
    x = np.zeros((1, 2, 2, 6), "float32")
    x[..., 3:] = 1.0  # only the second group's channels are non-zero
    layer.build(x.shape)
    layer.set_weights([np.ones((1, 1, 3, 4), "float32")])
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(out[..., :2], 0.0)
    np.testing.assert_array_equal(out[..., 2:], 3.0)


def test_small_variant_for_mnist_and_cifar():
    digits = small_alexnet()
    assert output_shape(digits, "conv1") == (28, 28, 24)
    assert output_shape(digits, "pool1") == (13, 13, 24)
    assert output_shape(digits, "pool2") == (6, 6, 64)
    assert output_shape(digits, "pool5") == (2, 2, 64)
    assert output_shape(digits, "predictions") == (10,)
    assert digits.count_params() < 200_000
    conv1 = digits.get_layer("conv1")
    assert (conv1.kernel_size, conv1.strides, conv1.padding) == ((5, 5), (1, 1), "same")
    cifar = AlexNet(
        input_shape=(32, 32, 3), classes=10, stem="small", width=0.5, fc_units=256
    )
    assert output_shape(cifar, "pool5") == (3, 3, 128)
    x = np.zeros((2, 32, 32, 3), "float32")
    assert cifar.predict(x, verbose=0).shape == (2, 10)


def test_width_rounds_filter_counts():
    model = AlexNet(
        input_shape=(32, 32, 3), stem="small", width=0.1, fc_units=16, classes=3
    )
    filters = [model.get_layer(f"conv{i}").filters for i in range(1, 6)]
    assert filters == [10, 26, 38, 38, 26]


def test_small_variant_fit_step():
    keras.utils.set_random_seed(0)
    model = small_alexnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 16)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


@pytest.mark.slow
def test_small_variant_learns_quickly():
    # Four classes: a bright square in one of the four quadrants.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 512)
    x = rng.uniform(0.0, 0.3, size=(512, 28, 28, 1)).astype("float32")
    for i, label in enumerate(labels):
        row, column = divmod(label, 2)
        x[i, 3 + 14 * row : 10 + 14 * row, 3 + 14 * column : 10 + 14 * column] = 1.0
    model = small_alexnet(classes=4, fc_units=128)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, labels, epochs=3, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x, labels, verbose=0)
    assert accuracy > 0.9


def test_options_lrn_dropout_activation():
    model = small_alexnet(lrn=False, dropout=0.0, classifier_activation=None)
    names = {layer.name for layer in model.layers}
    assert "lrn1" not in names and "lrn2" not in names
    assert model.get_layer("drop7").rate == 0.0
    assert model.get_layer("predictions").activation is keras.activations.linear


@pytest.mark.parametrize(
    "pooling, shape", [(None, (2, 2, 64)), ("avg", (64,)), ("max", (64,))]
)
def test_without_top(pooling, shape):
    model = small_alexnet(include_top=False, pooling=pooling)
    assert tuple(model.output.shape[1:]) == shape
    assert "fc6" not in {layer.name for layer in model.layers}


def test_without_top_any_input_size():
    model = AlexNet(include_top=False, input_shape=None, pooling="avg")
    assert tuple(model.input.shape) == (None, None, None, 3)
    for side in (67, 100):
        x = np.zeros((1, side, side, 3), "float32")
        assert model.predict(x, verbose=0).shape == (1, 256)


def test_paper_initialization():
    model = AlexNet(paper_init=True)
    unit_biases = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        # conv1, the smallest kernel, has 34,848 draws: the sample std is
        # within 5 standard errors (0.01 * 5 / sqrt(2 * 34848) ~ 2e-4).
        assert abs(kernel.std() - 0.01) < 3e-4, name
        assert abs(kernel.mean()) < 3e-4, name
        np.testing.assert_array_equal(bias, 1.0 if name in unit_biases else 0.0)
    kernel, bias = model.get_layer("predictions").get_weights()
    assert abs(kernel.std() - 0.01) < 3e-4
    np.testing.assert_array_equal(bias, 0.0)


def test_default_initialization_is_keras():
    model = small_alexnet()
    for name in ("conv2", "fc6"):
        _, bias = model.get_layer(name).get_weights()
        np.testing.assert_array_equal(bias, 0.0)
    initializer = model.get_layer("conv1").kernel_initializer
    assert isinstance(initializer, keras.initializers.GlorotUniform)


@pytest.mark.parametrize("safe_mode", [True, False])
def test_small_variant_keras_file_round_trip(tmp_path, safe_mode):
    model = small_alexnet()
    path = os.path.join(str(tmp_path), "small.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
    x = np.random.default_rng(2).uniform(size=(3, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    assert isinstance(reloaded.get_layer("conv2"), GroupedConv2D)
    assert isinstance(reloaded.get_layer("lrn1"), LocalResponseNormalization)
    assert reloaded.count_params() == model.count_params()
    # Through JSON, as the saved file holds it (tuples become lists).
    assert as_json(reloaded.get_config()) == as_json(model.get_config())


@pytest.mark.slow
def test_paper_model_keras_file_round_trip(tmp_path, paper_model):
    path = os.path.join(str(tmp_path), "alexnet.keras")
    paper_model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.count_params() == 60_965_224
    x = np.random.default_rng(3).uniform(size=(2, 227, 227, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reloaded(x, training=False)),
        keras.ops.convert_to_numpy(paper_model(x, training=False)),
    )


def test_mixed_precision_predictions_in_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = small_alexnet()
        assert model.get_layer("conv2").compute_dtype == "float16"
        assert model.get_layer("lrn1").compute_dtype == "float16"
        x = np.random.default_rng(4).uniform(size=(2, 28, 28, 1)).astype("float32")
        out = model(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(out).sum(axis=1), 1.0, rtol=1e-5
        )
    finally:
        keras.config.set_dtype_policy(previous)


def test_channels_first():
    parameter_count = small_alexnet().count_params()
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        model = small_alexnet(input_shape=(1, 28, 28))
        assert output_shape(model, "conv2") == (64, 13, 13)
        assert output_shape(model, "pool5") == (64, 2, 2)
        assert model.get_layer("lrn2").data_format == "channels_first"
        assert model.count_params() == parameter_count
        x = np.zeros((2, 1, 28, 28), "float32")
        assert model.predict(x, verbose=0).shape == (2, 10)
    finally:
        keras.config.set_image_data_format(previous)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras

    from keras_deepae.applications import AlexNet

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = AlexNet(
            input_shape=(28, 28, 1), classes=10, stem="small", width=0.25,
            fc_units=32,
        )
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 16)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    print("MIRRORED OK", model.count_params())
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MIRRORED OK" in result.stdout


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weights": "imagenet"}, "weights='imagenet'"),
        ({"include_top": 1}, "include_top=1"),
        ({"classes": 0}, "classes=0"),
        ({"classes": 10.0}, "classes=10.0"),
        ({"classes": True}, "classes=True"),
        ({"groups": 0}, "groups=0"),
        ({"groups": 3}, "groups=3"),
        ({"groups": "2"}, "groups='2'"),
        ({"dropout": -0.1}, "dropout=-0.1"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"dropout": None}, "dropout=None"),
        ({"lrn": "yes"}, "lrn='yes'"),
        ({"paper_init": 1}, "paper_init=1"),
        ({"width": 0}, "width=0"),
        ({"width": -1.0}, "width=-1.0"),
        ({"width": float("inf")}, "width=inf"),
        ({"width": 0.3}, "groups=2 .*width=0.3"),
        ({"fc_units": 0}, "fc_units=0"),
        ({"stem": "tiny"}, "stem='tiny'"),
        ({"pooling": "sum", "include_top": False}, "pooling='sum'"),
        ({"pooling": "avg"}, "pooling='avg' with include_top=True"),
        ({"input_shape": None}, "input_shape=None"),
        ({"input_shape": (None, None, 3)}, r"input_shape=\(None, None, 3\)"),
        ({"input_shape": (227, 227)}, r"input_shape=\(227, 227\)"),
        ({"input_shape": (227, 227, None)}, "channels"),
        ({"input_shape": (227, 0, 3)}, r"input_shape=\(227, 0, 3\)"),
        ({"classifier_activation": "nope"}, "nope"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlexNet(**kwargs)


@pytest.mark.parametrize(
    "kwargs, minimum",
    [
        ({"input_shape": (66, 66, 3)}, 67),
        ({"input_shape": (227, 66, 3)}, 67),
        ({"input_shape": (32, 32, 3)}, 67),
        ({"input_shape": (None, 50, 3), "include_top": False}, 67),
        ({"input_shape": (14, 14, 1), "stem": "small"}, 15),
    ],
)
def test_too_small_inputs_name_the_minimum(kwargs, minimum):
    with pytest.raises(ValueError, match=f"at least {minimum} "):
        AlexNet(**kwargs)


@pytest.mark.parametrize("stem, side", [("paper", 67), ("small", 15)])
def test_minimum_input_sizes_work(stem, side):
    model = AlexNet(
        input_shape=(side, side, 1), stem=stem, width=0.125, fc_units=8, classes=2
    )
    assert output_shape(model, "pool5") == (1, 1, 32)
