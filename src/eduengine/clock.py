"""Time comes from a :class:`Clock`, never from ``datetime.now()`` in domain code.

>>> from datetime import datetime, timezone, timedelta
>>> clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))
>>> clock.advance(timedelta(minutes=5)).isoformat()
'2026-01-05T09:05:00+00:00'
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from eduengine.errors import NaiveDatetime


def require_aware(name: str, value: datetime) -> datetime:
    """Return ``value`` if it carries a time zone, else raise :class:`NaiveDatetime`."""
    if not isinstance(value, datetime):
        raise NaiveDatetime(name, value)
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(name, value)
    return value


class Clock(Protocol):
    """Source of the current, timezone-aware time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A settable clock for tests and simulations (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware("start", start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, value: datetime) -> datetime:
        with self._lock:
            self._now = require_aware("value", value)
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now
