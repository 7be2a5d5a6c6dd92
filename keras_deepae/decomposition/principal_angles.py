import numpy as np


def principal_angles(A, B):
    """Principal angles between the column spans of two matrices, in radians.

    The principal angles θ_1 <= ... <= θ_m, m = min(k, l), between the
    subspaces spanned by the columns of `A` (d×k) and of `B` (d×l) measure
    how far apart the two subspaces are: all zero when one span contains the
    other, all π/2 when they are orthogonal. Their cosines are the singular
    values of Q_Aᵀ Q_B, where Q_A and Q_B are orthonormal bases of the two
    spans (here from a QR decomposition). The singular values are clipped to
    [0, 1] before the arccos, against round-off.

    The angles depend on the spans only, not on the bases: scaling, mixing
    or reordering the columns of `A` or `B` leaves them unchanged. This is
    how the course compares the code space of a linear autoencoder with the
    principal subspace found by PCA (they coincide at the optimum, Baldi &
    Hornik, 1989), whose bases differ.

    Precision: near a cosine of 1, the arccos resolves angles down to about
    1.5e-8 rad (the square root of the float64 machine epsilon); smaller
    angles, identical spans included, come out between 0 and about 1.5e-8.

    Args:
        A: array of shape `(d, k)` whose columns span the first subspace.
            The columns must be linearly independent.
        B: array of shape `(d, l)` whose columns span the second subspace,
            with the same number of rows `d`. The columns must be linearly
            independent.

    Returns:
        A float64 NumPy array of the min(k, l) principal angles in radians,
        in ascending order, each in [0, π/2]. (`scipy.linalg.subspace_angles`
        gives the same angles in descending order.)

    Reference:
        - [Björck & Golub, 1973](https://doi.org/10.1090/S0025-5718-1973-0348991-3),
          "Numerical methods for computing angles between linear subspaces".

    Example:

    >>> A = np.array([[1.0], [0.0]])
    >>> B = np.array([[np.cos(0.3)], [np.sin(0.3)]])
    >>> principal_angles(A, B).round(6).tolist()
    [0.3]
    """
    A = _check_basis("A", A)
    B = _check_basis("B", B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            "`A` and `B` must have the same number of rows (the dimension of "
            f"the space). Received: A.shape={A.shape}, B.shape={B.shape}"
        )
    basis_a, _ = np.linalg.qr(A)
    basis_b, _ = np.linalg.qr(B)
    cosines = np.linalg.svd(basis_a.T @ basis_b, compute_uv=False)
    # Singular values come largest first: the smallest angle first.
    return np.arccos(np.clip(cosines, 0.0, 1.0))


def _check_basis(name, matrix):
    """`matrix` as a float64 2-D array of independent columns, or a ValueError."""
    try:
        array = np.asarray(matrix, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a 2-D array of numbers. Received: {name}={matrix!r}"
        ) from None
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array (one basis vector per column). "
            f"Received: {name}.shape={array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"`{name}` must have at least one row and one column. "
            f"Received: {name}.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` must hold finite numbers only. "
            f"Received: {name} with shape {array.shape} containing NaN or inf"
        )
    rank = np.linalg.matrix_rank(array)
    if rank < array.shape[1]:
        raise ValueError(
            f"The columns of `{name}` must be linearly independent (a basis of "
            f"its span). Received: {name}.shape={array.shape} with rank {rank}"
        )
    return array
