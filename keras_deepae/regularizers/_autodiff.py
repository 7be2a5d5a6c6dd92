"""Derivatives that `keras.ops` cannot take: one function per backend.

`keras.ops` has no backend-independent gradient, so the two derivatives the
contractive penalty needs are taken here with the running backend's own
automatic differentiation: TensorFlow, JAX or PyTorch. Both results stay
differentiable, so that the penalty built from them has gradients with
respect to the weights (a second-order derivative).

- `elementwise_derivative(fn, x)`: f′(x) for an element-wise f, from one
  vector-Jacobian product with a cotangent of ones.
- `squared_jacobian_norms(fn, x)`: ‖∂fn(x)_b/∂x_b‖²_F for every example b of
  a batch, for a function that treats examples independently. Row j of every
  example's Jacobian comes from one vector-Jacobian product with the basis
  cotangent e_j put on every example at once, so the cost is one backward
  pass per output element (forward passes per input element on JAX when
  there are fewer inputs): linear in the batch size.
"""

import keras
import numpy as np


def _backend():
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax", "torch"):
        raise NotImplementedError(
            "The contractive penalty needs automatic differentiation, which the "
            f"{name!r} backend does not have. Use TensorFlow, JAX or PyTorch."
        )
    return name


def elementwise_derivative(fn, x):
    """f′(x), element by element, for an element-wise function `fn`."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        slope = tape.gradient(y, x)
        return tf.zeros_like(x) if slope is None else slope
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        y, pullback = jax.vjp(fn, x)
        return pullback(jnp.ones_like(y))[0]
    import torch

    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        y = fn(x)
        if not y.requires_grad:
            return torch.zeros_like(x)
        (slope,) = torch.autograd.grad(
            y, x, torch.ones_like(y), create_graph=create_graph
        )
    return slope


def squared_jacobian_norms(fn, x):
    """‖J_b‖²_F for each example b, J_b = ∂fn(x)_b / ∂x_b, shape `(batch,)`."""
    backend = _backend()
    if backend == "tensorflow":
        return _tensorflow_norms(fn, x)
    if backend == "jax":
        return _jax_norms(fn, x)
    return _torch_norms(fn, x)


def _tensorflow_norms(fn, x):
    import tensorflow as tf

    eager = tf.executing_eagerly()
    with tf.GradientTape(persistent=eager) as tape:
        tape.watch(x)
        y = fn(x)
        flat = tf.reshape(y, (tf.shape(y)[0], -1))
    if not eager:
        # In a graph, `batch_jacobian` vectorizes the products (pfor).
        jacobian = tape.batch_jacobian(flat, x)  # (batch, outputs, *inputs)
        jacobian = tf.reshape(jacobian, (tf.shape(jacobian)[0], -1))
        return tf.reduce_sum(tf.square(jacobian), axis=1)
    # Eagerly, pfor would trace a new graph at every call: loop instead.
    batch_size, num_outputs = flat.shape
    total = tf.zeros((batch_size,), dtype=x.dtype)
    for j in range(num_outputs):
        basis = tf.one_hot(tf.fill([batch_size], j), num_outputs, dtype=flat.dtype)
        row = tape.gradient(flat, x, output_gradients=basis)
        total += tf.reduce_sum(tf.square(tf.reshape(row, (batch_size, -1))), axis=1)
    del tape
    return total


def _jax_norms(fn, x):
    import jax
    import jax.numpy as jnp

    num_inputs = int(np.prod(x.shape[1:]))
    y = jax.eval_shape(fn, x)
    num_outputs = int(np.prod(y.shape[1:]))
    if num_outputs <= num_inputs:
        y, pullback = jax.vjp(fn, x)
        basis = jnp.eye(num_outputs, dtype=y.dtype)
        basis = jnp.broadcast_to(
            basis.reshape((num_outputs, 1) + y.shape[1:]), (num_outputs,) + y.shape
        )
        (rows,) = jax.vmap(pullback)(basis)  # (outputs, batch, *input_shape)
        parts = rows
    else:
        _, push = jax.linearize(fn, x)
        basis = jnp.eye(num_inputs, dtype=x.dtype)
        basis = jnp.broadcast_to(
            basis.reshape((num_inputs, 1) + x.shape[1:]), (num_inputs,) + x.shape
        )
        parts = jax.vmap(push)(basis)  # (inputs, batch, *output_shape)
    axes = (0,) + tuple(range(2, parts.ndim))
    return jnp.sum(jnp.square(parts), axis=axes)


def _torch_norms(fn, x):
    import torch

    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        y = fn(x)
        flat = y.reshape(y.shape[0], -1)
        total = torch.zeros(y.shape[0], dtype=x.dtype, device=x.device)
        if not flat.requires_grad:
            return total
        for j in range(flat.shape[1]):
            (row,) = torch.autograd.grad(
                flat[:, j],
                x,
                torch.ones_like(flat[:, j]),
                retain_graph=True,
                create_graph=create_graph,
            )
            total = total + row.reshape(row.shape[0], -1).square().sum(dim=1)
    return total
