"""Fixed timetables that repeat: an RFC 5545 RRULE (via python-dateutil) plus exclusions.

Sessions keep their wall-clock time in the series' time zone across DST changes
("every Wednesday 20:00 Asia/Shanghai").

>>> from datetime import datetime, timedelta
>>> from zoneinfo import ZoneInfo
>>> start = datetime(2026, 3, 4, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
>>> [d.day for d in expand("FREQ=WEEKLY;BYDAY=WE;COUNT=3", start)]
[4, 11, 18]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import attrs
from dateutil.rrule import rrulestr

from eduengine.booking.model import Slot, WaitlistMode, check_capacity
from eduengine.clock import require_aware
from eduengine.errors import InvalidInput, InvalidRecurrence, InvalidTimeRange

#: A series longer than this is refused (it is almost always an unbounded rule by mistake).
MAX_SESSIONS = 500


def expand(
    rrule: str, dtstart: datetime, exdates: Sequence[datetime | date] = ()
) -> list[datetime]:
    """All session starts of ``rrule`` from ``dtstart``, minus ``exdates``.

    An exdate that is a ``datetime`` removes the session starting at that instant; a plain
    ``date`` removes every session on that local day.
    """
    require_aware("dtstart", dtstart)
    if not isinstance(rrule, str) or not rrule.strip():
        raise InvalidRecurrence(f"rrule must be a non-empty string, got {rrule!r}")
    text = rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    try:
        rule = rrulestr(text, dtstart=dtstart)
        starts: list[datetime] = []
        for occurrence in rule:
            if len(starts) > MAX_SESSIONS:
                break
            starts.append(occurrence)
    except (ValueError, TypeError) as exc:
        raise InvalidRecurrence(f"cannot expand rrule {rrule!r}: {exc}") from exc
    if len(starts) > MAX_SESSIONS:
        raise InvalidRecurrence(
            f"rrule {rrule!r} yields more than {MAX_SESSIONS} sessions; give COUNT or UNTIL"
        )
    excluded_instants = set()
    excluded_days = set()
    for ex in exdates:
        if isinstance(ex, datetime):
            excluded_instants.add(require_aware("exdate", ex))
        elif isinstance(ex, date):
            excluded_days.add(ex)
        else:
            raise InvalidInput(f"exdate must be a datetime or date, got {ex!r}")
    kept = [s for s in starts if s not in excluded_instants and s.date() not in excluded_days]
    if not kept:
        raise InvalidRecurrence(f"rrule {rrule!r} yields no session after exclusions")
    return kept


def session_id(series_id: str, index: int) -> str:
    """Session slot ids sort in time order: ``<series>#001``, ``<series>#002`` ..."""
    return f"{series_id}#{index:03d}"


@attrs.frozen(kw_only=True)
class Series:
    """A repeating timetable whose sessions are ordinary slots."""

    id: str
    course_id: str
    rrule: str
    dtstart: datetime
    duration: timedelta
    capacity: int
    exdates: tuple[datetime | date, ...] = ()
    tutor_id: str | None = None
    slot_ids: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        series_id: str,
        course_id: str,
        rrule: str,
        dtstart: datetime,
        duration: timedelta,
        capacity: int,
        exdates: Sequence[datetime | date] = (),
        tutor_id: str | None = None,
        waitlist_mode: WaitlistMode = WaitlistMode.AUTO,
        offer_ttl: timedelta = timedelta(hours=2),
        now: datetime | None = None,
    ) -> tuple[Series, list[Slot]]:
        """Validate, expand and build the series and one slot per session."""
        if not isinstance(series_id, str) or not series_id:
            raise InvalidInput(f"series_id must be a non-empty string, got {series_id!r}")
        if not isinstance(duration, timedelta) or duration <= timedelta(0):
            raise InvalidTimeRange(
                f"series {series_id!r}: duration must be positive, got {duration!r}"
            )
        check_capacity(capacity)
        starts = expand(rrule, dtstart, exdates)
        slots = [
            Slot.create(
                slot_id=session_id(series_id, n),
                course_id=course_id,
                start=start,
                end=start + duration,
                capacity=capacity,
                tutor_id=tutor_id,
                series_id=series_id,
                waitlist_mode=waitlist_mode,
                offer_ttl=offer_ttl,
                now=now,
            )
            for n, start in enumerate(starts, start=1)
        ]
        series = cls(
            id=series_id,
            course_id=course_id,
            rrule=rrule,
            dtstart=dtstart,
            duration=duration,
            capacity=capacity,
            exdates=tuple(exdates),
            tutor_id=tutor_id,
            slot_ids=tuple(s.id for s in slots),
        )
        return series, slots
