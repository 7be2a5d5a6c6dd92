"""The `deepae` command line.

`deepae course` executes the course notebooks headless, in lecture order, and
writes the executed notebooks and their HTML rendering to `build/course/`;
`deepae course --lab` opens JupyterLab on the course instead. `deepae
protocols` compares the ways of training a classifier (purely supervised,
pretrained and frozen, pretrained and fine-tuned, SVMs) for several budgets
of labels and writes the table as CSV or JSON. The parser is built from
subcommands so that later tools (`deepae bench`) slot in beside these.

The notebook tools (nbclient, nbconvert, ipykernel, JupyterLab) come with the
`course` extra and are imported only when a command needs them.

Example:

```
deepae course                     # every notebook, quick profile
deepae course --profile full      # tfds MNIST, GPU-sized epochs
deepae course --only 01 04        # a selection, by prefix or name
deepae course --list              # what would run
deepae course --lab               # JupyterLab on course/
deepae course --lab -- --no-browser --port 8890
deepae protocols --labels 100 1000 all --output results.csv
```
"""

import argparse
import csv
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from keras_deepae import __version__
from keras_deepae.datasets import DATASET_NAMES
from keras_deepae.profile import PROFILES
from keras_deepae.protocols.training_protocols import PROTOCOLS, SVM_KERNELS

PROFILE_VARIABLE = "DEEPAE_PROFILE"
DEFAULT_PROFILE = "quick"

# Per-cell time limit, in seconds, when `--timeout` is not given; `None` means
# no limit (full-profile training cells on a GPU may legitimately run long).
DEFAULT_CELL_TIMEOUT = {"quick": 600, "full": None}

# A notebook announces its headline number by printing a line that starts
# with this prefix; the last such line of its standard output wins.
HEADLINE_PREFIX = "HEADLINE:"

# Course notebooks are named `NN_topic.ipynb`, two-digit prefix first.
NOTEBOOK_NAME = re.compile(r"^\d\d_[^/]+\.ipynb$")

# The repository root when the package is installed editable from a checkout.
REPOSITORY_DIR = Path(__file__).resolve().parent.parent


class CommandError(Exception):
    """A user error that ends a command with a message and exit status 2."""


@dataclasses.dataclass
class NotebookResult:
    """What one executed notebook reports back to the runner."""

    name: str
    ok: bool
    seconds: float
    headline: str | None = None
    error: str | None = None


def main(argv=None):
    """Runs the `deepae` command line and returns its exit status.

    Args:
        argv: the arguments after the program name; `None` reads `sys.argv`.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"deepae {args.command}: error: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"deepae {args.command}: interrupted", file=sys.stderr, flush=True)
        return 130


def build_parser():
    """Returns the `argparse` parser of `deepae` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="deepae",
        description="Tools for the keras-deepae library and its notebook course.",
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-deepae {__version__}"
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_course_command(subcommands)
    _add_protocols_command(subcommands)
    return parser


def _add_course_command(subcommands):
    course = subcommands.add_parser(
        "course",
        help="run the course notebooks headless, or open them in JupyterLab",
        description=(
            "Execute every course/NN_*.ipynb notebook in order, in a fresh "
            "kernel of this Python, with course/ as working directory; write "
            "the executed notebooks and their HTML to the output directory and "
            "print one line per notebook: status, seconds, headline. Exits "
            "non-zero when a notebook fails."
        ),
    )
    course.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help=(
            f"run profile handed to the notebooks as ${PROFILE_VARIABLE} "
            f"(default: ${PROFILE_VARIABLE} if set, else {DEFAULT_PROFILE})"
        ),
    )
    course.add_argument(
        "--only",
        nargs="+",
        metavar="NOTEBOOK",
        help=(
            "run only these notebooks, each given by its prefix (01), "
            "the start of its name (04_denoising) or its topic (autoencoders)"
        ),
    )
    course.add_argument(
        "--timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help=(
            "time limit for one cell; 0 for none (default: 600 in the quick "
            "profile, none in the full profile)"
        ),
    )
    course.add_argument(
        "--course-dir",
        type=Path,
        default=None,
        metavar="PATH",
        help=(
            "the folder of the notebooks (default: course/ of the repository "
            "the package is installed from, else ./course)"
        ),
    )
    course.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        metavar="PATH",
        help="where executed notebooks and HTML go (default: build/course/ "
        "beside the course folder)",
    )
    action = course.add_mutually_exclusive_group()
    action.add_argument(
        "--list", action="store_true", help="list the notebooks and exit"
    )
    action.add_argument(
        "--lab", action="store_true", help="open JupyterLab on the course folder"
    )
    course.add_argument(
        "lab_options",
        nargs="*",
        metavar="-- LAB_OPTION",
        help="with --lab, options passed on to JupyterLab, after a lone --",
    )
    course.set_defaults(handler=_course_command)


