"""Argument checks that every rnpa module shares (the ground floor: imports nothing of rnpa).

Each check returns the value it accepts, normalised, or raises ``TypeError``/``ValueError``
with one line that names the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def check_nonnegative(value: Any, name: str, what: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number >= 0.

    ``what`` says what the number is, for the message (e.g. ``"L2 factor"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number >= 0 ({what}), got {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 ({what}), got {value!r}")
    return float(value)


def check_reg(reg: Any, name: str = "reg") -> float:
    """Return ``reg`` as a float, or raise if it is not a finite number >= 0."""
    return check_nonnegative(reg, name, "L2 factor")


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value: Any, name: str, allowed: Sequence[Any]) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value
