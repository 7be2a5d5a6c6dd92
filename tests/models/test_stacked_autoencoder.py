import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_deepae.datasets import load
from keras_deepae.layers import CorruptionLayer, TiedDense
from keras_deepae.models import StackedAutoencoder
from keras_deepae.regularizers import ActivityL1, TargetSparsity


@pytest.fixture(scope="module")
def digits():
    """200 training images of the digits dataset, 8x8x1 in [0, 1], and labels."""
    data = load("digits", n_train=200, n_test=50)
    return data.x_train, data.y_train


def weights_of(layers):
    return [layer.get_weights() for layer in layers]


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


class FitSpy:
    """Records the model and the epoch-0 batches of every `fit` call.

    With `train=False`, `fit` does nothing (the test needs the models only).
    """

    def __init__(self, monkeypatch, train=True):
        self.calls = {}
        original = keras.Model.fit

        def fit(model, data, *args, **kwargs):
            batches = [data[i] for i in range(len(data))]
            self.calls[model.name] = (model, batches)
            if not train:
                return keras.callbacks.History()
            return original(model, data, *args, **kwargs)

        monkeypatch.setattr(keras.Model, "fit", fit)


class WeightWatch(keras.callbacks.Callback):
    """Checks which of the stack's layers changed during each layer's `fit`."""

    def __init__(self, stack):
        super().__init__()
        self.stack = stack
        self.changed = {}

    def on_train_begin(self, logs=None):
        self.before = weights_of(self.stack.hidden_layers)

    def on_train_end(self, logs=None):
        after = weights_of(self.stack.hidden_layers)
        self.changed[self.model.name] = [
            not same_weights(b, a) for b, a in zip(self.before, after)
        ]


def test_each_layer_trains_alone_on_clean_codes_of_the_layers_below(
    digits, monkeypatch
):
    x, _ = digits
    spy = FitSpy(monkeypatch)
    stack = StackedAutoencoder(
        (32, 16, 8), corruption=CorruptionLayer("mask", 0.5, seed=1), seed=0
    )
    watch = WeightWatch(stack)
    histories = stack.pretrain(
        x, epochs_per_layer=2, batch_size=64, callbacks=[watch], verbose=0
    )
    assert [len(h.history["loss"]) for h in histories] == [2, 2, 2]
    # While layer k trains, every other layer keeps its weights bit for bit.
    assert watch.changed == {
        "pretrain_layer_1": [True, False, False],
        "pretrain_layer_2": [False, True, False],
        "pretrain_layer_3": [False, False, True],
    }
    codes = np.split(stack.transform(x, layers="all"), [32, 48], axis=1)
    clean_inputs = [x.reshape(len(x), -1)] + codes[:2]
    for k, expected in enumerate(clean_inputs, start=1):
        model, batches = spy.calls[f"pretrain_layer_{k}"]
        # The data fed to layer k's fit is the clean code of layer k-1, also
        # as the target; the noise is drawn inside the model.
        for inputs, targets in batches:
            np.testing.assert_array_equal(inputs, targets)
        fed = np.concatenate([inputs for inputs, _ in batches])
        np.testing.assert_allclose(
            sorted_rows(fed), sorted_rows(expected), rtol=1e-6, atol=1e-7
        )
        # Corruption, then the stack's own layer k (no copy), then a decoder.
        _, corruption, dense, decoder = model.layers
        assert isinstance(corruption, CorruptionLayer)
        assert corruption.input is model.inputs[0]
        assert dense is stack.hidden_layers[k - 1]
        assert isinstance(decoder, TiedDense) and decoder.tied_to is dense


def test_untied_decoders_and_the_auto_loss(monkeypatch):
    spy = FitSpy(monkeypatch, train=False)
    x = np.random.default_rng(0).normal(size=(40, 6)).astype("float32")
    stack = StackedAutoencoder(
        (5, 4), activation="relu", output_activation=None, tied=False, seed=0
    )
    stack.pretrain(x, epochs_per_layer=1, batch_size=20, verbose=0)
    models = [spy.calls[f"pretrain_layer_{k}"][0] for k in (1, 2)]
    assert [model.loss for model in models] == ["mse", "mse"]
    assert models[1].get_layer("decoder_2").kernel.shape == (4, 5)
    assert not any(isinstance(layer, TiedDense) for layer in models[1].layers)
    # Layer 1 reconstructs the data, layer 2 the relu codes of layer 1.
    activations = [model.layers[-1].activation.__name__ for model in models]
    assert activations == ["linear", "relu"]
    # Sigmoid layers (codes in [0, 1]) are trained with cross-entropy.
    StackedAutoencoder((5, 4)).pretrain(x.clip(0, 1), epochs_per_layer=1, verbose=0)
    assert [spy.calls[f"pretrain_layer_{k}"][0].loss for k in (1, 2)] == [
        "binary_crossentropy",
        "binary_crossentropy",
    ]


