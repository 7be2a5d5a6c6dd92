"""Regularizers: sparse and contractive penalties for autoencoders."""

from keras_deepae.regularizers.activity_l1 import ActivityL1
from keras_deepae.regularizers.contractive_regularizer import ContractiveRegularizer
from keras_deepae.regularizers.target_sparsity import TargetSparsity

__all__ = ["ActivityL1", "ContractiveRegularizer", "TargetSparsity"]
