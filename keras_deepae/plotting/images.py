import math
import numbers

import numpy as np


def check_positive_int(argument, value):
    """Raises `ValueError` unless `value` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Expected `{argument}` to be a positive integer. "
            f"Received: {argument}={value!r}"
        )


def to_numpy(array):
    """Converts an array-like, a backend tensor or a Keras variable to NumPy."""
    import keras

    if isinstance(array, keras.Variable):
        array = array.numpy()
    elif keras.ops.is_tensor(array):
        array = keras.ops.convert_to_numpy(array)
    return np.asarray(array, dtype="float32")


def as_images(images, image_shape=None, argument="images"):
    """Converts a batch of images to a NumPy array matplotlib can show.

    Args:
        images: array-like of shape `(N, H, W)`, `(N, H, W, C)` with `C` 1
            or 3, or `(N, D)` together with `image_shape`.
        image_shape: `(H, W)` or `(H, W, C)` to reshape vectors into
            images, or `None`.
        argument: the name used for `images` in error messages.

    Returns:
        A float array of shape `(N, H, W)` (grey) or `(N, H, W, 3)` (RGB).
    """
    array = to_numpy(images)
    if image_shape is not None:
        shape = tuple(int(size) for size in image_shape)
        if (
            len(shape) not in (2, 3)
            or (len(shape) == 3 and shape[2] not in (1, 3))
            or min(shape) < 1
        ):
            raise ValueError(
                "Expected `image_shape` to be (height, width) or (height, "
                f"width, channels) with 1 or 3 channels. Received: "
                f"image_shape={image_shape!r}"
            )
        if array.ndim < 2 or math.prod(array.shape[1:]) != math.prod(shape):
            raise ValueError(
                f"Expected `image_shape` to hold the {math.prod(array.shape[1:])} "
                f"values of each example of `{argument}` (shape "
                f"{array.shape}). Received: image_shape={image_shape!r}"
            )
        array = array.reshape((len(array),) + shape)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
        raise ValueError(
            f"Expected `{argument}` of shape (N, height, width) or (N, height, "
            "width, 1 or 3), or (N, features) with `image_shape`. Received: "
            f"{argument} with shape {array.shape}"
        )
    if len(array) == 0:
        raise ValueError(f"Expected at least one image in `{argument}`.")
    return array


def image_grid(
    images,
    n_cols=10,
    titles=None,
    image_shape=None,
    cmap="gray",
    vmin=0.0,
    vmax=1.0,
    figsize=None,
):
    """Shows a batch of images on a grid, row by row.

    Grey images are drawn with `cmap`; RGB images in their own colours.
    Values are mapped to the display range with `vmin` and `vmax`, the
    same for every image, so that intensities can be compared between
    images; pass `vmin=None, vmax=None` to stretch each grey image to its
    own range instead.

    The figure is made with `matplotlib.pyplot`, so a notebook shows it on
    its own: assign the result (`fig = image_grid(...)`) rather than
    leaving it as the cell's last value, which would show it twice.

    Args:
        images: array-like of shape `(N, height, width)`,
            `(N, height, width, channels)` with 1 or 3 channels, or
            `(N, features)` together with `image_shape`.
        n_cols: number of images per row.
        titles: one title per image, or `None`.
        image_shape: `(height, width)` or `(height, width, channels)` to
            reshape flat examples into, or `None`.
        cmap: matplotlib colormap of grey images.
        vmin: value drawn black, or `None` for each image's minimum.
        vmax: value drawn white, or `None` for each image's maximum.
        figsize: `(width, height)` of the figure in inches, or `None` for
            about one inch per image.

    Returns:
        The matplotlib `Figure`, with one `Axes` per image.

    Example:

    >>> (x_train, y_train), _ = keras_deepae.datasets.load("mnist5k")
    >>> fig = image_grid(x_train[:20], n_cols=10, titles=y_train[:20])
    """
    import matplotlib.pyplot as plt

    array = as_images(images, image_shape)
    check_positive_int("n_cols", n_cols)
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(array):
            raise ValueError(
                f"Expected one title per image ({len(array)}). Received: "
                f"{len(titles)} titles"
            )
    n_cols = min(n_cols, len(array))
    n_rows = math.ceil(len(array) / n_cols)
    if figsize is None:
        figsize = (1.0 * n_cols, (1.2 if titles is not None else 1.0) * n_rows)
    fig = plt.figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        if index >= len(array):
            ax.remove()
            continue
        image = array[index]
        if image.ndim == 3:
            # imshow ignores vmin / vmax for RGB: rescale and clip here.
            low = image.min() if vmin is None else vmin
            high = image.max() if vmax is None else vmax
            image = np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0)
            ax.imshow(image)
        else:
            ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize="small")
    return fig
