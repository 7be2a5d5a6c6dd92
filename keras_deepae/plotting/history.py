from collections.abc import Mapping

DEFAULT_KEYS = ("loss", "val_loss")


def plot_history(history, keys=None, ax=None, title=None, log_scale=False):
    """Plots learning curves: recorded metrics against the epoch.

    Args:
        history: the `keras.callbacks.History` that `model.fit` returns,
            or a dict of metric name to per-epoch values (such as its
            `.history`).
        keys: name or names of the metrics to plot. Defaults to `"loss"`
            and, when it was recorded, `"val_loss"`; to every metric when
            there is no `"loss"`.
        ax: a matplotlib `Axes` to draw into, or `None` for a new figure.
        title: the title of the plot, or `None`.
        log_scale: whether the y axis is logarithmic.

    Returns:
        The matplotlib `Figure` holding the plot.

    Example:

    >>> history = model.fit(x, x, validation_split=0.1, epochs=10, verbose=0)
    >>> fig = plot_history(history)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    records = getattr(history, "history", history)
    if not isinstance(records, Mapping):
        raise ValueError(
            "Expected `history` to be a keras.callbacks.History or a dict of "
            f"metric names to values. Received: history of type "
            f"{type(history).__name__}"
        )
    if not records:
        raise ValueError("Expected `history` to record at least one metric.")
    if keys is None:
        keys = [key for key in DEFAULT_KEYS if key in records] or list(records)
    elif isinstance(keys, str):
        keys = [keys]
    else:
        keys = list(keys)
    if not keys:
        raise ValueError("Expected at least one name in `keys`. Received: keys=[]")
    for key in keys:
        if key not in records:
            raise ValueError(
                f"Unknown metric {key!r} in `keys`. The history records: "
                f"{', '.join(repr(known) for known in records)}"
            )
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.5), layout="constrained")
    else:
        fig = ax.figure
    for key in keys:
        values = list(records[key])
        epochs = range(1, len(values) + 1)
        ax.plot(epochs, values, marker="o" if len(values) <= 20 else None, label=key)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss" if all(key.endswith("loss") for key in keys) else "value")
    if log_scale:
        ax.set_yscale("log")
    if title is not None:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
