"""Decomposition: subspace tools next to `sklearn.decomposition`.

`principal_angles(A, B)` measures how far apart two subspaces are, for
example the code space of a linear autoencoder and the principal subspace
that PCA finds.
"""

from keras_deepae.decomposition.principal_angles import principal_angles

__all__ = ["principal_angles"]