@pytest.mark.slow
def test_pretraining_reduces_each_layers_reconstruction_error(digits):
    x, _ = digits
    stack = StackedAutoencoder((32, 16), seed=0)
    histories = stack.pretrain(
        x,
        epochs_per_layer=8,
        batch_size=32,
        optimizer=keras.optimizers.Adam(0.01),
        verbose=0,
    )
    for history in histories:
        losses = history.history["loss"]
        assert losses[-1] < 0.95 * losses[0]


def test_sparse_layers_add_their_penalty(digits):
    x, _ = digits
    flat = x.reshape(len(x), -1)
    l1 = StackedAutoencoder((16,), code_regularizer=ActivityL1(0.1), seed=0)
    l1.build(x.shape)
    model = l1.layer_autoencoder(1)
    model(flat, training=True)
    codes = l1.transform(x)
    # 0.1 × the mean over the batch of Σ|h|, as on the stack's own layer.
    [penalty] = model.losses
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(penalty), 0.1 * codes.sum(axis=1).mean(), rtol=1e-5
    )
    # A running estimate of the mean code: state of the layer's autoencoder,
    # updated in training, not part of the stack.
    running = TargetSparsity(0.05, weight=1.0, momentum=0.9)
    stack = StackedAutoencoder((16,), code_regularizer=running, seed=0)
    [history] = stack.pretrain(x, epochs_per_layer=1, batch_size=50, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert len(stack.weights) == 2
    codes = stack.transform(x)
    model = stack.layer_autoencoder(1)
    assert len(model.non_trainable_weights) == 2
    model(flat, training=True)
    estimate, steps = model.get_layer("code_penalty_1").get_weights()
    assert steps == 1
    np.testing.assert_allclose(estimate, 0.1 * codes.mean(axis=0), rtol=1e-4)


def test_pretrain_trains_layers_whose_flag_is_off_and_restores_it(digits):
    x, _ = digits
    stack = StackedAutoencoder((8,), seed=0)
    stack.build((None,) + x.shape[1:])
    before = weights_of(stack.hidden_layers)
    stack.trainable = False
    stack.pretrain(x, epochs_per_layer=1, verbose=0)
    assert not same_weights(before[0], weights_of(stack.hidden_layers)[0])
    assert stack.hidden_layers[0].trainable is False


def test_transform_and_call_give_the_codes(digits):
    x, _ = digits
    stack = StackedAutoencoder((10, 6), corruption=CorruptionLayer("mask", 0.5))
    assert stack(x[:4]).shape == (4, 6)
    last, every = stack.transform(x), stack.transform(x, layers="all")
    assert last.shape == (200, 6) and every.shape == (200, 16)
    np.testing.assert_allclose(every[:, 10:], last, rtol=1e-6)
    flat = x.reshape(len(x), -1)
    kernel, bias = stack.hidden_layers[0].get_weights()
    first = 1 / (1 + np.exp(-(flat @ kernel + bias)))
    np.testing.assert_allclose(every[:, :10], first, rtol=1e-5, atol=1e-6)
    # No corruption outside of pretraining: the features are deterministic.
    np.testing.assert_array_equal(stack.transform(x), last)
    np.testing.assert_array_equal(stack.encoder.predict(x, verbose=0), last)


def test_classifier_without_fine_tuning_keeps_the_stack_bit_identical(digits):
    x, y = digits
    stack = StackedAutoencoder((16, 8), seed=0)
    stack.build(x.shape)  # pretrained or not, the same for freezing
    pretrained = weights_of(stack.hidden_layers)
    model = stack.classifier(10, fine_tune=False, dropout=0.2)
    assert [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]
    assert len(model.non_trainable_weights) == 4
    model.compile(
        optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy"
    )
    head = weights_of([model.get_layer("head")])
    model.fit(x, y, epochs=2, batch_size=50, verbose=0)
    assert all(
        same_weights(a, b) for a, b in zip(pretrained, weights_of(stack.hidden_layers))
    )
    assert not same_weights(head[0], weights_of([model.get_layer("head")])[0])
    # Frozen in that classifier only: the flags are untouched, and a
    # classifier that fine-tunes the same layers changes them.
    assert all(layer.trainable for layer in stack.hidden_layers)
    assert model.get_layer("hidden_1") is stack.hidden_layers[0]
    tuned = stack.classifier(10, fine_tune=True)
    assert len(tuned.trainable_weights) == 6
    tuned.compile(
        optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy"
    )
    tuned.fit(x, y, epochs=1, batch_size=50, verbose=0)
    changed = weights_of(stack.hidden_layers)
    assert not any(same_weights(a, b) for a, b in zip(pretrained, changed))
    # The frozen classifier shares them: it predicts with the new weights.
    np.testing.assert_allclose(
        model.predict(x[:5], verbose=0),
        keras.Model(model.inputs, model.outputs).predict(x[:5], verbose=0),
    )


def test_classifier_has_dropout_after_each_hidden_layer_and_a_head():
    stack = StackedAutoencoder((6, 4))
    stack.build((None, 8, 8, 1))
    model = stack.classifier(3, dropout=0.5, head_activation="sigmoid")
    names = [layer.name for layer in model.layers]
    assert names == [
        "inputs",
        "flatten",
        "hidden_1",
        "dropout_1",
        "hidden_2",
        "dropout_2",
        "head",
    ]
    assert model.get_layer("head").activation is keras.activations.sigmoid
    assert model.output.shape == (None, 3)
    assert "dropout_1" not in [layer.name for layer in stack.classifier(3).layers]


def test_frozen_classifier_saves_and_loads_frozen(tmp_path, digits):
    x, _ = digits
    stack = StackedAutoencoder((8,), seed=0)
    stack.build((None,) + x.shape[1:])
    model = stack.classifier(4, fine_tune=False)
    path = os.path.join(tmp_path, "classifier.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert [w.path for w in reloaded.trainable_weights] == ["head/kernel", "head/bias"]
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_config_round_trip():
    stack = StackedAutoencoder(
        hidden_units=(7, 3),
        activation="relu",
        output_activation=None,
        tied=False,
        corruption=CorruptionLayer("gaussian", stddev=0.3, seed=4),
        code_regularizer=ActivityL1(0.01),
        kernel_initializer="he_normal",
        seed=5,
        name="stack",
    )
    config = stack.get_config()
    assert json.loads(json.dumps(config)) == config
    restored = StackedAutoencoder.from_config(config)
    assert restored.get_config() == config
    assert restored.hidden_units == (7, 3) and restored.corruption.stddev == 0.3


def test_same_seed_same_initial_weights():
    first, second = (
        StackedAutoencoder((5, 3), seed=7),
        StackedAutoencoder((5, 3), seed=7),
    )
    first.build((None, 9))
    second.build((None, 9))
    assert same_weights(first.get_weights(), second.get_weights())
    other = StackedAutoencoder((5, 3), seed=8)
    other.build((None, 9))
    assert not same_weights(first.get_weights()[:1], other.get_weights()[:1])


def test_save_and_load_keeps_the_weights(tmp_path, digits):
    x, _ = digits
    stack = StackedAutoencoder(
        (12, 5), corruption=CorruptionLayer("mask", 0.3), seed=0, name="stack"
    )
    stack.build(x.shape)
    expected = stack.transform(x, layers="all")
    path = os.path.join(tmp_path, "stack.keras")
    stack.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded, StackedAutoencoder)
    assert reloaded.get_config() == stack.get_config()
    assert same_weights(reloaded.get_weights(), stack.get_weights())
    np.testing.assert_array_equal(reloaded.transform(x, layers="all"), expected)


def test_a_finished_checkpoint_skips_every_layer(tmp_path, digits, monkeypatch):
    x, _ = digits
    spy = FitSpy(monkeypatch, train=False)
    checkpoint_dir = os.path.join(tmp_path, "pretraining")
    stack = StackedAutoencoder((8, 4), seed=0)
    stack.pretrain(x, epochs_per_layer=1, verbose=0, checkpoint_dir=checkpoint_dir)
    assert sorted(os.listdir(checkpoint_dir)) == ["progress.json", "stack_2.weights.h5"]
    with open(os.path.join(checkpoint_dir, "progress.json")) as file:
        assert json.load(file)["finished_layers"] == 2
    # A new stack (other initial weights) gets the finished weights back.
    spy.calls.clear()
    again = StackedAutoencoder((8, 4), seed=0)
    again.build((None,) + x.shape[1:])
    again.hidden_layers[0].kernel.assign(np.zeros((64, 8)))
    histories = again.pretrain(x, verbose=0, checkpoint_dir=checkpoint_dir)
    assert histories == [None, None] and spy.calls == {}
    assert same_weights(again.get_weights(), stack.get_weights())


def test_a_second_stack_in_the_same_session_resumes(tmp_path, digits, monkeypatch):
    """Layers get new automatic names in a second stack; it is the same stack."""
    x, _ = digits
    spy = FitSpy(monkeypatch, train=False)
    make = lambda: StackedAutoencoder(  # noqa: E731
        (8,), corruption=CorruptionLayer("mask", 0.25, seed=1), seed=0
    )
    make().pretrain(x[:20], epochs_per_layer=1, verbose=0, checkpoint_dir=tmp_path)
    spy.calls.clear()
    histories = make().pretrain(
        x[:20], epochs_per_layer=1, verbose=0, checkpoint_dir=tmp_path
    )
    assert histories == [None] and spy.calls == {}


def test_a_checkpoint_of_another_stack_is_refused(tmp_path, digits, monkeypatch):
    x, _ = digits
    FitSpy(monkeypatch, train=False)
    StackedAutoencoder((8,), seed=0).pretrain(
        x[:20], epochs_per_layer=1, verbose=0, checkpoint_dir=tmp_path
    )
    with pytest.raises(ValueError, match="different stack.*checkpoint_dir="):
        StackedAutoencoder((9,), seed=0).pretrain(
            x[:20], epochs_per_layer=1, verbose=0, checkpoint_dir=tmp_path
        )


def test_progress_lines_name_each_layer(digits, capsys, tmp_path, monkeypatch):
    x, _ = digits
    FitSpy(monkeypatch, train=False)
    stack = StackedAutoencoder((8, 4))
    stack.pretrain(x[:20], epochs_per_layer=1, verbose=2, checkpoint_dir=tmp_path)
    stack.pretrain(x[:20], epochs_per_layer=1, verbose=2, checkpoint_dir=tmp_path)
    lines = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("layer")
    ]
    assert lines == [
        "layer 1/2: 64 -> 8",
        "layer 2/2: 8 -> 4",
        "layer 1/2: 64 -> 8 (finished, skipped)",
        "layer 2/2: 8 -> 4 (finished, skipped)",
    ]


