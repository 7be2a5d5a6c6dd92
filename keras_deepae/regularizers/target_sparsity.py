import math

import keras
from keras import ops

from keras_deepae.regularizers._activity_scale import (
    as_activity_loss,
    keras_divides_by_batch_size,
)
from keras_deepae.regularizers._arguments import check_number


@keras.saving.register_keras_serializable(package="keras_deepae")
class TargetSparsity(keras.regularizers.Regularizer):
    """KL-divergence penalty that pulls each unit's mean activation to a target.

    The sparse autoencoder penalty. For each unit j, ρ̂_j is its mean
    activation over the batch (one value per unit, never per element), and
    the loss term is

        weight × Σ_j KL(ρ ‖ ρ̂_j),
        KL(ρ ‖ ρ̂) = ρ log(ρ / ρ̂) + (1 − ρ) log((1 − ρ) / (1 − ρ̂)),

    the divergence between a Bernoulli of mean ρ (`target`) and one of mean
    ρ̂_j. It is zero when ρ̂_j = ρ and grows fast as ρ̂_j leaves it. For
    ρ = 0.1 and ρ̂ = 0.4 it is 0.2263 per unit.

    It expects activations in [0, 1], such as the outputs of a `sigmoid`
    layer: ρ̂ is read as the probability that the unit fires. Before the
    logarithms, ρ̂ is clipped to [ε, 1 − ε] (ε = `keras.config.epsilon()`),
    so that units that are always off or always on give a finite penalty and
    finite (zero) gradients. Every element of a non-batch axis counts as a
    unit, so a feature map of shape `(B, H, W, C)` has H·W·C units.

    Scaling: the term is a sum over units, so it grows linearly with their
    number. It is a property of the batch mean, not a sum over examples, so
    it does not grow with the batch size; but a small batch gives a noisy ρ̂.
    The term is exactly the penalty above on every Keras 3 release: Keras
    3.14 started to divide an activity regularizer's value by the batch size,
    and `__call__` returns the value that Keras turns into the penalty. Use
    `penalty(h)` to compute the penalty itself.

    Running estimate (`momentum`): the original formulation uses ρ̂ over the
    whole training set. With `momentum=m`, the estimate is an exponential
    moving average over batches, ρ̄ ← m ρ̄ + (1 − m) ρ̂_batch, with the bias
    correction of Adam (so the first batch counts fully). The loss term is
    weight × Σ_j KL(ρ ‖ ρ̄_j), and its gradient is that of the full-data
    penalty estimated on the batch: weight × Σ_j KL′(ρ̄_j) ∂ρ̂_batch,j/∂θ.
    The estimate is state, which a regularizer cannot hold: with a
    `momentum`, `TargetSparsity` must be hosted by a layer that keeps ρ̄ and
    calls `running_penalty`, such as `keras_deepae.models.Autoencoder`
    (`code_regularizer=TargetSparsity(momentum=0.99)`). Attaching it as the
    `activity_regularizer` of another layer raises an error at the first
    call.

    Args:
        target: the target mean activation ρ, in (0, 1).
        weight: the weight β of the penalty, a finite number >= 0.
        momentum: `None` for the batch estimate of ρ̂, or the momentum m in
            [0, 1) of a running estimate (see above). `momentum=0` gives the
            same value and gradient as `None`.

    Reference:
        - [Ng, 2011, Sparse autoencoder, CS294A lecture notes](
          https://web.stanford.edu/class/cs294a/sparseAutoencoder.pdf),
          section 3.

    Example:

    >>> encoder = keras.layers.Dense(
    ...     64, activation="sigmoid",
    ...     activity_regularizer=TargetSparsity(target=0.05, weight=3.0),
    ... )
    >>> h = encoder(keras.ops.ones((8, 784)))
    >>> len(encoder.losses)  # 3 × Σ_j KL(0.05 ‖ mean of h_j over the 8 rows)
    1
    """

    def __init__(self, target=0.05, weight=3.0, momentum=None):
        self.target = check_number(
            "target", target, low=0, high=1, low_open=True, high_open=True
        )
        self.weight = check_number("weight", weight, low=0)
        if momentum is not None:
            momentum = check_number("momentum", momentum, low=0, high=1, high_open=True)
        self.momentum = momentum
        keras_divides_by_batch_size()

    def unit_means(self, x):
        """ρ̂: the mean of `x` over its batch axis, in float32 or wider."""
        x = ops.convert_to_tensor(x)
        if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
            x = ops.cast(x, "float32")
        if len(x.shape) == 0:
            return x
        return ops.mean(x, axis=0)

    def divergence(self, means):
        """KL(ρ ‖ ρ̂_j) for each entry of `means`, with ρ̂ clipped away from 0, 1."""
        rho = self.target
        epsilon = keras.config.epsilon()
        means = ops.clip(means, epsilon, 1.0 - epsilon)
        return ops.add(
            ops.multiply(rho, ops.subtract(math.log(rho), ops.log(means))),
            ops.multiply(
                1.0 - rho,
                ops.subtract(math.log(1.0 - rho), ops.log(ops.subtract(1.0, means))),
            ),
        )

    def penalty(self, x):
        """The loss term for a batch `x`: weight × Σ_j KL(ρ ‖ ρ̂_j), ρ̂ on the batch."""
        return ops.multiply(self.weight, ops.sum(self.divergence(self.unit_means(x))))

    def running_penalty(self, x, estimate, steps):
        """The loss term with a running estimate of ρ̂, and the updated state.

        For a layer that hosts the state (see the class docstring). The state
        is `estimate`, the uncorrected moving average of ρ̂ (zeros at first),
        with the shape of one example, and `steps`, the number of batches it
        has seen (a float scalar, 0 at first). Store the returned state when
        training, and keep the old one otherwise.

        Returns:
            A tuple `(penalty, new_estimate, new_steps)`.
        """
        if self.momentum is None:
            raise ValueError(
                "`running_penalty` needs a `momentum`. Received: momentum=None"
            )
        momentum = self.momentum
        means = self.unit_means(x)
        estimate = ops.cast(estimate, means.dtype)
        steps = ops.add(ops.cast(steps, means.dtype), 1.0)
        average = ops.add(
            ops.multiply(momentum, estimate), ops.multiply(1.0 - momentum, means)
        )
        corrected = ops.stop_gradient(
            ops.divide(average, ops.subtract(1.0, ops.power(momentum, steps)))
        )
        # Value: Σ KL at the running estimate. Gradient: KL′ there, times
        # the gradient of this batch's means (the added term is zero).
        epsilon = keras.config.epsilon()
        clipped = ops.clip(corrected, epsilon, 1.0 - epsilon)
        slope = ops.add(
            ops.divide(-self.target, clipped),
            ops.divide(1.0 - self.target, ops.subtract(1.0, clipped)),
        )
        surrogate = ops.multiply(slope, ops.subtract(means, ops.stop_gradient(means)))
        total = ops.sum(ops.add(self.divergence(corrected), surrogate))
        return ops.multiply(self.weight, total), ops.stop_gradient(average), steps

    def __call__(self, x):
        if self.momentum is not None:
            raise ValueError(
                "A TargetSparsity with a running estimate (momentum="
                f"{self.momentum}) needs a layer that holds the estimate, such "
                "as `keras_deepae.models.Autoencoder(code_regularizer=...)`, or "
                "your own layer calling `running_penalty`; it cannot be an "
                "`activity_regularizer`. Use momentum=None for the batch estimate."
            )
        x = ops.convert_to_tensor(x)
        return as_activity_loss(self.penalty(x), x)

    def get_config(self):
        return {"target": self.target, "weight": self.weight, "momentum": self.momentum}
