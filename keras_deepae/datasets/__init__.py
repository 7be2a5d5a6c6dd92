"""Datasets: image classification data as float32 arrays in [0, 1].

`load(name)` returns a `Dataset` for `"mnist5k"` and `"digits"` (bundled
with installed packages, offline) and for `"mnist"`, `"fashion_mnist"` and
`"cifar10"` (through tensorflow-datasets, once prepared).
"""

from keras_deepae.datasets.dataset import Dataset
from keras_deepae.datasets.loading import DATASET_NAMES, load
from keras_deepae.datasets.tfds_loading import DatasetUnavailableError

__all__ = ["DATASET_NAMES", "Dataset", "DatasetUnavailableError", "load"]
