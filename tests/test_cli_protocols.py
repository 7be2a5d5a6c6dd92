"""Tests of `deepae protocols` on the small digits dataset (8x8, offline)."""

import contextlib
import csv
import io
import json

import pytest

from keras_deepae import cli, protocols
from keras_deepae.protocols import PROTOCOLS

TINY = [
    "--dataset",
    "digits",
    "--hidden-units",
    "16",
    "--epochs-per-layer",
    "1",
    "--finetune-epochs",
    "1",
]


def run_main(argv):
    """Runs `cli.main(argv)` in this process; returns (status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:
            status = exit_.code
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture()
def no_training(monkeypatch):
    """Makes any call to `run_protocols` fail: bad arguments must stop first."""

    def refuse(*args, **kwargs):
        raise AssertionError("run_protocols was called")

    monkeypatch.setattr(protocols, "run_protocols", refuse)


@pytest.mark.slow
def test_protocols_prints_and_writes_every_protocol_and_budget(tmp_path):
    output = tmp_path / "results.csv"
    status, stdout, stderr = run_main(
        ["protocols", *TINY, "--labels", "20", "all", "--output", str(output)]
    )
    assert status == 0, stderr
    lines = stdout.splitlines()
    # A progress line per row, then the table.
    assert sum(" labels: test error " in line for line in lines) == 10
    table = lines[[line.startswith("test error") for line in lines].index(True) :]
    assert table[0].split() == ["test", "error", "20", "labels", "1437", "labels"]
    assert [line.split()[0] for line in table[1:6]] == list(PROTOCOLS)
    assert table[6].startswith("pretraining, shared by frozen, finetune")
    assert f"wrote 10 rows to {output}" in stdout
    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["protocol"], int(row["labels"])) for row in rows] == [
        (protocol, n) for n in (20, 1437) for protocol in PROTOCOLS
    ]
    assert all(0 <= float(row["test_error"]) <= 1 for row in rows)
    assert all(float(row["seconds"]) >= 0 for row in rows)


def test_protocols_writes_json_with_its_settings(tmp_path):
    output = tmp_path / "results.json"
    status, stdout, stderr = run_main(
        ["protocols", *TINY, "--protocols", "svm_pixels", "--labels", "all", "20"]
        + ["--seed", "3", "--quiet", "--output", str(output)]
    )
    assert status == 0, stderr
    assert stdout.splitlines()[0].split() == ["test", "error", "20", "labels"] + [
        "1437",
        "labels",
    ]
    content = json.loads(output.read_text())
    assert content["settings"]["dataset"] == "digits"
    assert content["settings"]["label_budgets"] == [None, 20]
    assert content["settings"]["seed"] == 3
    assert content["settings"]["hidden_units"] == [16]
    assert [(row["protocol"], row["labels"]) for row in content["rows"]] == [
        ("svm_pixels", 1437),
        ("svm_pixels", 20),
    ]
    # An RBF SVM on every training digit: far below chance (0.9).
    assert content["rows"][0]["test_error"] < 0.1


def test_protocols_passes_every_option_on(monkeypatch):
    received = {}

    def record(dataset, **kwargs):
        received.update(kwargs, dataset=dataset)
        return [
            {
                "protocol": "svm_pixels",
                "labels": 30,
                "test_error": 0.5,
                "seconds": 1.0,
                "pretrain_seconds": 0.0,
            }
        ]

    monkeypatch.setattr(protocols, "run_protocols", record)
    status, _, stderr = run_main(
        ["protocols", "--dataset", "digits", "--labels", "30", "all"]
        + ["--protocols", "frozen", "svm_pixels", "--hidden-units", "40", "20"]
        + ["--epochs-per-layer", "3", "--finetune-epochs", "4"]
        + ["--corruption-rate", "0", "--batch-size", "8"]
        + ["--pretrain-learning-rate", "0.01", "--learning-rate", "0.002"]
        + ["--svm-kernel", "linear", "--svm-c", "10", "--svm-layers", "all"]
        + ["--seed", "7", "--quiet"]
    )
    assert status == 0, stderr
    assert received["dataset"].name == "digits"
    assert received == {
        "dataset": received["dataset"],
        "label_budgets": [30, None],
        "protocols": ["frozen", "svm_pixels"],
        "hidden_units": [40, 20],
        "epochs_per_layer": 3,
        "finetune_epochs": 4,
        "corruption_rate": 0.0,
        "batch_size": 8,
        "pretrain_learning_rate": 0.01,
        "learning_rate": 0.002,
        "svm_kernel": "linear",
        "svm_c": 10.0,
        "svm_layers": "all",
        "seed": 7,
        "verbose": 0,
    }


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--labels", "0"],
            "argument --labels: expected a positive integer or 'all', received '0'",
        ),
        (
            ["--labels", "ten"],
            "argument --labels: expected a positive integer or 'all', received 'ten'",
        ),
        (
            ["--labels", "5"],
            "--labels 5: a budget must be from 10 (one label per class) to 1437",
        ),
        (["--labels", "2000"], "--labels 2000: a budget must be from 10"),
        (["--labels", "1437", "all"], "--labels 1437 all: a budget is repeated"),
        (
            ["--protocols", "boosting"],
            "argument --protocols: invalid choice: 'boosting'",
        ),
        (
            ["--protocols", "frozen", "frozen"],
            "--protocols frozen frozen: a protocol is repeated",
        ),
        (
            ["--hidden-units", "16", "0"],
            "argument --hidden-units: expected a positive integer, received '0'",
        ),
        (
            ["--epochs-per-layer", "0"],
            "argument --epochs-per-layer: expected a positive integer, received '0'",
        ),
        (
            ["--finetune-epochs", "2.5"],
            "argument --finetune-epochs: expected a positive integer, received '2.5'",
        ),
        (
            ["--batch-size", "-4"],
            "argument --batch-size: expected a positive integer, received '-4'",
        ),
        (
            ["--corruption-rate", "1"],
            r"argument --corruption-rate: expected a number in [0, 1), received '1'",
        ),
        (
            ["--learning-rate", "0"],
            "argument --learning-rate: expected a positive number, received '0'",
        ),
        (
            ["--pretrain-learning-rate", "nan"],
            "argument --pretrain-learning-rate: expected a positive number, "
            "received 'nan'",
        ),
        (
            ["--svm-c", "inf"],
            "argument --svm-c: expected a positive number, received 'inf'",
        ),
        (["--svm-kernel", "poly"], "argument --svm-kernel: invalid choice: 'poly'"),
        (["--svm-layers", "first"], "argument --svm-layers: invalid choice: 'first'"),
        (
            ["--seed", "-1"],
            "argument --seed: expected a non-negative integer, received '-1'",
        ),
        (["--dataset", "mnist6k"], "argument --dataset: invalid choice: 'mnist6k'"),
        (
            ["--output", "results.txt"],
            "--output results.txt: the file name must end in .csv or .json",
        ),
        (
            ["--output", "no/such/dir/r.csv"],
            "--output no/such/dir/r.csv: the directory no/such/dir does not exist",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_message(no_training, arguments, message):
    status, stdout, stderr = run_main(["protocols", "--dataset", "digits", *arguments])
    assert status == 2
    assert message in stderr
    assert "deepae protocols: error:" in stderr
    assert "test error" not in stdout


def test_protocols_appears_in_the_help():
    status, stdout, _ = run_main(["--help"])
    assert status == 0
    assert "protocols" in stdout
    status, stdout, _ = run_main(["protocols", "--help"])
    assert status == 0
    for option in ("--labels", "--output", "--hidden-units", "--protocols"):
        assert option in stdout
