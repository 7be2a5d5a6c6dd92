"""Shared checks of the regularizer tests: gradients and the four model kinds.

`gradients` differentiates a scalar function of Keras variables or tensors
with the running backend. `check_counted_once` puts a regularized layer in a
Sequential, a functional, a subclassed and a nested model and checks that its
penalty is in `model.losses` once, and in the `evaluate` and `fit` losses
once, computed on that layer's input.
"""

import keras
import numpy as np

INPUT_DIM = 6


def gradients(fn, sources):
    """Gradients of the scalar `fn()` with respect to `sources`.

    `sources` are Keras variables, or tensors that `fn` receives as its
    arguments: `fn(*sources)`.
    """
    backend = keras.backend.backend()
    variables = all(isinstance(s, keras.Variable) for s in sources)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            if variables:
                value = fn()
            else:
                sources = [tf.convert_to_tensor(s) for s in sources]
                tape.watch(sources)
                value = fn(*sources)
        grads = tape.gradient(value, sources)
        # No gradient (the value does not depend on a source) counts as zeros.
        return [
            np.zeros(s.shape) if g is None else keras.ops.convert_to_numpy(g)
            for g, s in zip(grads, sources)
        ]
    if backend == "jax":
        import jax

        if variables:

            def pure(values):
                with keras.StatelessScope(state_mapping=list(zip(sources, values))):
                    return fn()

            grads = jax.grad(pure)([v.value for v in sources])
        else:
            grads = jax.grad(lambda args: fn(*args))(
                [keras.ops.convert_to_tensor(s) for s in sources]
            )
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        if variables:
            tensors = [v.value for v in sources]
            value = fn()
        else:
            tensors = [
                keras.ops.convert_to_tensor(s).detach().requires_grad_(True)
                for s in sources
            ]
            value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
        return [
            np.zeros(t.shape) if g is None else g.detach().cpu().numpy()
            for g, t in zip(grads, tensors)
        ]
    raise NotImplementedError(backend)


class SubclassedModel(keras.Model):
    def __init__(self, regularized, **kwargs):
        super().__init__(**kwargs)
        self.regularized = regularized
        self.head = keras.layers.Dense(INPUT_DIM, name="head")

    def call(self, inputs, training=None):
        return self.head(self.regularized(inputs, training=training))


def model_kinds(make_layer):
    """`(kind, model, regularized layer)` for the four kinds of model."""
    kinds = []

    layer = make_layer()
    model = keras.Sequential(
        [keras.Input((INPUT_DIM,)), layer, keras.layers.Dense(INPUT_DIM)]
    )
    kinds.append(("sequential", model, layer))

    layer = make_layer()
    inputs = keras.Input((INPUT_DIM,))
    outputs = keras.layers.Dense(INPUT_DIM)(layer(inputs))
    kinds.append(("functional", keras.Model(inputs, outputs), layer))

    layer = make_layer()
    kinds.append(("subclassed", SubclassedModel(layer), layer))

    layer = make_layer()
    inner = keras.Sequential([keras.Input((INPUT_DIM,)), layer], name="inner")
    inputs = keras.Input((INPUT_DIM,))
    hidden = inner(inputs)
    outputs = keras.layers.Dense(INPUT_DIM)(keras.layers.Activation("linear")(hidden))
    kinds.append(("nested", keras.Model(inputs, outputs), layer))
    return kinds


def check_counted_once(make_layer, penalty_of, batch_size=16):
    """Checks the four kinds of model; `penalty_of(layer, x)` is the expected term."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.05, 0.95, size=(batch_size, INPUT_DIM)).astype("float32")
    y = rng.uniform(size=(batch_size, INPUT_DIM)).astype("float32")
    for kind, model, layer in model_kinds(make_layer):
        model(x)
        expected = float(keras.ops.convert_to_numpy(penalty_of(layer, x)))
        assert expected > 0, kind
        if keras.backend.backend() != "jax":  # JAX keeps losses of traced calls only
            model(x)  # a second call replaces the losses of the first
            assert len(model.losses) == 1, kind
            np.testing.assert_allclose(
                float(keras.ops.convert_to_numpy(model.losses[0])),
                expected,
                rtol=1e-5,
                err_msg=kind,
            )
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
        loss = model.evaluate(x, y, batch_size=batch_size, verbose=0)
        np.testing.assert_allclose(loss, mse + expected, rtol=1e-5, err_msg=kind)
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        np.testing.assert_allclose(
            history.history["loss"][0], mse + expected, rtol=1e-5, err_msg=kind
        )
