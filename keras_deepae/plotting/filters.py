import math

import numpy as np

from keras_deepae.plotting.images import check_positive_int, image_grid, to_numpy

MAX_DEFAULT_FILTERS = 100


def show_filters(kernel, image_shape=(28, 28), n=None, n_cols=10, cmap="gray"):
    """Shows the filters of a Dense or convolution kernel as images.

    For a Dense kernel of shape `(input_dim, units)`, filter `j` is column
    `j`, the weights from every input to unit `j`, reshaped to
    `image_shape`: for an autoencoder's first layer, the pattern of pixels
    that drives the unit most. For a convolution kernel of shape
    `(height, width, in_channels, out_channels)` with 1 (grey) or 3 (RGB)
    input channels, filter `j` is `kernel[..., j]`.

    Each filter is stretched to its own range, its smallest weight black
    and its largest white (RGB filters over their three channels
    together), so that the shapes are visible whatever the weights' scale.

    Args:
        kernel: the kernel, a NumPy array or a Keras variable (such as
            `layer.kernel`).
        image_shape: `(height, width)` or `(height, width, channels)` of
            the inputs of a Dense kernel; their product must be `input_dim`.
            Not used for a convolution kernel.
        n: number of filters shown, the first ones. Defaults to all of
            them, at most 100.
        n_cols: number of filters per row.
        cmap: matplotlib colormap of grey filters.

    Returns:
        The matplotlib `Figure`, with one `Axes` per filter.

    Example:

    >>> fig = show_filters(autoencoder.encoder.layers[0].kernel, n=64)
    ... # doctest: +SKIP
    """
    array = to_numpy(kernel)
    if array.ndim == 2:
        input_dim = array.shape[0]
        shape = tuple(image_shape)
        if (
            len(shape) not in (2, 3)
            or (len(shape) == 3 and shape[2] not in (1, 3))
            or math.prod(shape) != input_dim
        ):
            raise ValueError(
                "Expected `image_shape` to be (height, width) or (height, "
                "width, 1 or 3 channels) holding the kernel's input dimension "
                f"{input_dim}. Received: image_shape={image_shape!r}"
            )
        filters = array.T.reshape((-1,) + shape)
    elif array.ndim == 4:
        if array.shape[2] not in (1, 3):
            raise ValueError(
                "Expected a convolution `kernel` with 1 or 3 input channels, "
                "which can be drawn as grey or RGB images. Received: kernel "
                f"with shape {array.shape}"
            )
        filters = np.moveaxis(array, -1, 0)
    else:
        raise ValueError(
            "Expected `kernel` of rank 2 (input_dim, units) or rank 4 "
            "(height, width, in_channels, out_channels). Received: kernel "
            f"with shape {array.shape}"
        )
    if n is None:
        n = min(len(filters), MAX_DEFAULT_FILTERS)
    check_positive_int("n", n)
    if n > len(filters):
        raise ValueError(
            f"Expected `n` <= {len(filters)}, the kernel's number of "
            f"filters. Received: n={n}"
        )
    filters = filters[:n]
    axes = tuple(range(1, filters.ndim))
    low = filters.min(axis=axes, keepdims=True)
    spread = filters.max(axis=axes, keepdims=True) - low
    # A constant filter has no shape to show: draw it mid-grey.
    scaled = np.where(spread > 0, (filters - low) / np.maximum(spread, 1e-12), 0.5)
    return image_grid(scaled, n_cols=n_cols, cmap=cmap, vmin=0.0, vmax=1.0)