def _course_command(args):
    profile = resolve_profile(args.profile)
    course_dir = find_course_dir(args.course_dir)
    if args.lab:
        return open_lab(course_dir, profile=profile, options=args.lab_options)
    if args.lab_options:
        raise CommandError(
            f"unexpected arguments {' '.join(args.lab_options)} (notebooks are "
            "chosen with --only; options after -- are for --lab)"
        )
    notebooks = select_notebooks(find_notebooks(course_dir), args.only)
    if args.list:
        for notebook in notebooks:
            print(notebook.name)
        return 0
    if not notebooks:
        raise CommandError(f"no NN_*.ipynb notebooks in {course_dir}")
    if args.timeout is None:
        timeout = DEFAULT_CELL_TIMEOUT[profile]
    else:
        timeout = args.timeout if args.timeout > 0 else None
    output_dir = args.output_dir or course_dir.parent / "build" / "course"
    results = run_course(
        notebooks,
        output_dir=output_dir,
        course_dir=course_dir,
        profile=profile,
        timeout=timeout,
    )
    failed = [result.name for result in results if not result.ok]
    print(
        f"{len(results)} notebooks, {len(failed)} failed "
        f"(profile {profile}); executed notebooks and HTML in {output_dir}",
        flush=True,
    )
    if failed:
        print(f"failed: {' '.join(failed)}", flush=True)
        return 1
    return 0


def resolve_profile(requested):
    """Returns the run profile: the `--profile` value, else the environment's."""
    # Read as `keras_deepae.profile.RunProfile.from_env` reads it.
    variable = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    profile = requested or variable or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise CommandError(
            f"{PROFILE_VARIABLE}={profile!r} is not a run profile; "
            f"use one of {', '.join(PROFILES)}"
        )
    return profile


