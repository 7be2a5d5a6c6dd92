"""Plotting: image grids, reconstructions, filters and learning curves.

Each function returns a matplotlib `Figure`. matplotlib is imported when a
function is first called.
"""

from keras_deepae.plotting.filters import show_filters
from keras_deepae.plotting.history import plot_history
from keras_deepae.plotting.images import image_grid
from keras_deepae.plotting.reconstructions import show_reconstructions

__all__ = ["image_grid", "plot_history", "show_filters", "show_reconstructions"]
