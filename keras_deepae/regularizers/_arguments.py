"""Checks of the numeric hyper-parameters of the regularizers."""

import math
import numbers


def check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    """Returns `value` as a float after checking it lies in the given range.

    Raises a `ValueError` naming the argument and the value received when
    `value` is not a finite real number (booleans are refused) or lies
    outside `[low, high]` (an open end when `low_open` / `high_open`).
    """
    is_real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = is_real and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = (
            f"{left}{'-inf' if low is None else low}, "
            f"{'inf' if high is None else high}{right}"
        )
        raise ValueError(
            f"`{name}` must be a finite number in {interval}. "
            f"Received: {name}={value!r}"
        )
    return float(value)
