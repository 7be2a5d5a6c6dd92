import numpy as np
import pytest

from keras_deepae.datasets import load
from keras_deepae.protocols import (
    PROTOCOLS,
    format_protocol_table,
    run_protocols,
    stratified_label_subset,
)

# A tiny run: 300 training and 100 test digits (8x8), one hidden layer of 16
# units, one epoch of everything. It checks the plumbing, not the accuracy.
TINY = dict(
    label_budgets=(20, None),
    hidden_units=(16,),
    epochs_per_layer=1,
    finetune_epochs=1,
    seed=0,
)


@pytest.fixture(scope="module")
def digits():
    return load("digits", n_train=300, n_test=100)


@pytest.fixture(scope="module")
def tiny_rows(digits):
    return run_protocols(digits, **TINY)


def errors_of(rows):
    return {(row["protocol"], row["labels"]): row["test_error"] for row in rows}


def test_rows_cover_every_protocol_and_budget(tiny_rows):
    assert [(row["protocol"], row["labels"]) for row in tiny_rows] == [
        (protocol, n) for n in (20, 300) for protocol in PROTOCOLS
    ]
    for row in tiny_rows:
        assert set(row) == {
            "protocol",
            "labels",
            "test_error",
            "seconds",
            "pretrain_seconds",
        }
        assert 0 <= row["test_error"] <= 1
        # The test split has 100 examples: errors are multiples of 1/100.
        assert row["test_error"] * 100 == pytest.approx(round(row["test_error"] * 100))
        assert row["seconds"] >= 0


def test_pretraining_time_is_shared_by_the_pretrained_protocols(tiny_rows):
    pretrain = {row["protocol"]: row["pretrain_seconds"] for row in tiny_rows}
    assert pretrain["supervised"] == pretrain["svm_pixels"] == 0
    assert pretrain["frozen"] == pretrain["finetune"] == pretrain["svm_features"] > 0


def test_svm_on_pixels_learns_from_every_label(tiny_rows):
    # The only row that does not depend on one-epoch training: an RBF SVM
    # on 300 digits errs far less than chance (0.9).
    assert errors_of(tiny_rows)["svm_pixels", 300] < 0.3


@pytest.mark.slow
def test_same_seed_same_errors_whatever_the_other_rows(digits, tiny_rows):
    # Budgets in the other order, fewer protocols: fine-tuning on every label
    # first must leave the pretrained stack, from which the 20-label rows
    # start, as it was, and each row must come out as in the first run.
    again = run_protocols(
        digits,
        **{**TINY, "label_budgets": (None, 20)},
        protocols=("finetune", "frozen", "svm_features"),
    )
    expected = errors_of(tiny_rows)
    assert len(again) == 6
    for key, error in errors_of(again).items():
        assert error == expected[key], key


def test_stratified_label_subset_keeps_class_shares():
    y = np.repeat(np.arange(10), np.arange(10, 110, 10))  # 10, 20, ..., 100
    subset = stratified_label_subset(y, 55, seed=3)
    assert len(subset) == len(np.unique(subset)) == 55
    assert np.all(np.diff(subset) > 0)
    counts = np.bincount(y[subset], minlength=10)
    assert np.all(np.abs(counts - np.arange(1, 11)) <= 1), counts
    assert np.array_equal(subset, stratified_label_subset(y, 55, seed=3))
    assert not np.array_equal(subset, stratified_label_subset(y, 55, seed=4))


def test_stratified_label_subset_gives_every_class_a_label():
    y = np.repeat(np.arange(10), 30)
    subset = stratified_label_subset(y, 10, seed=0)
    assert sorted(y[subset]) == list(range(10))


@pytest.mark.parametrize("n", [None, 300])
def test_stratified_label_subset_of_everything(n):
    y = np.repeat(np.arange(10), 30)
    assert np.array_equal(stratified_label_subset(y, n), np.arange(300))


def test_stratified_label_subset_close_to_everything():
    y = np.repeat(np.arange(10), 30)
    subset = stratified_label_subset(y, 295, seed=0)
    assert len(np.unique(subset)) == 295


