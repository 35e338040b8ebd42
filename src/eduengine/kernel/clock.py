"""Time comes from a :class:`Clock`, never from ``datetime.now()`` in domain code.

>>> from datetime import datetime, timezone, timedelta
>>> clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))
>>> clock.advance(timedelta(minutes=5)).isoformat()
'2026-01-05T09:05:00+00:00'
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from eduengine.errors import NaiveDatetime


def require_aware(name: str, value: datetime) -> datetime:
    """Return ``value`` if it carries a time zone, else raise :class:`NaiveDatetime`."""
    if not isinstance(value, datetime):
        raise NaiveDatetime(name, value)
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(name, value)
    return value


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_key(tz: tzinfo | None) -> str | None:
    """The IANA name a tzinfo stands for, whichever library made it, or None.

    ``zoneinfo`` gives its key, pytz its ``.zone``, a dateutil zone file its path
    (``/usr/share/zoneinfo/Europe/London``), whose tail is the name.

    >>> from dateutil import tz
    >>> zone_key(tz.gettz("America/Santiago")), zone_key(timezone.utc)
    ('America/Santiago', None)
    """
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is None or isinstance(tz, timezone):
        return None  # a fixed offset names no zone (the common UTC case, asked per stamp)
    for attr in ("zone", "_filename"):
        name = getattr(tz, attr, None)
        if isinstance(name, str):
            parts = name.replace("\\", "/").split("/")
            for i in range(len(parts)):
                if "/".join(parts[i:]) in _known_zones():
                    return "/".join(parts[i:])
    return None


def in_own_zone(value: datetime) -> datetime:
    """``value`` with its zone as a ``ZoneInfo`` (when the tzinfo names an IANA zone) or a
    fixed ``datetime.timezone`` (when its offset never changes), same instant and wall
    time; any other tzinfo is kept as it is.

    Calendars and storage only know these two kinds, so a dateutil or pytz zone is turned
    into the ``ZoneInfo`` of the same name instead of being written as a bare offset.

    >>> from dateutil import tz
    >>> in_own_zone(datetime(2026, 7, 1, 9, tzinfo=tz.gettz("Europe/London"))).tzinfo
    zoneinfo.ZoneInfo(key='Europe/London')
    """
    require_aware("value", value)
    name = zone_key(value.tzinfo)
    if name is not None:
        return value.astimezone(ZoneInfo(name))
    offset = value.utcoffset()
    assert offset is not None  # aware, checked above
    if isinstance(value.tzinfo, timezone) or _is_fixed(value.tzinfo):
        return value.astimezone(timezone(offset) if offset else UTC)
    return value


def _is_fixed(tz: tzinfo | None) -> bool:
    # dateutil's tzutc/tzoffset are fixed; they say so by their class, not by a protocol
    return type(tz).__name__ in {"tzutc", "tzoffset", "StaticTzInfo", "UTC", "_UTCclass"}


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
