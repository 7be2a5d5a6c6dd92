"""Contractive penalty benchmark: what the penalty adds to a training step.

Run from the repository root:

    python bench/contractive.py            # under 3 minutes on a 2-core CPU
    python bench/contractive.py --quick    # fewer blocks, no batch 256

The model is the 784-1000-784 sigmoid autoencoder of Rifai et al. (2011),
with tied weights, binary cross-entropy and SGD, on the CPU (CUDA devices
are hidden unless `CUDA_VISIBLE_DEVICES` is set). Training steps are timed
at batch 128 for:

- `plain`: the reconstruction loss alone;
- `closed_form`: plus λ‖J‖²_F through
  `ContractiveRegularizer(method="closed_form")`, the formula
  Σ_j s′(a_j)² Σ_i W_ij² of a Dense encoder (what `Autoencoder(contractive=λ)`
  uses for one hidden layer);
- `jacobian`: the same penalty through the general exact path,
  `ContractiveRegularizer(method="jacobian")`, which builds each example's
  Jacobian from one vector-Jacobian product per code unit;
- `fused (reference)`: not library code; a sigmoid layer written here that
  takes the penalty from the pre-activation it has already computed. The
  library's wrapper now does the equivalent (it reads s′ off the encoder's
  outputs h, e.g. h(1 − h) for a sigmoid), so the two should cost the same.

A shared machine's load changes from second to second, so the cheap
variants are measured in short blocks of a few steps, one variant after the
other (the order rotates), many times over; the ratio to `plain` is the
median of the ratios within blocks. Each block is timed twice: by the wall
clock, and by the CPU time of this process (all its threads), which other
processes disturb much less. The table also gives the ratio of the fastest
blocks ("best"), the usual estimate when noise only ever adds time. Compare
the ratios, not the absolute times. Rifai et al. report that the closed form
costs about as much as the reconstruction itself; the target here is a
closed-form step at most 1.25 times the plain one.

The general path is also timed at batch 32, 64, 128 and 256, one step at each
between the blocks above: its time per example should stay flat, since its
cost is linear in the batch size. For a Dense encoder each product with a
one-hot cotangent is a dense matrix product, so the path costs about
batch × units × (units × inputs) multiply-adds, `units` times more than the
step itself, and holds batch × units × inputs Jacobian entries (about 7 GB of
peak memory at batch 256); it is there for encoders the closed form does not
cover.

The script prints a table and writes every number to
`bench/contractive.json` (`--json` to change).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np

INPUTS = 784
CHEAP = ("plain", "closed_form", "fused")
LABELS = {
    "plain": "plain",
    "closed_form": "closed_form",
    "fused": "fused (reference)",
    "jacobian": "jacobian",
}
TARGET_CLOSED_FORM_RATIO = 1.25


def fused_encoder_class():
    import keras
    from keras import ops

    class FusedContractiveEncoder(keras.layers.Layer):
        """Reference for the benchmark only: sigmoid Dense + λ‖J‖²_F, one matmul."""

        def __init__(self, units, weight, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.weight = weight

        def build(self, input_shape):
            self.kernel = self.add_weight(
                name="kernel",
                shape=(input_shape[-1], self.units),
                initializer="glorot_uniform",
            )
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer="zeros"
            )

        def call(self, inputs):
            codes = ops.sigmoid(ops.add(ops.matmul(inputs, self.kernel), self.bias))
            slope = ops.multiply(codes, ops.subtract(1.0, codes))
            column_norms = ops.sum(ops.square(self.kernel), axis=0)
            norms = ops.sum(ops.multiply(ops.square(slope), column_norms), axis=1)
            self.add_loss(ops.multiply(self.weight, ops.mean(norms)))
            return codes

    return FusedContractiveEncoder


def build_model(variant, units, weight):
    """The tied sigmoid autoencoder, with the penalty computed by `variant`."""
    import keras

    from keras_deepae.layers import TiedDense
    from keras_deepae.regularizers import ContractiveRegularizer

    inputs = keras.Input((INPUTS,))
    if variant == "fused":
        dense = fused_encoder_class()(units, weight, name="encoder")
        encoder = dense
    else:
        dense = keras.layers.Dense(units, activation="sigmoid", name="encoder")
        encoder = dense
        if variant != "plain":
            encoder = ContractiveRegularizer(dense, weight=weight, method=variant)
    codes = encoder(inputs)  # builds the kernel that the decoder shares
    outputs = TiedDense(dense, activation="sigmoid", name="decoder")(codes)
    model = keras.Model(inputs, outputs, name=f"autoencoder_{variant}")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    return model


def seconds_per_step(model, x, steps):
    """(wall-clock, process CPU) seconds per training step, over `steps` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, x)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def warm_up(model, x):
    """One step outside the clock: traces the training function for `x`."""
    start = time.perf_counter()
    model.train_on_batch(x, x)
    return time.perf_counter() - start


