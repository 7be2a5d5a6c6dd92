from keras_deepae.protocols.training_protocols import PRETRAINED_PROTOCOLS


def format_protocol_table(rows, seconds=True):
    """The rows of `run_protocols` as a plain-text table, one line per protocol.

    Columns are the label budgets in increasing order; each cell holds the
    test error and, with `seconds`, the time of that row. A last line gives
    the time of the pretraining, which the protocols that use it share.

    Args:
        rows: a list of dicts with keys `protocol`, `labels`, `test_error`,
            `seconds` and `pretrain_seconds`, as `run_protocols` returns
            (also after a round trip through JSON or CSV, as strings).
        seconds: whether to show the times.

    Returns:
        A string of lines, without a trailing newline.

    Example:

    >>> print(format_protocol_table([
    ...     {"protocol": "svm_pixels", "labels": 100, "test_error": 0.3,
    ...      "seconds": 0.1, "pretrain_seconds": 0.0}]))
    test error      100 labels
    svm_pixels   0.300 (0.1 s)
    """
    if not rows:
        raise ValueError("`rows` must hold at least one row. Received: rows=[]")
    protocols = list(dict.fromkeys(row["protocol"] for row in rows))
    budgets = sorted({int(row["labels"]) for row in rows})
    cells = {}
    for row in rows:
        text = f"{float(row['test_error']):.3f}"
        if seconds:
            text += f" ({float(row['seconds']):.1f} s)"
        cells[row["protocol"], int(row["labels"])] = text
    header = ["test error"] + [f"{n} labels" for n in budgets]
    lines = [header] + [
        [protocol] + [cells.get((protocol, n), "-") for n in budgets]
        for protocol in protocols
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = "\n".join(
        "  ".join(
            [line[0].ljust(widths[0])]
            + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        )
        for line in lines
    )
    pretrain = max(float(row.get("pretrain_seconds", 0) or 0) for row in rows)
    shared = [protocol for protocol in protocols if protocol in PRETRAINED_PROTOCOLS]
    if seconds and shared:
        text += (
            f"\npretraining, shared by {', '.join(shared)}: {pretrain:.1f} s "
            "(not in the times above)"
        )
    return text
