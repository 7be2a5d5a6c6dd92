import numpy as np

from keras_deepae.layers.corruption_layer import CorruptionLayer
from keras_deepae.models.stacked_autoencoder import StackedAutoencoder

try:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted
except ImportError:  # scikit-learn is an optional dependency (the course's).
    check_is_fitted = None

    class BaseEstimator:
        """Stands in for scikit-learn's, which is not installed."""

    class TransformerMixin:
        """Stands in for scikit-learn's, which is not installed."""


class StackedAutoencoderFeatures(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer: features from a pretrained stacked autoencoder.

    `fit(X)` builds a `StackedAutoencoder` from the hyper-parameters and
    pretrains it greedily on `X` (labels are ignored); `transform(X)` returns
    the code of the last hidden layer (`layers="last"`) or the codes of all
    hidden layers side by side (`layers="all"`), as a NumPy array. This lets
    a classic classifier, such as an SVM, learn on the features, in a
    `Pipeline` whose hyper-parameters `GridSearchCV` can tune (each candidate
    and fold pretrains its own stack). Images `(N, h, w, c)` are flattened.

    Every constructor argument is a hyper-parameter (`get_params`,
    `set_params`, `sklearn.base.clone`); none is validated before `fit`, as
    scikit-learn asks. The fitted stack is `stack_`.

    Why not `keras.wrappers.SKLearnTransformer`: it fits one given model on
    `(X, y)` with a single `fit` call and transforms with that model's
    output, while the features here come from an encoder trained by one
    `fit` per layer on data that changes from layer to layer; it accepts
    2-D `X` only; its hyper-parameters live in one `model_kwargs` dict, so
    that a grid cannot name `hidden_units`; and in Keras 3.15 its clone
    drops `fit_kwargs` (the epochs) and its `fit` updates that dict.

    Args:
        hidden_units: sizes of the hidden layers, bottom up.
        activation: activation of the hidden layers.
        output_activation: activation of the first decoder: `"sigmoid"` for
            inputs in [0, 1], `None` for real-valued inputs.
        tied: whether the decoders' kernels are the encoders' transposed.
        noise: `None` (no corruption) or the `noise` of a
            `keras_deepae.layers.CorruptionLayer`: `"mask"`, `"gaussian"` or
            `"salt_and_pepper"` (a stacked denoising autoencoder).
        rate: fraction of corrupted components, for `"mask"` and
            `"salt_and_pepper"`.
        stddev: standard deviation of the `"gaussian"` noise.
        code_regularizer: an activity regularizer of each layer's code
            during its pretraining (a sparse autoencoder), or `None`.
        layers: `"last"` or `"all"`: which codes `transform` returns.
        epochs_per_layer: epochs of pretraining of each layer.
        batch_size: examples per gradient step.
        optimizer: a Keras optimizer name, config or instance (copied).
        seed: integer seed of the stack (weights, noise, order), or `None`.
        verbose: verbosity of the pretraining (0 is silent).

    Example:

    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.svm import SVC
    >>> model = Pipeline([
    ...     ("sae", StackedAutoencoderFeatures(hidden_units=(64,), seed=0)),
    ...     ("svm", SVC()),
    ... ])
    >>> model.fit(x_train, y_train).score(x_test, y_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        hidden_units=(100,),
        activation="sigmoid",
        output_activation="sigmoid",
        tied=True,
        noise=None,
        rate=0.25,
        stddev=0.1,
        code_regularizer=None,
        layers="last",
        epochs_per_layer=10,
        batch_size=32,
        optimizer="adam",
        seed=None,
        verbose=0,
    ):
        if check_is_fitted is None:
            raise ImportError(
                "StackedAutoencoderFeatures needs scikit-learn: "
                "pip install scikit-learn (or the course extra: "
                'pip install "keras-deepae[course]").'
            )
        self.hidden_units = hidden_units
        self.activation = activation
        self.output_activation = output_activation
        self.tied = tied
        self.noise = noise
        self.rate = rate
        self.stddev = stddev
        self.code_regularizer = code_regularizer
        self.layers = layers
        self.epochs_per_layer = epochs_per_layer
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.seed = seed
        self.verbose = verbose

    def fit(self, X, y=None):
        """Pretrains a new stack on `X`; `y` is ignored.

        Args:
            X: array of shape `(N, d)` or `(N, h, w, c)`.
            y: ignored, for the `Pipeline` interface.

        Returns:
            The fitted transformer.
        """
        X = self._flat(X, "X")
        if self.layers not in ("last", "all"):
            raise ValueError(
                f'`layers` must be "last" or "all". Received: layers={self.layers!r}'
            )
        corruption = None
        if self.noise is not None:
            corruption = CorruptionLayer(
                self.noise, rate=self.rate, stddev=self.stddev, seed=self.seed
            )
        stack = StackedAutoencoder(
            hidden_units=self.hidden_units,
            activation=self.activation,
            output_activation=self.output_activation,
            tied=self.tied,
            corruption=corruption,
            code_regularizer=self.code_regularizer,
            seed=self.seed,
        )
        stack.pretrain(
            X,
            epochs_per_layer=self.epochs_per_layer,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            verbose=self.verbose,
        )
        self.stack_ = stack
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Codes of the hidden layers for `X`, shape `(N, n_features_out)`.

        `n_features_out` is `hidden_units[-1]` with `layers="last"` and
        `sum(hidden_units)` with `layers="all"`.
        """
        check_is_fitted(self, "stack_")
        X = self._flat(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"`X` must have {self.n_features_in_} features per example once "
                f"flattened, as in `fit`. Received: {X.shape[1]} features"
            )
        return self.stack_.transform(X, layers=self.layers)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: `"code_<layer>_<unit>"`, 1-based."""
        check_is_fitted(self, "stack_")
        units = list(self.stack_.hidden_units)
        numbered = list(enumerate(units, start=1))
        if self.layers == "last":
            numbered = numbered[-1:]
        return np.array(
            [f"code_{k}_{j}" for k, size in numbered for j in range(1, size + 1)],
            dtype=object,
        )

    @staticmethod
    def _flat(X, name):
        array = np.asarray(X, dtype="float32")
        if array.ndim < 2 or array.shape[0] == 0:
            raise ValueError(
                f"`{name}` must be an array of shape (N, d) or (N, h, w, c) with "
                f"at least one example. Received: {name}.shape={array.shape}"
            )
        return array.reshape(len(array), -1)
