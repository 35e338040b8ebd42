"""A tutor's working hours and the open start times they leave (pure).

Working hours are wall-clock ranges in the tutor's own time zone; a session is a real
duration. Around DST changes a start time that does not exist on the wall clock (the
spring gap) is skipped, and a wall time that happens twice (the autumn overlap) is offered
once, at its first occurrence.

>>> from datetime import date, datetime, time, timedelta, timezone
>>> sched = TutorSchedule(tutor_id="lin", timezone="Asia/Kolkata",
...     weekly={0: (TimeRange(time(9, 0), time(11, 0)),)}, session=timedelta(minutes=60),
...     step=timedelta(minutes=30))
>>> monday = datetime(2026, 3, 2, tzinfo=timezone.utc)
>>> [t.strftime("%H:%M") for t in open_times(sched, BusyIndex(), monday,
...     monday + timedelta(days=1), now=monday - timedelta(days=1), viewer_tz="Asia/Kolkata")]
['09:00', '09:30', '10:00']
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from sortedcontainers import SortedKeyList

from eduengine.errors import InvalidInput, InvalidTimeRange, OverlappingRanges
from eduengine.kernel.clock import require_aware
from eduengine.kernel.inputs import MAX_COUNT, MAX_DURATION, check_id
from eduengine.kernel.records import reader, writer

ZERO = timedelta(0)
#: IANA zone names are far shorter ("America/Argentina/ComodRivadavia" is 32)
MAX_ZONE_NAME = 64


def zone(name: str | ZoneInfo) -> ZoneInfo:
    if isinstance(name, ZoneInfo):
        return name
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME:
        raise InvalidInput(f"unknown time zone {name!r:.80}")
    try:
        return ZoneInfo(name)
    # OSError: a name the file system refuses as a path (too long, a bad byte)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}") from exc


class Grid(enum.Enum):
    """Where the start times of a working range fall.

    ``RANGE_START`` (the default): every ``step`` from the start of each range (hours
    09:15-12:00 with a 30-minute step offer 09:15, 09:45 ...). ``CLOCK``: on the clock's
    multiples of ``step`` from local midnight (09:30, 10:00 ...), as common schedulers do.
    """

    RANGE_START = "range_start"
    CLOCK = "clock"


@attrs.frozen
class TimeRange:
    """Wall-clock hours ``[start, end)`` within one day; an ``end`` of ``time(0)`` is
    midnight at the end of the day (24:00).

    >>> TimeRange(time(20), time(0)).reaches_midnight
    True
    """

    start: time
    end: time

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.start, time) or not isinstance(self.end, time):
            raise InvalidInput(f"working hours need datetime.time values, got {self!r}")
        if self.end <= self.start and not self.reaches_midnight:
            raise InvalidTimeRange(f"working hours end {self.end} is not after {self.start}")

    @property
    def reaches_midnight(self) -> bool:
        return self.end == time(0)

    @property
    def end_after_midnight(self) -> timedelta:
        """How long after the day's midnight the range ends (a whole day for 24:00)."""
        if self.reaches_midnight:
            return timedelta(days=1)
        return datetime.combine(date.min, self.end) - datetime.min


def _no_overlap(where: str, ranges: Iterable[TimeRange]) -> tuple[TimeRange, ...]:
    if not isinstance(ranges, list | tuple) or not all(isinstance(r, TimeRange) for r in ranges):
        raise InvalidInput(f"{where}: working hours must be a tuple of TimeRange, got {ranges!r}")
    ordered = sorted(ranges, key=lambda r: r.start)
    for a, b in itertools.pairwise(ordered):
        if datetime.combine(date.min, b.start) - datetime.min < a.end_after_midnight:
            raise OverlappingRanges(f"{where}: {a.start}-{a.end} overlaps {b.start}-{b.end}")
    return tuple(ordered)


def _duration(name: str, value: timedelta, *, positive: bool) -> None:
    if (
        not isinstance(value, timedelta)
        or value < ZERO
        or (positive and value == ZERO)
        or value > MAX_DURATION
    ):
        kind = "positive" if positive else "non-negative"
        raise InvalidTimeRange(
            f"{name} must be a {kind} timedelta of at most {MAX_DURATION.days} days, "
            f"got {value!r}"
        )


