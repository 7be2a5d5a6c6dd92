import math

import keras
from keras import ops

ALPHA_CONVENTIONS = ("paper", "caffe")
DATA_FORMATS = ("channels_last", "channels_first")


@keras.saving.register_keras_serializable(package="keras_deepae")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels, as in AlexNet.

    Each activation is divided by a power of the energy of its neighbours
    along the channel axis, at the same position:

        b_c = a_c / (k + alpha' * sum_{c'} a_{c'}^2) ** beta

    where c' runs over the `size` adjacent channels centred on c (from
    c - (size - 1) / 2 to c + (size - 1) / 2, clipped to the existing
    channels: the window is zero-padded at both ends). Strong responses
    thus damp their neighbours, a form of lateral inhibition. The layer has
    no weights.

    Two conventions for alpha' are in use, chosen by `alpha_convention`:

    - `"paper"` (the default): alpha' = alpha, the sum of squares is scaled
      by alpha itself, as written in Krizhevsky et al. (2012) and as
      `tf.nn.local_response_normalization` computes it (with
      `depth_radius=(size - 1) // 2`, `bias=k`).
    - `"caffe"`: alpha' = alpha / size, that is alpha scales the mean of the
      squares over the window. Caffe's LRN layer and
      `torch.nn.LocalResponseNorm` use this one. The same `alpha` therefore
      normalizes `size` times less than with `"paper"`; to reproduce a
      `"paper"` layer with `"caffe"`, multiply `alpha` by `size`.

    With the paper's values (the defaults: size 5, k 2, alpha 1e-4, beta
    0.75) and `"caffe"`, alpha' = 2e-5.

    The sum over the window is a product with a banded 0/1 matrix over the
    channel axis, so it is one matrix product for any `size`. Under a mixed
    precision policy the sum of squares, the power and the division are
    computed in float32 and the result is cast back to the compute dtype
    (squares of float16 activations overflow above 256).

    Args:
        size: number of adjacent channels in the window, a positive odd
            integer (n in the paper). 1 normalizes each channel by itself.
        k: additive constant, a number > 0. It keeps the denominator away
            from 0 where a window holds only zeros (as after a ReLU).
        alpha: scale of the sum of squares, a number >= 0. 0 makes the
            layer a constant scaling by k ** -beta.
        beta: exponent, a number >= 0.
        alpha_convention: `"paper"` or `"caffe"`, see above.
        data_format: `"channels_last"` or `"channels_first"`, where the
            channel axis is. Defaults to `keras.config.image_data_format()`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of rank >= 2 whose channel axis is the last one
            (`"channels_last"`) or axis 1 (`"channels_first"`).

    Input shape:
        Any tensor of rank >= 2, for example `(batch_size, height, width,
        channels)` with `"channels_last"`.

    Output shape:
        Same as the input.

    Reference:
        - [Krizhevsky et al., 2012](https://papers.nips.cc/paper/4824),
          section 3.3.

    Example:

    >>> layer = LocalResponseNormalization(size=3, k=1.0, alpha=1.0, beta=1.0)
    >>> x = np.array([[[[1.0, 2.0, 0.0]]]], "float32")  # one pixel, 3 channels
    >>> y = keras.ops.convert_to_numpy(layer(x))  # windows sum to 5, 5 and 4
    >>> [round(float(v), 4) for v in y.ravel()]  # 1/(1+5), 2/(1+5), 0/(1+4)
    [0.1667, 0.3333, 0.0]
    """

    def __init__(
        self,
        size=5,
        k=2.0,
        alpha=1e-4,
        beta=0.75,
        alpha_convention="paper",
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or size < 1
            or size % 2 == 0
        ):
            raise ValueError(
                "`size` must be a positive odd integer (the window is centred "
                f"on each channel). Received: size={size!r}"
            )
        _check_number("k", k, minimum=0.0, strict=True)
        _check_number("alpha", alpha, minimum=0.0)
        _check_number("beta", beta, minimum=0.0)
        if alpha_convention not in ALPHA_CONVENTIONS:
            raise ValueError(
                "`alpha_convention` must be one of "
                f"{', '.join(map(repr, ALPHA_CONVENTIONS))}. "
                f"Received: alpha_convention={alpha_convention!r}"
            )
        if data_format is None:
            data_format = keras.config.image_data_format()
        if data_format not in DATA_FORMATS:
            raise ValueError(
                "`data_format` must be one of "
                f"{', '.join(map(repr, DATA_FORMATS))} or None. "
                f"Received: data_format={data_format!r}"
            )
        self.size = size
        self.k = float(k)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.alpha_convention = alpha_convention
        self.data_format = data_format
        self.supports_masking = True

    @property
    def scaled_alpha(self):
        """alpha', the factor that multiplies the sum of squares."""
        if self.alpha_convention == "caffe":
            return self.alpha / self.size
        return self.alpha

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"LocalResponseNormalization {self.name!r} needs inputs of "
                "rank >= 2 (a batch axis and a channel axis). Received: "
                f"input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        # float16 squares overflow: work in float32 under mixed precision.
        work_dtype = self.compute_dtype
        if work_dtype in ("float16", "bfloat16"):
            work_dtype = "float32"
        x = ops.cast(inputs, work_dtype)
        channels_first = self.data_format == "channels_first" and len(x.shape) > 2
        if channels_first:
            x = ops.moveaxis(x, 1, -1)
        squares = ops.square(x)
        # window_sums[..., c] = sum of squares[..., c'] for |c - c'| <= radius,
        # computed as squares @ band with band[c', c] = 1 inside the window.
        radius = (self.size - 1) // 2
        channels = ops.shape(x)[-1]
        index = ops.arange(channels)
        distance = ops.abs(ops.expand_dims(index, 1) - ops.expand_dims(index, 0))
        band = ops.cast(ops.less_equal(distance, radius), work_dtype)
        window_sums = ops.matmul(squares, band)
        base = self.k + self.scaled_alpha * window_sums
        outputs = ops.multiply(x, _inverse_power(base, self.beta))
        if channels_first:
            outputs = ops.moveaxis(outputs, -1, 1)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "k": self.k,
                "alpha": self.alpha,
                "beta": self.beta,
                "alpha_convention": self.alpha_convention,
                "data_format": self.data_format,
            }
        )
        return config


def _inverse_power(base, beta):
    """`base ** -beta` for `base > 0`, with square roots for common betas."""
    # A general power is exp(-beta * log(base)), several times slower on CPU
    # than square roots; the paper's 0.75 is 1/2 + 1/4.
    if beta == 0.75:
        return ops.multiply(ops.rsqrt(base), ops.rsqrt(ops.sqrt(base)))
    if beta == 0.5:
        return ops.rsqrt(base)
    if beta == 1.0:
        return ops.reciprocal(base)
    return ops.power(base, -beta)


def _check_number(name, value, minimum, strict=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")
    too_small = value <= minimum if strict else value < minimum
    if too_small or math.isnan(value) or math.isinf(value):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(
            f"`{name}` must be a finite number {bound}. Received: {name}={value!r}"
        )
