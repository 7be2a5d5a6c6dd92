import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from keras_deepae.plotting import (
    image_grid,
    plot_history,
    show_filters,
    show_reconstructions,
)

# No window: draw into memory (switching works after pyplot's import).
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images_per_axes(fig):
    return [len(ax.images) for ax in fig.axes]


def random_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


# image_grid


@pytest.mark.parametrize(
    "shape, image_shape, drawn_shape",
    [
        ((7, 28, 28), None, (28, 28)),
        ((7, 28, 28, 1), None, (28, 28)),
        ((7, 32, 32, 3), None, (32, 32, 3)),
        ((7, 64), (8, 8), (8, 8)),
        ((7, 48), (4, 4, 3), (4, 4, 3)),
    ],
)
def test_image_grid_draws_one_axes_per_image(shape, image_shape, drawn_shape):
    fig = image_grid(random_images(shape), n_cols=3, image_shape=image_shape)
    assert isinstance(fig, Figure)
    # 3 rows of 3, the last two cells removed.
    assert images_per_axes(fig) == [1] * 7
    assert fig.axes[0].get_gridspec().get_geometry() == (3, 3)
    assert fig.axes[0].images[0].get_array().shape == drawn_shape


def test_image_grid_titles_and_few_images():
    fig = image_grid(random_images((4, 8, 8)), titles=np.arange(4))
    assert fig.axes[0].get_gridspec().get_geometry() == (1, 4)
    assert [ax.get_title() for ax in fig.axes] == ["0", "1", "2", "3"]


def test_image_grid_fixed_display_range():
    images = np.zeros((2, 4, 4), "float32")
    images[1] = 0.5
    fig = image_grid(images)
    assert fig.axes[1].images[0].get_clim() == (0.0, 1.0)
    fig = image_grid(images, vmin=None, vmax=None)
    low, high = fig.axes[0].images[0].get_clim()
    assert low <= 0.0 <= high  # autoscaled around the image's value


def test_image_grid_scales_and_clips_rgb():
    rgb = np.full((1, 2, 2, 3), 2.0, "float32")
    rgb[0, 0, 0] = -1.0
    drawn = image_grid(rgb).axes[0].images[0].get_array()
    assert drawn.min() == 0.0 and drawn.max() == 1.0


def test_image_grid_accepts_keras_tensors():
    fig = image_grid(keras.ops.ones((3, 5, 5, 1)))
    assert images_per_axes(fig) == [1, 1, 1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.zeros((3, 5))}, r"`images`.*shape \(3, 5\)"),
        ({"images": np.zeros((3, 5, 5, 2))}, r"`images`.*\(3, 5, 5, 2\)"),
        ({"images": np.zeros((3, 5, 5, 1, 1))}, r"`images`"),
        ({"images": np.zeros((0, 5, 5))}, r"at least one image in `images`"),
        ({"images": np.zeros((3, 64)), "image_shape": (8, 7)}, r"image_shape=\(8, 7\)"),
        (
            {"images": np.zeros((3, 64)), "image_shape": (4, 4, 4)},
            r"image_shape=\(4, 4, 4\)",
        ),
        ({"images": np.zeros((3, 64)), "image_shape": (64,)}, r"image_shape=\(64,\)"),
        ({"images": np.zeros((3, 8, 8)), "n_cols": 0}, r"`n_cols`.*n_cols=0"),
        ({"images": np.zeros((3, 8, 8)), "n_cols": 2.5}, r"n_cols=2\.5"),
        (
            {"images": np.zeros((3, 8, 8)), "titles": ["a"]},
            r"one title per image \(3\).*1 titles",
        ),
    ],
)
def test_image_grid_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_grid(**kwargs)


# show_reconstructions


def test_show_reconstructions_two_rows():
    originals = random_images((12, 784))
    fig = show_reconstructions(originals, originals * 0.5, n=5, image_shape=(28, 28))
    assert isinstance(fig, Figure)
    assert images_per_axes(fig) == [1] * 10
    assert fig.axes[0].get_gridspec().get_geometry() == (2, 5)
    assert fig.axes[0].get_ylabel() == "original"
    assert fig.axes[5].get_ylabel() == "reconstruction"
    np.testing.assert_allclose(
        fig.axes[6].images[0].get_array(), originals[1].reshape(28, 28) * 0.5
    )


def test_show_reconstructions_reshapes_flat_outputs_like_originals():
    originals = random_images((3, 28, 28, 1))
    fig = show_reconstructions(originals, originals.reshape(3, 784), n=3)
    assert fig.axes[3].images[0].get_array().shape == (28, 28)
    rgb = random_images((2, 4, 4, 3))
    fig = show_reconstructions(rgb, rgb.reshape(2, 48), n=2)
    assert fig.axes[3].images[0].get_array().shape == (4, 4, 3)


