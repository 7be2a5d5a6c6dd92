import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images and labels of a train and a test split, as `load` returns them.

    Images are float32 in [0, 1], batch first, with the channel axis
    (`(N, height, width, channels)`), or `(N, height * width * channels)`
    when loaded with `flatten=True`. Labels are int64 class indices into
    `class_names`.

    A `Dataset` unpacks like `keras.datasets.mnist.load_data()`:
    `(x_train, y_train), (x_test, y_test) = load("mnist5k")`.

    Args:
        x_train: training images.
        y_train: training labels, shape `(N_train,)`.
        x_test: test images.
        y_test: test labels, shape `(N_test,)`.
        name: the name the dataset was loaded under.
        class_names: one display name per class, indexed by label.

    Example:

    >>> data = load("mnist5k")
    >>> data.x_train.shape, data.x_test.shape
    ((4000, 28, 28, 1), (1000, 28, 28, 1))
    >>> data.class_names[data.y_test[0]]  # doctest: +SKIP
    '7'
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    class_names: tuple

    @property
    def image_shape(self):
        """Shape of one example, without the batch axis."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)

    def __iter__(self):
        yield self.x_train, self.y_train
        yield self.x_test, self.y_test

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, num_classes={self.num_classes})"
        )
