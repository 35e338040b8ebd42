"""The .ics export parses back with every field as booked."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from eduengine import BookingService, FixedClock
from eduengine.availability import AvailabilityService, TimeRange, TutorSchedule
from eduengine.booking.ical import CalendarService
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

SHANGHAI = ZoneInfo("Asia/Shanghai")


def events(ics: bytes) -> dict[str, Any]:
    cal = icalendar.Calendar.from_ical(ics)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_a_students_calendar_has_single_lessons_and_a_series_as_one_rrule_event(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = (T0 + timedelta(days=1)).astimezone(SHANGHAI)
    single = svc.create_slot("algebra", start, start + timedelta(hours=1), 5)
    kept = svc.book(single.id, "ann")
    dropped_slot = svc.create_slot(
        "physics", start + timedelta(hours=3), start + timedelta(hours=4), 5
    )
    dropped = svc.book(dropped_slot.id, "ann")
    svc.cancel(dropped.id)
    first = datetime(2026, 3, 4, 20, 0, tzinfo=SHANGHAI)
    series = svc.create_series(
        "ielts",
        "FREQ=WEEKLY;BYDAY=WE;COUNT=5",
        first,
        timedelta(minutes=90),
        10,
        exdates=[first + timedelta(weeks=1)],
    )
    sessions = svc.book_series(series.id, "ann")
    svc.cancel(sessions[2].id)  # one session dropped

    ics = CalendarService(store.unit_of_work, clock=clock).student_calendar("ann", actor=SYSTEM)
    found = events(ics)
    assert set(found) == {
        f"{kept.id}@eduengine",
        f"{dropped.id}@eduengine",
        f"series-{series.id}-ann@eduengine",
    }
    one = found[f"{kept.id}@eduengine"]
    assert one["DTSTART"].dt == single.start and one["DTSTART"].dt.tzinfo.key == "Asia/Shanghai"
    assert one["DTEND"].dt == single.end
    assert str(one["SUMMARY"]) == "algebra" and str(one["STATUS"]) == "CONFIRMED"
    assert str(found[f"{dropped.id}@eduengine"]["STATUS"]) == "CANCELLED"
    ser = found[f"series-{series.id}-ann@eduengine"]
    assert ser["DTSTART"].dt == first and ser["DTEND"].dt == first + timedelta(minutes=90)
    assert ser["RRULE"]["FREQ"] == ["WEEKLY"] and ser["RRULE"]["COUNT"] == [5]
    exdates = sorted(d.dt for ex in _as_list(ser["EXDATE"]) for d in ex.dts)
    dropped_start = svc.get_slot(sessions[2].slot_id, actor=SYSTEM).start
    assert exdates == [first + timedelta(weeks=1), dropped_start]
    assert b"BEGIN:VTIMEZONE" in ics and b"TZID:Asia/Shanghai" in ics
    # stable: exporting again gives the same UIDs
    assert set(
        events(
            CalendarService(store.unit_of_work, clock=clock).student_calendar("ann", actor=SYSTEM)
        )
    ) == set(found)


def test_a_tutors_calendar_lists_their_lessons(store: StoreHandle, clock: FixedClock) -> None:
    desk = AvailabilityService(store.unit_of_work, clock=clock)
    desk.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="Europe/London",
            weekly={d: (TimeRange(time(9), time(12)),) for d in range(7)},
        )
    )
    when = desk.open_times("lin", clock.now(), clock.now() + timedelta(days=3))[0]
    lesson = desk.book("lin", "ann", when)
    other = desk.book("lin", "bob", when + timedelta(hours=1))
    desk.cancel(other.booking.id)
    found = events(CalendarService(store.unit_of_work, clock=clock).tutor_calendar("lin"))
    mine = found[f"slot-{lesson.slot_id}@eduengine"]
    assert mine["DTSTART"].dt == lesson.start and str(mine["STATUS"]) == "CONFIRMED"
    assert "1/1 booked" in str(mine["SUMMARY"])
    assert str(found[f"slot-{other.slot_id}@eduengine"]["STATUS"]) == "CANCELLED"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
