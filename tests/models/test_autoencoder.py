import os

import keras
import numpy as np
import pytest

from keras_deepae.layers import CorruptionLayer, TiedDense
from keras_deepae.models import Autoencoder


def blobs(n=256, d=20, seed=0):
    """Inputs in [0, 1] that lie near a 3-d subspace, so a 3-d code can learn."""
    rng = np.random.default_rng(seed)
    codes = rng.uniform(size=(n, 3))
    mixing = rng.uniform(size=(3, d))
    return (codes @ mixing / 3).astype("float32")


def test_training_reduces_the_reconstruction_error():
    x = blobs()
    model = Autoencoder(3, activation="sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=40, batch_size=32, verbose=0)
    after = model.evaluate(x, x, verbose=0)
    assert after < 0.97 * before


def test_tied_model_has_half_the_kernels():
    x = blobs(d=20)
    tied, untied = Autoencoder((10, 4)), Autoencoder((10, 4), tied=False)
    tied(x[:1])
    untied(x[:1])
    kernels = 20 * 10 + 10 * 4
    assert tied.count_params() == kernels + (10 + 4) + (10 + 20)
    assert untied.count_params() == 2 * kernels + (10 + 4) + (10 + 20)
    assert all(isinstance(layer, TiedDense) for layer in tied.decoder.layers[:-1])


def test_loss_follows_the_output_activation():
    sigmoid_model, linear_model = Autoencoder(4), Autoencoder(4, output_activation=None)
    sigmoid_model.compile()
    linear_model.compile()
    x = blobs(n=8)
    y = sigmoid_model.predict(x, verbose=0)
    bce = -np.mean(x * np.log(y) + (1 - x) * np.log(1 - y))
    np.testing.assert_allclose(sigmoid_model.evaluate(x, x, verbose=0), bce, rtol=1e-4)
    y = linear_model.predict(x, verbose=0)
    mse = np.mean((x - y) ** 2)
    np.testing.assert_allclose(linear_model.evaluate(x, x, verbose=0), mse, rtol=1e-4)


def test_images_keep_their_shape_and_codes_have_the_code_size():
    x = np.random.default_rng(0).uniform(size=(10, 6, 6, 1)).astype("float32")
    model = Autoencoder((16, 5), corruption=CorruptionLayer(seed=0))
    model.compile()
    model.fit(x, x, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == x.shape
    codes = model.encode(x)
    assert codes.shape == (10, 5)
    assert model.decode(codes).shape == x.shape
    # No corruption outside training: encode is deterministic.
    np.testing.assert_array_equal(codes, model.encode(x))


def test_decode_before_build_says_what_to_do():
    with pytest.raises(ValueError, match="not built"):
        Autoencoder(4).decode(np.zeros((1, 4), "float32"))


@pytest.mark.parametrize("safe_mode", [True, False])
def test_save_and_load(tmp_path, safe_mode):
    x = blobs(n=32)
    model = Autoencoder((8, 3), tied=False, corruption=CorruptionLayer("gaussian"))
    model.compile(optimizer="adam")
    model.fit(x, x, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "ae.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    assert reloaded.loss == "binary_crossentropy"
    reloaded.fit(x, x, epochs=1, verbose=0)


def test_config_round_trip():
    model = Autoencoder(
        [7, 3],
        activation="relu",
        output_activation="linear",
        tied=False,
        corruption=CorruptionLayer("salt_and_pepper", 0.1, seed=4),
        code_regularizer=keras.regularizers.L1(0.01),
    )
    restored = Autoencoder.from_config(model.get_config())
    assert restored.get_config() == model.get_config()
    assert restored.corruption.get_config() == model.corruption.get_config()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_units": 0}, "hidden_units=0"),
        ({"hidden_units": []}, r"hidden_units=\[\]"),
        ({"hidden_units": [8, "4"]}, r"hidden_units=\[8, '4'\]"),
        ({"hidden_units": None}, "hidden_units=None"),
        ({"tied": "yes"}, "tied='yes'"),
        ({"corruption": "mask"}, "corruption='mask'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Autoencoder(**kwargs)


def test_unknown_input_size_is_an_error():
    with pytest.raises(ValueError, match="non-batch dimensions"):
        Autoencoder(4).build((None, None))


def test_encode_before_training_leaves_the_model_usable():
    x = blobs(n=40)
    model = Autoencoder(4)
    assert model.encode(x).shape == (40, 4)
    model.compile()
    model.fit(x, x, batch_size=16, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == x.shape


def test_numpy_integers_are_accepted_as_sizes():
    model = Autoencoder(np.int64(5))
    assert model.hidden_units == (5,)
    assert model.get_config()["hidden_units"] == [5]
