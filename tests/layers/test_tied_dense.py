import os
import zipfile

import h5py
import keras
import numpy as np
import pytest
from layer_checks import check_layer

from keras_deepae.layers import CorruptionLayer, TiedDense
from keras_deepae.models import Autoencoder

D, K = 12, 5


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def built_dense(units=K, input_dim=D, name="encoder", activation="sigmoid"):
    layer = keras.layers.Dense(units, activation=activation, name=name)
    layer.build((None, input_dim))
    return layer


def tied_autoencoder(corrupt=False):
    """A functional autoencoder as a user writes it: input -> enc -> dec."""
    inputs = keras.Input((D,))
    encoder = keras.layers.Dense(K, activation="sigmoid", name="encoder")
    decoder = TiedDense(encoder, activation="sigmoid", name="decoder")
    x = CorruptionLayer("mask", 0.25, seed=3)(inputs) if corrupt else inputs
    return keras.Model(inputs, decoder(encoder(x))), encoder, decoder


def data(n=32, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, D)).astype("float32")


def stored_datasets(path, tmp_path):
    """Shapes of the model weights (not optimizer slots) in a `.keras` file."""
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    shapes = []
    with h5py.File(os.path.join(tmp_path, "model.weights.h5")) as f:
        f.visititems(
            lambda name, obj: (
                shapes.append(obj.shape)
                if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer")
                else None
            )
        )
    return shapes


def test_standard_layer_checks(tmp_path):
    encoder = built_dense()
    check_layer(
        lambda: TiedDense(encoder, activation="sigmoid"),
        input_shape=(4, K),
        expected_output_shape=(4, D),
        # The tied layer's kernel and bias, and the decoder's own bias.
        expected_num_weights=3,
        expected_num_trainable_weights=3,
        tmp_path=tmp_path,
        num_unused_trainable_weights=1,  # the encoder's bias
    )


def test_output_matches_numpy():
    encoder = built_dense()
    layer = TiedDense(encoder, activation="sigmoid", bias_initializer="random_normal")
    h = np.random.default_rng(1).normal(size=(7, K)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(h))
    w = keras.ops.convert_to_numpy(encoder.kernel)
    b = keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_allclose(out, sigmoid(h @ w.T + b), rtol=1e-5, atol=1e-6)


def test_owns_only_its_bias_and_kernel_counted_once():
    model, encoder, decoder = tied_autoencoder()
    assert decoder.kernel is encoder.kernel
    assert decoder.bias.shape == (D,)
    assert model.count_params() == D * K + K + D
    assert len(model.trainable_weights) == 3
    untied_inputs = keras.Input((D,))
    hidden = keras.layers.Dense(K)(untied_inputs)
    untied = keras.Model(untied_inputs, keras.layers.Dense(D)(hidden))
    assert untied.count_params() - model.count_params() == D * K


