import json
import math
import os
import shutil

import keras
import numpy as np
from keras import ops

from keras_deepae.layers.corruption_layer import CorruptionLayer
from keras_deepae.layers.tied_dense import TiedDense
from keras_deepae.models._arguments import check_hidden_units, check_layer_arguments
from keras_deepae.regularizers.target_sparsity import TargetSparsity

PROGRESS_FILE = "progress.json"
# Offsets that give every random part of the stack its own seed.
_SEED_ROLES = {
    "hidden": 1,
    "decoder": 2,
    "corruption": 3,
    "order": 4,
    "head": 5,
    "dropout": 6,
}


@keras.saving.register_keras_serializable(package="keras_deepae")
class StackedAutoencoder(keras.Model):
    """A deep encoder pre-trained greedily, one autoencoder per hidden layer.

    The stack is a deep encoder: `Flatten`, then Dense layers of sizes
    `hidden_units`. `pretrain(x)` trains them one at a time, bottom up, as
    in Bengio et al. (2007) and Vincent et al. (2008, section 2.4): layer k
    is the encoder of a small autoencoder (the same layer object, so the
    stack's weights are the ones that train), whose inputs are the clean
    codes of the layers below it, computed once with `predict` (no noise, no
    gradient: the layers below are frozen). A `corruption` layer corrupts the
    input of the layer being trained only; the autoencoder reconstructs the
    clean input. A `code_regularizer` makes each of these autoencoders a
    sparse one. Each small autoencoder is trained with `keras.Model.fit`, so
    Keras callbacks, TensorBoard and progress bars work as usual.

    Calling the stack (or `stack.encoder`, `predict`) maps inputs to the code
    of the last hidden layer. `transform(x, layers="all")` gives every hidden
    layer's code side by side, and `classifier(n_classes)` builds a network
    for fine-tuning that shares the pretrained layers. The decoders of the
    small autoencoders are dropped after pretraining; saving the stack
    (`.keras`) keeps the encoder.

    Each small autoencoder decodes with the activation its input came from:
    `output_activation` for the first layer (which reconstructs the data),
    `activation` above. With `pretrain(loss="auto")`, the loss is binary
    cross-entropy where that activation is `"sigmoid"` (inputs in [0, 1],
    such as pixel intensities or sigmoid codes) and squared error otherwise.

    Reproducibility: with a `seed`, the initial weights, the corruption noise
    and the order of the examples in each epoch are drawn from seeds derived
    from it (one per layer and epoch), so that a pretraining resumed from a
    checkpoint follows the same path as one never interrupted.

    Args:
        hidden_units: sizes of the hidden layers, bottom up; an int means one
            hidden layer.
        activation: activation of the hidden layers.
        output_activation: activation of the first layer's decoder, which
            reconstructs the data: `"sigmoid"` for inputs in [0, 1], `None`
            for real-valued inputs.
        tied: whether each decoder uses the transpose of its layer's kernel
            (`keras_deepae.layers.TiedDense`).
        corruption: a `keras_deepae.layers.CorruptionLayer` whose settings
            corrupt the input of each layer while it trains (a stacked
            denoising autoencoder), or `None`. Each layer gets its own copy.
        code_regularizer: an activity regularizer of the code of each layer
            while it trains, such as `keras_deepae.regularizers.TargetSparsity`
            (with or without a running estimate), or `None`.
        kernel_initializer: initializer of the hidden layers' kernels (and of
            the untied decoders').
        seed: integer seed of every random draw of the stack, or `None`.
        **kwargs: base model arguments (`name`, ...).

    Call arguments:
        inputs: a batch of inputs of any shape, batch first.
        training: passed to the layers (the stack has no training behaviour).

    Input shape:
        `(batch_size, ...)` with known non-batch dimensions.

    Output shape:
        `(batch_size, hidden_units[-1])`.

    Reference:
        - [Bengio et al., 2007](https://papers.nips.cc/paper/3048),
          greedy layer-wise training of deep networks.
        - [Vincent et al., 2008](https://doi.org/10.1145/1390156.1390294),
          section 2.4 (stacking denoising autoencoders).

    Example:

    >>> stack = StackedAutoencoder((500, 250, 100), seed=0,
    ...                            corruption=CorruptionLayer("mask", 0.25))
    >>> stack.pretrain(x_train, epochs_per_layer=10)  # doctest: +SKIP
    layer 1/3: 784 -> 500
    ...
    >>> features = stack.transform(x_train, layers="all")  # doctest: +SKIP
    >>> model = stack.classifier(10, fine_tune=True)  # doctest: +SKIP
    >>> model.compile("adam", "sparse_categorical_crossentropy")  # doctest: +SKIP
    """

    def __init__(
        self,
        hidden_units=(500, 250, 100),
        activation="sigmoid",
        output_activation="sigmoid",
        tied=True,
        corruption=None,
        code_regularizer=None,
        kernel_initializer="glorot_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden_units = check_hidden_units(hidden_units)
        check_layer_arguments(tied, corruption, code_regularizer, hint="")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"`seed` must be an integer or None. Received: seed={seed!r}"
            )
        self.hidden_units = hidden_units
        self.activation = _get_activation("activation", activation)
        self.output_activation = _get_activation("output_activation", output_activation)
        self.tied = tied
        self.corruption = corruption
        self.code_regularizer = keras.regularizers.get(code_regularizer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed

        layers = [keras.layers.Flatten(name="flatten")]
        for k, units in enumerate(hidden_units, start=1):
            layers.append(
                keras.layers.Dense(
                    units,
                    activation=self.activation,
                    kernel_initializer=_seeded_initializer(
                        self.kernel_initializer, _derived_seed(seed, "hidden", k)
                    ),
                    name=f"hidden_{k}",
                )
            )
        self.encoder = keras.Sequential(layers, name="encoder")
        # Plain attributes, so that Keras neither tracks nor saves them.
        object.__setattr__(self, "_stack_input_shape", None)
        object.__setattr__(self, "_all_codes_model", None)

    @property
    def hidden_layers(self):
        """The hidden `Dense` layers, bottom up (shared with every model built)."""
        return [
            layer
            for layer in self.encoder.layers
            if isinstance(layer, keras.layers.Dense)
        ]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                "StackedAutoencoder needs inputs whose non-batch dimensions are "
                f"known. Received: input_shape={input_shape}"
            )
        self.encoder.build(input_shape)
        object.__setattr__(self, "_stack_input_shape", input_shape)

    def call(self, inputs, training=None):
        return self.encoder(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_units[-1])

    def pretrain(
        self,
        x,
        epochs_per_layer=10,
        batch_size=32,
        optimizer="adam",
        loss="auto",
        callbacks=None,
        verbose="auto",
        checkpoint_dir=None,
    ):
        """Trains the hidden layers greedily, bottom up, one `fit` per layer.

        For layer k (1-based), a small autoencoder named
        `f"pretrain_layer_{k}"` is built: its inputs are the clean codes of
        layer k-1 (the data for k = 1), computed once with `predict`; then a
        copy of `corruption` (in training only), the stack's layer k itself,
        the `code_regularizer` penalty and a new decoder. It is compiled with
        a new copy of `optimizer` and trained with `fit` on the clean inputs
        as targets. Only layer k and its decoder train; the layers below are
        not part of that model and keep their weights bit for bit. The order
        of the examples changes every epoch.

        The given `callbacks` are passed to every layer's `fit`; a callback
        tells the layers apart by `self.model.name`. With `verbose`, a line
        such as `layer 2/3: 500 -> 250` announces each layer.

        Resuming: with a `checkpoint_dir`, the state of the layer being
        trained (its weights, its decoder's, the optimizer's and the noise
        generator's) is saved after each epoch, the stack's weights after
        each layer, and a `progress.json` file records the finished layers
        and the finished epochs of the current one (it is replaced
        atomically, so a kill at any moment leaves a usable checkpoint).
        Calling `pretrain` again with the same directory, after the process
        stopped or was killed, skips the finished layers (loading their
        weights) and resumes the current layer after its last finished
        epoch, through `fit(initial_epoch=...)`. With a `seed`, the result
        is the one an uninterrupted run gives. A directory whose pretraining
        is complete makes `pretrain` skip every layer; use a new directory to
        pretrain again. (`keras.callbacks.BackupAndRestore` is not used: it
        does not save the state of the noise generators, so a resumed
        denoising run would draw other noise.)

        Args:
            x: the training inputs, an array of shape `(N, ...)`, such as
                `(N, 784)` or images `(N, 28, 28, 1)`.
            epochs_per_layer: number of epochs of each layer, a positive
                integer or one per hidden layer.
            batch_size: number of examples per gradient step.
            optimizer: a `keras.optimizers.Optimizer`, its name or its
                config; each layer trains with its own fresh copy.
            loss: `"auto"` (see the class docstring) or any Keras loss.
            callbacks: a list of `keras.callbacks.Callback`, or `None`.
            verbose: verbosity of `fit` (`"auto"`, 0, 1 or 2); 0 also
                silences the per-layer lines.
            checkpoint_dir: a directory to save to and resume from, or
                `None`.

        Returns:
            A list with the `keras.callbacks.History` of each layer, bottom
            up; `None` for a layer found finished in `checkpoint_dir`.
        """
        x = _check_inputs(x)
        epochs = self._epochs_per_layer(epochs_per_layer)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise ValueError(
                f"`batch_size` must be a positive integer. Received: "
                f"batch_size={batch_size!r}"
            )
        if batch_size < 1:
            raise ValueError(
                f"`batch_size` must be a positive integer. Received: "
                f"batch_size={batch_size}"
            )
        if checkpoint_dir is not None and not isinstance(
            checkpoint_dir, (str, os.PathLike)
        ):
            raise ValueError(
                "`checkpoint_dir` must be a path or None. Received: "
                f"checkpoint_dir={checkpoint_dir!r}"
            )
        if not self.built:
            self.build((None,) + x.shape[1:])
        elif tuple(x.shape[1:]) != tuple(self._stack_input_shape[1:]):
            raise ValueError(
                "`x` must have the shape the stack was built for, "
                f"(N, {', '.join(map(str, self._stack_input_shape[1:]))}). "
                f"Received: x.shape={x.shape}"
            )
        checkpoint = None
        finished = 0
        if checkpoint_dir is not None:
            checkpoint = _PretrainingCheckpoint(os.fspath(checkpoint_dir), self)
            finished = checkpoint.restore_stack()

        inputs = x.reshape(len(x), -1)
        count = len(self.hidden_layers)
        histories = []
        for k, layer in enumerate(self.hidden_layers, start=1):
            initial_epoch = 0
            if checkpoint is not None and k == finished + 1:
                initial_epoch = checkpoint.epochs_done
            if verbose:
                if k <= finished:
                    note = " (finished, skipped)"
                elif initial_epoch:
                    note = f" (resumed after epoch {initial_epoch})"
                else:
                    note = ""
                print(f"layer {k}/{count}: {inputs.shape[1]} -> {layer.units}{note}")
            if k <= finished:
                histories.append(None)
            else:
                history = self._pretrain_layer(
                    k,
                    inputs,
                    epochs=epochs[k - 1],
                    batch_size=batch_size,
                    optimizer=optimizer,
                    loss=loss,
                    callbacks=callbacks,
                    verbose=verbose,
                    checkpoint=checkpoint,
                    initial_epoch=initial_epoch,
                )
                histories.append(history)
                if checkpoint is not None:
                    checkpoint.finish_layer(k)
            if k < count:
                inputs = _predict_with(layer, inputs, batch_size)
        return histories

    def layer_autoencoder(self, k):
        """The small autoencoder that trains hidden layer `k` (1-based).

        Its input is the code of layer k-1 (the flattened data for k = 1),
        followed by a copy of `corruption`, the stack's layer k itself (so
        training it trains the stack), the `code_regularizer` penalty and a
        new decoder, tied or not. A new model is returned at each call;
        `pretrain` builds and compiles one per layer.
        """
        if not self.built:
            raise ValueError(
                "The stack is not built yet: call `pretrain`, call it on "
                "inputs, or call `build(input_shape)` first."
            )
        layers = self.hidden_layers
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(layers):
            raise ValueError(
                f"`k` must be an integer from 1 to {len(layers)}. Received: k={k!r}"
            )
        dense = layers[k - 1]
        input_dim = dense.kernel.shape[0]
        inputs = keras.Input((input_dim,), name=f"layer_{k}_input")
        x = inputs
        if self.corruption is not None:
            config = self.corruption.get_config()
            base_seed = config["seed"] if config["seed"] is not None else self.seed
            config["seed"] = _derived_seed(base_seed, "corruption", k)
            config["name"] = f"corruption_{k}"
            x = CorruptionLayer.from_config(config)(x)
        codes = dense(x)
        if self.code_regularizer is not None:
            codes = _CodePenalty(self.code_regularizer, name=f"code_penalty_{k}")(codes)
        activation = self.output_activation if k == 1 else self.activation
        if self.tied:
            decoder = TiedDense(dense, activation=activation, name=f"decoder_{k}")
        else:
            decoder = keras.layers.Dense(
                input_dim,
                activation=activation,
                kernel_initializer=_seeded_initializer(
                    self.kernel_initializer, _derived_seed(self.seed, "decoder", k)
                ),
                name=f"decoder_{k}",
            )
        return keras.Model(inputs, decoder(codes), name=f"pretrain_layer_{k}")

    def _pretrain_layer(
        self,
        k,
        inputs,
        epochs,
        batch_size,
        optimizer,
        loss,
        callbacks,
        verbose,
        checkpoint,
        initial_epoch,
    ):
        dense = self.hidden_layers[k - 1]
        was_trainable = dense.trainable
        # Layer k trains here whatever its flag says elsewhere.
        dense.trainable = True
        try:
            model = self.layer_autoencoder(k)
            if loss == "auto":
                activation = self.output_activation if k == 1 else self.activation
                sigmoid = keras.activations.get("sigmoid")
                loss = "binary_crossentropy" if activation is sigmoid else "mse"
            model.compile(optimizer=_fresh_optimizer(optimizer), loss=loss)
            data = _EpochBatches(
                inputs, batch_size, seed=_derived_seed(self.seed, "order", k)
            )
            layer_callbacks = [_EpochOrder(data)]
            if checkpoint is not None:
                if initial_epoch:
                    checkpoint.restore_layer(model, k)
                layer_callbacks.append(_SaveEachEpoch(checkpoint, k))
            layer_callbacks.extend(callbacks or [])
            return model.fit(
                data,
                epochs=max(epochs, initial_epoch),
                initial_epoch=initial_epoch,
                shuffle=False,
                callbacks=layer_callbacks,
                verbose=verbose,
            )
        finally:
            dense.trainable = was_trainable

    def transform(self, x, layers="last", batch_size=256):
        """Features of `x` from the hidden layers, as a NumPy array.

        Args:
            x: inputs of the shape the stack was built for, `(N, ...)`.
            layers: `"last"` for the code of the last hidden layer, shape
                `(N, hidden_units[-1])`, or `"all"` for the codes of every
                hidden layer side by side, bottom up, shape
                `(N, sum(hidden_units))`.
            batch_size: number of examples per `predict` batch.

        Returns:
            A float32 NumPy array with one row per example. There is no
            corruption: the features are deterministic.
        """
        if layers not in ("last", "all"):
            raise ValueError(
                f'`layers` must be "last" or "all". Received: layers={layers!r}'
            )
        if not self.built:
            raise ValueError(
                "The stack is not built yet: call `pretrain`, call it on "
                "inputs, or call `build(input_shape)` before `transform`."
            )
        x = _check_inputs(x)
        if layers == "last":
            return self.encoder.predict(x, batch_size=batch_size, verbose=0)
        if self._all_codes_model is None:
            inputs = keras.Input(self._stack_input_shape[1:])
            h = self.encoder.layers[0](inputs)
            codes = []
            for layer in self.hidden_layers:
                h = layer(h)
                codes.append(h)
            outputs = codes[0] if len(codes) == 1 else ops.concatenate(codes, axis=-1)
            object.__setattr__(self, "_all_codes_model", keras.Model(inputs, outputs))
        return self._all_codes_model.predict(x, batch_size=batch_size, verbose=0)

    def classifier(
        self, n_classes, fine_tune=True, dropout=0.0, head_activation="softmax"
    ):
        """A classification network on top of the stack, sharing its layers.

        The network is `Flatten`, the stack's hidden layers themselves (the
        same objects: no copy), a `Dropout` after each hidden layer when
        `dropout > 0`, and a new Dense head of `n_classes` units. It is
        returned uncompiled: compile it with the loss of your labels, such as
        `"sparse_categorical_crossentropy"` for integer labels.

        Freezing: with `fine_tune=False`, the hidden layers are frozen in
        this network only. Keras keeps the `trainable` flag on each weight
        variable, so setting `layer.trainable = False` on shared layers would
        freeze them in the stack and in every other model too. Instead, the
        returned model leaves the flags alone (the stack's layers stay
        `trainable`) and lists the stack's weights among its
        `non_trainable_weights`, which is what `fit` and the optimizer read:
        `fit` leaves them bit-identical and trains the head only. This is
        fixed when the model is built, before `compile`, and survives saving
        and loading. Do not set `trainable` on the returned model or on its
        hidden layers: that would change the flags of the shared layers.
        With `fine_tune=True`, `fit` trains the head and the stack's layers
        (the stack then holds the fine-tuned weights).

        Dropout and batch normalization in the frozen part: `Dropout` has no
        weights and does not care about freezing: it drops units whenever
        the model runs in training mode (in `fit`), also after frozen layers,
        and never in `predict` or `evaluate`. A Keras 3
        `BatchNormalization` layer runs in inference mode (moving statistics,
        no update) when its own `trainable` flag is False, whatever
        `training` says; the stack holds no batch normalization, and since
        the freezing here leaves the flags alone, a batch normalization
        layer added to a frozen part would still update its statistics in
        `fit` unless called with `training=False`.

        Args:
            n_classes: number of output units, a positive integer.
            fine_tune: whether `fit` trains the stack's layers too (True) or
                only the head (False).
            dropout: dropout rate after each hidden layer, in [0, 1).
            head_activation: activation of the head (`"softmax"` for
                classes; `"sigmoid"` for independent labels).

        Returns:
            An uncompiled `keras.Model` named `"classifier"`.
        """
        if isinstance(n_classes, bool) or not isinstance(n_classes, int):
            raise ValueError(
                f"`n_classes` must be a positive integer. Received: "
                f"n_classes={n_classes!r}"
            )
        if n_classes < 1:
            raise ValueError(
                f"`n_classes` must be a positive integer. Received: "
                f"n_classes={n_classes}"
            )
        if not isinstance(fine_tune, bool):
            raise ValueError(
                f"`fine_tune` must be True or False. Received: fine_tune={fine_tune!r}"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout < 1
        ):
            raise ValueError(
                f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}"
            )
        head_activation = _get_activation("head_activation", head_activation)
        if not self.built:
            raise ValueError(
                "The stack is not built yet: call `pretrain`, call it on "
                "inputs, or call `build(input_shape)` before `classifier`."
            )
        inputs = keras.Input(self._stack_input_shape[1:], name="inputs")
        h = self.encoder.layers[0](inputs)
        for k, layer in enumerate(self.hidden_layers, start=1):
            h = layer(h)
            if dropout > 0:
                h = keras.layers.Dropout(
                    dropout,
                    seed=_derived_seed(self.seed, "dropout", k),
                    name=f"dropout_{k}",
                )(h)
        outputs = keras.layers.Dense(
            n_classes,
            activation=head_activation,
            kernel_initializer=_seeded_initializer(
                self.kernel_initializer, _derived_seed(self.seed, "head", 0)
            ),
            name="head",
        )(h)
        frozen = [] if fine_tune else [layer.name for layer in self.hidden_layers]
        return _PartlyFrozenModel(
            inputs, outputs, frozen_layers=frozen, name="classifier"
        )

    def _epochs_per_layer(self, epochs_per_layer):
        count = len(self.hidden_units)
        if isinstance(epochs_per_layer, int) and not isinstance(epochs_per_layer, bool):
            values = [epochs_per_layer] * count
        else:
            try:
                values = list(epochs_per_layer)
            except TypeError:
                values = []
            if len(values) != count:
                values = []
        if not values or not all(
            isinstance(e, int) and not isinstance(e, bool) and e > 0 for e in values
        ):
            raise ValueError(
                "`epochs_per_layer` must be a positive integer or a list of "
                f"{count} positive integers (one per hidden layer). Received: "
                f"epochs_per_layer={epochs_per_layer!r}"
            )
        return values

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": keras.activations.serialize(self.activation),
                "output_activation": keras.activations.serialize(
                    self.output_activation
                ),
                "tied": self.tied,
                "corruption": keras.saving.serialize_keras_object(self.corruption),
                "code_regularizer": keras.regularizers.serialize(self.code_regularizer),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("corruption") is not None:
            config["corruption"] = keras.saving.deserialize_keras_object(
                config["corruption"]
            )
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_deepae")
class _PartlyFrozenModel(keras.Model):
    """A functional model in which some shared layers are frozen.

    The weights of the layers named in `frozen_layers` count as
    non-trainable in this model only (see `StackedAutoencoder.classifier`):
    their `trainable` flags, which the layers share with every model that
    holds them, are left alone.
    """

    def __init__(self, *args, frozen_layers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.frozen_layers = tuple(frozen_layers)

    def _frozen_ids(self):
        return {
            id(variable)
            for name in self.frozen_layers
            for variable in self.get_layer(name).weights
        }

    def _split(self, trainable):
        frozen = self._frozen_ids()
        return [v for v in trainable if id(v) not in frozen], [
            v for v in trainable if id(v) in frozen
        ]

    @property
    def trainable_weights(self):
        return self._split(super().trainable_weights)[0]

    @property
    def non_trainable_weights(self):
        frozen = self._split(super().trainable_weights)[1]
        return super().non_trainable_weights + frozen

    @property
    def trainable_variables(self):
        return self._split(super().trainable_variables)[0]

    @property
    def non_trainable_variables(self):
        frozen = self._split(super().trainable_variables)[1]
        return super().non_trainable_variables + frozen

    def get_config(self):
        config = super().get_config()
        config["frozen_layers"] = list(self.frozen_layers)
        return config


class _PretrainingCheckpoint:
    """The files that let `StackedAutoencoder.pretrain` resume after a kill.

    `progress.json` alone says how far the pretraining got: the number of
    finished layers and of finished epochs of the next layer, with the
    stack's config and input shape, checked on resume. It is replaced
    atomically, after the files it points to are complete:

    - `stack_<j>.weights.h5`: the stack's weights once j layers are
      finished (j = 0: the initial weights);
    - `layer_<k>/epoch_<e>/`: the state of the autoencoder of layer k after
      e epochs: its weights and its optimizer's (`model.save_weights`), and
      the states of its random generators (`random_state.npz`), which
      `save_weights` leaves out.

    Files that `progress.json` no longer points to are then deleted, so a
    kill at any moment leaves a consistent checkpoint.
    """

    def __init__(self, directory, stack):
        self.directory = directory
        self.stack = stack
        self.signature = json.loads(
            json.dumps(
                {
                    "config": _without_names(stack.get_config()),
                    "input_shape": list(stack._stack_input_shape[1:]),
                }
            )
        )
        self.finished_layers = 0
        self.epochs_done = 0

    def _path(self, *parts):
        return os.path.join(self.directory, *parts)

    def _write_progress(self):
        _write_json(
            self._path(PROGRESS_FILE),
            {
                **self.signature,
                "finished_layers": self.finished_layers,
                "layer": self.finished_layers + 1,
                "epoch": self.epochs_done,
            },
        )

    def _save_stack(self):
        partial = self._path("stack.partial.weights.h5")
        self.stack.save_weights(partial)
        os.replace(partial, self._path(f"stack_{self.finished_layers}.weights.h5"))

    def _clean(self):
        """Deletes the files that `progress.json` does not point to."""
        keep_stack = f"stack_{self.finished_layers}.weights.h5"
        current_layer = f"layer_{self.finished_layers + 1}"
        keep_epoch = f"epoch_{self.epochs_done}"
        for name in os.listdir(self.directory):
            path = self._path(name)
            if name.startswith("stack") and name != keep_stack:
                os.remove(path)
            elif name.startswith("layer_") and name != current_layer:
                shutil.rmtree(path, ignore_errors=True)
            elif name == current_layer:
                for epoch_dir in os.listdir(path):
                    if epoch_dir != keep_epoch:
                        shutil.rmtree(os.path.join(path, epoch_dir), ignore_errors=True)

    def restore_stack(self):
        """Loads the stack's weights; returns the number of finished layers."""
        os.makedirs(self.directory, exist_ok=True)
        progress_path = self._path(PROGRESS_FILE)
        if not os.path.exists(progress_path):
            # A new pretraining: keep the initial weights, so that a resumed
            # run starts the layers above from the same ones.
            self._save_stack()
            self._write_progress()
            return 0
        with open(progress_path, encoding="utf-8") as file:
            progress = json.load(file)
        if {key: progress.get(key) for key in self.signature} != self.signature:
            raise ValueError(
                "`checkpoint_dir` holds the pretraining of a different stack "
                "(another configuration or input shape); use a new directory. "
                f"Received: checkpoint_dir={self.directory!r}"
            )
        self.finished_layers = progress["finished_layers"]
        self.epochs_done = progress["epoch"]
        self.stack.load_weights(self._path(f"stack_{self.finished_layers}.weights.h5"))
        self._clean()
        return self.finished_layers

    def save_layer(self, model, k, epochs_done):
        """Saves the state of layer k's autoencoder after `epochs_done` epochs."""
        state_dir = self._path(f"layer_{k}", f"epoch_{epochs_done}")
        shutil.rmtree(state_dir, ignore_errors=True)
        os.makedirs(state_dir)
        model.save_weights(os.path.join(state_dir, "state.weights.h5"))
        np.savez(
            os.path.join(state_dir, "random_state.npz"),
            *[ops.convert_to_numpy(v.value) for v in _random_states(model)],
        )
        self.epochs_done = epochs_done
        self._write_progress()
        self._clean()

    def restore_layer(self, model, k):
        """Restores layer k's (compiled) autoencoder to the saved epoch."""
        state_dir = self._path(f"layer_{k}", f"epoch_{self.epochs_done}")
        model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(state_dir, "state.weights.h5"))
        with np.load(os.path.join(state_dir, "random_state.npz")) as saved:
            for i, variable in enumerate(_random_states(model)):
                variable.assign(saved[f"arr_{i}"])

    def finish_layer(self, k):
        """Records that layer k is finished, with the stack's weights."""
        self.finished_layers = k
        self.epochs_done = 0
        self._save_stack()
        self._write_progress()
        self._clean()


