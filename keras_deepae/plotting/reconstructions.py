import math

import numpy as np

from keras_deepae.plotting.images import (
    as_images,
    check_positive_int,
    image_grid,
    to_numpy,
)


def show_reconstructions(
    originals,
    reconstructions,
    n=10,
    corrupted=None,
    image_shape=None,
    cmap="gray",
    vmin=0.0,
    vmax=1.0,
):
    """Shows inputs above their reconstructions by an autoencoder.

    The first `n` examples are drawn in columns: the original on the first
    row, the corrupted input a denoising autoencoder received on the second
    (when `corrupted` is given), and the reconstruction on the last. All
    rows share the display range `vmin`..`vmax`, so that a faded or
    blurred reconstruction looks faded or blurred.

    Args:
        originals: the clean inputs, `(N, ...)`, in any shape
            `image_grid` accepts.
        reconstructions: the model's outputs for the same examples, with the
            same number of values per example; they are drawn in the shape
            of `originals`, so a flat output may go under images.
        n: number of examples shown, at most `N`.
        corrupted: the corrupted inputs, shaped like `reconstructions`, or
            `None`.
        image_shape: `(height, width)` or `(height, width, channels)` to
            reshape flat examples into, or `None`.
        cmap: matplotlib colormap of grey images.
        vmin: value drawn black, or `None` for each image's minimum.
        vmax: value drawn white, or `None` for each image's maximum.

    Returns:
        The matplotlib `Figure`, with 2 (or 3) rows of `n` `Axes`.

    Example:

    >>> x_noisy = corruption(x_test, training=True)
    >>> fig = show_reconstructions(
    ...     x_test, model.predict(x_noisy, verbose=0), corrupted=x_noisy
    ... )  # doctest: +SKIP
    """
    check_positive_int("n", n)
    rows = [("original", "originals", originals)]
    if corrupted is not None:
        rows.append(("corrupted", "corrupted", corrupted))
    rows.append(("reconstruction", "reconstructions", reconstructions))
    arrays = []
    for _, argument, images in rows:
        if arrays:
            # Shape the other rows like the originals, so that a flat model
            # output can be shown under images, and the other way round.
            array = to_numpy(images)
            reference = arrays[0].shape[1:]
            if array.ndim < 2 or math.prod(array.shape[1:]) != math.prod(reference):
                raise ValueError(
                    f"Expected `{argument}` to match `originals`, with "
                    f"{math.prod(reference)} values per example. Received: "
                    f"{argument} of shape {array.shape}, originals examples "
                    f"of shape {reference}"
                )
            array = as_images(array, reference, argument=argument)
        else:
            array = as_images(images, image_shape, argument=argument)
        if len(array) < n:
            raise ValueError(
                f"Expected at least `n` examples in `{argument}`. Received: "
                f"n={n}, {argument} with {len(array)} examples"
            )
        arrays.append(array[:n])
    fig = image_grid(np.concatenate(arrays), n_cols=n, cmap=cmap, vmin=vmin, vmax=vmax)
    for row, (label, _, _) in enumerate(rows):
        fig.axes[row * n].set_ylabel(label, fontsize="small")
    return fig