def test_show_reconstructions_with_corrupted_row():
    originals = random_images((10, 8, 8, 1))
    fig = show_reconstructions(originals, originals, corrupted=1 - originals, n=4)
    assert images_per_axes(fig) == [1] * 12
    labels = [fig.axes[row * 4].get_ylabel() for row in range(3)]
    assert labels == ["original", "corrupted", "reconstruction"]
    np.testing.assert_allclose(
        fig.axes[4].images[0].get_array(), 1 - originals[0, ..., 0]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, r"`n`.*n=0"),
        ({"n": 11}, r"`n` examples in `originals`.*n=11, originals with 10"),
        (
            {"reconstructions": np.zeros((3, 8, 8))},
            r"`reconstructions`.*n=10, reconstructions with 3",
        ),
        (
            {"reconstructions": np.zeros((10, 4, 4))},
            r"`reconstructions` to match `originals`, with 64.*\(10, 4, 4\).*\(8, 8\)",
        ),
        ({"corrupted": np.zeros((10, 7, 7))}, r"`corrupted` to match"),
        ({"corrupted": np.zeros((10, 7))}, r"`corrupted` to match.*\(10, 7\)"),
        ({"corrupted": np.zeros(10)}, r"`corrupted` to match.*\(10,\)"),
    ],
)
def test_show_reconstructions_bad_arguments(kwargs, match):
    arguments = {
        "originals": np.zeros((10, 8, 8)),
        "reconstructions": np.zeros((10, 8, 8)),
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        show_reconstructions(**arguments)


# show_filters


def test_show_filters_dense_kernel_columns_normalised():
    kernel = np.random.default_rng(0).normal(size=(784, 16)).astype("float32")
    kernel[:, 3] = 0.25  # a constant filter
    fig = show_filters(kernel, image_shape=(28, 28), n_cols=8)
    assert isinstance(fig, Figure)
    assert images_per_axes(fig) == [1] * 16
    assert fig.axes[0].get_gridspec().get_geometry() == (2, 8)
    first = kernel[:, 0].reshape(28, 28)
    expected = (first - first.min()) / (first.max() - first.min())
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), expected, atol=1e-6)
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), 0.5)


def test_show_filters_default_count_and_n():
    kernel = np.zeros((64, 150))
    assert len(show_filters(kernel, image_shape=(8, 8)).axes) == 100
    assert len(show_filters(kernel, image_shape=(8, 8), n=7).axes) == 7
    assert len(show_filters(kernel, image_shape=(8, 8), n=150).axes) == 150


def test_show_filters_dense_kernel_of_rgb_inputs():
    kernel = np.random.default_rng(1).normal(size=(4 * 4 * 3, 5))
    fig = show_filters(kernel, image_shape=(4, 4, 3))
    assert fig.axes[0].images[0].get_array().shape == (4, 4, 3)


@pytest.mark.parametrize("in_channels, drawn_shape", [(1, (5, 5)), (3, (5, 5, 3))])
def test_show_filters_conv_kernel(in_channels, drawn_shape):
    kernel = np.random.default_rng(2).normal(size=(5, 5, in_channels, 6))
    fig = show_filters(kernel)
    assert images_per_axes(fig) == [1] * 6
    drawn = fig.axes[2].images[0].get_array()
    assert drawn.shape == drawn_shape
    assert drawn.min() == pytest.approx(0.0) and drawn.max() == pytest.approx(1.0)
    # RGB filters are stretched over their three channels together.
    np.testing.assert_allclose(
        np.asarray(drawn).reshape(5, 5, -1),
        (kernel[..., 2] - kernel[..., 2].min())
        / (kernel[..., 2].max() - kernel[..., 2].min()),
        atol=1e-6,
    )


def test_show_filters_keras_layer_kernel():
    layer = keras.layers.Dense(3)
    layer.build((None, 64))
    fig = show_filters(layer.kernel, image_shape=(8, 8))
    assert images_per_axes(fig) == [1, 1, 1]


@pytest.mark.parametrize(
    "kernel, kwargs, match",
    [
        (np.zeros(784), {}, r"`kernel` of rank 2.*shape \(784,\)"),
        (np.zeros((3, 3, 3)), {}, r"`kernel` of rank 2.*shape \(3, 3, 3\)"),
        (np.zeros((3, 3, 16, 8)), {}, r"1 or 3 input channels.*\(3, 3, 16, 8\)"),
        (
            np.zeros((784, 10)),
            {"image_shape": (28, 27)},
            r"784.*image_shape=\(28, 27\)",
        ),
        (
            np.zeros((784, 10)),
            {"image_shape": (28, 28, 2)},
            r"image_shape=\(28, 28, 2\)",
        ),
        (np.zeros((784, 10)), {"image_shape": (784,)}, r"image_shape=\(784,\)"),
        (np.zeros((784, 10)), {"n": 11}, r"`n` <= 10.*n=11"),
        (np.zeros((784, 10)), {"n": 0}, r"`n`.*n=0"),
        (np.zeros((784, 10)), {"n_cols": 0}, r"`n_cols`.*n_cols=0"),
    ],
)
def test_show_filters_bad_arguments(kernel, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_filters(kernel, **kwargs)


# plot_history


def test_plot_history_from_keras_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), "float32")
    history = model.fit(x, x[:, :1], validation_split=0.25, epochs=3, verbose=0)
    fig = plot_history(history)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["loss", "val_loss"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_plot_history_keys_and_defaults():
    records = {"loss": [3.0, 2.0], "mae": [1.0, 0.5]}
    assert len(plot_history(records).axes[0].lines) == 1  # no val_loss
    ax = plot_history(records, keys="mae", log_scale=True).axes[0]
    assert [line.get_label() for line in ax.lines] == ["mae"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "value"
    ax = plot_history({"mae": [1.0]}).axes[0]  # every metric without "loss"
    assert [line.get_label() for line in ax.lines] == ["mae"]


def test_plot_history_into_existing_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_history({"loss": [1.0, 0.5]}, ax=right, title="A") is fig
    assert len(right.lines) == 1 and not left.lines and right.get_title() == "A"


@pytest.mark.parametrize(
    "history, keys, match",
    [
        ([1.0, 2.0], None, r"`history`.*type list"),
        ({}, None, r"`history` to record at least one metric"),
        ({"loss": [1.0]}, ["val_loss"], r"'val_loss' in `keys`.*records: 'loss'"),
        ({"loss": [1.0]}, [], r"`keys`.*keys=\[\]"),
    ],
)
def test_plot_history_bad_arguments(history, keys, match):
    with pytest.raises(ValueError, match=match):
        plot_history(history, keys=keys)