def find_course_dir(requested=None):
    """Returns the course folder: the one asked for, or the first one found.

    Without `requested`, looks for `course/` in the repository the package is
    installed from (an editable install), then in the current directory.
    """
    if requested is not None:
        if not requested.is_dir():
            raise CommandError(f"--course-dir {requested} is not a directory")
        return requested.resolve()
    candidates = [REPOSITORY_DIR / "course", Path.cwd() / "course"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    looked_in = ", ".join(str(candidate) for candidate in candidates)
    raise CommandError(
        f"course directory not found (looked in {looked_in}); pass --course-dir PATH"
    )


def find_notebooks(course_dir):
    """Returns the `NN_*.ipynb` notebooks of `course_dir`, in lecture order."""
    return sorted(
        path for path in course_dir.iterdir() if NOTEBOOK_NAME.match(path.name)
    )


def select_notebooks(notebooks, only):
    """Keeps the notebooks that `only` names; all of them when it is empty."""
    if not only:
        return notebooks
    unmatched = [
        token
        for token in only
        if not any(_names(notebook, token) for notebook in notebooks)
    ]
    if unmatched:
        available = " ".join(notebook.name for notebook in notebooks) or "none"
        raise CommandError(
            f"--only {' '.join(unmatched)}: no such notebook (available: {available})"
        )
    return [
        notebook
        for notebook in notebooks
        if any(_names(notebook, token) for token in only)
    ]


def _names(notebook, token):
    token = token.removesuffix(".ipynb")
    topic = notebook.stem.split("_", 1)[1]
    return notebook.stem.startswith(token) or topic == token


def run_course(notebooks, *, output_dir, course_dir, profile, timeout):
    """Executes `notebooks` one after the other and returns their results.

    A failing notebook is reported and the next one still runs.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    width = max(len(notebook.name) for notebook in notebooks)
    results = []
    for notebook in notebooks:
        print(f"running {notebook.name} ...", flush=True)
        result = run_notebook(
            notebook,
            output_dir=output_dir,
            working_dir=course_dir,
            profile=profile,
            timeout=timeout,
        )
        status = "ok" if result.ok else "FAILED"
        print(
            f"{status:<6}  {result.name:<{width}}  {result.seconds:7.1f} s  "
            f"{result.headline or '-'}",
            flush=True,
        )
        if result.error:
            print(f"        {result.error}", flush=True)
        results.append(result)
    return results


def run_notebook(path, *, output_dir, working_dir, profile, timeout):
    """Executes one notebook and writes it, executed, as `.ipynb` and `.html`.

    The kernel is this interpreter's own ipykernel, whatever kernel the
    notebook's metadata names, so an unactivated virtual environment still
    runs its notebooks with its own packages.
    """
    nbformat, nbclient, nbconvert = _import_notebook_tools()
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        km=_current_python_kernel_manager(),
        resources={"metadata": {"path": str(working_dir)}},
    )
    started = time.perf_counter()
    error = None
    try:
        client.execute(env=_kernel_environment(profile))
    except nbclient.exceptions.CellExecutionError as failure:
        error = _first_line(f"{failure.ename}: {failure.evalue}")
        cell = _failed_cell(notebook)
        if cell is not None:
            error = f"cell {cell}: {error}"
    except Exception as failure:  # timeouts, a dead kernel, a broken notebook
        error = _first_line(f"{type(failure).__name__}: {failure}")
    seconds = time.perf_counter() - started

    nbformat.write(notebook, output_dir / path.name)
    try:
        html, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    except Exception as failure:
        error = error or _first_line(
            f"HTML export: {type(failure).__name__}: {failure}"
        )
    else:
        (output_dir / path.with_suffix(".html").name).write_text(html, "utf-8")
    return NotebookResult(
        name=path.name,
        ok=error is None,
        seconds=seconds,
        headline=find_headline(notebook),
        error=error,
    )


def find_headline(notebook):
    """Returns the notebook's headline: its last `HEADLINE:` stdout line."""
    headline = None
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        stdout = "".join(
            output.get("text", "")
            for output in cell.get("outputs", [])
            if output.output_type == "stream" and output.name == "stdout"
        )
        for line in stdout.splitlines():
            if line.startswith(HEADLINE_PREFIX):
                headline = line.removeprefix(HEADLINE_PREFIX).strip()
    return headline


def _failed_cell(notebook):
    """Returns the number (from 1) of the code cell whose error stopped the run."""
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        expected = "raises-exception" in cell.metadata.get("tags", [])
        if not expected and any(
            output.output_type == "error" for output in cell.get("outputs", [])
        ):
            return number
    return None


def _first_line(text, limit=200):
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _kernel_environment(profile):
    """The environment of a kernel or JupyterLab started by `deepae`."""
    environment = dict(os.environ)
    environment[PROFILE_VARIABLE] = profile
    # As if the environment were activated: `python` and console scripts of
    # this interpreter come first on PATH inside the notebooks too.
    bin_dir = os.path.dirname(sys.executable)
    path = environment.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        environment["PATH"] = os.pathsep.join(filter(None, [bin_dir, path]))
    return environment


def _current_python_kernel_manager():
    """A kernel manager whose kernel is ipykernel on `sys.executable`.

    A `python3` kernel spec installed elsewhere (in the user's Jupyter data
    folder, say) could point at another interpreter; this bypasses the
    lookup.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentPythonKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=CurrentPythonKernelSpecs()
    )


def _import_notebook_tools():
    try:
        import nbclient
        import nbclient.exceptions
        import nbconvert
        import nbformat
    except ImportError as missing:
        raise CommandError(
            f"{missing.name} is missing; install the course extra: "
            "pip install -e '.[course]'"
        ) from missing
    return nbformat, nbclient, nbconvert


def open_lab(course_dir, *, profile, options=()):
    """Runs JupyterLab on `course_dir` until it is stopped; returns its status.

    `options` go on JupyterLab's command line, e.g. `["--no-browser"]`.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={course_dir}",
        *options,
    ]
    print(f"opening JupyterLab on {course_dir} (profile {profile})", flush=True)
    lab = subprocess.Popen(command, env=_kernel_environment(profile))
    while True:
        try:
            return lab.wait()
        except KeyboardInterrupt:
            # JupyterLab receives the same Ctrl-C and asks whether to shut
            # down, then stops its kernels; wait for it rather than kill it.
            continue


