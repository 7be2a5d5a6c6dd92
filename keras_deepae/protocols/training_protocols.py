import math
import numbers
import time

import keras
import numpy as np
from keras import ops

from keras_deepae.datasets.dataset import Dataset
from keras_deepae.datasets.loading import load
from keras_deepae.layers.corruption_layer import CorruptionLayer
from keras_deepae.models.stacked_autoencoder import StackedAutoencoder
from keras_deepae.protocols.label_subset import stratified_label_subset

PROTOCOLS = ("supervised", "frozen", "finetune", "svm_features", "svm_pixels")
# The protocols that start from the pretrained stack.
PRETRAINED_PROTOCOLS = ("frozen", "finetune", "svm_features")
SVM_KERNELS = ("rbf", "linear")


def run_protocols(
    dataset="mnist5k",
    label_budgets=(100, 1000, None),
    protocols=PROTOCOLS,
    hidden_units=(500, 250),
    epochs_per_layer=10,
    finetune_epochs=30,
    corruption_rate=0.25,
    batch_size=32,
    pretrain_learning_rate=1e-3,
    learning_rate=1e-3,
    svm_kernel="rbf",
    svm_c=1.0,
    svm_layers="last",
    seed=0,
    verbose=0,
):
    """Trains digit classifiers by several protocols and budgets of labels.

    The protocols of the lecture's slides 8 and 9, on one train/test split,
    each with a budget of `n` labelled training examples (a stratified
    subset drawn with `seed`, see `stratified_label_subset`):

    - `"supervised"`: the network alone, from random weights, trained with
      backpropagation on the `n` labels.
    - `"frozen"`: a stacked denoising autoencoder pretrained greedily on
      every training image (labels unused), then a softmax layer trained on
      its frozen last code with the `n` labels
      (`StackedAutoencoder.classifier(fine_tune=False)`).
    - `"finetune"`: the same pretrained stack and softmax layer, all of it
      trained on the `n` labels (`fine_tune=True`).
    - `"svm_features"`: a support vector machine on the pretrained codes
      (`svm_layers`: the last hidden layer, or all of them side by side).
    - `"svm_pixels"`: the same support vector machine on the raw pixels, the
      baseline that ignores the unlabelled images.

    The three networks have one architecture: `Flatten`, sigmoid layers of
    `hidden_units`, a softmax head; `"supervised"` even starts from the
    very weights the pretraining starts from, so pretraining is the only
    difference. The stack is pretrained once per call and shared: each
    budget's `"frozen"` and `"finetune"` networks start from a fresh copy of
    its weights, so one budget's training never leaks into another's.

    Training details. Each network trains with Adam (`learning_rate`) on the
    cross-entropy for `finetune_epochs` epochs over its `n` examples, in
    mini-batches of `batch_size`, with no early stopping (a few labels leave
    nothing to spare for a validation set). The pretraining uses masking
    noise (`keras_deepae.layers.CorruptionLayer("mask", corruption_rate)`),
    `epochs_per_layer` epochs per layer and Adam
    (`pretrain_learning_rate`). The support vector machines are
    scikit-learn's `SVC` with `kernel=svm_kernel`, `C=svm_c` and, for the
    RBF kernel, `gamma="scale"` (one over the number of features times the
    variance of the inputs, so that pixels and codes both get a sensible
    width); it is fitted on the `n` examples as they are, no grid search.

    Reproducibility: the weights, the noise, the label subsets and the
    order of the examples in every epoch are drawn from seeds derived from
    `seed` (no global random state is read or changed), so one `seed` on one
    machine gives the same errors again. The train/test split is the
    dataset's own and does not depend on `seed`.

    Args:
        dataset: the name of a dataset for `keras_deepae.datasets.load`
            (its default split), or a `keras_deepae.datasets.Dataset`.
        label_budgets: the numbers of labelled training examples to try;
            `None` (or `"all"`) means the whole training split. Each is at
            least the number of classes.
        protocols: the protocols to run, a subset of `PROTOCOLS`, in the
            order of the rows.
        hidden_units: sizes of the hidden layers, bottom up.
        epochs_per_layer: pretraining epochs of each hidden layer.
        finetune_epochs: epochs of supervised training of each network.
        corruption_rate: fraction of the inputs of a layer set to 0 while it
            pretrains, in [0, 1); 0 pretrains plain autoencoders.
        batch_size: examples per gradient step, in pretraining and training.
        pretrain_learning_rate: Adam's learning rate in pretraining.
        learning_rate: Adam's learning rate in supervised training.
        svm_kernel: `"rbf"` or `"linear"`.
        svm_c: the SVM's regularization constant `C`, a positive number.
        svm_layers: `"last"` or `"all"`: which codes `"svm_features"` uses.
        seed: a non-negative integer.
        verbose: 0 is silent; 1 prints a line when the pretraining and each
            row are done.

    Returns:
        A list of dicts, one per budget and protocol (budgets in the order
        given, protocols in the order given within each budget), with keys
        `protocol`, `labels` (the number of labelled examples used),
        `test_error` (fraction of misclassified test examples),
        `seconds` (training and testing of that row, pretraining excluded)
        and `pretrain_seconds` (the time of the shared pretraining, codes of
        the SVM on features included, for the protocols that use it; 0 for
        the others).

    Reference:
        - [Vincent et al., 2008](https://doi.org/10.1145/1390156.1390294),
          stacked denoising autoencoders, then an SVM or fine-tuning.
        - [Erhan et al., 2010](https://jmlr.org/papers/v11/erhan10a.html),
          "Why does unsupervised pre-training help deep learning?".

    Example:

    >>> rows = run_protocols("digits", label_budgets=(50, None),
    ...                      hidden_units=(32,), epochs_per_layer=2,
    ...                      finetune_epochs=5)  # doctest: +SKIP
    >>> print(format_protocol_table(rows))  # doctest: +SKIP
    """
    data = _check_dataset(dataset)
    protocols = _check_protocols(protocols)
    budgets = _resolve_label_budgets(label_budgets, data.y_train)
    for name, value in (
        ("epochs_per_layer", epochs_per_layer),
        ("finetune_epochs", finetune_epochs),
        ("batch_size", batch_size),
    ):
        _check_positive_integer(name, value)
    for name, value in (
        ("pretrain_learning_rate", pretrain_learning_rate),
        ("learning_rate", learning_rate),
        ("svm_c", svm_c),
    ):
        _check_positive_number(name, value)
    if (
        isinstance(corruption_rate, bool)
        or not isinstance(corruption_rate, numbers.Real)
        or not 0 <= corruption_rate < 1
    ):
        raise ValueError(
            "`corruption_rate` must be a number in [0, 1). "
            f"Received: corruption_rate={corruption_rate!r}"
        )
    if svm_kernel not in SVM_KERNELS:
        raise ValueError(
            f"`svm_kernel` must be one of {', '.join(map(repr, SVM_KERNELS))}. "
            f"Received: svm_kernel={svm_kernel!r}"
        )
    if svm_layers not in ("last", "all"):
        raise ValueError(
            f'`svm_layers` must be "last" or "all". Received: svm_layers={svm_layers!r}'
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative integer. Received: seed={seed!r}"
        )
    seed = int(seed)
    settings = _Settings(
        hidden_units=hidden_units,
        input_shape=data.x_train.shape[1:],
        corruption_rate=float(corruption_rate),
        finetune_epochs=finetune_epochs,
        batch_size=batch_size,
        learning_rate=float(learning_rate),
        svm_kernel=svm_kernel,
        svm_c=float(svm_c),
        seed=seed,
    )
    # Builds a stack now, so that bad `hidden_units` fail before any training.
    settings.new_stack()
    from sklearn.svm import SVC  # noqa: F401  (fail early without scikit-learn)

    pretrained = None
    pretrain_seconds = 0.0
    features = None
    if any(protocol in PRETRAINED_PROTOCOLS for protocol in protocols):
        started = time.perf_counter()
        pretrained = settings.new_stack(corrupt=True)
        pretrained.pretrain(
            data.x_train,
            epochs_per_layer=epochs_per_layer,
            batch_size=batch_size,
            optimizer=keras.optimizers.Adam(pretrain_learning_rate),
            verbose=0,
        )
        if "svm_features" in protocols:
            features = (
                pretrained.transform(data.x_train, layers=svm_layers),
                pretrained.transform(data.x_test, layers=svm_layers),
            )
        pretrain_seconds = time.perf_counter() - started
        if verbose:
            print(
                f"pretraining {_arrow(data, hidden_units)} on "
                f"{len(data.x_train)} images: {pretrain_seconds:.1f} s",
                flush=True,
            )
    pixels = (
        data.x_train.reshape(len(data.x_train), -1),
        data.x_test.reshape(len(data.x_test), -1),
    )

    rows = []
    for n in budgets:
        subset = stratified_label_subset(data.y_train, n, seed=seed)
        y_labelled = data.y_train[subset]
        for protocol in protocols:
            started = time.perf_counter()
            order_seed = _derived_seed(seed, n, PROTOCOLS.index(protocol))
            if protocol == "svm_pixels":
                error = settings.svm_error(pixels, subset, y_labelled, data.y_test)
            elif protocol == "svm_features":
                error = settings.svm_error(features, subset, y_labelled, data.y_test)
            else:
                stack = settings.new_stack()
                if protocol != "supervised":
                    for copy, layer in zip(
                        stack.hidden_layers, pretrained.hidden_layers, strict=True
                    ):
                        copy.set_weights(layer.get_weights())
                model = stack.classifier(
                    data.num_classes, fine_tune=protocol != "frozen"
                )
                error = settings.network_error(
                    model,
                    data.x_train[subset],
                    y_labelled,
                    data.x_test,
                    data.y_test,
                    order_seed,
                )
            row = {
                "protocol": protocol,
                "labels": len(subset),
                "test_error": error,
                "seconds": time.perf_counter() - started,
                "pretrain_seconds": (
                    pretrain_seconds if protocol in PRETRAINED_PROTOCOLS else 0.0
                ),
            }
            rows.append(row)
            if verbose:
                print(
                    f"{protocol:<12} {row['labels']:>6} labels: test error "
                    f"{error:.4f} ({row['seconds']:.1f} s)",
                    flush=True,
                )
    return rows


