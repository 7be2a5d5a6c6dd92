"""keras-deepae benchmarks: training throughput against the machine's limit.

Run from the repository root:

    python bench/run.py                      # every installed backend
    python bench/run.py --backends tensorflow --quick

Each backend runs in its own subprocess (Keras fixes its backend at import).
The script prints one table and writes every number to `bench/results.json`
(`--json` to change). All speeds of one run are measured back to back on the
same machine, so compare them as ratios; absolute numbers move with the load
of a shared machine.

What is measured:

- `matmul`: float32 NumPy matmul of two 2048 x 2048 matrices, in GFLOP/s
  (2 n^3 FLOP), the reference limit of the machine.
- `dae/library`, `dae/library-bernoulli` and `dae/plain`: one epoch of
  `fit` of the 784-1000-784 denoising autoencoder (sigmoid, 25 % masking
  noise, binary cross-entropy, SGD, batch 128): the library's tied
  `Autoencoder` with `CorruptionLayer` (exactly 196 masked inputs per
  example, or Bernoulli masking), and a plain Keras model with two untied
  Dense layers and `Dropout` standing in for the noise. GFLOP/s count
  6 x 2 x 784 x 1000 FLOP per example (two matrix products forward, twice as
  much backward).
- `alexnet/forward`: AlexNet inference at 227 x 227 x 3, batch 32, in
  images/s and GFLOP/s (2 FLOP per multiply-add of the convolutions and the
  dense layers).
- `stack/pretrain-epoch`: one greedy pretraining epoch for each layer of a
  784-500-500-250 stack of denoising autoencoders (25 % masking, tied,
  sigmoid, Adam, batch 128), including computing each layer's clean inputs;
  examples/s per full pass over the three layers.
- The contractive penalty's overhead is measured by `bench/contractive.py`.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
DAE_FLOP_PER_EXAMPLE = 6 * 2 * 784 * 1000


def matmul_gflops(n=2048, repeats=5):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def time_fit(model, x, epochs, batch_size):
    """Seconds per epoch of `fit`, after one warm-up epoch (tracing)."""
    model.fit(x, x, epochs=1, batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.fit(x, x, epochs=epochs, batch_size=batch_size, verbose=0)
    return (time.perf_counter() - start) / epochs


def dae_models():
    import keras

    from keras_deepae.layers import CorruptionLayer
    from keras_deepae.models import Autoencoder

    library = Autoencoder(1000, tied=True, corruption=CorruptionLayer("mask", 0.25))
    library.compile(optimizer=keras.optimizers.SGD(0.1))
    # The same model with Bernoulli masking, the noise Dropout draws: this
    # isolates the cost of an exact count of masked inputs per example.
    bernoulli = Autoencoder(
        1000,
        tied=True,
        corruption=CorruptionLayer("mask", 0.25, sampling="bernoulli"),
    )
    bernoulli.compile(optimizer=keras.optimizers.SGD(0.1))

    plain = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(1000, activation="sigmoid"),
            keras.layers.Dense(784, activation="sigmoid"),
        ]
    )
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    return {"library": library, "library-bernoulli": bernoulli, "plain": plain}


def pretraining_epoch(n):
    """Seconds of one greedy pretraining epoch per layer of a 3-layer stack."""
    from keras_deepae.layers import CorruptionLayer
    from keras_deepae.models import StackedAutoencoder

    x = np.random.default_rng(1).uniform(size=(n, 784)).astype("float32")
    stack = StackedAutoencoder(
        (500, 500, 250), corruption=CorruptionLayer("mask", 0.25), seed=0
    )
    start = time.perf_counter()
    stack.pretrain(x, epochs_per_layer=1, batch_size=128, verbose=0)
    return time.perf_counter() - start


def alexnet_forward(batch_size, repeats):
    from keras_deepae.applications import AlexNet

    model = AlexNet()
    x = np.random.default_rng(0).uniform(size=(batch_size, 227, 227, 3))
    x = x.astype("float32")
    model.predict(x, batch_size=batch_size, verbose=0)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.predict(x, batch_size=batch_size, verbose=0)
    seconds = (time.perf_counter() - start) / repeats
    return batch_size / seconds, alexnet_flop(model) * batch_size / seconds / 1e9


def alexnet_flop(model):
    """FLOP of one forward pass: 2 per multiply-add of conv and dense layers."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin_per_group, cout = layer.kernel.shape
            oh, ow = layer.output.shape[1:3]
            total += 2 * oh * ow * cout * kh * kw * cin_per_group
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def run_backend(args):
    """Runs inside a subprocess with KERAS_BACKEND set; prints JSON."""
    import keras

    results = {}
    n = 2048 if args.quick else 8192
    epochs = 1 if args.quick else 3
    x = np.random.default_rng(0).uniform(size=(n, 784)).astype("float32")
    for name, model in dae_models().items():
        seconds = time_fit(model, x, epochs=epochs, batch_size=128)
        results[f"dae/{name}"] = {
            "examples_per_s": n / seconds,
            "gflops": DAE_FLOP_PER_EXAMPLE * n / seconds / 1e9,
        }
    seconds = pretraining_epoch(n)
    # FLOP of one epoch per layer: 6 x 2 x d_in x d_out per example and layer.
    flop = sum(6 * 2 * a * b for a, b in [(784, 500), (500, 500), (500, 250)])
    results["stack/pretrain-epoch"] = {
        "examples_per_s": n / seconds,
        "gflops": flop * n / seconds / 1e9,
        "seconds": seconds,
    }
    if not args.skip_alexnet:
        images, gflops = alexnet_forward(32, repeats=1 if args.quick else 3)
        results["alexnet/forward"] = {"images_per_s": images, "gflops": gflops}
    print("RESULTS " + json.dumps({"backend": keras.backend.backend(), **results}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--skip-alexnet", action="store_true")
    parser.add_argument("--json", default=os.path.join("bench", "results.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_backend(args)
        return 0

    backends = args.backends or [
        b for b in BACKENDS if importlib.util.find_spec(b) is not None
    ]
    peak = matmul_gflops()
    report = {"matmul_gflops": peak, "backends": {}}
    print(f"matmul 2048^3 float32 (NumPy): {peak:8.1f} GFLOP/s")
    for backend in backends:
        command = [sys.executable, __file__, "--worker"]
        command += ["--quick"] * args.quick + ["--skip-alexnet"] * args.skip_alexnet
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULTS ")]
        if done.returncode != 0 or not lines:
            print(f"{backend}: failed\n{done.stderr[-2000:]}")
            report["backends"][backend] = {"error": done.stderr[-2000:]}
            continue
        result = json.loads(lines[-1].removeprefix("RESULTS "))
        report["backends"][backend] = result
    print_table(report)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"written to {args.json}")
    return 0


def print_table(report):
    peak = report["matmul_gflops"]
    print(f"{'backend':<11} {'measure':<17} {'speed':>16} {'GFLOP/s':>8} {'% peak':>7}")
    for backend, result in report["backends"].items():
        if "error" in result:
            continue
        for key, value in result.items():
            if key == "backend":
                continue
            unit = "examples_per_s" if "examples_per_s" in value else "images_per_s"
            speed = f"{value[unit]:.0f} {unit.split('_')[0]}/s"
            pct = 100 * value["gflops"] / peak
            gflops = value["gflops"]
            print(f"{backend:<11} {key:<17} {speed:>16} {gflops:8.1f} {pct:6.1f}%")
        plain = result.get("dae/plain", {}).get("examples_per_s")
        for name in ("library", "library-bernoulli"):
            library = result.get(f"dae/{name}", {}).get("examples_per_s")
            if library and plain:
                ratio = library / plain
                print(f"{backend:<11} {name} / plain DAE step: {ratio:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
