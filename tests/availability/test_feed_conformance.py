"""Every feed the library writes, read by two independent third-party readers, shows the
library's own sessions: the same instants, the same (exact) ends, the same statuses.

Reader 1 is ``icalendar`` to parse plus python-dateutil to expand the RRULE the RFC 5545
way (DTSTART is the first instance, EXDATEs removed, RECURRENCE-ID overrides applied,
every instance as long as the first in elapsed time). Reader 2 is
``recurring-ical-events``, which expands on its own (and adds a length on the wall clock,
as many clients do). Rules, zones (IANA ones with odd DST, dateutil and fixed-offset
tzinfos), starts near DST changes, exclusions and cancellations come from hypothesis.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from dateutil import tz as dateutil_tz
from dateutil.rrule import rruleset, rrulestr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.booking.ical import CalendarService
from eduengine.booking.series import expand, session_end
from eduengine.errors import InvalidRecurrence
from eduengine.kernel.codec import micros
from eduengine.people import SYSTEM

NOW = datetime(2025, 6, 1, tzinfo=UTC)

ZONES: list[tzinfo] = [
    ZoneInfo("Europe/London"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute change
    ZoneInfo("America/Santiago"),  # clocks change at midnight
    ZoneInfo("Asia/Shanghai"),
    dateutil_tz.gettz("Europe/Berlin"),  # type: ignore[list-item]
    dateutil_tz.gettz("America/Santiago"),  # type: ignore[list-item]
    timezone(timedelta(hours=8)),
    timezone(timedelta(hours=-3, minutes=-30)),
    UTC,
]
#: dates near the DST changes of 2026 in the zones above
NEAR_CHANGES = [
    date(2026, 3, 8),  # New York springs forward
    date(2026, 3, 29),  # London, Berlin
    date(2026, 4, 4),  # Santiago goes back, Lord Howe goes back
    date(2026, 9, 5),  # Santiago springs forward at midnight
    date(2026, 10, 3),  # Lord Howe forward
    date(2026, 10, 25),  # London, Berlin back
    date(2026, 11, 1),  # New York back
]
WALL_TIMES = [(0, 0), (0, 30), (1, 30), (2, 0), (2, 30), (9, 0), (20, 0), (23, 30)]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 3))}")
    if freq == "WEEKLY" and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        parts.append("BYDAY=" + ",".join(chosen))
    if freq == "MONTHLY":
        parts.append(
            draw(
                st.sampled_from(
                    ["BYMONTHDAY=1,15", "BYMONTHDAY=-1", "BYDAY=1SA", "BYDAY=-1SU", "BYMONTHDAY=31"]
                )
            )
        )
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 8))}")
    else:
        parts.append("UNTIL=20270101T000000Z")
    if freq == "DAILY" and not any(p.startswith("COUNT") for p in parts):
        parts[-1] = "COUNT=9"  # a daily rule to the UNTIL is long; keep examples quick
    text = ";".join(parts)
    return draw(st.sampled_from([text, "RRULE:" + text, "rrule:" + text.lower()]))


@st.composite
def starts(draw: st.DrawFn) -> datetime:
    zone = draw(st.sampled_from(ZONES))
    day = draw(st.sampled_from(NEAR_CHANGES)) + timedelta(days=draw(st.integers(-3, 1)))
    hour, minute = draw(st.sampled_from(WALL_TIMES))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def _instants(value: datetime) -> int:
    return micros(value)


def rfc_reading(ics: bytes) -> dict[str, set[tuple[int, int]]]:
    """Reader 1: icalendar parses, dateutil expands as RFC 5545 says. Instances by status."""
    cal: Any = icalendar.Calendar.from_ical(ics)
    masters = [e for e in cal.walk("VEVENT") if "RECURRENCE-ID" not in e]
    overrides = {
        (str(e["UID"]), _instants(e["RECURRENCE-ID"].dt)): e
        for e in cal.walk("VEVENT")
        if "RECURRENCE-ID" in e
    }
    found: dict[str, set[tuple[int, int]]] = {"CONFIRMED": set(), "CANCELLED": set()}
    for event in masters:
        start: datetime = event["DTSTART"].dt
        length = event["DTEND"].dt.astimezone(UTC) - start.astimezone(UTC)
        status = str(event["STATUS"])
        if "RRULE" not in event:
            found[status].add((_instants(start), _instants(start.astimezone(UTC) + length)))
            continue
        rules_set = rruleset()
        rules_set.rrule(
            rrulestr(event["RRULE"].to_ical().decode(), dtstart=start)  # type: ignore[arg-type]
        )
        rules_set.rdate(start)  # RFC 5545: DTSTART is always the first instance
        for ex in _as_list(event.get("EXDATE")):
            for value in ex.dts:
                rules_set.exdate(value.dt)
        for at in rules_set:
            key = (str(event["UID"]), _instants(at))
            if key in overrides:
                o = overrides[key]
                found[str(o["STATUS"])].add((_instants(o["DTSTART"].dt), _instants(o["DTEND"].dt)))
            else:
                end = (at.astimezone(UTC) + length).astimezone(UTC)
                found[status].add((_instants(at), _instants(end)))
    return found


def client_reading(ics: bytes) -> dict[str, set[tuple[int, int]]]:
    """Reader 2: recurring-ical-events expands the feed itself."""
    cal: Any = icalendar.Calendar.from_ical(ics)
    found: dict[str, set[tuple[int, int]]] = {"CONFIRMED": set(), "CANCELLED": set()}
    for event in recurring_ical_events.of(cal).between(date(2020, 1, 1), date(2040, 1, 1)):
        found[str(event["STATUS"])].add(
            (_instants(event["DTSTART"].dt), _instants(event["DTEND"].dt))
        )
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def both_readers(ics: bytes) -> list[dict[str, set[tuple[int, int]]]]:
    return [rfc_reading(ics), client_reading(ics)]


@settings(max_examples=20)
@given(
    rule=rules(),
    start=starts(),
    minutes=st.sampled_from([30, 60, 90, 120, 180]),
    excluded=st.sets(st.integers(0, 8), max_size=2),
    exclude_in_utc=st.booleans(),
    cancelled=st.sets(st.integers(0, 8), max_size=3),
    school_cancelled=st.sets(st.integers(0, 8), max_size=1),
    single_at=st.sampled_from(WALL_TIMES),
)
def test_both_readers_see_exactly_the_librarys_sessions_in_every_feed(
    rule: str,
    start: datetime,
    minutes: int,
    excluded: set[int],
    exclude_in_utc: bool,
    cancelled: set[int],
    school_cancelled: set[int],
    single_at: tuple[int, int],
) -> None:
    clock = FixedClock(NOW)
    store = InMemoryStore()
    svc = BookingService(store.unit_of_work, clock=clock)
    cals = CalendarService(store.unit_of_work, clock=clock)
    length = timedelta(minutes=minutes)
    try:
        planned = expand(rule, start)
    except InvalidRecurrence:  # e.g. the 31st before an UNTIL that falls first
        assume(False)
        raise
    exdates: list[datetime | date] = [
        planned[i].astimezone(UTC) if exclude_in_utc else planned[i]
        for i in sorted(excluded)
        if i < len(planned) - 1  # keep one session
    ]
    series = svc.create_series("maths", rule, start, length, 3, exdates=exdates, tutor_id="lin")
    seats = svc.book_series(series.id, "ann")
    svc.book_series(series.id, "bob")
    for i in sorted(cancelled):
        if i < len(seats):
            svc.cancel(seats[i].id)
    for i in sorted(school_cancelled):
        if i < len(series.slot_ids):
            svc.cancel_slot(series.slot_ids[i])
    # a single lesson in the same zone, near the same change, and one cancelled
    one_start = start.replace(hour=single_at[0], minute=single_at[1]) + timedelta(days=1)
    single = svc.create_slot("trial", one_start, session_end(one_start, length), 2, tutor_id="lin")
    svc.book(single.id, "ann")
    later = one_start + timedelta(days=2)
    dropped = svc.create_slot("trial", later, session_end(later, length), 2)
    svc.cancel(svc.book(dropped.id, "ann").id)

    slots = {s: svc.get_slot(s, actor=SYSTEM) for s in (*series.slot_ids, single.id, dropped.id)}
    for s in slots.values():  # the library's own sessions last exactly as long
        assert s.end.astimezone(UTC) - s.start.astimezone(UTC) == length
    held = {b.slot_id: b for b in svc.bookings_for_student("ann", actor=SYSTEM)}
    expected = {
        "CONFIRMED": {
            (micros(slots[sid].start), micros(slots[sid].end))
            for sid, b in held.items()
            if b.holds_seat
        }
    }
    student_ics = cals.student_calendar("ann", actor=SYSTEM)
    for reading in both_readers(student_ics):
        assert reading["CONFIRMED"] == expected["CONFIRMED"]
    for line in _lines(student_ics, b"EXDATE"):  # RFC 5545 3.2.19: no UTC value under TZID
        assert b"TZID=" not in line or not line.endswith(b"Z")
        assert b"TZID=" not in line or b"Z," not in line
    assert [line.count(b"RRULE:") for line in _lines(student_ics, b"RRULE")] in ([], [1])

    teaching = {
        status: {
            (micros(s.start), micros(s.end))
            for s in slots.values()
            if s.tutor_id == "lin" and (s.status.value == "cancelled") == (status == "CANCELLED")
        }
        for status in ("CONFIRMED", "CANCELLED")
    }
    for reading in both_readers(cals.tutor_calendar("lin")):
        assert reading == teaching


def _first_lines(ics: bytes, name: bytes) -> list[bytes]:
    return [line for line in ics.replace(b"\r\n ", b"").split(b"\r\n") if line.startswith(name)]


def _lines(ics: bytes, name: bytes) -> list[bytes]:
    return [line for line in ics.replace(b"\r\n ", b"").split(b"\r\n") if line.startswith(name)]
