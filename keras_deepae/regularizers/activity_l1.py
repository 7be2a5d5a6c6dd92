import keras
from keras import ops

from keras_deepae.regularizers._activity_scale import (
    as_activity_loss,
    keras_divides_by_batch_size,
)
from keras_deepae.regularizers._arguments import check_number


@keras.saving.register_keras_serializable(package="keras_deepae")
class ActivityL1(keras.regularizers.Regularizer):
    """L1 penalty on a layer's activations, averaged over the batch.

    Attached to a layer as its `activity_regularizer`, it adds to the loss

        l1 × (1/B) Σ_b Σ_units |h_b|,

    the sum of absolute activations of one example, averaged over the B
    examples of the batch. Pushing most activations of a code to zero makes a
    sparse code. Every element of a non-batch axis counts as a unit, so a
    feature map of shape `(B, H, W, C)` has H·W·C units.

    Scaling: the loss term does not change with the batch size (it is a mean
    over examples) and grows linearly with the number of units (it is a sum
    over units): a code twice as wide asks for half the `l1` to be penalised
    as much per unit.

    The term is exactly this penalty on every Keras 3 release. Keras 3.14
    started to divide an activity regularizer's value by the batch size,
    earlier releases did not: `ActivityL1` finds out once which one is
    running, and `__call__` returns the value that Keras turns into the
    penalty (the batch sum on Keras ≥ 3.14, the batch mean before). Use
    `penalty(h)` to compute the penalty itself, for instance with
    `add_loss` in a custom layer. It is meant for activations; for weights,
    use `keras.regularizers.L1`.

    Args:
        l1: the weight of the penalty, a finite number >= 0.

    Reference:
        - [Goodfellow, Bengio and Courville, 2016](
          https://www.deeplearningbook.org/contents/autoencoders.html),
          section 14.2.1 (sparse autoencoders).

    Example:

    >>> encoder = keras.layers.Dense(
    ...     64, activation="relu", activity_regularizer=ActivityL1(1e-3)
    ... )
    >>> h = encoder(keras.ops.ones((8, 784)))
    >>> len(encoder.losses)  # 1e-3 × mean over the 8 rows of Σ|h|
    1
    """

    def __init__(self, l1=0.01):
        self.l1 = check_number("l1", l1, low=0)
        keras_divides_by_batch_size()

    def penalty(self, x):
        """The loss term for activations `x`: l1 × mean over the batch of Σ|x|."""
        x = ops.convert_to_tensor(x)
        if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
            # Sums of many half-precision values overflow: accumulate in float32.
            x = ops.cast(x, "float32")
        total = ops.sum(ops.abs(x))
        if len(x.shape) == 0:
            return ops.multiply(self.l1, total)
        batch_size = ops.cast(ops.shape(x)[0], total.dtype)
        return ops.multiply(self.l1, ops.divide(total, batch_size))

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        return as_activity_loss(self.penalty(x), x)

    def get_config(self):
        return {"l1": self.l1}