def test_gradient_comes_from_both_paths():
    """One SGD step on the shared kernel equals a finite-difference step.

    The loss depends on W through the encoder and through the decoder; the
    reference gradient is a central difference of the whole float64 NumPy
    function, so it includes both paths.
    """
    model, encoder, decoder = tied_autoencoder()
    x = data(16)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    w = keras.ops.convert_to_numpy(encoder.kernel).astype("float64")
    b = keras.ops.convert_to_numpy(encoder.bias).astype("float64")
    c = keras.ops.convert_to_numpy(decoder.bias).astype("float64")
    xd = x.astype("float64")

    def loss(kernel):
        recon = sigmoid(sigmoid(xd @ kernel + b) @ kernel.T + c)
        return np.mean((recon - xd) ** 2)

    grad = np.zeros_like(w)
    eps = 1e-6
    for idx in np.ndindex(*w.shape):
        step = np.zeros_like(w)
        step[idx] = eps
        grad[idx] = (loss(w + step) - loss(w - step)) / (2 * eps)

    # Encoder-only and decoder-only gradients are both non-zero: a tie that
    # only one path updated would miss one of them.
    def loss_split(w_enc, w_dec):
        return np.mean((sigmoid(sigmoid(xd @ w_enc + b) @ w_dec.T + c) - xd) ** 2)

    step = np.zeros_like(w)
    step[0, 0] = eps
    enc_only = (loss_split(w + step, w) - loss_split(w - step, w)) / (2 * eps)
    dec_only = (loss_split(w, w + step) - loss_split(w, w - step)) / (2 * eps)
    assert abs(enc_only) > 1e-6 and abs(dec_only) > 1e-6
    np.testing.assert_allclose(grad[0, 0], enc_only + dec_only, rtol=1e-4)

    model.fit(x, x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    new_w = keras.ops.convert_to_numpy(encoder.kernel)
    np.testing.assert_allclose(new_w, w - 0.1 * grad, rtol=1e-4, atol=1e-7)


def test_tie_holds_after_many_steps():
    model, encoder, decoder = tied_autoencoder(corrupt=True)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(data(64), data(64), epochs=5, batch_size=8, verbose=0)
    assert decoder.kernel is encoder.kernel
    # The decoder's effective kernel is the encoder's, transposed, exactly.
    h = np.eye(K, dtype="float32")
    no_bias = TiedDense(encoder)
    effective = keras.ops.convert_to_numpy(no_bias(h)) - keras.ops.convert_to_numpy(
        no_bias.bias
    )
    np.testing.assert_array_equal(
        effective, keras.ops.convert_to_numpy(encoder.kernel).T
    )


@pytest.mark.parametrize("safe_mode", [True, False])
def test_functional_save_load_keeps_the_tie(tmp_path, safe_mode):
    model, _, _ = tied_autoencoder(corrupt=True)
    model.compile(optimizer="adam", loss="mse")
    x = data()
    model.fit(x, x, epochs=2, verbose=0)
    path = os.path.join(tmp_path, "tied.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
    encoder, decoder = reloaded.get_layer("encoder"), reloaded.get_layer("decoder")
    assert decoder.tied_to is encoder
    assert decoder.kernel is encoder.kernel
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    assert reloaded.count_params() == model.count_params()
    # The kernel is stored once: one (D, K) array in the weights file.
    assert stored_datasets(path, tmp_path).count((D, K)) == 1
    # Training after the reload moves encoder and decoder together.
    before = keras.ops.convert_to_numpy(encoder.kernel)
    reloaded.fit(x, x, epochs=2, verbose=0)
    assert not np.array_equal(before, keras.ops.convert_to_numpy(encoder.kernel))
    assert decoder.kernel is encoder.kernel


def test_clone_model_and_from_config_tie_again():
    model, _, _ = tied_autoencoder()
    for rebuilt in (
        keras.models.clone_model(model),
        keras.Model.from_config(model.get_config()),
    ):
        encoder, decoder = rebuilt.get_layer("encoder"), rebuilt.get_layer("decoder")
        assert decoder.tied_to is encoder
        assert rebuilt.count_params() == model.count_params()
        assert len(rebuilt.trainable_weights) == 3


def test_decoder_on_its_own_keeps_its_kernel(tmp_path):
    encoder = built_dense()
    codes = keras.Input((K,))
    decoder_model = keras.Model(codes, TiedDense(encoder, name="decoder")(codes))
    h = np.random.default_rng(2).uniform(size=(4, K)).astype("float32")
    path = os.path.join(tmp_path, "decoder.keras")
    decoder_model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(h, verbose=0), decoder_model.predict(h, verbose=0), rtol=1e-6
    )
    assert reloaded.count_params() == D * K + K + D


@pytest.mark.parametrize("safe_mode", [True, False])
def test_autoencoder_model_save_load_keeps_the_tie(tmp_path, safe_mode):
    model = Autoencoder((8, K), corruption=CorruptionLayer(seed=1))
    model.compile()
    x = data()
    model.fit(x, x, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "ae.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=safe_mode)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    dense_layers = reloaded.encoder.layers[1:]
    tied_layers = reloaded.decoder.layers[:-1]
    for dense, tied in zip(reversed(dense_layers), tied_layers):
        assert tied.kernel is dense.kernel
    assert stored_datasets(path, tmp_path).count((D, 8)) == 1
    reloaded.fit(x, x, epochs=1, verbose=0)
    for dense, tied in zip(reversed(dense_layers), tied_layers):
        assert tied.kernel is dense.kernel


@pytest.mark.parametrize(
    "bad",
    [np.ones((3, 3)), "dense", keras.layers.ReLU()],
)
def test_rejects_a_tied_to_without_a_kernel(bad):
    with pytest.raises(ValueError, match="tied_to"):
        TiedDense(bad)


def test_rejects_a_kernel_that_is_not_2d():
    conv = keras.layers.Conv2D(4, 3)
    conv.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="tied_to=.*Conv2D"):
        TiedDense(conv)


def test_unbuilt_encoder_says_what_to_do():
    decoder = TiedDense(keras.layers.Dense(K, name="enc"))
    with pytest.raises(ValueError, match="tied_to='enc'.*not built.*before"):
        decoder(np.zeros((2, K), "float32"))


def test_rejects_inputs_of_the_wrong_size():
    decoder = TiedDense(built_dense())
    with pytest.raises(ValueError, match=f"units.*\\({K}\\).*input_shape=\\(2, 7\\)"):
        decoder(np.zeros((2, 7), "float32"))


def test_rejects_a_non_boolean_use_bias():
    with pytest.raises(ValueError, match="use_bias=1"):
        TiedDense(built_dense(), use_bias=1)


def test_without_bias():
    encoder = built_dense(activation=None)
    layer = TiedDense(encoder, use_bias=False)
    h = np.ones((2, K), "float32")
    expected = h @ keras.ops.convert_to_numpy(encoder.kernel).T
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(h)), expected, 1e-5)
    assert len(layer.weights) == 2


