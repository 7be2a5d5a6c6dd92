"""Makes an activity regularizer's loss term independent of the Keras release.

A layer adds `activity_regularizer(outputs)` to its losses. Keras 3.13 and
earlier add the value as it is returned; Keras 3.14 and later divide it by
the batch size first (keras-team/keras#22021). The activity regularizers of
this package define their penalty as a mean over the batch, and want that
penalty, exactly, to be the loss term on every release. So they ask once,
with a tiny probe layer, what the running Keras does to the returned value,
and hand Keras the value that it turns into the penalty.
"""

import functools

import keras
from keras import ops

_PROBE_BATCH_SIZE = 4


def _unit_penalty(outputs):
    return ops.sum(ops.ones_like(outputs[:1, :1]))


@functools.cache
def keras_divides_by_batch_size():
    """Whether the running Keras divides activity penalties by the batch size.

    Found once per process by calling a probe layer, whose activity
    regularizer returns 1, on a batch of four: its recorded loss is 1 or
    1/4. Must first be called outside of a traced function (the regularizers
    call it from their constructor).
    """
    probe = keras.layers.Identity(
        activity_regularizer=_unit_penalty, name="keras_deepae_activity_probe"
    )
    probe(ops.zeros((_PROBE_BATCH_SIZE, 1)))
    recorded = float(ops.convert_to_numpy(probe.losses[0]))
    if abs(recorded - 1.0) < 1e-6:
        return False
    if abs(recorded - 1.0 / _PROBE_BATCH_SIZE) < 1e-6:
        return True
    raise RuntimeError(
        "keras_deepae does not know how this Keras release "
        f"({keras.version()}) scales activity-regularizer losses: a penalty "
        f"of 1 on a batch of {_PROBE_BATCH_SIZE} was recorded as {recorded}."
    )


def as_activity_loss(penalty, outputs):
    """The value to return to Keras so that its loss term equals `penalty`.

    Keras divides by the batch size only for outputs with a batch axis, and
    uses the size of that axis: the same is undone here.
    """
    if not keras_divides_by_batch_size() or len(outputs.shape) == 0:
        return penalty
    batch_size = ops.cast(ops.shape(outputs)[0], penalty.dtype)
    return ops.multiply(penalty, batch_size)


def keras_activity_loss(regularizer, outputs):
    """The loss term Keras records for `regularizer` as an activity regularizer.

    For a layer that adds an activity penalty itself with `add_loss`: the
    value of `regularizer(outputs)`, divided by the batch size where the
    running Keras does so. For the regularizers of this package, it is their
    `penalty(outputs)`.
    """
    loss = ops.convert_to_tensor(regularizer(outputs))
    if not keras_divides_by_batch_size() or len(outputs.shape) == 0:
        return loss
    batch_size = ops.cast(ops.shape(outputs)[0], loss.dtype)
    return ops.divide_no_nan(loss, batch_size)
