"""Checks of store settings, shared by every adapter: a bad setting is refused when the
store is made, not discovered as an odd failure under load.

>>> lock_timeout(2)
2.0
>>> lock_timeout(-1)
Traceback (most recent call last):
...
eduengine.errors.InvalidSetting: lock_timeout must be a finite number of seconds > 0, got -1
"""

from __future__ import annotations

import math

from eduengine.errors import InvalidSetting


def lock_timeout(value: object, name: str = "lock_timeout") -> float:
    """``value`` as seconds, refusing anything but a finite number above zero (PostgreSQL
    reads a zero lock timeout as "wait for ever")."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidSetting(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def flag(value: object, name: str) -> bool:
    """``value`` if it is a bool (a string such as ``"false"`` would read as true)."""
    if not isinstance(value, bool):
        raise InvalidSetting(f"{name} must be True or False, got {value!r}")
    return value
