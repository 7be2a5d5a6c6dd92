"""Training under `tf.distribute.MirroredStrategy` matches one device.

TensorFlow fixes its logical devices when it first starts, so the two-device
run happens in a fresh subprocess that splits the CPU in two.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from keras_deepae.layers import CorruptionLayer, TiedDense
    from keras_deepae.regularizers import ActivityL1

    def build(noise):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((20,))
        x = CorruptionLayer("mask", 0.25, seed=1)(inputs) if noise else inputs
        encoder = keras.layers.Dense(
            8, activation="sigmoid", activity_regularizer=ActivityL1(0.05)
        )
        model = keras.Model(inputs, TiedDense(encoder, activation="sigmoid")(
            encoder(x)))
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        return model

    x = np.random.default_rng(0).uniform(size=(256, 20)).astype("float32")
    results = {}
    for name, strategy in [
        ("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
        ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
    ]:
        for noise in (False, True):
            with strategy.scope():
                model = build(noise)
            model.fit(x, x, epochs=3, batch_size=64, shuffle=False, verbose=0)
            results[f"{name}/{noise}"] = {
                "replicas": strategy.num_replicas_in_sync,
                "weights": [w.numpy().tolist() for w in model.weights],
                "loss": float(model.evaluate(x, x, batch_size=64, verbose=0)),
            }
    print("RESULT " + json.dumps(results))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.distribute strategies need the TensorFlow backend",
)
def test_mirrored_strategy_matches_one_device():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    results = json.loads(line.removeprefix("RESULT "))
    assert results["mirrored/False"]["replicas"] == 2
    # Without noise the two runs compute the same gradients: the mean loss of
    # the global batch, split over two replicas and summed back, including
    # the activity penalty of the code.
    import numpy as np

    for one, mirrored in zip(
        results["one/False"]["weights"], results["mirrored/False"]["weights"]
    ):
        np.testing.assert_allclose(mirrored, one, rtol=1e-4, atol=1e-5)
    # With masking noise each replica draws its own masks, so the runs differ
    # in their noise only: the clean loss after training agrees closely.
    one_loss = results["one/True"]["loss"]
    mirrored_loss = results["mirrored/True"]["loss"]
    assert abs(mirrored_loss - one_loss) < 0.05 * one_loss
    # And the tied kernel is one variable under the strategy too.
    assert len(results["mirrored/True"]["weights"]) == 3
