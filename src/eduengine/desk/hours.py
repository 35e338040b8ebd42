"""Business hours and SLA clocks: how much of a span the desk was open, exactly.

A team's :class:`BusinessHours` are weekly opening times in the school's zone, wall
clock (09:00-18:00 is nine hours of business time even on a day the clocks change
outside it, and 02:00-03:00 on the spring change is no time at all), minus holidays. An
instant is *open* when its local wall time falls in an opening of its local date; the
business time between two instants is the measure of the open instants between them, to
the microsecond. A 24/7 team is open every minute: its days join at midnight with no
gap.

>>> from datetime import datetime, time, timedelta, timezone
>>> hours = BusinessHours.weekly("Asia/Shanghai", {d: [(time(9), time(18))] for d in range(5)})
>>> friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=hours.tz)
>>> hours.deadline_after(friday_5pm, timedelta(hours=2))   # 1h on Friday, 1h on Monday
datetime.datetime(2026, 3, 9, 10, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Shanghai'))
>>> hours.business_time_between(friday_5pm, datetime(2026, 3, 9, 10, 0, tzinfo=hours.tz))
datetime.timedelta(seconds=7200)
>>> late = datetime(2026, 3, 6, 23, 0, tzinfo=timezone.utc)   # a 24/7 team: no gap at midnight
>>> BusinessHours.always("UTC").business_time_between(late, late + timedelta(hours=2))
datetime.timedelta(seconds=7200)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from eduengine.errors import InvalidInput
from eduengine.kernel.inputs import check_instant

__all__ = ["BusinessHours", "Opening"]

DAY_MINUTES = 24 * 60
DAY = timedelta(days=1)
#: how far ahead a deadline is looked for before the calendar is called closed for good
HORIZON = timedelta(days=3 * 366)

Opening = tuple[int, int]
"""``(start, end)`` minutes of the local day, ``0 <= start < end <= 1440``."""


def _minutes(value: time, *, end: bool) -> int:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise InvalidInput(f"an opening time must be a naive datetime.time, got {value!r}")
    if value.second or value.microsecond:
        raise InvalidInput(f"opening times are whole minutes, got {value!r}")
    minutes = value.hour * 60 + value.minute
    # an opening that ends at 00:00 ends at midnight, the end of its day
    return DAY_MINUTES if end and minutes == 0 else minutes


def _openings(raw: Iterable[tuple[time, time]]) -> tuple[Opening, ...]:
    found = sorted((_minutes(a, end=False), _minutes(b, end=True)) for a, b in raw)
    merged: list[Opening] = []
    for start, end in found:
        if start >= end:
            raise InvalidInput(f"an opening must end after it starts, got {start}..{end} minutes")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"zone must be an IANA zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}") from exc


@attrs.frozen
class BusinessHours:
    """Weekly openings (weekday 0 = Monday -> minutes of the day) in ``zone``, minus
    ``holidays`` (local dates). Build with :meth:`weekly` or :meth:`always`."""

    zone: str
    week: tuple[tuple[Opening, ...], ...]
    holidays: frozenset[date] = frozenset()
    tz: ZoneInfo = attrs.field(init=False, eq=False, repr=False)
    #: open time per UTC day, filled as asked (so long spans cost a lookup a day)
    _days: dict[date, tuple[tuple[tuple[datetime, datetime], ...], timedelta]] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )
    #: running open time by UTC day (see :meth:`_running`), the days it spans, its lock
    _totals: dict[date, timedelta] = attrs.field(init=False, factory=dict, eq=False, repr=False)
    _bounds: list[date] = attrs.field(init=False, factory=list, eq=False, repr=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "tz", _zone(self.zone))
        if len(self.week) != 7:
            raise InvalidInput(f"a week has 7 days of openings, got {len(self.week)}")
        if not any(self.week):
            raise InvalidInput("business hours must open at least once a week")
        if not all(isinstance(d, date) and not isinstance(d, datetime) for d in self.holidays):
            raise InvalidInput(f"holidays must be dates, got {sorted(map(str, self.holidays))}")

    @classmethod
    def weekly(
        cls,
        zone: str,
        days: Mapping[int, Iterable[tuple[time, time]]],
        *,
        holidays: Iterable[date] = (),
    ) -> BusinessHours:
        """Openings by weekday (0 = Monday), each ``(start, end)`` local time; an end of
        ``time(0)`` is midnight at the end of the day."""
        if not isinstance(days, Mapping) or any(
            isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days
        ):
            raise InvalidInput(f"days must map weekdays 0-6 to openings, got {days!r}")
        week = tuple(_openings(days.get(d, ())) for d in range(7))
        return cls(zone, week, frozenset(holidays))

    @classmethod
    def always(cls, zone: str = "UTC") -> BusinessHours:
        """A 24/7 team: open every minute of every day, holidays included."""
        return cls(zone, tuple(((0, DAY_MINUTES),) for _ in range(7)))

    # --- storage -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "week": [[list(o) for o in day] for day in self.week],
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessHours:
        week = tuple(tuple((int(a), int(b)) for a, b in day) for day in data["week"])
        return cls(data["zone"], week, frozenset(date.fromisoformat(d) for d in data["holidays"]))

    # --- the calendar ----------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Whether the desk is open at instant ``at`` (its local wall time is in an
        opening of its local date)."""
        local = check_instant(at, "at").astimezone(self.tz)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(a <= minute < b for a, b in self.week[local.weekday()])

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The open time in ``[start, end)`` (zero when ``end <= start``)."""
        a = check_instant(start, "start").astimezone(UTC)
        b = check_instant(end, "end").astimezone(UTC)
        if b <= a:
            return timedelta(0)
        first, last = a.date(), b.date()
        if first == last:
            return self._open_in(a, b)
        # the whole UTC days in between: a difference of running totals
        whole = self._running(last) - self._running(first + DAY)
        return self._open_in(a, _midnight(first + DAY)) + whole + self._open_in(_midnight(last), b)

    def deadline_after(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which ``duration`` of business time has passed since
        ``start`` (``start`` itself for a zero duration), in the calendar's zone."""
        a = check_instant(start, "start").astimezone(UTC)
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise InvalidInput(f"duration must be a timedelta >= 0, got {duration!r}")
        left = duration
        if not left:
            return a.astimezone(self.tz)
        cursor, day = a, a.date()
        while cursor < a + HORIZON:
            following = _midnight(day + DAY)
            if cursor != _midnight(day) or self._day_total(day) >= left:
                for x, y in self._spans(cursor, following):
                    if y - x >= left:
                        return (x + left).astimezone(self.tz)
                    left -= y - x
            else:
                left -= self._day_total(day)  # the whole day is not enough: skip it
            cursor, day = following, day + DAY
        raise InvalidInput(
            f"business hours in {self.zone} give no {duration} within {HORIZON.days} days "
            f"of {start.isoformat()}"
        )

    def next_open(self, at: datetime) -> datetime:
        """``at`` if the desk is open then, else the instant it next opens."""
        a = check_instant(at, "at").astimezone(UTC)
        cursor, day = a, a.date()
        while cursor < a + HORIZON:
            following = _midnight(day + DAY)
            if cursor != _midnight(day) or self._day_total(day):
                for x, _ in self._spans(cursor, following):
                    return x.astimezone(self.tz)
            cursor, day = following, day + DAY
        raise InvalidInput(f"business hours in {self.zone} never open after {at.isoformat()}")

    def _open_in(self, a: datetime, b: datetime) -> timedelta:
        total = timedelta(0)
        for x, y in self._spans(a, b):
            total += y - x
        return total

    def _running(self, day: date) -> timedelta:
        """Open time from the first day this calendar was asked about to ``day``
        (negative before it), extended a day at a time as far as asked."""
        known = self._totals
        found = known.get(day)
        if found is not None:
            return found
        with self._lock:
            if not known:
                known[day] = timedelta(0)
                self._bounds[:] = [day, day]
            low, high = self._bounds
            while high < day:
                known[high + DAY] = known[high] + self._day_total(high)
                high += DAY
            while low > day:
                known[low - DAY] = known[low] - self._day_total(low - DAY)
                low -= DAY
            self._bounds[:] = [low, high]
            return known[day]

    def _day_total(self, day: date) -> timedelta:
        """The open time of one UTC day."""
        return self._day(day)[1]

    def _day(self, day: date) -> tuple[tuple[tuple[datetime, datetime], ...], timedelta]:
        """The open spans of one UTC day and their total (cached: a calendar never
        changes, and clipping cached spans costs no time zone arithmetic)."""
        found = self._days.get(day)
        if found is None:
            spans = tuple(self._compute_spans(_midnight(day), _midnight(day + DAY)))
            total = sum((y - x for x, y in spans), timedelta(0))
            found = self._days[day] = (spans, total)
        return found

    def _spans(self, a: datetime, b: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open instants of ``[a, b)`` as ordered, disjoint UTC spans (a 24/7
        calendar's touch at midnight: they are never merged, so a search stops early)."""
        day = a.date()
        while _midnight(day) < b:
            for x, y in self._day(day)[0]:
                lo, hi = max(x, a), min(y, b)
                if lo < hi:
                    yield lo, hi
            day += DAY

    def _compute_spans(self, a: datetime, b: datetime) -> Iterator[tuple[datetime, datetime]]:
        """:meth:`_spans` from the calendar itself (no cache)."""
        # Within a stretch of constant UTC offset, wall time is UTC plus that offset, so
        # the instants whose wall time lies in an opening form one span; the stretches
        # are cut at each offset change, found by bisection (two a day at most).
        for u0, u1, offset in self._steady(a, b):
            wall0, wall1 = (u0 + offset).replace(tzinfo=None), (u1 + offset).replace(tzinfo=None)
            day = wall0.date()
            while day <= wall1.date():
                if day not in self.holidays:
                    midnight = datetime.combine(day, time(0))
                    for s, e in self.week[day.weekday()]:
                        lo = max(wall0, midnight + timedelta(minutes=s))
                        hi = min(wall1, midnight + timedelta(minutes=e))
                        if lo < hi:
                            yield (
                                (lo - offset).replace(tzinfo=UTC),
                                (hi - offset).replace(tzinfo=UTC),
                            )
                day += timedelta(days=1)

    def _offset(self, at: datetime) -> timedelta:
        found = at.astimezone(self.tz).utcoffset()
        assert found is not None
        return found

    def _steady(self, a: datetime, b: datetime) -> Iterator[tuple[datetime, datetime, timedelta]]:
        step = timedelta(hours=12)
        cursor = a
        while cursor < b:
            offset = self._offset(cursor)
            chunk_end = min(b, cursor + step)
            last = chunk_end - timedelta(microseconds=1)
            if self._offset(last) != offset:
                # offset(lo) is the stretch's, offset(hi) is not: hi ends as the change
                lo, hi = cursor, last
                while hi - lo > timedelta(microseconds=1):
                    mid = lo + (hi - lo) // 2
                    if self._offset(mid) == offset:
                        lo = mid
                    else:
                        hi = mid
                chunk_end = hi
            yield cursor, chunk_end, offset
            cursor = chunk_end
