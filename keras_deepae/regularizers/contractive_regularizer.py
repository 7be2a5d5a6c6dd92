import inspect

import keras
from keras import ops

from keras_deepae.regularizers import _autodiff
from keras_deepae.regularizers._arguments import check_number

METHODS = ("auto", "closed_form", "jacobian")


@keras.saving.register_keras_serializable(package="keras_deepae")
class ContractiveRegularizer(keras.layers.Wrapper):
    """Wraps an encoder and adds the contractive penalty λ·mean ‖J_f(x)‖²_F.

    The contractive autoencoder penalises the sensitivity of its code
    h = f(x) to the input: for each example, the squared Frobenius norm of
    the Jacobian J = ∂h/∂x, Σ_ij (∂h_j/∂x_i)², averaged over the batch and
    multiplied by `weight` (λ). A Keras regularizer only sees a layer's
    output, and the penalty needs the input and the weights too, so it is a
    wrapper layer: `ContractiveRegularizer(encoder)` returns what `encoder`
    returns and adds the penalty to its losses at every call (so to
    `model.losses`, once, in training and in evaluation). `predict` pays for
    it too: predict with the wrapped layer where that matters.

    Two exact methods, both on the live weights, with gradients reaching
    every kernel and bias, and a cost linear in the batch size:

    - closed form, for a `Dense` layer (possibly after `Flatten` or
      `Reshape` layers in a `keras.Sequential`) with an element-wise
      activation s: h = s(xW + b) gives ‖J‖²_F = Σ_j s′(a_j)² Σ_i W_ij²,
      with a = xW + b. s′ is written out for `linear`, `sigmoid`
      (s′ = h(1 − h)), `tanh`, `relu`, `softplus`, `elu` and `silu`; for any
      other element-wise activation, including your own functions, it comes
      from the backend's automatic differentiation. A `Dense` on inputs of
      rank > 2 acts on each position separately; the norm sums over all.
    - Jacobian, for any differentiable encoder (several layers,
      convolutions): the per-example Jacobians from one vector-Jacobian
      product per code element, each over the whole batch at once, with the
      backend's automatic differentiation (TensorFlow, JAX or PyTorch). It
      assumes the encoder treats examples independently, and takes the
      Jacobian of the encoder in inference mode (dropout off, batch
      normalization on its moving statistics). Memory grows with batch ×
      code size × input size.

    `method="auto"` takes the closed form where it applies and the Jacobian
    otherwise. A custom activation is assumed element-wise; if it is not
    (it mixes the units, like `softmax`), pass `method="jacobian"`.

    Scaling: the penalty is a mean over examples, so it does not change with
    the batch size; it is a sum over code units and inputs, so it grows with
    both.

    Args:
        layer: the encoder, a built or unbuilt Keras layer or model mapping
            a batch of inputs to a batch of codes.
        weight: λ, the weight of the penalty, a finite number >= 0 (0 adds
            nothing).
        method: `"auto"`, `"closed_form"` (an error unless the encoder is a
            `Dense` as above) or `"jacobian"`.
        **kwargs: base layer arguments (`name`, ...).

    Call arguments:
        inputs: the encoder's inputs.
        training: passed on to the encoder.

    Input shape:
        That of the encoder.

    Output shape:
        That of the encoder.

    Reference:
        - [Rifai et al., 2011](https://icml.cc/2011/papers/455_icmlpaper.pdf),
          equations 1-3 (equation 3 is the closed form for sigmoid units).

    Example:

    >>> x = keras.Input((784,))
    >>> encoder = ContractiveRegularizer(
    ...     keras.layers.Dense(64, activation="sigmoid"), weight=0.1
    ... )
    >>> outputs = keras.layers.Dense(784, activation="sigmoid")(encoder(x))
    >>> model = keras.Model(x, outputs)  # the penalty joins `model.losses`
    """

    def __init__(self, layer, weight=0.1, method="auto", **kwargs):
        super().__init__(layer, **kwargs)
        self.weight = check_number("weight", weight, low=0)
        if method not in METHODS:
            raise ValueError(
                f"`method` must be one of {METHODS}. Received: method={method!r}"
            )
        self.method = method

    def build(self, input_shape=None):
        super().build(input_shape)
        if self.method == "closed_form" and _dense_parts(self.layer) is None:
            raise ValueError(
                "method='closed_form' needs a `Dense` layer with an element-wise "
                "activation (possibly after Flatten or Reshape layers in a "
                f"Sequential). Received: layer={self.layer.name!r} of type "
                f"{type(self.layer).__name__}; use method='jacobian'."
            )

    def call(self, inputs, training=None):
        outputs = self.layer(inputs, training=training)
        if self.weight > 0:
            self.add_loss(self.penalty(inputs, outputs=outputs))
        return outputs

    def penalty(self, inputs, outputs=None):
        """λ × the mean over the batch of ‖J_f(x)‖²_F, a scalar tensor.

        `outputs`, the layer's outputs for `inputs` if already computed, lets
        the closed form take s′ from h instead of computing Wx + b again.
        """
        norms = squared_jacobian_norms(
            self.layer, inputs, method=self.method, outputs=outputs
        )
        return ops.multiply(self.weight, ops.mean(ops.cast(norms, self.variable_dtype)))

    def jacobian_norms(self, inputs):
        """‖J_f(x)‖²_F for each example of `inputs`, shape `(batch,)`."""
        return squared_jacobian_norms(self.layer, inputs, method=self.method)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, training=None):
        return self.layer.compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"weight": self.weight, "method": self.method})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # `Wrapper.from_config` pops "layer" from the dict it is given.
        return super().from_config(dict(config), custom_objects=custom_objects)


