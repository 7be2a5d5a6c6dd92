"""The standard checks every layer of the library goes through.

`check_layer` builds a layer from a factory and checks, in order: the
symbolic call and `compute_output_shape`, the eager call, the weight counts,
the config round trip, a `.keras` save and reload with identical outputs
(with `safe_mode` on and off) and one `fit` step that moves the trainable
weights.
"""

import os

import keras
import numpy as np


def check_layer(
    make_layer,
    input_shape,
    expected_output_shape,
    expected_num_weights,
    expected_num_trainable_weights,
    tmp_path,
    call_kwargs=None,
    input_data=None,
    num_unused_trainable_weights=0,
):
    """Runs the standard checks on the layer returned by `make_layer()`.

    `input_shape` and `expected_output_shape` include the batch size, which
    is also the size of the generated test batch. Every trainable weight must
    move in the `fit` step except `num_unused_trainable_weights` of them
    (weights the layer tracks but does not use, such as the bias of the
    layer a `TiedDense` is tied to).
    """
    call_kwargs = call_kwargs or {}
    rng = np.random.default_rng(0)
    if input_data is None:
        input_data = rng.uniform(0.05, 0.95, size=input_shape).astype("float32")

    # Symbolic call and declared output shape.
    layer = make_layer()
    inputs = keras.Input(shape=input_shape[1:], batch_size=None)
    outputs = layer(inputs, **call_kwargs)
    assert tuple(outputs.shape[1:]) == tuple(expected_output_shape[1:])
    declared = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    assert tuple(declared[1:]) == tuple(expected_output_shape[1:])

    # Eager call.
    eager = keras.ops.convert_to_numpy(make_layer()(input_data, **call_kwargs))
    assert eager.shape == tuple(expected_output_shape)
    assert np.all(np.isfinite(eager))

    # Weight counts.
    assert len(layer.weights) == expected_num_weights
    assert len(layer.trainable_weights) == expected_num_trainable_weights

    # Config round trip: every argument survives.
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config

    # `.keras` save and reload, with and without safe mode.
    model = keras.Model(inputs, outputs)
    expected = model.predict(input_data, verbose=0)
    path = os.path.join(str(tmp_path), f"{layer.name}.keras")
    model.save(path)
    for safe_mode in (True, False):
        reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
        np.testing.assert_allclose(
            reloaded.predict(input_data, verbose=0), expected, rtol=1e-6, atol=1e-6
        )
        assert len(reloaded.weights) == len(model.weights)

    # One training step moves the trainable weights.
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    target = rng.uniform(size=expected_output_shape).astype("float32")
    model.fit(input_data, target, epochs=1, batch_size=len(input_data), verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    moved = sum(not np.array_equal(b, a) for b, a in zip(before, after))
    assert moved == len(before) - num_unused_trainable_weights

    return model