def test_encoder_activity_penalty_survives_the_tied_decoder():
    """The encoder's activity loss counts in `evaluate` on every backend.

    The decoder tracks the encoder as a sublayer; Keras clears sublayer
    losses when a layer is the first called in a pass (as the JAX trainer
    calls the layers of a functional model), which must not drop the
    penalty the encoder has just added.
    """
    inputs = keras.Input((D,))
    encoder = keras.layers.Dense(
        K, activation="sigmoid", activity_regularizer=keras.regularizers.L1(0.1)
    )
    model = keras.Model(inputs, TiedDense(encoder)(encoder(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    x = data(16)
    reconstruction = keras.ops.convert_to_numpy(model(x))
    (penalty,) = [float(keras.ops.convert_to_numpy(v)) for v in model.losses]
    assert penalty > 0
    mse = float(np.mean((reconstruction - x) ** 2))
    np.testing.assert_allclose(
        model.evaluate(x, x, batch_size=16, verbose=0), mse + penalty, rtol=1e-5
    )


def test_a_tie_across_sub_models_is_not_lost_silently_on_clone():
    """The encoder in one Sequential, the decoder in another: cloning cannot
    find the encoder upstream of the decoder's input, and says so."""
    encoder_layer = keras.layers.Dense(K, activation="sigmoid", name="e1")
    encoder = keras.Sequential([keras.Input((D,)), encoder_layer])
    decoder = keras.Sequential([keras.Input((K,)), TiedDense(encoder_layer)])
    inputs = keras.Input((D,))
    model = keras.Model(inputs, decoder(encoder(inputs)))
    assert model.count_params() == D * K + K + D
    with pytest.warns(UserWarning, match="'e1'.*no longer tied"):
        keras.models.clone_model(model)
