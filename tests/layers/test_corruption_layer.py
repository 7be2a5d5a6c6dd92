import keras
import numpy as np
import pytest
from layer_checks import check_layer

from keras_deepae.layers import CorruptionLayer


def corrupt(layer, x):
    return keras.ops.convert_to_numpy(layer(x, training=True))


def test_standard_layer_checks(tmp_path):
    check_layer(
        lambda: CorruptionLayer("mask", rate=0.3, seed=1),
        input_shape=(4, 6, 6, 2),
        expected_output_shape=(4, 6, 6, 2),
        expected_num_weights=0,
        expected_num_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("shape", [(8, 784), (8, 28, 28, 1), (8, 5, 7, 3)])
@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5])
def test_mask_zeroes_an_exact_count_per_example(shape, rate):
    layer = CorruptionLayer("mask", rate=rate, seed=0)
    x = np.random.default_rng(0).uniform(0.5, 1.0, size=shape).astype("float32")
    y = corrupt(layer, x)
    d = int(np.prod(shape[1:]))
    zeros = (y == 0).reshape(len(x), d).sum(axis=1)
    np.testing.assert_array_equal(zeros, round(rate * d))
    # Kept components are not rescaled, unlike Dropout.
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])
    # Each example gets its own random set of masked components.
    masks = (y == 0).reshape(len(x), d)
    assert len({m.tobytes() for m in masks}) == len(x)


def test_bernoulli_mask_rate():
    layer = CorruptionLayer("mask", rate=0.3, sampling="bernoulli", seed=0)
    y = corrupt(layer, np.ones((200, 500), "float32"))
    fraction = (y == 0).mean()
    n = y.size
    assert abs(fraction - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)
    # The count varies between examples, unlike the exact process.
    assert len(set((y == 0).sum(axis=1))) > 1
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_gaussian_noise_mean_and_deviation():
    layer = CorruptionLayer("gaussian", stddev=0.3, seed=0)
    x = np.full((400, 500), 0.5, "float32")
    noise = corrupt(layer, x) - x
    n = noise.size
    assert abs(noise.mean()) < 5 * 0.3 / np.sqrt(n)
    # The sample deviation of n normal draws has standard error ~ σ/√(2n).
    assert abs(noise.std() - 0.3) < 5 * 0.3 / np.sqrt(2 * n)


def test_salt_and_pepper():
    layer = CorruptionLayer("salt_and_pepper", rate=0.2, low=-1.0, high=2.0, seed=0)
    x = np.full((100, 400), 0.5, "float32")
    y = corrupt(layer, x)
    changed = y != 0.5
    np.testing.assert_array_equal(changed.sum(axis=1), 80)
    values = y[changed]
    assert set(np.unique(values)) == {-1.0, 2.0}
    high = (values == 2.0).mean()
    assert abs(high - 0.5) < 5 * np.sqrt(0.25 / values.size)


@pytest.mark.parametrize("noise", ["mask", "gaussian", "salt_and_pepper"])
def test_identity_outside_training(noise):
    layer = CorruptionLayer(noise, rate=0.5, stddev=1.0, seed=0)
    x = np.random.default_rng(0).uniform(size=(16, 10)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x, training=False)), x
    )
    inputs = keras.Input((10,))
    model = keras.Model(inputs, layer(inputs))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    model.compile(loss="mse")
    assert model.evaluate(x, x, verbose=0) == 0.0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fresh_noise_at_every_training_step(jit_compile):
    """With a zero learning rate only the noise can change the loss."""
    x = np.random.default_rng(0).uniform(size=(32, 20)).astype("float32")
    inputs = keras.Input((20,))
    dense = keras.layers.Dense(20, kernel_initializer="identity", use_bias=False)
    noisy = CorruptionLayer("mask", rate=0.5, seed=7)(inputs)
    model = keras.Model(inputs, dense(noisy))
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=jit_compile
    )
    losses = [float(model.train_on_batch(x, x)) for _ in range(5)]
    assert all(loss > 0 for loss in losses)
    assert len(set(losses)) == 5
    # And predict is still noise-free.
    np.testing.assert_allclose(model.predict(x, verbose=0), x, rtol=1e-6)


def test_same_seed_same_noise_other_seed_other_noise():
    x = np.ones((4, 50), "float32")
    a = CorruptionLayer("mask", rate=0.4, seed=11)
    b = CorruptionLayer("mask", rate=0.4, seed=11)
    c = CorruptionLayer("mask", rate=0.4, seed=12)
    first_a, first_b = corrupt(a, x), corrupt(b, x)
    np.testing.assert_array_equal(first_a, first_b)
    np.testing.assert_array_equal(corrupt(a, x), corrupt(b, x))
    assert not np.array_equal(first_a, corrupt(c, x))
    assert not np.array_equal(first_a, corrupt(a, x))


@pytest.mark.parametrize("noise", ["mask", "salt_and_pepper"])
def test_rate_zero_is_the_identity(noise):
    x = np.random.default_rng(0).uniform(size=(3, 9)).astype("float32")
    layer = CorruptionLayer(noise, rate=0.0)
    np.testing.assert_array_equal(corrupt(layer, x), x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rate": 1.0}, r"`rate`.*\[0, 1\).*rate=1.0"),
        ({"rate": -0.1}, r"`rate`.*rate=-0.1"),
        ({"rate": "0.2"}, r"`rate`.*rate='0.2'"),
        ({"noise": "gaussian", "stddev": -1.0}, r"`stddev`.*stddev=-1.0"),
        ({"noise": "blur"}, r"'gaussian', 'mask', 'salt_and_pepper'.*noise='blur'"),
        ({"sampling": "poisson"}, r"'bernoulli', 'exact'.*sampling='poisson'"),
        ({"seed": 1.5}, r"`seed`.*seed=1.5"),
        ({"noise": "salt_and_pepper", "low": float("nan")}, r"`low`.*low=nan"),
        ({"noise": "salt_and_pepper", "high": "a"}, r"`high`.*high='a'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CorruptionLayer(**kwargs)


def test_exact_count_needs_known_dimensions():
    layer = CorruptionLayer("mask", rate=0.2)
    with pytest.raises(ValueError, match="non-batch dimensions"):
        layer(keras.Input((None,)))


@pytest.mark.parametrize("d", [10, 784])
def test_exact_mask_picks_every_component_equally_often(d):
    """No position is favoured: each is masked with probability round(νd)/d."""
    layer = CorruptionLayer("mask", rate=0.3, seed=0)
    n = 4000 if d == 10 else 400
    y = corrupt(layer, np.ones((n, d), "float32"))
    frequency = (y == 0).mean(axis=0)
    p = round(0.3 * d) / d
    assert np.all(np.abs(frequency - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_numpy_scalars_are_accepted():
    layer = CorruptionLayer("mask", rate=np.float32(0.5), seed=np.int64(3))
    assert layer.get_config()["seed"] == 3
    y = corrupt(layer, np.ones((2, 10), "float32"))
    np.testing.assert_array_equal((y == 0).sum(axis=1), 5)