def rotate(items, shift):
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


def measure(models, jacobian, data, batch_size, sweep, rounds, blocks, steps):
    """`blocks` blocks of the cheap variants at `batch_size`, then one step of
    the general path at one of the `sweep` batch sizes, and so on.

    Returns two dicts of lists of (wall, cpu) seconds per step: per cheap
    variant (one entry per block) and per batch size of the general path.
    """
    x = data[:batch_size]
    cheap = {name: [] for name in CHEAP}
    general = {b: [] for b in sweep}
    block = 0
    for round_ in range(rounds):
        for b in rotate(sweep, round_):
            for _ in range(blocks):
                for name in rotate(CHEAP, block):
                    cheap[name].append(seconds_per_step(models[name], x, steps))
                block += 1
            general[b].append(seconds_per_step(jacobian, data[:b], 1))
    return cheap, general


def summarise(cheap, general, batch_size, clock):
    """Medians, ratios to `plain` and the general path's sweep for one clock
    (0: wall, 1: CPU)."""
    times = {name: [t[clock] for t in values] for name, values in cheap.items()}
    plain = times["plain"]
    step_s = {name: statistics.median(values) for name, values in times.items()}
    paired = {
        name: statistics.median(t / p for t, p in zip(values, plain))
        for name, values in times.items()
    }
    best = {name: min(values) / min(plain) for name, values in times.items()}
    sweep_s = {b: statistics.median(t[clock] for t in v) for b, v in general.items()}
    step_s["jacobian"] = sweep_s[batch_size]
    paired["jacobian"] = best["jacobian"] = step_s["jacobian"] / step_s["plain"]
    slope, intercept = np.polyfit(list(sweep_s), list(sweep_s.values()), 1)
    return {
        "step_s": step_s,
        "ratio_to_plain": paired,
        "ratio_best": best,
        "jacobian_sweep_step_s": {str(b): s for b, s in sweep_s.items()},
        "jacobian_per_example_ms": {str(b): 1000 * s / b for b, s in sweep_s.items()},
        "jacobian_linear_fit": {"s_per_example": slope, "intercept_s": intercept},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps, batch sizes <= 128"
    )
    parser.add_argument("--units", type=int, default=1000, help="code units")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--sweep",
        type=int,
        nargs="+",
        help="batch sizes of the general path (default 32 64 128 256; "
        "32 64 128 with --quick)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="passes over --sweep")
    parser.add_argument("--weight", type=float, default=0.1, help="λ")
    parser.add_argument("--json", default=os.path.join("bench", "contractive.json"))
    args = parser.parse_args(argv)

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    started = time.perf_counter()
    batch_size = args.batch_size
    steps = 5
    blocks = 3 if args.quick else 4
    sweep = args.sweep or ([32, 64, 128] if args.quick else [32, 64, 128, 256])
    sweep = sorted(set(sweep) | {batch_size})

    rng = np.random.default_rng(0)
    data = rng.uniform(size=(max(sweep), INPUTS)).astype("float32")
    x = data[:batch_size]

    keras.utils.set_random_seed(0)
    variants = CHEAP + ("jacobian",)
    models = {v: build_model(v, args.units, args.weight) for v in variants}
    counts = {v: model.count_params() for v, model in models.items()}
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"The models differ in size: {counts}")
    first_step = {v: warm_up(models[v], x) for v in variants}
    penalties = {v: len(model.losses) for v, model in models.items()}
    if penalties != {"plain": 0, "closed_form": 1, "fused": 1, "jacobian": 1}:
        raise RuntimeError(f"Unexpected penalty terms: {penalties}")
    jacobian = models["jacobian"]
    for b in sweep:
        if b != batch_size:
            first_step[f"jacobian@{b}"] = warm_up(jacobian, data[:b])

    cheap, general = measure(
        models, jacobian, data, batch_size, sweep, args.rounds, blocks, steps
    )
    wall = summarise(cheap, general, batch_size, clock=0)
    cpu = summarise(cheap, general, batch_size, clock=1)
    elapsed = time.perf_counter() - started
    peak_memory_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    closed = {
        "wall": wall["ratio_to_plain"]["closed_form"],
        "wall_best": wall["ratio_best"]["closed_form"],
        "cpu": cpu["ratio_to_plain"]["closed_form"],
    }

    report = {
        "model": f"{INPUTS}-{args.units}-{INPUTS} sigmoid, tied, SGD, BCE",
        "backend": keras.backend.backend(),
        "keras": keras.version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_end": os.getloadavg(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "jit_compile": {v: bool(model.jit_compile) for v, model in models.items()},
        "quick": args.quick,
        "batch_size": batch_size,
        "weight": args.weight,
        "parameters": counts["plain"],
        "rounds": args.rounds,
        "blocks_per_general_step": blocks,
        "steps_per_block": steps,
        "first_step_s": first_step,
        "wall": wall,
        "cpu": cpu,
        "closed_form_ratio": closed,
        "target_closed_form_ratio": TARGET_CLOSED_FORM_RATIO,
        "block_s": {name: values for name, values in cheap.items()},
        "jacobian_step_s": {str(b): values for b, values in general.items()},
        "peak_memory_gb": peak_memory_gb,
        "total_s": elapsed,
    }

    print(f"{report['model']}, batch {batch_size}, {report['backend']} on CPU")
    print(
        f"{'variant':<18} {'wall ms':>9} {'x plain':>8} {'best':>6} "
        f"{'CPU ms':>9} {'x plain':>8} {'best':>6}"
    )
    for v in variants:
        print(
            f"{LABELS[v]:<18} {1000 * wall['step_s'][v]:9.1f} "
            f"{wall['ratio_to_plain'][v]:8.2f} {wall['ratio_best'][v]:6.2f} "
            f"{1000 * cpu['step_s'][v]:9.1f} {cpu['ratio_to_plain'][v]:8.2f} "
            f"{cpu['ratio_best'][v]:6.2f}"
        )
    print(
        f"closed form / plain: {closed['wall']:.2f} (wall), "
        f"{closed['wall_best']:.2f} (wall, best blocks), {closed['cpu']:.2f} (CPU); "
        f"target <= {TARGET_CLOSED_FORM_RATIO}"
    )
    print()
    print("general (jacobian) path against the batch size")
    print(
        f"{'batch':>6} {'wall s':>8} {'ms/example':>11} {'CPU s':>8} {'ms/example':>11}"
    )
    for b in sweep:
        print(
            f"{b:6d} {wall['jacobian_sweep_step_s'][str(b)]:8.2f} "
            f"{wall['jacobian_per_example_ms'][str(b)]:11.1f} "
            f"{cpu['jacobian_sweep_step_s'][str(b)]:8.2f} "
            f"{cpu['jacobian_per_example_ms'][str(b)]:11.1f}"
        )
    for name, clock in (("wall", wall), ("CPU", cpu)):
        fit = clock["jacobian_linear_fit"]
        print(
            f"least squares ({name}): step = {fit['intercept_s']:.2f} s "
            f"+ {1000 * fit['s_per_example']:.1f} ms x batch"
        )
    load = ", ".join(f"{value:.1f}" for value in report["load_average_at_end"])
    print(
        f"\ntotal {elapsed:.0f} s, peak memory {peak_memory_gb:.1f} GB, "
        f"load average {load}"
    )
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
