import warnings

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_deepae")
class TiedDense(keras.layers.Layer):
    """Dense layer whose kernel is the transpose of another `Dense` layer's.

    `TiedDense` is the decoder half of an autoencoder with tied weights,
    W' = Wᵀ. It computes `activation(inputs @ transpose(W) + b')`, where `W`
    is the kernel of `tied_to`, read live at every call, and `b'` is a bias
    owned by this layer. The kernel is one variable shared by both layers:
    gradients from the encoder and from the decoder both update it, and a
    model that holds both counts it once in `count_params()`,
    `trainable_weights` and the saved file.

    The output size is the input size of `tied_to`, and the input size must
    equal `tied_to.units`.

    Saving a model to `.keras` and loading it back keeps the tie (Keras
    shares an object that occurs twice in one saved config). When a model is
    rebuilt from a config outside of `keras.saving.load_model`, for example
    by `keras.models.clone_model` or `keras.Model.from_config`, the layer
    ties itself again to the layer of the same name found upstream of its
    input; where there is none (a decoder used on its own), it keeps the
    restored copy of the tied layer as its own kernel.

    Args:
        tied_to: a `keras.layers.Dense` layer (or any layer with a 2-D
            `kernel`) whose kernel is shared. If it is not built yet, it must
            know its input size (it is built on first use of this layer).
        activation: activation function, or its name. `None` means linear.
        use_bias: whether the layer owns and adds a bias `b'`.
        bias_initializer: initializer of the bias.
        bias_regularizer: regularizer of the bias.
        bias_constraint: constraint of the bias.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of shape `(..., tied_to.units)`.

    Input shape:
        N-D tensor with shape `(batch_size, ..., tied_to.units)`.

    Output shape:
        N-D tensor with shape `(batch_size, ..., input_dim)` where
        `input_dim` is the size of the inputs of `tied_to`.

    Reference:
        - [Vincent et al., 2008](https://doi.org/10.1145/1390156.1390294),
          section 2.2 (the optional constraint W' = Wᵀ).

    Example:

    >>> x = keras.Input((784,))
    >>> encoder = keras.layers.Dense(64, activation="sigmoid")
    >>> decoder = TiedDense(encoder, activation="sigmoid")
    >>> model = keras.Model(x, decoder(encoder(x)))
    >>> model.count_params()  # 784*64 (shared) + 64 + 784
    51024
    """

    def __init__(
        self,
        tied_to,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        bias_constraint=None,
        **kwargs,
    ):
        # Set by `from_config` when the tied layer has to be found again.
        pending_config = kwargs.pop("_pending_tied_config", None)
        super().__init__(**kwargs)
        if pending_config is None:
            _check_tied_to(tied_to)
            self.tied_to = tied_to
        # A plain attribute, so that Keras does not track the dict.
        object.__setattr__(self, "_pending_tied_config", pending_config)
        if not isinstance(use_bias, bool):
            raise ValueError(
                f"`use_bias` must be True or False. Received: use_bias={use_bias!r}"
            )
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.supports_masking = True

    @property
    def kernel(self):
        """The shared kernel, of shape `(input_dim, units)` of `tied_to`."""
        return self.tied_to.kernel

    def _ensure_tied_built(self):
        if self.tied_to.built:
            kernel = self.tied_to.kernel
            if len(kernel.shape) != 2:
                raise ValueError(
                    "`tied_to` must have a 2-D kernel. Received: tied_to="
                    f"{self.tied_to.name!r} with kernel shape {tuple(kernel.shape)}"
                )
            return
        raise ValueError(
            f"TiedDense {self.name!r} cannot know its output size: the layer "
            f"it is tied to, tied_to={self.tied_to.name!r}, is not built yet. "
            "Call the encoder layer on an input (or call "
            "`tied_to.build(input_shape)`) before calling the decoder."
        )

    def _resolve_tie(self, inputs=None):
        """Ties a layer restored by `from_config` outside of `load_model`.

        Outside of `keras.saving.load_model` (for example in
        `keras.models.clone_model` or `keras.Model.from_config`) the tied
        layer is not shared by the saved config. The layer of the same name
        upstream of `inputs` is the one the tie was made with; where there is
        none, the decoder stands on its own and gets a new layer from the
        saved config, which it then owns.
        """
        config = self._pending_tied_config
        if config is None:
            return
        object.__setattr__(self, "_pending_tied_config", None)
        target = config.get("config", {}).get("name")
        found = _find_upstream(inputs, target) if target else None
        if found is None:
            found = keras.saving.deserialize_keras_object(config)
            warnings.warn(
                f"TiedDense {self.name!r} was rebuilt from its config without "
                f"the layer it was tied to, {target!r}, upstream of its input: "
                "it now owns a new copy of that layer's kernel. That is right "
                "for a decoder used on its own; if the model also holds "
                f"{target!r} (in another sub-model, say), the two are no "
                "longer tied. Keep the encoder layer and TiedDense in one "
                "functional graph, and use `model.save` and "
                "`keras.saving.load_model`, which keep the tie.",
                stacklevel=2,
            )
        _check_tied_to(found)
        self.tied_to = found

    def build(self, input_shape):
        self._resolve_tie()
        self._ensure_tied_built()
        units = self.tied_to.kernel.shape[1]
        if input_shape[-1] is not None and input_shape[-1] != units:
            raise ValueError(
                f"TiedDense {self.name!r} expects inputs whose last dimension "
                f"equals the units of tied_to={self.tied_to.name!r} ({units}). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.tied_to.kernel.shape[0],),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def __call__(self, inputs, *args, **kwargs):
        if self._pending_tied_config is not None:
            self._resolve_tie(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        kernel = ops.cast(self.tied_to.kernel, self.compute_dtype)
        outputs = ops.matmul(inputs, ops.transpose(kernel))
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, self.compute_dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        self._resolve_tie()
        self._ensure_tied_built()
        return tuple(input_shape[:-1]) + (self.tied_to.kernel.shape[0],)

    def get_config(self):
        config = super().get_config()
        tied_config = self._pending_tied_config
        if tied_config is None:
            tied_config = keras.saving.serialize_keras_object(self.tied_to)
        config.update(
            {
                "tied_to": tied_config,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config

    def _clear_losses(self):
        # Keras clears the losses of a layer and of all its sublayers when the
        # layer is the first one called in a forward pass, as the JAX trainer
        # calls each layer of a functional model. `tied_to` is tracked here
        # only so that a decoder standing alone owns its kernel: its losses
        # (an activity penalty on the code, say) belong to its own call, which
        # came before this one, and must survive.
        tied = getattr(self, "tied_to", None)
        if tied is None or tied not in self._layers:
            return super()._clear_losses()
        self._layers.remove(tied)
        try:
            super()._clear_losses()
        finally:
            self._layers.append(tied)

    def get_build_config(self):
        # The layer is built when first called, after its tie is resolved:
        # building it earlier from a saved build config would need the tied
        # layer before the model that holds it exists.
        return None

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        tied_config = config.pop("tied_to")
        if isinstance(tied_config, dict) and "shared_object_id" in tied_config:
            # Inside `keras.saving.load_model`: this is the very layer the
            # model holds (Keras shares objects seen twice in one config).
            tied_to = keras.saving.deserialize_keras_object(tied_config)
            return cls(tied_to=tied_to, **config)
        return cls(tied_to=None, _pending_tied_config=tied_config, **config)


def _check_tied_to(tied_to):
    if isinstance(tied_to, keras.layers.Dense):
        return
    kernel = getattr(tied_to, "kernel", None) if tied_to is not None else None
    if (
        isinstance(tied_to, keras.layers.Layer)
        and tied_to.built
        and len(getattr(kernel, "shape", ())) == 2
    ):
        return
    raise ValueError(
        "`tied_to` must be a Keras layer with a 2-D `kernel`, such as "
        f"`keras.layers.Dense`. Received: tied_to={tied_to!r}"
    )


def _find_upstream(tensor, name):
    """The layer called `name` in the graph that produced `tensor`, if any."""
    history = getattr(tensor, "_keras_history", None)
    stack = [history[0]] if history else []
    seen = set()
    while stack:
        operation = stack.pop()
        if id(operation) in seen:
            continue
        seen.add(id(operation))
        if operation.name == name and hasattr(operation, "kernel"):
            return operation
        for node in getattr(operation, "_inbound_nodes", []):
            for parent in node.input_tensors:
                parent_history = getattr(parent, "_keras_history", None)
                if parent_history:
                    stack.append(parent_history[0])
    return None