@attrs.frozen(kw_only=True)
class TutorSchedule:
    """When a tutor works and how their 1-on-1 sessions are laid out."""

    tutor_id: str
    timezone: str
    #: weekday (0 = Monday) -> working hours
    weekly: Mapping[int, tuple[TimeRange, ...]] = attrs.field(factory=dict)
    #: a date's hours replace the weekly ones; an empty tuple is a day off
    overrides: Mapping[date, tuple[TimeRange, ...]] = attrs.field(factory=dict)
    session: timedelta = timedelta(minutes=60)
    step: timedelta = timedelta(minutes=30)
    buffer_before: timedelta = ZERO
    buffer_after: timedelta = ZERO
    min_notice: timedelta = ZERO
    horizon: timedelta = timedelta(days=60)
    max_per_day: int | None = None
    grid: Grid = Grid.RANGE_START

    def __attrs_post_init__(self) -> None:
        check_id(self.tutor_id, "tutor_id")
        zone(self.timezone)
        if not isinstance(self.grid, Grid):
            raise InvalidInput(f"grid must be a Grid, got {self.grid!r}")
        for name in ("session", "step", "horizon"):
            _duration(name, getattr(self, name), positive=True)
        for name in ("buffer_before", "buffer_after", "min_notice"):
            _duration(name, getattr(self, name), positive=False)
        if self.max_per_day is not None and (
            isinstance(self.max_per_day, bool)
            or not isinstance(self.max_per_day, int)
            or not 1 <= self.max_per_day <= MAX_COUNT
        ):
            raise InvalidInput(f"max_per_day must be a positive int, got {self.max_per_day!r}")
        weekly = {}
        if not isinstance(self.weekly, Mapping) or not isinstance(self.overrides, Mapping):
            raise InvalidInput("weekly and overrides must be mappings of working hours")
        for day, ranges in self.weekly.items():
            if day not in range(7):
                raise InvalidInput(f"weekday must be 0 (Monday) to 6, got {day!r}")
            weekly[day] = _no_overlap(f"weekday {day}", ranges)
        overrides = {}
        for on, ranges in self.overrides.items():
            if not isinstance(on, date) or isinstance(on, datetime):
                raise InvalidInput(f"override keys must be dates, got {on!r}")
            overrides[on] = _no_overlap(f"override {on}", ranges)
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "overrides", overrides)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def hours_on(self, day: date) -> tuple[TimeRange, ...]:
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())

    def to_record(self) -> dict[str, Any]:
        def ranges(rs: tuple[TimeRange, ...]) -> list[list[str]]:
            return [[r.start.isoformat(), r.end.isoformat()] for r in rs]

        return {
            "tutor_id": self.tutor_id,
            "timezone": self.timezone,
            "weekly": {str(k): ranges(v) for k, v in self.weekly.items()},
            "overrides": {k.isoformat(): ranges(v) for k, v in self.overrides.items()},
            "session_us": self.session // timedelta(microseconds=1),
            "step_us": self.step // timedelta(microseconds=1),
            "buffer_before_us": self.buffer_before // timedelta(microseconds=1),
            "buffer_after_us": self.buffer_after // timedelta(microseconds=1),
            "min_notice_us": self.min_notice // timedelta(microseconds=1),
            "horizon_us": self.horizon // timedelta(microseconds=1),
            "max_per_day": self.max_per_day,
            "grid": self.grid.value,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> TutorSchedule:
        def ranges(rs: list[list[str]]) -> tuple[TimeRange, ...]:
            return tuple(TimeRange(time.fromisoformat(a), time.fromisoformat(b)) for a, b in rs)

        def us(key: str) -> timedelta:
            return timedelta(microseconds=data[key])

        return cls(
            tutor_id=data["tutor_id"],
            timezone=data["timezone"],
            weekly={int(k): ranges(v) for k, v in data["weekly"].items()},
            overrides={date.fromisoformat(k): ranges(v) for k, v in data["overrides"].items()},
            session=us("session_us"),
            step=us("step_us"),
            buffer_before=us("buffer_before_us"),
            buffer_after=us("buffer_after_us"),
            min_notice=us("min_notice_us"),
            horizon=us("horizon_us"),
            max_per_day=data["max_per_day"],
            grid=Grid(data.get("grid", Grid.RANGE_START.value)),
        )


@attrs.frozen(kw_only=True)
class Busy:
    """One booked lesson ``[start, end)``; its slot, and its booking when known."""

    start: datetime
    end: datetime
    slot_id: str
    booking_id: str | None = None


class BusyIndex:
    """A tutor's booked sessions, sorted by start (sortedcontainers), for O(log n)
    conflict checks. Sessions never overlap each other, so their ends are sorted too."""

    def __init__(self, items: Iterable[Busy] = ()) -> None:
        self._items: SortedKeyList[Busy, datetime] = SortedKeyList(key=lambda b: b.start)
        self._by_booking: dict[str, Busy] = {}
        #: the longest session ever held, so a scan by start knows how far back to look
        self.longest = ZERO
        for busy in items:
            self.add(busy)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Any:
        return iter(self._items)

    def add(self, busy: Busy) -> None:
        self._items.add(busy)
        if busy.booking_id is not None:
            self._by_booking[busy.booking_id] = busy
        self.longest = max(self.longest, busy.end - busy.start)

    def remove_booking(self, booking_id: str) -> bool:
        """Drop the session of ``booking_id`` (O(log n)); False if it is not here."""
        busy = self._by_booking.pop(booking_id, None)
        if busy is None:
            return False
        self._items.remove(busy)
        return True

    def conflicts(
        self, start: datetime, end: datetime, before: timedelta, after: timedelta
    ) -> bool:
        """Would a session ``[start, end)`` and its buffers touch a booked one and its?"""
        # Busy b blocks [b.start - before, b.end + after); the candidate needs the same.
        # Only the latest session starting before our blocked end can reach us.
        idx = self._items.bisect_key_left(end + after + before)
        if idx == 0:
            return False
        latest: Busy = self._items[idx - 1]
        return latest.end + after + before > start

    def between(self, start: datetime, end: datetime) -> list[Busy]:
        """Bookings starting in ``[start, end]``, in order."""
        return list(self._items.irange_key(start, end))

    def count_between(self, start: datetime, end: datetime) -> int:
        return sum(1 for _ in self._items.irange_key(start, end, inclusive=(True, False)))

    # The whole calendar as one document: how releases before lesson rows stored it
    # (``AvailabilityService.migrate_calendar`` reads it once, then drops it).

    def to_record(self) -> dict[str, Any]:
        return {"busy": [_busy_out(b) for b in self._items]}

    @classmethod
    def from_record(cls, data: dict[str, Any] | None) -> BusyIndex:
        if not data:
            return cls()
        return cls(_busy_in(b) for b in data["busy"])


_busy_out = writer(Busy)
_busy_in = reader(Busy)


def localize(day: date, wall: time, tz: ZoneInfo) -> datetime | None:
    """The instant a wall-clock time happens on ``day`` (its first occurrence), or None
    if the clock skips it (DST gap)."""
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != naive:
        return None
    return aware.astimezone(UTC)


def _window_end(day: date, wall: time, tz: ZoneInfo) -> datetime:
    end = localize(day, wall, tz)
    if end is None:
        # The range ends inside a DST gap: it ends when the clock resumes, the instant of
        # the change, which lies between the wall time read with the offset after (fold=1)
        # and before (fold=0) it. (A range to 24:00 on a night Santiago skips midnight
        # ends at the new 01:00, not an hour before.)
        naive = datetime.combine(day, wall)
        lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
        hi = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
        before = lo.astimezone(tz).utcoffset()
        while hi - lo > timedelta(microseconds=1):
            mid = lo + (hi - lo) // 2
            if mid.astimezone(tz).utcoffset() == before:
                lo = mid
            else:
                hi = mid
        end = hi
    return end


def _span(
    schedule: TutorSchedule, start: datetime, end: datetime, now: datetime
) -> tuple[datetime, datetime] | None:
    """``(earliest, latest)`` candidate start, or None when nothing can be offered."""
    for name, value in (("start", start), ("end", end), ("now", now)):
        require_aware(name, value)
    if end <= start:
        raise InvalidTimeRange(f"open_times: end {end} is not after start {start}")
    # strictly after now: a lesson starting this instant has already started
    earliest = max(start, now + schedule.min_notice, now + timedelta(microseconds=1))
    latest = min(end, now + schedule.horizon)
    return None if latest <= earliest else (earliest, latest)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return localize(day, time(0), tz) or _window_end(day, time(0), tz)


def busy_window(
    schedule: TutorSchedule,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    longest: timedelta,
) -> tuple[datetime, datetime] | None:
    """The lesson starts ``[lo, hi]`` that :func:`open_times` over ``[start, end)`` can
    see, when no lesson lasts longer than ``longest``; None when nothing can be offered.

    A candidate at ``t`` is blocked by lessons starting before ``t + session + buffers``
    and ending after ``t - buffers``, so those starting before ``earliest - buffers -
    longest`` cannot matter; a daily cap counts whole local days, so they are read whole.
    Giving ``open_times`` only these lessons gives the same answer as giving it all.
    """
    span = _span(schedule, start, end, now)
    if span is None:
        return None
    earliest, latest = span
    pad = schedule.buffer_before + schedule.buffer_after
    lo = earliest - pad - max(longest, schedule.session)
    hi = latest + schedule.session + pad
    if schedule.max_per_day is not None:
        tz = schedule.tz
        # (the day before ``earliest``, which open_times also visits, offers nothing
        # at or after it, so its count cannot change the answer)
        lo = min(lo, _midnight(earliest.astimezone(tz).date(), tz))
        hi = max(hi, _midnight(latest.astimezone(tz).date() + timedelta(days=1), tz))
    return lo, hi


def open_times(
    schedule: TutorSchedule,
    busy: BusyIndex,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    viewer_tz: str | ZoneInfo = "UTC",
) -> list[datetime]:
    """Bookable session starts in ``[start, end)``, shown in ``viewer_tz``."""
    span = _span(schedule, start, end, now)
    viewer = zone(viewer_tz)
    if span is None:
        return []
    earliest, latest = span
    tz = schedule.tz
    found: list[datetime] = []
    day = earliest.astimezone(tz).date() - timedelta(days=1)
    last_day = latest.astimezone(tz).date()
    while day <= last_day:
        ranges = schedule.hours_on(day)
        if ranges:
            capped = False
            if schedule.max_per_day is not None:
                day_end = _midnight(day + timedelta(days=1), tz)
                capped = busy.count_between(_midnight(day, tz), day_end) >= schedule.max_per_day
            if not capped:
                for r in ranges:
                    found.extend(_starts_in(schedule, busy, day, r, tz, earliest, latest))
        day += timedelta(days=1)
    return [t.astimezone(viewer) for t in found]


def _starts_in(
    schedule: TutorSchedule,
    busy: BusyIndex,
    day: date,
    hours: TimeRange,
    tz: ZoneInfo,
    earliest: datetime,
    latest: datetime,
) -> Iterable[datetime]:
    if hours.reaches_midnight:
        window_end = _window_end(day + timedelta(days=1), time(0), tz)
    else:
        window_end = _window_end(day, hours.end, tz)
    wall = datetime.combine(day, hours.start)
    if schedule.grid is Grid.CLOCK:
        midnight = datetime.combine(day, time(0))
        wall = midnight + schedule.step * -(-(wall - midnight) // schedule.step)
    stop = datetime.combine(day, time(0)) + hours.end_after_midnight
    if wall >= stop:
        return
    window_start = localize(day, wall.time(), tz)
    if window_start is not None and (
        window_start.astimezone(tz).utcoffset() == window_end.astimezone(tz).utcoffset()
    ):
        yield from _starts_fast(schedule, busy, window_start, window_end, earliest, latest)
        return
    # The window spans a DST change: walk the wall clock and skip or dedupe as needed.
    seen: set[datetime] = set()
    while wall < stop:
        at = localize(day, wall.time(), tz)
        wall += schedule.step
        if at is None or at in seen:
            continue
        seen.add(at)
        finish = at + schedule.session
        if at < earliest or at >= latest or finish > window_end:
            continue
        if busy.conflicts(at, finish, schedule.buffer_before, schedule.buffer_after):
            continue
        yield at


def _starts_fast(
    schedule: TutorSchedule,
    busy: BusyIndex,
    window_start: datetime,
    window_end: datetime,
    earliest: datetime,
    latest: datetime,
) -> Iterable[datetime]:
    """No DST change inside the window: starts are plain arithmetic in UTC, and each
    booking lets us jump straight past the times it blocks."""
    step, session = schedule.step, schedule.session
    pad = schedule.buffer_before + schedule.buffer_after
    last = min(window_end - session, latest - timedelta(microseconds=1))
    first = window_start
    if earliest > first:  # round up to the window's step grid
        first += step * -(-(earliest - first) // step)
    # A lesson that started up to the longest session before may still reach in.
    blockers = iter(busy.between(first - pad - busy.longest, last + session + pad))
    blocker = next(blockers, None)
    at = first
    while at <= last:
        finish = at + session
        # skip bookings that end (with buffers) before this candidate
        while blocker is not None and blocker.end + pad <= at:
            blocker = next(blockers, None)
        if blocker is not None and blocker.start < finish + pad:
            # blocked: jump to the first grid time after this booking's blocked span
            free_from = blocker.end + pad
            at += step * -(-(free_from - at) // step)
            continue
        yield at
        at += step


def naive_open_times(
    schedule: TutorSchedule,
    busy: list[Busy],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
) -> list[datetime]:
    """The same answer by a linear scan of every booking (the benchmark's baseline)."""
    everything = open_times(schedule, BusyIndex(), start, end, now=now)
    before, after = schedule.buffer_before, schedule.buffer_after
    return [
        t
        for t in everything
        if not any(
            b.start - before < t + schedule.session + after and b.end + after > t - before
            for b in busy
        )
    ]
