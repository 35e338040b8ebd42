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
import warnings

from eduengine.errors import InvalidSetting
from eduengine.service_layer.crypto import KeyProvider, Sealer


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


#: what a store built with ``outbox=False`` is told, once per process
OUTBOX_IGNORED = "the event feed is always on; outbox= is ignored and will be removed in 0.4"
_outbox_warned = False


def outbox(value: object) -> bool:
    """Always ``True``: every store writes its committed events to the event feed (its
    ``outbox`` attribute stays for hosts that read it). ``False`` asked for a store that
    commits without a feed, which no store is any more: it is ignored with one
    :class:`DeprecationWarning` per process; ``True`` or nothing says what every store
    does. A value that is not a bool is still refused.

    >>> outbox(None), outbox(True)
    (True, True)
    """
    global _outbox_warned
    if value is None:
        return True
    flag(value, "outbox")
    if value is False and not _outbox_warned:
        _outbox_warned = True
        # stacklevel 3: the line that built the store, not the store's constructor
        warnings.warn(OUTBOX_IGNORED, DeprecationWarning, stacklevel=3)
    return True


def sealer(keys: KeyProvider | None, region: str | None) -> Sealer | None:
    """What seals a store's contact fields and keeps it to one region, if it does either
    (``keys`` must look like a :class:`~eduengine.service_layer.crypto.KeyProvider`)."""
    if keys is None and region is None:
        return None
    if keys is not None and not all(
        callable(getattr(keys, name, None)) for name in ("wrap", "unwrap", "index_key")
    ):
        raise InvalidSetting(f"keys must be a KeyProvider, got {keys!r}")
    return Sealer(keys, region=region)