def _resolve_label_budgets(label_budgets, y_train):
    """The label budgets as numbers of examples, checked against `y_train`.

    Args:
        label_budgets: a list of positive integers and `None` or `"all"`
            (the whole training split).
        y_train: the training labels.

    Returns:
        A list of integers, in the order given.
    """
    try:
        values = list(label_budgets)
    except TypeError:
        values = []
    total = len(y_train)
    n_classes = len(np.unique(y_train))
    budgets = []
    for value in values:
        if value is None or value == "all":
            budgets.append(total)
        elif (
            not isinstance(value, bool)
            and isinstance(value, numbers.Integral)
            and n_classes <= value <= total
        ):
            budgets.append(int(value))
        else:
            budgets = []
            break
    if not budgets:
        raise ValueError(
            "`label_budgets` must be a non-empty list of integers from "
            f"{n_classes} (one label per class) to {total} (the training "
            f"split), or None / 'all' for every label. "
            f"Received: label_budgets={label_budgets!r}"
        )
    if len(set(budgets)) < len(budgets):
        raise ValueError(
            "`label_budgets` must not repeat a budget ('all' is "
            f"{total} here). Received: label_budgets={label_budgets!r}"
        )
    return budgets


class _Settings:
    """What every network and SVM of one `run_protocols` call shares."""

    def __init__(self, *, input_shape, corruption_rate, **values):
        self.input_shape = tuple(input_shape)
        self.corruption_rate = corruption_rate
        for name, value in values.items():
            setattr(self, name, value)

    def new_stack(self, corrupt=False):
        """A built stack; `corrupt` adds the pretraining's masking noise.

        Every stack gets the same seed, hence the same initial weights.
        """
        corruption = None
        if corrupt and self.corruption_rate > 0:
            corruption = CorruptionLayer("mask", rate=self.corruption_rate)
        stack = StackedAutoencoder(
            self.hidden_units, corruption=corruption, seed=self.seed
        )
        stack.build((None,) + self.input_shape)
        return stack

    def network_error(self, model, x, y, x_test, y_test, order_seed):
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="sparse_categorical_crossentropy",
        )
        batches = _LabelledBatches(x, y, self.batch_size, order_seed)
        model.fit(batches, epochs=self.finetune_epochs, shuffle=False, verbose=0)
        # Plain calls rather than `predict`, which traces a new function for
        # every model (and warns about it once there are a few).
        predictions = np.concatenate(
            [
                ops.convert_to_numpy(
                    ops.argmax(model(x_test[i : i + 1024], training=False), axis=1)
                )
                for i in range(0, len(x_test), 1024)
            ]
        )
        return float(np.mean(predictions != y_test))

    def svm_error(self, inputs, subset, y, y_test):
        from sklearn.svm import SVC

        x_train, x_test = inputs
        svm = SVC(kernel=self.svm_kernel, C=self.svm_c, gamma="scale")
        svm.fit(x_train[subset], y)
        return float(np.mean(svm.predict(x_test) != y_test))


