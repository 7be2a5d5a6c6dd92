"""Protocols: the ways of training a deep classifier, compared on one split.

`run_protocols` trains the same network purely supervised, on top of a
frozen pretrained stack, and pretrained then fine-tuned, beside support
vector machines on pretrained codes and on pixels, for several budgets of
labels; `format_protocol_table` prints its rows and
`stratified_label_subset` draws the labelled examples of a budget.
"""

from keras_deepae.protocols.label_subset import stratified_label_subset
from keras_deepae.protocols.protocol_table import format_protocol_table
from keras_deepae.protocols.training_protocols import PROTOCOLS, run_protocols

__all__ = [
    "PROTOCOLS",
    "format_protocol_table",
    "run_protocols",
    "stratified_label_subset",
]
