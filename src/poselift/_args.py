"""Checks of the scalar arguments the public functions share: one rule and one message style.

Each raises :class:`~poselift.errors.InvalidArgumentError` naming the argument, what it
must be and what arrived (bool, strings, None, NaN and infinity included).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InvalidArgumentError

__all__ = [
    "check_number", "check_fps", "check_count", "check_coordinates", "check_height", "FPS_RANGE", "MAX_COORDINATE", "HEIGHT_RANGE_M",
]  # fmt: skip

#: Body heights ``lift`` accepts, in metres (beyond them the output leaves float32's useful range).
HEIGHT_RANGE_M = (0.1, 10.0)

#: Frame rates accepted, in frames per second: a time-lapse of one frame in 1000 s to a
#: million frames per second (a BVH ``Frame Time`` stays a short decimal).
FPS_RANGE = (1e-3, 1e6)
#: Largest coordinate the sequence tools take (metres or any unit): their squares stay finite.
MAX_COORDINATE = 1e9


def check_number(
    value: Any, name: str, *, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False, what: str = "a number"
) -> float:
    """``value`` as a float if it is a real number (not a bool or string) within ``[lo, hi]``
    (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{name} must be {what}; got {value!r} ({type(value).__name__}).")
    v = float(value)
    low_ok = v > lo if lo_open else v >= lo
    if not (math.isfinite(v) and low_ok and v <= hi):
        bounds = f"{'above' if lo_open else 'at least'} {lo:g}" if math.isfinite(lo) else ""
        if math.isfinite(hi):
            bounds = f"{bounds} and at most {hi:g}" if bounds else f"at most {hi:g}"
        raise InvalidArgumentError(f"{name} must be {what}, finite{', ' + bounds if bounds else ''}; got {value!r}.")
    return v


def check_fps(fps: Any, name: str = "fps") -> float:
    """A frame rate within :data:`FPS_RANGE`."""
    return check_number(fps, name, lo=FPS_RANGE[0], hi=FPS_RANGE[1], what="a positive frame rate in frames per second")


def check_count(value: Any, name: str, *, lo: int = 1) -> int:
    """A whole number (not a bool) of at least ``lo``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo:
        raise InvalidArgumentError(f"{name} must be a whole number >= {lo}; got {value!r}.")
    return int(value)


def check_coordinates(x: np.ndarray, name: str) -> None:
    """Refuse finite coordinates beyond :data:`MAX_COORDINATE` (their squares would overflow)."""
    with np.errstate(invalid="ignore"):
        big = np.isfinite(x) & (np.abs(x) > MAX_COORDINATE)
    if big.any():
        raise InvalidArgumentError(
            f"{name} hold coordinates up to {np.abs(x[big]).max():.3g}; expected metres (or another unit) "
            f"within +-{MAX_COORDINATE:g}."
        )


def check_height(height: Any) -> float:
    """A body height in metres within :data:`HEIGHT_RANGE_M`, or :class:`~poselift.errors.InvalidArgumentError`
    saying what arrived (and naming centimetres when it looks like them)."""
    if isinstance(height, (bool, np.bool_, str, bytes)):
        raise InvalidArgumentError(f"height must be a number of metres, e.g. 1.70; got {height!r}.")
    try:
        value = float(height)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"height must be a number of metres, e.g. 1.70; got {height!r}.") from None
    lo, hi = HEIGHT_RANGE_M
    if not (math.isfinite(value) and lo <= value <= hi):
        hint = f" {value:g} looks like centimetres: pass {value / 100:.2f}." if 30 <= value <= 300 else ""
        raise InvalidArgumentError(
            f"height must be a body height in metres between {lo:g} and {hi:g}, e.g. 1.70; got {height!r}.{hint} "
            'For the network\'s normalised units pass units="normalized" (formerly normalized=True) instead.'
        )
    return value
