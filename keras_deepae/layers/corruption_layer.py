import math
import numbers

import keras
from keras import ops

NOISE_KINDS = ("gaussian", "mask", "salt_and_pepper")
SAMPLING_KINDS = ("bernoulli", "exact")


@keras.saving.register_keras_serializable(package="keras_deepae")
class CorruptionLayer(keras.layers.Layer):
    """Corrupts its inputs during training, as a denoising autoencoder needs.

    A denoising autoencoder reconstructs a clean input x from a corrupted
    copy x̃ drawn from q(x̃ | x). This layer draws x̃ during training and is
    the identity everywhere else (`predict`, `evaluate` and a plain call).
    Three corruption processes are offered:

    - `"mask"`: masking noise. With `sampling="exact"` (the default), exactly
      `round(rate * d)` of the `d` components of each example, chosen at
      random, are set to 0, as in Vincent et al. (2008). With
      `sampling="bernoulli"`, each component is set to 0 independently with
      probability `rate`. The kept components are not rescaled (unlike
      `keras.layers.Dropout`).
    - `"gaussian"`: additive isotropic Gaussian noise, x̃ = x + ε with
      ε ~ N(0, stddev²). `rate` is not used.
    - `"salt_and_pepper"`: a fraction `rate` of the components (chosen as for
      `"mask"`) is set to `low` or `high`, each with probability 1/2.

    `d` counts every non-batch axis, so images of any shape are corrupted
    per example. Noise is fresh at every training step, also inside a
    compiled (`jit_compile=True`) step, and a given `seed` gives the same
    sequence of noise.

    Args:
        noise: one of `"mask"`, `"gaussian"`, `"salt_and_pepper"`.
        rate: fraction of the components corrupted by `"mask"` and
            `"salt_and_pepper"`, in [0, 1).
        stddev: standard deviation of the `"gaussian"` noise, >= 0.
        sampling: `"exact"` (a fixed count of components per example) or
            `"bernoulli"` (each component independently) for `"mask"` and
            `"salt_and_pepper"`.
        low: value given to "pepper" components.
        high: value given to "salt" components.
        seed: integer seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of any rank >= 2, batch first.
        training: whether to corrupt. Corruption happens only when it is
            true, which Keras sets inside `fit`.

    Input shape:
        Arbitrary, batch first.

    Output shape:
        Same as the input.

    Reference:
        - [Vincent et al., 2008](https://doi.org/10.1145/1390156.1390294),
          section 2.3.

    Example:

    >>> layer = CorruptionLayer("mask", rate=0.5, seed=0)
    >>> x = np.ones((2, 10), "float32")
    >>> y = keras.ops.convert_to_numpy(layer(x, training=True))
    >>> (y == 0).sum(axis=1).tolist()
    [5, 5]
    >>> bool((layer(x) == x).numpy().all())  # the identity outside training
    True
    """

    def __init__(
        self,
        noise="mask",
        rate=0.25,
        stddev=0.1,
        sampling="exact",
        low=0.0,
        high=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if noise not in NOISE_KINDS:
            raise ValueError(
                f"`noise` must be one of {', '.join(map(repr, NOISE_KINDS))}. "
                f"Received: noise={noise!r}"
            )
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise ValueError(f"`rate` must be a number. Received: rate={rate!r}")
        if not 0 <= rate < 1:
            raise ValueError(
                f"`rate` must be in the range [0, 1). Received: rate={rate}"
            )
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real):
            raise ValueError(f"`stddev` must be a number. Received: stddev={stddev!r}")
        if not stddev >= 0 or math.isinf(stddev):
            raise ValueError(
                f"`stddev` must be a finite number >= 0. Received: stddev={stddev}"
            )
        if sampling not in SAMPLING_KINDS:
            raise ValueError(
                "`sampling` must be one of "
                f"{', '.join(map(repr, SAMPLING_KINDS))}. "
                f"Received: sampling={sampling!r}"
            )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
        ):
            raise ValueError(
                f"`seed` must be an integer or None. Received: seed={seed!r}"
            )
        for name, value in (("low", low), ("high", high)):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
            ):
                raise ValueError(
                    f"`{name}` must be a finite number. Received: {name}={value!r}"
                )
        self.noise = noise
        self.rate = float(rate)
        self.stddev = float(stddev)
        self.sampling = sampling
        self.low = float(low)
        self.high = float(high)
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True

    def _selection(self, inputs):
        """Boolean tensor, true where a component is corrupted."""
        if self.sampling == "bernoulli":
            draws = keras.random.uniform(
                ops.shape(inputs), seed=self.seed_generator, dtype="float32"
            )
            return ops.less(draws, self.rate)
        # A fixed count per example. Each component gets a distinct integer
        # key: a uniform random level, with ties between equal levels broken
        # by a random order of the components drawn once per step. Ordering
        # by such keys is a uniformly random permutation of each example's
        # components, and the `count` smallest keys are the ones corrupted.
        # One integer sort per example is several times cheaper than ranking
        # with two float argsorts, on every backend.
        flat_size = math.prod(inputs.shape[1:])
        count = round(self.rate * flat_size)
        flat = ops.reshape(inputs, (-1, flat_size))
        if count == 0:
            return ops.zeros(ops.shape(inputs), "bool")
        levels = (2**31 - 1) // flat_size
        draws = keras.random.randint(
            ops.shape(flat), 0, levels, seed=self.seed_generator, dtype="int32"
        )
        order = keras.random.shuffle(
            ops.arange(flat_size, dtype="int32"), seed=self.seed_generator
        )
        keys = ops.add(ops.multiply(draws, flat_size), order)
        threshold = ops.sort(keys, axis=-1)[:, count - 1 : count]
        return ops.reshape(ops.less_equal(keys, threshold), ops.shape(inputs))

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if self.noise == "gaussian":
            if self.stddev == 0:
                return inputs
            noise = keras.random.normal(
                ops.shape(inputs),
                stddev=self.stddev,
                seed=self.seed_generator,
                dtype=inputs.dtype,
            )
            return ops.add(inputs, noise)
        if self.rate == 0:
            return inputs
        selected = self._selection(inputs)
        if self.noise == "mask":
            return ops.where(selected, ops.zeros_like(inputs), inputs)
        coin = keras.random.uniform(
            ops.shape(inputs), seed=self.seed_generator, dtype="float32"
        )
        values = ops.where(
            ops.less(coin, 0.5),
            ops.full_like(inputs, self.low),
            ops.full_like(inputs, self.high),
        )
        return ops.where(selected, values, inputs)

    def build(self, input_shape):
        if self.sampling == "exact" and self.noise != "gaussian":
            if len(input_shape) < 2 or any(d is None for d in input_shape[1:]):
                raise ValueError(
                    f"CorruptionLayer {self.name!r} with sampling='exact' needs "
                    "inputs whose non-batch dimensions are known, to count the "
                    f"corrupted components. Received: input_shape={input_shape}"
                )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "noise": self.noise,
                "rate": self.rate,
                "stddev": self.stddev,
                "sampling": self.sampling,
                "low": self.low,
                "high": self.high,
                "seed": self.seed,
            }
        )
        return config
