import math

import keras
from keras import ops

from keras_deepae.layers import LocalResponseNormalization

# Filter counts of conv1 ... conv5 in the 2012 network, before `width`.
PAPER_FILTERS = (96, 256, 384, 384, 256)
# conv1 of each stem: (kernel size, stride, padding).
STEMS = {"paper": (11, 4, "valid"), "small": (5, 1, "same")}
GLOBAL_POOLINGS = {
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}
# Layers that the paper initializes with a bias of 1 (the others get 0).
PAPER_UNIT_BIASES = ("conv2", "conv4", "conv5", "fc6", "fc7")


def AlexNet(
    include_top=True,
    weights=None,
    input_shape=(227, 227, 3),
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    *,
    groups=2,
    lrn=True,
    dropout=0.5,
    paper_init=False,
    width=1.0,
    fc_units=4096,
    stem="paper",
    name="alexnet",
):
    """Builds AlexNet, the 2012 ImageNet network, or a scaled-down variant.

    With the defaults this is the network of Krizhevsky et al. (2012),
    60,965,224 parameters, layer by layer (output shapes for a 227×227×3
    input):

    | block       | layers                                          | output     |
    |-------------|-------------------------------------------------|------------|
    | 1           | `conv1` 96 @ 11×11 stride 4, ReLU; `lrn1`;      | 55×55×96   |
    |             | `pool1` max 3×3 stride 2                        | 27×27×96   |
    | 2           | `conv2` 256 @ 5×5 pad 2 in 2 groups, ReLU;      | 27×27×256  |
    |             | `lrn2`; `pool2`                                 | 13×13×256  |
    | 3           | `conv3` 384 @ 3×3 pad 1, ReLU                   | 13×13×384  |
    | 4           | `conv4` 384 @ 3×3 pad 1 in 2 groups, ReLU       | 13×13×384  |
    | 5           | `conv5` 256 @ 3×3 pad 1 in 2 groups, ReLU;      | 13×13×256  |
    |             | `pool5`                                         | 6×6×256    |
    | top         | `flatten`; `fc6` 4096, ReLU; `drop6`;           | 9216       |
    |             | `fc7` 4096, ReLU; `drop7`; `predictions`        | `classes`  |

    `lrn1`/`lrn2` are `keras_deepae.layers.LocalResponseNormalization` with
    the paper's n=5, k=2, α=1e-4, β=0.75. Pooling overlaps (3×3 windows,
    stride 2), and dropout acts on the outputs of `fc6` and `fc7`.

    The paper splits conv2, conv4 and conv5 in two groups, one per GPU: each
    half of the filters sees only half of the input channels. `groups=2`
    keeps that split (it is what gives 60,965,224 parameters; `groups=1`
    gives 62,378,344). A grouped layer holds one kernel of shape
    `(h, w, in_channels / groups, filters)`, as `keras.layers.Conv2D(...,
    groups=groups)` would, but computes one convolution per group on a
    slice of the channels and concatenates the results: that runs on every
    backend and device, and on CPU with TensorFlow a training step is
    several times faster than with the native grouped convolution.

    Input size: the paper's text says 224×224, but its layer sizes need
    227×227 (with 224, conv1 gives 54×54 instead of 55×55). 224 is accepted
    and gives 54×54, 26×26, 12×12 and 5×5×256 after pool5, so `fc6` has 6400
    inputs and the model 49,430,888 parameters. Any height and width of at
    least 67 pixels (the smallest one that leaves a 1×1 map after pool5)
    works; smaller inputs raise a `ValueError`.

    Small images: `stem="small"` replaces conv1 by a 5×5 convolution of
    stride 1 with "same" padding, so that 28×28 or 32×32 images keep enough
    resolution (28 → 13 → 6 → 2 after the three poolings); its minimum size
    is 15 pixels. With `width` and `fc_units` it gives a network small
    enough to train on MNIST on a CPU, see the example below.

    Under a mixed precision policy (`keras.config.set_dtype_policy(
    "mixed_float16")`), `predictions` computes in float32, so the class
    scores are float32. No pretrained weights are shipped: `weights` must
    be `None`.

    Args:
        include_top: whether to add `flatten`, `fc6`, `drop6`, `fc7`,
            `drop7` and `predictions` on top of `pool5`. Needs a fully known
            `input_shape`.
        weights: must be `None` (random initialization).
        input_shape: shape of one image, `(height, width, channels)` (or
            `(channels, height, width)` when `keras.config.image_data_format()`
            is `"channels_first"`). Height and width may be `None` when
            `include_top=False`. `None` means `(None, None, 3)` and also
            needs `include_top=False`.
        pooling: when `include_top=False`, what to do with the output of
            `pool5`: `None` returns the 4-D feature map, `"avg"` and
            `"max"` add a global average or max pooling layer,
            `avg_pool` or `max_pool`. Must be `None` when
            `include_top=True`.
        classes: number of classes, a positive integer (used when
            `include_top=True`).
        classifier_activation: activation of `predictions`, a name, a
            callable or `None` (logits).
        groups: number of groups of conv2, conv4 and conv5, a positive
            integer that divides the filter counts of conv1 to conv5. 1 is
            a plain (ungrouped) network.
        lrn: whether to add the local response normalization layers `lrn1`
            and `lrn2`.
        dropout: dropout rate of `drop6` and `drop7`, in [0, 1).
        paper_init: whether to initialize as in the paper (section 5):
            every kernel from N(0, 0.01²), biases 1 in conv2, conv4, conv5,
            fc6 and fc7 and 0 elsewhere. `False` keeps Keras's defaults
            (Glorot uniform kernels, zero biases).
        width: multiplier of the filter counts of conv1 to conv5, a number
            > 0; each count is `round(width * count)`, at least 1.
        fc_units: units of `fc6` and `fc7`, a positive integer.
        stem: `"paper"` (conv1 11×11 stride 4, valid padding) or `"small"`
            (conv1 5×5 stride 1, same padding) for small images.
        name: name of the model.

    Returns:
        A functional `keras.Model`.

    Reference:
        - [Krizhevsky et al., 2012](https://papers.nips.cc/paper/4824),
          ImageNet Classification with Deep Convolutional Neural Networks.

    Example:

    >>> model = AlexNet()
    >>> model.count_params()
    60965224
    >>> model.get_layer("pool5").output.shape
    (None, 6, 6, 256)
    >>> digits = AlexNet(input_shape=(28, 28, 1), classes=10, stem="small",
    ...                  width=0.25, fc_units=256)
    >>> digits.get_layer("pool5").output.shape
    (None, 2, 2, 64)
    """
    data_format = keras.config.image_data_format()
    if weights is not None:
        raise ValueError(
            "`weights` must be None: keras_deepae ships no pretrained AlexNet "
            f"weights. Received: weights={weights!r}"
        )
    _check_bool("include_top", include_top)
    _check_bool("lrn", lrn)
    _check_bool("paper_init", paper_init)
    _check_positive_int("classes", classes)
    _check_positive_int("groups", groups)
    _check_positive_int("fc_units", fc_units)
    if pooling is not None and pooling not in GLOBAL_POOLINGS:
        raise ValueError(
            f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}"
        )
    if include_top and pooling is not None:
        raise ValueError(
            "`pooling` is only used when include_top=False (the top flattens "
            f"pool5). Received: pooling={pooling!r} with include_top=True"
        )
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0 <= dropout < 1
    ):
        raise ValueError(
            f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}"
        )
    if (
        isinstance(width, bool)
        or not isinstance(width, (int, float))
        or not 0 < width < math.inf
    ):
        raise ValueError(
            f"`width` must be a finite number > 0. Received: width={width!r}"
        )
    if stem not in STEMS:
        raise ValueError(
            f"`stem` must be one of {', '.join(map(repr, STEMS))}. "
            f"Received: stem={stem!r}"
        )
    if include_top and classifier_activation is not None:
        # Raises a ValueError for an unknown name.
        keras.activations.get(classifier_activation)
    filters = tuple(max(1, round(width * count)) for count in PAPER_FILTERS)
    if any(count % groups for count in filters):
        raise ValueError(
            "`groups` must divide the filter counts of conv1 to conv5 (the "
            "input and output channels of the grouped layers). Received: "
            f"groups={groups} with filter counts {filters} (width={width})"
        )
    input_shape = _standardize_input_shape(input_shape, include_top, stem, data_format)

    def kernel_initializer():
        if paper_init:
            return keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
        return "glorot_uniform"

    def bias_initializer(layer_name):
        if paper_init and layer_name in PAPER_UNIT_BIASES:
            return "ones"
        return "zeros"

    def conv(x, count, kernel_size, layer_name, strides=1, padding="same", group=1):
        layer_class = GroupedConv2D if group > 1 else keras.layers.Conv2D
        layer = layer_class(
            count,
            kernel_size,
            strides=strides,
            padding=padding,
            groups=group,
            activation="relu",
            kernel_initializer=kernel_initializer(),
            bias_initializer=bias_initializer(layer_name),
            data_format=data_format,
            name=layer_name,
        )
        return layer(x)

    def normalize(x, layer_name):
        if not lrn:
            return x
        layer = LocalResponseNormalization(
            size=5,
            k=2.0,
            alpha=1e-4,
            beta=0.75,
            data_format=data_format,
            name=layer_name,
        )
        return layer(x)

    def max_pool(x, layer_name):
        layer = keras.layers.MaxPooling2D(
            3, strides=2, data_format=data_format, name=layer_name
        )
        return layer(x)

    stem_kernel, stem_stride, stem_padding = STEMS[stem]
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv(inputs, filters[0], stem_kernel, "conv1", stem_stride, stem_padding)
    x = normalize(x, "lrn1")
    x = max_pool(x, "pool1")
    x = conv(x, filters[1], 5, "conv2", group=groups)
    x = normalize(x, "lrn2")
    x = max_pool(x, "pool2")
    x = conv(x, filters[2], 3, "conv3")
    x = conv(x, filters[3], 3, "conv4", group=groups)
    x = conv(x, filters[4], 3, "conv5", group=groups)
    x = max_pool(x, "pool5")

    if include_top:
        x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
        for block in (6, 7):
            x = keras.layers.Dense(
                fc_units,
                activation="relu",
                kernel_initializer=kernel_initializer(),
                bias_initializer=bias_initializer(f"fc{block}"),
                name=f"fc{block}",
            )(x)
            x = keras.layers.Dropout(dropout, name=f"drop{block}")(x)
        # Under mixed precision, the class scores are computed in float32.
        policy = keras.config.dtype_policy().name
        x = keras.layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_initializer=kernel_initializer(),
            bias_initializer=bias_initializer("predictions"),
            dtype="float32" if policy.startswith("mixed") else None,
            name="predictions",
        )(x)
    elif pooling is not None:
        global_pool = GLOBAL_POOLINGS[pooling]
        x = global_pool(data_format=data_format, name=f"{pooling}_pool")(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package="keras_deepae")
class GroupedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with `groups > 1`, computed group by group.

    An implementation detail of `AlexNet` (not exported by
    `keras_deepae.applications`), registered so that saved models load.

    Same kernel shape, weights, configuration and results as
    `keras.layers.Conv2D(..., groups=groups)`, but the convolution is done
    as `groups` ordinary convolutions on slices of the channels whose
    outputs are concatenated. Keras's TensorFlow backend compiles every
    grouped convolution with XLA (a workaround for TensorFlow versions whose
    CPU kernels lacked them), which is correct but, on CPU, makes a training
    step several times slower than the split.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        channel_axis = -1 if self.data_format == "channels_last" else 1
        input_slices = ops.split(inputs, self.groups, axis=channel_axis)
        # The kernel is (h, w, in_channels / groups, filters); the filters of
        # group g are the g-th slice of its last axis.
        kernel_slices = ops.split(kernel, self.groups, axis=-1)
        outputs = [
            ops.conv(
                group_inputs,
                group_kernel,
                strides=list(self.strides),
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
            for group_inputs, group_kernel in zip(
                input_slices, kernel_slices, strict=True
            )
        ]
        return ops.concatenate(outputs, axis=channel_axis)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _output_size(size, kernel_size, stride, padding):
    if padding == "same":
        return -(-size // stride)
    return (size - kernel_size) // stride + 1


def _spatial_sizes(size, stem):
    """Side of the feature maps after conv1, pool1, pool2 and pool5."""
    kernel_size, stride, padding = STEMS[stem]
    conv1 = _output_size(size, kernel_size, stride, padding)
    pool1 = _output_size(conv1, 3, 2, "valid")
    pool2 = _output_size(pool1, 3, 2, "valid")
    pool5 = _output_size(pool2, 3, 2, "valid")
    return conv1, pool1, pool2, pool5


def _minimum_input_size(stem="paper"):
    """The smallest image side that leaves at least 1×1 after `pool5`."""
    if stem not in STEMS:
        raise ValueError(
            f"`stem` must be one of {', '.join(map(repr, STEMS))}. "
            f"Received: stem={stem!r}"
        )
    size = 1
    while min(_spatial_sizes(size, stem)) < 1:
        size += 1
    return size


def _standardize_input_shape(input_shape, include_top, stem, data_format):
    if input_shape is None:
        if include_top:
            raise ValueError(
                "include_top=True needs a fully known `input_shape` (the "
                "flattened pool5 feeds fc6). Received: input_shape=None"
            )
        input_shape = (None, None, 3)
        if data_format == "channels_first":
            input_shape = (3, None, None)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of 3 entries, (height, width, "
            "channels) or (channels, height, width) with channels_first. "
            f"Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(input_shape)
    if data_format == "channels_last":
        spatial, channels = input_shape[:2], input_shape[2]
    else:
        spatial, channels = input_shape[1:], input_shape[0]
    for value in input_shape:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                "The entries of `input_shape` must be positive integers or None. "
                f"Received: input_shape={input_shape!r}"
            )
    if channels is None:
        raise ValueError(
            "The number of channels in `input_shape` must be known. "
            f"Received: input_shape={input_shape!r}"
        )
    if include_top and None in spatial:
        raise ValueError(
            "include_top=True needs a fully known `input_shape` (the flattened "
            f"pool5 feeds fc6). Received: input_shape={input_shape!r}"
        )
    smallest = _minimum_input_size(stem)
    if any(side is not None and side < smallest for side in spatial):
        hint = " Use stem='small' for small images." if stem == "paper" else ""
        raise ValueError(
            f"Input height and width must be at least {smallest} with "
            f"stem={stem!r} (smaller images vanish before pool5).{hint} "
            f"Received: input_shape={input_shape!r}"
        )
    return input_shape
