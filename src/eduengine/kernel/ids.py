"""Ids: an id factory makes the ids of new aggregates (slots, bookings, orders ...).

>>> len(uuid_ids())
32
"""

from __future__ import annotations

import os
from collections.abc import Callable

#: makes a fresh id per call (``uuid_ids`` by default; tests pass a counter)
IdFactory = Callable[[], str]


def uuid_ids() -> str:
    """A random 128-bit id as 32 hex digits (what ``uuid4().hex`` gives, without the
    UUID object on the hot path)."""
    return os.urandom(16).hex()