# Formats `deepae protocols --output` writes, by file extension.
PROTOCOL_OUTPUT_FORMATS = (".csv", ".json")
PROTOCOL_COLUMNS = ("protocol", "labels", "test_error", "seconds", "pretrain_seconds")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, received {text!r}"
        )
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer, received {text!r}"
        )
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, received {text!r}"
        )
    return value


def _rate(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1), received {text!r}"
        )
    return value


def _label_budget(text):
    if text == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'all', received {text!r}"
        )
    return value


def _add_protocols_command(subcommands):
    protocols = subcommands.add_parser(
        "protocols",
        help="compare training protocols for several budgets of labels",
        description=(
            "Train the same network purely supervised, on a frozen pretrained "
            "stacked denoising autoencoder, and pretrained then fine-tuned, "
            "beside SVMs on the pretrained codes and on the pixels, for each "
            "number of labelled training examples; pretraining uses every "
            "training image, without labels. Prints the test error and the "
            "time of each protocol and budget, and writes them to --output. "
            "See keras_deepae.protocols.run_protocols."
        ),
    )
    protocols.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default="mnist5k",
        help="dataset, with its own train/test split (default: mnist5k)",
    )
    protocols.add_argument(
        "--labels",
        nargs="+",
        type=_label_budget,
        default=[100, 1000, "all"],
        metavar="N",
        help="label budgets: numbers of labelled training examples, or 'all' "
        "(default: 100 1000 all)",
    )
    protocols.add_argument(
        "--protocols",
        nargs="+",
        choices=PROTOCOLS,
        default=list(PROTOCOLS),
        metavar="PROTOCOL",
        help=f"protocols to run, among {', '.join(PROTOCOLS)} (default: all)",
    )
    protocols.add_argument(
        "--hidden-units",
        nargs="+",
        type=_positive_int,
        default=[500, 250],
        metavar="N",
        help="sizes of the hidden layers, bottom up (default: 500 250)",
    )
    protocols.add_argument(
        "--epochs-per-layer",
        type=_positive_int,
        default=10,
        metavar="N",
        help="pretraining epochs of each hidden layer (default: 10)",
    )
    protocols.add_argument(
        "--finetune-epochs",
        type=_positive_int,
        default=30,
        metavar="N",
        help="epochs of supervised training of each network (default: 30)",
    )
    protocols.add_argument(
        "--corruption-rate",
        type=_rate,
        default=0.25,
        metavar="RATE",
        help="fraction of inputs masked to 0 in pretraining (default: 0.25)",
    )
    protocols.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,
        metavar="N",
        help="examples per gradient step (default: 32)",
    )
    protocols.add_argument(
        "--pretrain-learning-rate",
        type=_positive_float,
        default=1e-3,
        metavar="LR",
        help="Adam's learning rate in pretraining (default: 0.001)",
    )
    protocols.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=1e-3,
        metavar="LR",
        help="Adam's learning rate in supervised training (default: 0.001)",
    )
    protocols.add_argument(
        "--svm-kernel",
        choices=SVM_KERNELS,
        default="rbf",
        help="kernel of both SVMs (default: rbf)",
    )
    protocols.add_argument(
        "--svm-c",
        type=_positive_float,
        default=1.0,
        metavar="C",
        help="regularization constant C of both SVMs (default: 1.0)",
    )
    protocols.add_argument(
        "--svm-layers",
        choices=("last", "all"),
        default="last",
        help="codes the SVM on features uses: the last hidden layer or all of "
        "them side by side (default: last)",
    )
    protocols.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="seed of the label subsets, weights, noise and order (default: 0)",
    )
    protocols.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the rows to PATH, as CSV (.csv) or JSON (.json)",
    )
    protocols.add_argument(
        "--quiet",
        action="store_true",
        help="print the table only, not a line per finished row",
    )
    protocols.set_defaults(handler=_protocols_command)


