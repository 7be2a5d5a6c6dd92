"""Datasets read through tensorflow-datasets, which must be prepared first."""

import os

import numpy as np

TFDS_DATASETS = {
    # name: class names, indexed by label
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "mnist": tuple(str(digit) for digit in range(10)),
}


class DatasetUnavailableError(RuntimeError):
    """Raised when a tensorflow-datasets dataset is neither prepared nor
    downloadable.

    `keras_deepae.datasets.load` never downloads unless asked to
    (`download=True`), so without network access and without a prepared copy
    it fails at once with this error, whose message says where it looked and
    how to provide the data. The datasets `"mnist5k"` and `"digits"` need no
    download.
    """


_OFFLINE_HINT = (
    "The datasets 'mnist5k' (5,000 MNIST digits, 28x28) and 'digits' "
    "(1,797 digits, 8x8) are bundled with installed packages and load "
    "without network access."
)


def _unavailable_message(name, dataset_dir):
    return (
        f"Dataset {name!r} is not prepared: no copy was found at "
        f"{dataset_dir}, and load() downloads only when called with "
        "download=True.\n"
        "To use it:\n"
        f"  - on a machine with network access, call load({name!r}, "
        "data_dir=DIR, download=True), copy DIR here, and pass "
        "data_dir=DIR to load() or set the "
        "TFDS_DATA_DIR environment variable to DIR;\n"
        f"  - or, with network access here, call load({name!r}, "
        "download=True).\n" + _OFFLINE_HINT
    )


def _to_arrays(dataset, limit):
    if limit is not None:
        dataset = dataset.take(limit)
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(4096).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    # Concatenate the uint8 images first: float32 costs four times the memory.
    x = np.concatenate(images).astype("float32")
    x /= 255.0
    return x, np.concatenate(labels).astype("int64")


def load_tfds(name, data_dir, n_train, n_test, download):
    """Reads the train and test splits of a tensorflow-datasets dataset.

    Args:
        name: a key of `TFDS_DATASETS`.
        data_dir: where the prepared dataset lives, or `None` for the
            `TFDS_DATA_DIR` environment variable, else tfds' default.
        n_train: read only the first `n_train` training examples, or `None`.
        n_test: read only the first `n_test` test examples, or `None`.
        download: whether to download and prepare the dataset when it is
            missing.

    Returns:
        A tuple `(x_train, y_train, x_test, y_test, class_names)`.
    """
    import tensorflow_datasets as tfds

    if data_dir is None:
        # tfds reads TFDS_DATA_DIR once, when it is imported; read it at
        # call time instead, so that setting it later is honoured.
        data_dir = os.environ.get("TFDS_DATA_DIR") or None
    else:
        data_dir = os.fspath(data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    # Checking the folder first spares tfds' warning about a missing one.
    if not (builder.data_path.exists() and builder.is_prepared()):
        if not download:
            raise DatasetUnavailableError(_unavailable_message(name, builder.data_dir))
        try:
            builder.download_and_prepare()
        except Exception as error:
            # Network failures surface as many exception types (OSError,
            # requests and tfds download errors); report them as one.
            raise DatasetUnavailableError(
                f"Downloading dataset {name!r} to {builder.data_dir} failed "
                f"with {type(error).__name__}: {error}\n" + _OFFLINE_HINT
            ) from None
    splits = {}
    for split, limit in (("train", n_train), ("test", n_test)):
        dataset = builder.as_dataset(split=split, as_supervised=True)
        x, y = _to_arrays(dataset, limit)
        if limit is not None and len(y) < limit:
            argument = f"n_{split}"
            raise ValueError(
                f"The {split} split of {name!r} holds {len(y)} examples, "
                f"fewer than requested. Received: {argument}={limit}"
            )
        splits[split] = (x, y)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    return x_train, y_train, x_test, y_test, TFDS_DATASETS[name]