RESUME_SCRIPT = """
import os
import sys

import keras
import numpy as np

from keras_deepae.layers import CorruptionLayer
from keras_deepae.models import StackedAutoencoder

checkpoint_dir, log_path, out_path, kill = sys.argv[1:5]
x = np.random.default_rng(0).uniform(size=(60, 12)).astype("float32")
stack = StackedAutoencoder(
    (8, 4, 3), corruption=CorruptionLayer("mask", 0.25), seed=0
)


class Log(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        if self.model.name == "pretrain_layer_2":
            kernel, bias = stack.hidden_layers[0].get_weights()
            np.savez(out_path + ".layer_1.npz", kernel=kernel, bias=bias)

    def on_epoch_end(self, epoch, logs=None):
        with open(log_path, "a") as file:
            file.write(f"{self.model.name} {epoch}\\n")
        if kill == "kill" and self.model.name == "pretrain_layer_2" and epoch == 1:
            os._exit(3)  # as abrupt as a kill: no cleanup, no flush


stack.pretrain(
    x, epochs_per_layer=4, batch_size=16, callbacks=[Log()], verbose=0,
    checkpoint_dir=checkpoint_dir,
)
np.savez(out_path, *stack.get_weights())
"""


@pytest.mark.slow
def test_pretraining_killed_in_layer_2_resumes_there(tmp_path):
    script = os.path.join(tmp_path, "pretrain.py")
    with open(script, "w") as file:
        file.write(textwrap.dedent(RESUME_SCRIPT))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(log, out, kill, checkpoint="checkpoint"):
        checkpoint_dir = str(tmp_path / checkpoint)
        arguments = [checkpoint_dir, str(tmp_path / log), str(tmp_path / out), kill]
        return subprocess.run(
            [sys.executable, script, *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    killed = run("killed.log", "killed.npz", "kill")
    assert killed.returncode == 3, killed.stderr[-2000:]
    assert (tmp_path / "killed.log").read_text().split("\n")[:-1] == [
        "pretrain_layer_1 0",
        "pretrain_layer_1 1",
        "pretrain_layer_1 2",
        "pretrain_layer_1 3",
        "pretrain_layer_2 0",
        "pretrain_layer_2 1",
    ]
    resumed = run("resumed.log", "resumed.npz", "no")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Layer 1 is not trained again; layer 2 goes on from its epoch 2.
    assert (tmp_path / "resumed.log").read_text().split("\n")[:-1] == [
        "pretrain_layer_2 2",
        "pretrain_layer_2 3",
        "pretrain_layer_3 0",
        "pretrain_layer_3 1",
        "pretrain_layer_3 2",
        "pretrain_layer_3 3",
    ]
    final = np.load(tmp_path / "resumed.npz")
    before_kill = np.load(tmp_path / "killed.npz.layer_1.npz")
    np.testing.assert_array_equal(final["arr_0"], before_kill["kernel"])
    np.testing.assert_array_equal(final["arr_1"], before_kill["bias"])

    # The same weights, bit for bit, as a run that was never interrupted.
    uninterrupted = run("uninterrupted.log", "uninterrupted.npz", "no", "other")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]
    expected = np.load(tmp_path / "uninterrupted.npz")
    assert len(final.files) == len(expected.files) == 6
    for name in expected.files:
        np.testing.assert_array_equal(final[name], expected[name])


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"hidden_units": ()}, r"`hidden_units` must be.*Received: hidden_units=\(\)"),
        ({"hidden_units": (4, 0)}, r"hidden_units=\(4, 0\)"),
        ({"hidden_units": 2.5}, r"hidden_units=2.5"),
        ({"tied": "yes"}, r"`tied` must be True or False.*tied='yes'"),
        ({"corruption": 0.25}, r"`corruption` must be.*corruption=0.25"),
        (
            {"code_regularizer": keras.layers.Dense(2)},
            r"`code_regularizer` must be a regularizer",
        ),
        ({"seed": 1.5}, r"`seed` must be an integer or None.*seed=1.5"),
        ({"activation": "nonsense"}, r"`activation` must be.*activation='nonsense'"),
        ({"output_activation": 3}, r"`output_activation` must be.*=3"),
    ],
)
def test_bad_constructor_arguments(arguments, match):
    with pytest.raises(ValueError, match=match):
        StackedAutoencoder(**arguments)


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"epochs_per_layer": 0}, r"`epochs_per_layer` must be.*epochs_per_layer=0"),
        ({"epochs_per_layer": [1]}, r"list of 2 positive.*epochs_per_layer=\[1\]"),
        ({"epochs_per_layer": True}, r"epochs_per_layer=True"),
        ({"batch_size": 0}, r"`batch_size` must be a positive integer.*batch_size=0"),
        ({"batch_size": 8.0}, r"batch_size=8.0"),
        ({"checkpoint_dir": 3}, r"`checkpoint_dir` must be a path.*checkpoint_dir=3"),
        ({"optimizer": "nonsense"}, r"`optimizer` must be.*optimizer='nonsense'"),
        ({"x": np.zeros(5)}, r"`x` must be an array of shape \(N, ...\).*\(5,\)"),
        ({"x": np.zeros((3, 5))}, r"`x` must have the shape.*\(N, 4\).*\(3, 5\)"),
    ],
)
def test_bad_pretrain_arguments(arguments, match):
    stack = StackedAutoencoder((3, 2))
    stack.build((None, 4))
    arguments = {"x": np.zeros((3, 4), "float32"), "verbose": 0, **arguments}
    with pytest.raises(ValueError, match=match):
        stack.pretrain(**arguments)


def test_bad_arguments_of_the_other_methods():
    stack = StackedAutoencoder((3, 2))
    with pytest.raises(ValueError, match="not built"):
        stack.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="not built"):
        stack.classifier(2)
    with pytest.raises(ValueError, match="not built"):
        stack.layer_autoencoder(1)
    stack.build((None, 4))
    with pytest.raises(ValueError, match=r'`layers` must be "last" or "all".*=2'):
        stack.transform(np.zeros((2, 4)), layers=2)
    with pytest.raises(ValueError, match=r"`k` must be an integer from 1 to 2.*k=3"):
        stack.layer_autoencoder(3)
    for arguments, match in [
        ({"n_classes": 0}, r"`n_classes` must be a positive integer.*n_classes=0"),
        ({"n_classes": 2.0}, r"n_classes=2.0"),
        ({"fine_tune": "no"}, r"`fine_tune` must be True or False.*fine_tune='no'"),
        ({"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\).*dropout=1.0"),
        ({"head_activation": "nope"}, r"`head_activation` must be.*'nope'"),
    ]:
        with pytest.raises(ValueError, match=match):
            stack.classifier(**{"n_classes": 2, **arguments})