@pytest.mark.parametrize("n", [9, 301, 0, 2.5, True, "all"])
def test_stratified_label_subset_rejects_a_bad_size(n):
    y = np.repeat(np.arange(10), 30)
    with pytest.raises(ValueError, match="`n` must be an integer from 10"):
        stratified_label_subset(y, n)


def test_stratified_label_subset_rejects_bad_labels_and_seed():
    with pytest.raises(ValueError, match="`y` must be"):
        stratified_label_subset(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="`seed` must be"):
        stratified_label_subset(np.arange(4), 2, seed=-1)


@pytest.mark.parametrize(
    "argument, value, message",
    [
        ("protocols", ("supervised", "boosting"), "`protocols` must be"),
        ("protocols", ("frozen", "frozen"), "`protocols` must be"),
        ("protocols", (), "`protocols` must be"),
        ("label_budgets", (5,), r"`label_budgets` must be .* from 10"),
        ("label_budgets", (301,), r"`label_budgets` must be .* to 300"),
        ("label_budgets", ("some",), "`label_budgets` must be"),
        ("label_budgets", (), "`label_budgets` must be"),
        ("label_budgets", (300, "all"), "must not repeat"),
        ("hidden_units", (16, 0), "`hidden_units` must be"),
        ("epochs_per_layer", 0, "`epochs_per_layer` must be"),
        ("finetune_epochs", 1.5, "`finetune_epochs` must be"),
        ("batch_size", True, "`batch_size` must be"),
        ("corruption_rate", 1.0, r"`corruption_rate` must be a number in \[0, 1\)"),
        ("learning_rate", 0, "`learning_rate` must be"),
        ("pretrain_learning_rate", -1e-3, "`pretrain_learning_rate` must be"),
        ("svm_c", float("inf"), "`svm_c` must be"),
        ("svm_kernel", "poly", "`svm_kernel` must be one of 'rbf', 'linear'"),
        ("svm_layers", "first", '`svm_layers` must be "last" or "all"'),
        ("seed", -1, "`seed` must be"),
    ],
)
def test_bad_arguments_fail_before_training(digits, argument, value, message):
    arguments = {**TINY, argument: value}
    with pytest.raises(ValueError, match=message) as error:
        run_protocols(digits, **arguments)
    assert repr(value) in str(error.value)


def test_bad_dataset_is_an_error():
    with pytest.raises(ValueError, match="Unknown dataset"):
        run_protocols("mnist6k", **TINY)
    with pytest.raises(ValueError, match="`dataset` must be"):
        run_protocols(42, **TINY)


def test_table_has_a_line_per_protocol_and_a_column_per_budget():
    rows = [
        {
            "protocol": protocol,
            "labels": n,
            "test_error": error,
            "seconds": 2.0,
            "pretrain_seconds": 30.0 if protocol == "finetune" else 0.0,
        }
        for n, error in ((1000, 0.05), (100, 0.25))
        for protocol in ("finetune", "svm_pixels")
    ]
    lines = format_protocol_table(rows).splitlines()
    assert lines[0].split() == ["test", "error", "100", "labels", "1000", "labels"]
    assert lines[1].split() == [
        "finetune",
        "0.250",
        "(2.0",
        "s)",
        "0.050",
        "(2.0",
        "s)",
    ]
    assert lines[2].startswith("svm_pixels")
    assert lines[3] == (
        "pretraining, shared by finetune: 30.0 s (not in the times above)"
    )
    assert len({len(line) for line in lines[:3]}) == 1
    plain = format_protocol_table(rows[:1], seconds=False).splitlines()
    assert plain == ["test error  1000 labels", "finetune          0.050"]


def test_table_shows_a_missing_row_as_a_dash_and_needs_rows():
    rows = [
        {"protocol": "supervised", "labels": "20", "test_error": "0.5",
         "seconds": "1", "pretrain_seconds": "0"},
        {"protocol": "svm_pixels", "labels": "40", "test_error": "0.25",
         "seconds": "1", "pretrain_seconds": "0"},
    ]  # fmt: skip
    lines = format_protocol_table(rows, seconds=False).splitlines()
    assert lines[1].split() == ["supervised", "0.500", "-"]
    assert lines[2].split() == ["svm_pixels", "-", "0.250"]
    with pytest.raises(ValueError, match="`rows` must hold"):
        format_protocol_table([])
