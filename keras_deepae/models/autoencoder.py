import keras
from keras import ops

from keras_deepae.layers.tied_dense import TiedDense
from keras_deepae.models._arguments import check_hidden_units, check_layer_arguments
from keras_deepae.regularizers._activity_scale import keras_activity_loss
from keras_deepae.regularizers._arguments import check_number
from keras_deepae.regularizers.contractive_regularizer import squared_jacobian_norms
from keras_deepae.regularizers.target_sparsity import TargetSparsity


@keras.saving.register_keras_serializable(package="keras_deepae")
class Autoencoder(keras.Model):
    """A fully connected autoencoder, optionally denoising and tied.

    The encoder maps an input x to a code h = f(x) through Dense layers of
    sizes `hidden_units`; the decoder maps it back to a reconstruction
    x' = g(h) of the input's shape, through the same sizes in reverse. With
    `tied=True` each decoder layer uses the transpose of its encoder layer's
    kernel (`TiedDense`), which halves the weights. With a `corruption`
    layer, the input is corrupted during training only, and the model learns
    to reconstruct the clean input: train with `fit(x, x)`.

    `compile(loss="auto")`, the default, picks the loss the lecture gives:
    binary cross-entropy when `output_activation="sigmoid"` (inputs in
    [0, 1], such as pixel intensities), squared error otherwise.

    Regularized autoencoders: `code_regularizer` is an activity regularizer
    of the code (a sparse autoencoder with
    `keras_deepae.regularizers.ActivityL1` or `TargetSparsity`). The model
    adds its loss term itself, scaled as Keras scales a layer's activity
    penalty, on the code it computes. A `TargetSparsity` with a `momentum` keeps
    its running estimate of the mean code in two non-trainable weights of
    the model, updated in training only. `contractive=λ` adds the
    contractive penalty λ × the mean over the batch of ‖∂h/∂x‖²_F, the
    squared Jacobian norm of the encoder (see
    `keras_deepae.regularizers.ContractiveRegularizer`), taken at the input
    the encoder sees (the corrupted one, with a `corruption`): in closed
    form with one hidden layer, through per-example Jacobians with several.
    Each penalty is counted once in `model.losses`, in training and in
    evaluation.

    Args:
        hidden_units: sizes of the encoder's Dense layers; the last one is
            the code size. An int means one hidden layer.
        activation: activation of the hidden layers, encoder and decoder.
        output_activation: activation of the reconstruction.
        tied: whether decoder kernels are the transposed encoder kernels.
        corruption: a `CorruptionLayer` applied to the input in training
            (a denoising autoencoder), or `None`.
        code_regularizer: an activity regularizer applied to the code, such
            as `keras_deepae.regularizers.ActivityL1`, or `None`.
        contractive: λ, the weight of the contractive penalty, a number
            >= 0, or `None` (no penalty).
        kernel_initializer: initializer of the encoder (and untied decoder)
            kernels.
        **kwargs: base model arguments (`name`, ...).

    Call arguments:
        inputs: a batch of inputs of any shape, batch first.
        training: whether corruption (and other training behaviour) is on.

    Reference:
        - [Bengio et al., 2007](https://papers.nips.cc/paper/3048) and
          [Vincent et al., 2008](https://doi.org/10.1145/1390156.1390294).

    Example:

    >>> model = Autoencoder(64, corruption=CorruptionLayer("mask", 0.25))
    >>> model.compile(optimizer="adam")
    >>> model.fit(x, x, epochs=5)  # doctest: +SKIP
    >>> codes = model.encode(x)  # doctest: +SKIP
    >>> contractive = Autoencoder(64, contractive=0.1)
    """

    def __init__(
        self,
        hidden_units=(128,),
        activation="sigmoid",
        output_activation="sigmoid",
        tied=True,
        corruption=None,
        code_regularizer=None,
        kernel_initializer="glorot_uniform",
        contractive=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden_units = check_hidden_units(hidden_units)
        check_layer_arguments(
            tied,
            corruption,
            code_regularizer,
            hint="; for the contractive penalty, pass `contractive=weight`",
        )
        if contractive is not None:
            contractive = check_number("contractive", contractive, low=0)
        self.hidden_units = hidden_units
        self.activation = keras.activations.get(activation)
        self.output_activation = keras.activations.get(output_activation)
        self.tied = tied
        self.corruption = corruption
        self.code_regularizer = keras.regularizers.get(code_regularizer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.contractive = contractive
        # A TargetSparsity with a running estimate needs state: the model
        # holds it (see `build`).
        self._hosts_sparsity = (
            isinstance(self.code_regularizer, TargetSparsity)
            and self.code_regularizer.momentum is not None
        )

        encoder_layers = [keras.layers.Flatten(name="flatten")]
        for i, units in enumerate(hidden_units):
            encoder_layers.append(
                keras.layers.Dense(
                    units,
                    activation=self.activation,
                    kernel_initializer=self.kernel_initializer,
                    name=f"encoder_dense_{i}",
                )
            )
        self.encoder = keras.Sequential(encoder_layers, name="encoder")
        self.decoder = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                "Autoencoder needs inputs whose non-batch dimensions are known. "
                f"Received: input_shape={input_shape}"
            )
        if self.corruption is not None:
            self.corruption.build(input_shape)
        self.encoder.build(input_shape)
        dense_layers = self.encoder.layers[1:]
        decoder_layers = []
        for i, dense in reversed(list(enumerate(dense_layers))):
            activation = self.output_activation if i == 0 else self.activation
            if self.tied:
                layer = TiedDense(dense, activation=activation, name=f"decoder_{i}")
            else:
                layer = keras.layers.Dense(
                    dense.kernel.shape[0],
                    activation=activation,
                    kernel_initializer=self.kernel_initializer,
                    name=f"decoder_{i}",
                )
            decoder_layers.append(layer)
        decoder_layers.append(keras.layers.Reshape(input_shape[1:], name="reshape"))
        self.decoder = keras.Sequential(decoder_layers, name="decoder")
        self.decoder.build((input_shape[0], self.hidden_units[-1]))
        if self._hosts_sparsity:
            self.code_mean_estimate = self.add_weight(
                name="code_mean_estimate",
                shape=(self.hidden_units[-1],),
                initializer="zeros",
                trainable=False,
            )
            self.code_mean_steps = self.add_weight(
                name="code_mean_steps", shape=(), initializer="zeros", trainable=False
            )

    def call(self, inputs, training=None):
        x = inputs
        if self.corruption is not None:
            x = self.corruption(x, training=training)
        codes = self.encoder(x, training=training)
        if self._hosts_sparsity:
            penalty, estimate, steps = self.code_regularizer.running_penalty(
                codes, self.code_mean_estimate, self.code_mean_steps
            )
            self.add_loss(penalty)
            if training:
                self.code_mean_estimate.assign(estimate)
                self.code_mean_steps.assign(steps)
        elif self.code_regularizer is not None:
            self.add_loss(keras_activity_loss(self.code_regularizer, codes))
        if self.contractive:
            norms = ops.cast(
                squared_jacobian_norms(self.encoder, x, outputs=codes),
                self.variable_dtype,
            )
            self.add_loss(ops.multiply(self.contractive, ops.mean(norms)))
        return self.decoder(codes, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compile(self, optimizer="adam", loss="auto", **kwargs):
        """Configures the model for training; `loss="auto"` follows the lecture.

        `"auto"` is binary cross-entropy for a sigmoid output (inputs in
        [0, 1]) and mean squared error otherwise. Every other argument is
        passed to `keras.Model.compile`.
        """
        if loss == "auto":
            sigmoid = keras.activations.get("sigmoid")
            loss = "binary_crossentropy" if self.output_activation is sigmoid else "mse"
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compile_from_config(self, config):
        # `compile` is overridden, so Keras leaves restoring it to the model.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def encode(self, x, batch_size=256):
        """Codes h = f(x) of a batch of inputs, as a NumPy array (no noise)."""
        if not self.built:
            # Build the whole model first: `predict` on the encoder alone
            # would fix its input shape to this batch's.
            self.build((None,) + tuple(keras.ops.shape(x)[1:]))
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)

    def decode(self, codes, batch_size=256):
        """Reconstructions g(h) of a batch of codes, as a NumPy array."""
        if self.decoder is None:
            raise ValueError(
                "The autoencoder is not built yet: call it on inputs, `fit` it, "
                "or call `build(input_shape)` before `decode`."
            )
        return self.decoder.predict(codes, batch_size=batch_size, verbose=0)

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
                "contractive": self.contractive,
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