class _LabelledBatches(keras.utils.PyDataset):
    """Batches `(x, y)` in a new order each epoch, drawn from `seed` alone."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self._draw_order()

    def _draw_order(self):
        seed = (self.seed + 7919 * (self.epoch + 1)) % (2**31 - 1)
        order = keras.random.shuffle(ops.arange(len(self.x)), seed=seed)
        self.order = ops.convert_to_numpy(order)

    def on_epoch_end(self):
        self.epoch += 1
        self._draw_order()

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]


def _derived_seed(seed, labels, protocol_index):
    """The seed of one row's example order: its seed, budget and protocol only."""
    return (seed * 1_000_003 + labels * 101 + protocol_index * 7 + 17) % (2**31 - 1)


def _arrow(data, hidden_units):
    units = [int(np.prod(data.x_train.shape[1:]))] + list(hidden_units)
    return " -> ".join(map(str, units))


def _check_dataset(dataset):
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, str):
        return load(dataset)
    raise ValueError(
        "`dataset` must be a dataset name for `keras_deepae.datasets.load` or "
        f"a `keras_deepae.datasets.Dataset`. Received: dataset={dataset!r}"
    )


def _check_protocols(protocols):
    received = protocols
    if isinstance(protocols, str):
        protocols = [protocols]
    try:
        protocols = list(protocols)
    except TypeError:
        protocols = []
    if (
        not protocols
        or not all(protocol in PROTOCOLS for protocol in protocols)
        or len(set(protocols)) < len(protocols)
    ):
        raise ValueError(
            "`protocols` must be a non-empty list of distinct names among "
            f"{', '.join(map(repr, PROTOCOLS))}. Received: protocols={received!r}"
        )
    return protocols


def _check_positive_integer(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _check_positive_number(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 < value < math.inf
    ):
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