def squared_jacobian_norms(layer, inputs, method="auto", outputs=None):
    """‖∂layer(x)_b/∂x_b‖²_F for each example b of `inputs`, shape `(batch,)`.

    The function `ContractiveRegularizer` (and the `Autoencoder`) use; see
    that class for `method`. `layer` must be built. `outputs`, if given, must
    be `layer(inputs)`: for the usual activations the closed form then reads
    s′ off h (sigmoid: h(1 − h), tanh: 1 − h², ...) and skips a second
    product with the kernel.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: {method!r}")
    inputs = ops.convert_to_tensor(inputs)
    parts = None if method == "jacobian" else _dense_parts(layer)
    if parts is not None:
        return _closed_form_norms(*parts, inputs, outputs)
    if method == "closed_form":
        raise ValueError(
            "method='closed_form' needs a `Dense` layer with an element-wise "
            f"activation. Received: layer={layer.name!r}"
        )
    return _jacobian_norms(layer, inputs)


_NOT_ELEMENTWISE = tuple(
    getattr(keras.activations, name)
    for name in ("softmax", "log_softmax", "glu", "sparsemax")
    if hasattr(keras.activations, name)
)
_RESHAPING = (keras.layers.Flatten, keras.layers.Reshape)


def _is_plain_dense(layer):
    return (
        isinstance(layer, keras.layers.Dense)
        and type(layer).call is keras.layers.Dense.call
        and getattr(layer, "quantization_mode", None) is None
        and not any(layer.activation is fn for fn in _NOT_ELEMENTWISE)
    )


def _dense_parts(layer):
    """(reshaping layers, Dense) when the closed form applies, else None."""
    if _is_plain_dense(layer):
        return [], layer
    if isinstance(layer, keras.Sequential) and layer.layers:
        *first, last = layer.layers
        if _is_plain_dense(last) and all(isinstance(r, _RESHAPING) for r in first):
            return first, last
    return None


def _penalty_dtype(dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def _known_slope(activation, pre):
    """s′(pre) for the activations with a short closed form, else None."""
    act = keras.activations
    if activation is act.linear:
        return ops.ones_like(pre)
    if activation is act.sigmoid:
        s = ops.sigmoid(pre)
        return ops.multiply(s, ops.subtract(1.0, s))
    if activation is act.tanh:
        return ops.subtract(1.0, ops.square(ops.tanh(pre)))
    if activation is act.relu:
        return ops.cast(ops.greater(pre, 0), pre.dtype)
    if activation is act.softplus:
        return ops.sigmoid(pre)
    if activation is act.elu:
        return ops.where(ops.greater(pre, 0), ops.ones_like(pre), ops.exp(pre))
    if activation is act.silu:
        s = ops.sigmoid(pre)
        return ops.multiply(s, ops.add(1.0, ops.multiply(pre, ops.subtract(1.0, s))))
    return None


def _slope_from_output(activation, h):
    """s′ written as a function of h = s(a), for the usual activations."""
    act = keras.activations
    if activation is act.linear:
        return ops.ones_like(h)
    if activation is act.sigmoid:
        return ops.multiply(h, ops.subtract(1.0, h))
    if activation is act.tanh:
        return ops.subtract(1.0, ops.square(h))
    if activation is act.relu:
        return ops.cast(ops.greater(h, 0), h.dtype)
    if activation is act.softplus:
        # s′(a) = σ(a) = 1 − exp(−softplus(a)).
        return ops.negative(ops.expm1(ops.negative(h)))
    return None


def _closed_form_norms(reshaping_layers, dense, inputs, outputs=None):
    dtype = _penalty_dtype(dense.compute_dtype)
    kernel = ops.cast(dense.kernel, dtype)
    slope = None
    if outputs is not None:
        slope = _slope_from_output(dense.activation, ops.cast(outputs, dtype))
    if slope is None:
        x = inputs
        for layer in reshaping_layers:
            x = layer(x)
        pre = ops.matmul(ops.cast(x, dtype), kernel)
        if dense.use_bias:
            pre = ops.add(pre, ops.cast(dense.bias, dtype))
        slope = _known_slope(dense.activation, pre)
        if slope is None:
            slope = _autodiff.elementwise_derivative(dense.activation, pre)
    column_norms = ops.sum(ops.square(kernel), axis=0)
    terms = ops.multiply(ops.square(slope), column_norms)
    return ops.sum(terms, axis=tuple(range(1, len(terms.shape))))


def _takes_training(layer):
    return "training" in inspect.signature(layer.call).parameters


def _jacobian_norms(layer, inputs):
    # The weights are read now, from the live variables (inside a training
    # step, the values being differentiated), and passed to a stateless call:
    # the encoder's own losses and state updates stay out of the penalty.
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    kwargs = {"training": False} if _takes_training(layer) else {}

    def forward(x):
        outputs, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
        return outputs

    x = inputs
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return _autodiff.squared_jacobian_norms(forward, x)