def _protocols_command(args):
    from keras_deepae.datasets import DatasetUnavailableError, load
    from keras_deepae.protocols import format_protocol_table, run_protocols

    output = args.output
    if output is not None:
        if output.suffix.lower() not in PROTOCOL_OUTPUT_FORMATS:
            raise CommandError(
                f"--output {output}: the file name must end in "
                f"{' or '.join(PROTOCOL_OUTPUT_FORMATS)}"
            )
        if not output.parent.is_dir():
            raise CommandError(
                f"--output {output}: the directory {output.parent} does not exist"
            )
    if len(set(args.protocols)) < len(args.protocols):
        raise CommandError(
            f"--protocols {' '.join(args.protocols)}: a protocol is repeated"
        )
    try:
        data = load(args.dataset)
    except DatasetUnavailableError as error:
        raise CommandError(f"--dataset {args.dataset}: {error}") from None
    budgets = _check_label_budgets(args.labels, data)

    settings = {
        "dataset": args.dataset,
        "label_budgets": [None if n == "all" else n for n in args.labels],
        "protocols": list(args.protocols),
        "hidden_units": list(args.hidden_units),
        "epochs_per_layer": args.epochs_per_layer,
        "finetune_epochs": args.finetune_epochs,
        "corruption_rate": args.corruption_rate,
        "batch_size": args.batch_size,
        "pretrain_learning_rate": args.pretrain_learning_rate,
        "learning_rate": args.learning_rate,
        "svm_kernel": args.svm_kernel,
        "svm_c": args.svm_c,
        "svm_layers": args.svm_layers,
        "seed": args.seed,
    }
    if not args.quiet:
        print(
            f"{data!r}; labels {' '.join(map(str, budgets))}; "
            f"hidden units {' '.join(map(str, args.hidden_units))}",
            flush=True,
        )
    started = time.perf_counter()
    rows = run_protocols(
        data,
        **{key: value for key, value in settings.items() if key != "dataset"},
        verbose=0 if args.quiet else 1,
    )
    print(format_protocol_table(rows), flush=True)
    if output is not None:
        _write_protocol_rows(output, rows, settings)
        print(f"wrote {len(rows)} rows to {output}", flush=True)
    if not args.quiet:
        print(f"total time: {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def _check_label_budgets(labels, data):
    """The budgets as numbers of examples; a `CommandError` names a bad one."""
    total = len(data.y_train)
    budgets = [total if n == "all" else n for n in labels]
    for text, n in zip(labels, budgets, strict=True):
        if not data.num_classes <= n <= total:
            raise CommandError(
                f"--labels {text}: a budget must be from {data.num_classes} (one "
                f"label per class) to {total} (the training split of "
                f"{data.name}), or 'all'"
            )
    if len(set(budgets)) < len(budgets):
        raise CommandError(
            f"--labels {' '.join(map(str, labels))}: a budget is repeated "
            f"('all' is {total} on {data.name})"
        )
    return budgets


def _write_protocol_rows(path, rows, settings):
    """Writes the rows as CSV or JSON (with the settings), by extension."""
    if path.suffix.lower() == ".json":
        content = {"settings": settings, "rows": rows}
        path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=PROTOCOL_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row[column] for column in PROTOCOL_COLUMNS})


if __name__ == "__main__":
    sys.exit(main())
