import numbers

import numpy as np


def stratified_label_subset(y, n, seed=0):
    """Indices of `n` examples drawn at random, class by class, from labels `y`.

    The subset is what a labelling budget of `n` buys: each class keeps its
    share of `y`, to one example, and every class present in `y` gets at
    least one example. The draw is fixed by `seed` (it is scikit-learn's
    `train_test_split` with `stratify=y`, the same tool that splits the
    bundled datasets). `n=None`, or `n` equal to `len(y)`, takes every
    example.

    Args:
        y: integer class labels, shape `(N,)`.
        n: number of examples to keep, from the number of classes in `y` to
            `N`, or `None` for all of them.
        seed: seed of the draw, a non-negative integer.

    Returns:
        An int64 NumPy array of `n` distinct indices into `y`, in ascending
        order.

    Example:

    >>> y = np.repeat(np.arange(10), 400)
    >>> subset = stratified_label_subset(y, 100, seed=0)
    >>> np.bincount(y[subset]).tolist()
    [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"`y` must be a non-empty array of labels, shape (N,). "
            f"Received: y.shape={y.shape}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative integer. Received: seed={seed!r}"
        )
    n_classes = len(np.unique(y))
    if n is None:
        return np.arange(len(y), dtype="int64")
    if (
        isinstance(n, bool)
        or not isinstance(n, numbers.Integral)
        or not n_classes <= n <= len(y)
    ):
        raise ValueError(
            f"`n` must be an integer from {n_classes} (one example per class) "
            f"to {len(y)} (every example), or None. Received: n={n!r}"
        )
    if n == len(y):
        return np.arange(len(y), dtype="int64")
    from sklearn.model_selection import train_test_split

    # A stratified draw needs every class on both sides; when fewer examples
    # than classes are left out, which ones are left out is drawn plainly.
    stratify = y if len(y) - n >= n_classes else None
    subset, _ = train_test_split(
        np.arange(len(y)),
        train_size=int(n),
        random_state=int(seed),
        shuffle=True,
        stratify=stratify,
    )
    return np.sort(subset).astype("int64")