class _SaveEachEpoch(keras.callbacks.Callback):
    """Saves the state of layer k's autoencoder at the end of each epoch."""

    def __init__(self, checkpoint, k):
        super().__init__()
        self.checkpoint = checkpoint
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoint.save_layer(self.model, self.k, epoch + 1)


def _random_states(model):
    """The variables of `model`'s layers that are not weights (noise seeds)."""
    weights = {id(w) for w in model.weights}
    return [
        variable
        for layer in model.layers
        for variable in layer.variables
        if id(variable) not in weights
    ]


class _CodePenalty(keras.layers.Layer):
    """Identity on codes that adds the code regularizer's penalty to the loss.

    A stateless regularizer is the layer's activity regularizer, as on a
    `Dense` layer. A `TargetSparsity` with a `momentum` keeps its running
    estimate of the mean code in two non-trainable weights of this layer,
    updated in training only, as `keras_deepae.models.Autoencoder` does.
    """

    def __init__(self, regularizer, **kwargs):
        running = (
            isinstance(regularizer, TargetSparsity) and regularizer.momentum is not None
        )
        super().__init__(
            activity_regularizer=None if running else regularizer, **kwargs
        )
        self.regularizer = regularizer
        self.running = running

    def build(self, input_shape):
        if self.running:
            self.code_mean_estimate = self.add_weight(
                name="code_mean_estimate",
                shape=tuple(input_shape[1:]),
                initializer="zeros",
                trainable=False,
            )
            self.code_mean_steps = self.add_weight(
                name="code_mean_steps", shape=(), initializer="zeros", trainable=False
            )

    def call(self, inputs, training=None):
        if self.running:
            penalty, estimate, steps = self.regularizer.running_penalty(
                inputs, self.code_mean_estimate, self.code_mean_steps
            )
            self.add_loss(penalty)
            if training:
                self.code_mean_estimate.assign(estimate)
                self.code_mean_steps.assign(steps)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class _EpochBatches(keras.utils.PyDataset):
    """Batches `(x, x)` of the rows of `inputs`, in a new order each epoch.

    The order of epoch e is a permutation drawn from a seed derived from
    `seed` and e alone, so that training resumed at epoch e sees the same
    batches as training that never stopped. `set_epoch` is called by the
    `_EpochOrder` callback at the start of each epoch.
    """

    def __init__(self, inputs, batch_size, seed=None):
        super().__init__()
        self.inputs = inputs
        self.batch_size = batch_size
        self.seed = seed
        self._generator = keras.random.SeedGenerator(None) if seed is None else None
        self.set_epoch(0)

    def set_epoch(self, epoch):
        if self.seed is None:
            seed = self._generator
        else:
            seed = (self.seed + 7919 * (epoch + 1)) % (2**31 - 1)
        indices = keras.random.shuffle(ops.arange(len(self.inputs)), seed=seed)
        self.order = ops.convert_to_numpy(indices)

    def __len__(self):
        return math.ceil(len(self.inputs) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.inputs[rows]
        return batch, batch


class _EpochOrder(keras.callbacks.Callback):
    """Tells an `_EpochBatches` which epoch starts (also after a resume)."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)


def _check_inputs(x):
    try:
        array = np.asarray(x, dtype="float32")
    except (TypeError, ValueError):
        raise ValueError(
            f"`x` must be an array of numbers. Received: x of type {type(x)}"
        ) from None
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(
            "`x` must be an array of shape (N, ...) with at least one example "
            f"and one feature. Received: x.shape={array.shape}"
        )
    return array


def _predict_with(layer, inputs, batch_size):
    """The outputs of one layer on an array, as `predict` gives them."""
    tensor = keras.Input(inputs.shape[1:])
    model = keras.Model(tensor, layer(tensor))
    return model.predict(inputs, batch_size=batch_size, verbose=0)


def _get_activation(name, value):
    try:
        return keras.activations.get(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be an activation function or its name. "
            f"Received: {name}={value!r}"
        ) from None


def _derived_seed(seed, role, index):
    """A seed for one random part of the stack, or None without a `seed`."""
    if seed is None:
        return None
    return (seed * 1_000_003 + _SEED_ROLES[role] * 10_007 + index) % (2**31 - 1)


def _seeded_initializer(initializer, seed):
    """A new copy of `initializer`, with `seed` when it takes one."""
    config = keras.initializers.serialize(initializer)
    if seed is not None and "seed" in config.get("config", {}):
        config["config"]["seed"] = seed
    return keras.initializers.deserialize(config)


def _fresh_optimizer(optimizer):
    """A new optimizer, with no state, from an instance, a name or a config."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    try:
        return keras.optimizers.get(optimizer)
    except (TypeError, ValueError):
        raise ValueError(
            "`optimizer` must be a Keras optimizer, its name or its config. "
            f"Received: optimizer={optimizer!r}"
        ) from None


def _write_json(path, content):
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=1)
    os.replace(partial, path)


def _without_names(config):
    """`config` without the `name` entries, which Keras numbers per session.

    Two stacks built alike get different automatic names (for example
    `corruption_layer` and `corruption_layer_1`), yet describe the same
    pretraining.
    """
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_without_names(v) for v in config]
    return config
