"""A 1-on-1 lesson's room link is kept with the lesson (its notices, reminders and .ics
event carry it), and .ics events describe courses from the host's catalog, on every
adapter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import icalendar
import pytest
import recurring_ical_events

from eduengine import FixedClock, School
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.booking.ical import CalendarService, CourseInfo
from eduengine.errors import InvalidInput
from eduengine.notices import Notice
from eduengine.people import SYSTEM
from eduengine.reminders import Reminder, ReminderPlan
from tests.adapters import StoreHandle

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
PYTHON = CourseInfo(
    title="Python 101",
    description="Variables, loops and functions.",
    location="Room 204, 8 Garden Road",
    url="https://school.example/courses/py",
)


class Inbox:
    """A notices provider (``send(notice, channel, key)``) and a reminders notifier
    (``send(reminder)``) in one."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.reminders: list[Reminder] = []

    def send(self, *args: Any) -> None:
        if isinstance(args[0], Reminder):
            self.reminders.append(args[0])
        else:
            self.notices.append(args[0])


def _school(store: StoreHandle, inbox: Inbox, clock: FixedClock, **more: Any) -> School:
    school = School.build(
        store,
        clock=clock,
        room_for=lambda slot: f"https://meet.example/{slot.id}",
        notifiers={"in_app": inbox},
        reminders=ReminderPlan(offsets=(timedelta(minutes=15),)),
        **more,
    )
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="Europe/London",
            weekly={d: (TimeRange(time(9), time(12)),) for d in range(7)},
            overrides={date(2026, 3, 9): ()},
        )
    )
    return school


def _events(ics: bytes) -> dict[str, Any]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}


def test_the_room_link_is_in_the_15_minute_reminder_the_notices_and_the_ics_event(
    store: StoreHandle,
) -> None:
    clock = FixedClock(MONDAY - timedelta(days=1))
    inbox = Inbox()
    school = _school(store, inbox, clock)
    lesson = school.availability.book("lin", "ann", MONDAY + timedelta(hours=9))
    link = f"https://meet.example/{lesson.slot_id}"
    assert lesson.room == link

    clock.set(lesson.start - timedelta(minutes=15))
    school.reminders.send_due(inbox)
    school.notices.deliver_due("w1")
    assert sorted(r.kind for r in inbox.reminders) == ["before:15m", "confirmation"]
    assert {r.room for r in inbox.reminders} == {link}
    kinds = {n.kind: n for n in inbox.notices}
    assert kinds["class_reminder"].context["room"] == link
    assert kinds["booking_confirmed"].context["room"] == link

    event = _events(school.calendar.student_calendar("ann", actor=SYSTEM))[
        f"{lesson.booking.id}@eduengine"
    ]
    assert str(event["LOCATION"]) == link and str(event["URL"]) == link
    tutor = _events(school.calendar.tutor_calendar("lin"))[f"slot-{lesson.slot_id}@eduengine"]
    assert str(tutor["URL"]) == link


def test_a_class_without_a_room_has_none_in_its_notices(store: StoreHandle) -> None:
    clock = FixedClock(MONDAY - timedelta(days=1))
    inbox = Inbox()
    school = _school(store, inbox, clock)
    slot = school.booking.create_slot("py", MONDAY, MONDAY + timedelta(hours=1), 5)
    school.booking.book(slot.id, "bob")
    school.notices.deliver_due("w1")
    assert [n.context["room"] for n in inbox.notices if n.kind == "booking_confirmed"] == [None]


def test_ics_events_describe_the_course_from_the_hosts_catalog(store: StoreHandle) -> None:
    clock = FixedClock(MONDAY - timedelta(days=1))
    school = _school(store, Inbox(), clock, course_info={"py": PYTHON})
    start = MONDAY + timedelta(days=1)
    known = school.booking.create_slot("py", start, start + timedelta(hours=1), 5)
    unknown = school.booking.create_slot(
        "chem", start + timedelta(hours=2), start + timedelta(hours=3), 5
    )
    school.booking.create_series(
        "py",
        "FREQ=WEEKLY;COUNT=3",
        start + timedelta(days=1),
        timedelta(hours=1),
        5,
        series_id="weekly",
    )
    seats = [school.booking.book(known.id, "ann"), school.booking.book(unknown.id, "ann")]
    school.booking.book_series("weekly", "ann")
    ics = school.calendar.student_calendar("ann", actor=SYSTEM)
    found = _events(ics)
    py = found[f"{seats[0].id}@eduengine"]
    assert str(py["SUMMARY"]) == "Python 101"
    assert str(py["DESCRIPTION"]) == PYTHON.description
    assert str(py["LOCATION"]) == PYTHON.location
    assert str(py["URL"]) == PYTHON.url
    chem = found[f"{seats[1].id}@eduengine"]
    assert str(chem["SUMMARY"]) == "chem"  # nothing known: the id
    assert "LOCATION" not in chem and "URL" not in chem and "DESCRIPTION" not in chem
    weekly = found["series-weekly-ann@eduengine"]
    assert str(weekly["SUMMARY"]) == "Python 101" and str(weekly["URL"]) == PYTHON.url
    # a second reader expands the feed with the same descriptions
    sessions = recurring_ical_events.of(icalendar.Calendar.from_ical(ics)).between(
        start, start + timedelta(days=30)
    )
    assert sorted(str(e["SUMMARY"]) for e in sessions) == ["Python 101"] * 4 + ["chem"]
    tutor = school.calendar
    assert tutor.course_info == {"py": PYTHON}


def test_a_catalog_may_be_a_function_and_must_answer_with_course_info(
    store: StoreHandle,
) -> None:
    clock = FixedClock(MONDAY - timedelta(days=1))
    school = _school(store, Inbox(), clock)
    slot = school.booking.create_slot("py", MONDAY, MONDAY + timedelta(hours=1), 5)
    seat = school.booking.book(slot.id, "ann")
    asked: list[str] = []

    def catalog(course_id: str) -> CourseInfo | None:
        asked.append(course_id)
        return PYTHON if course_id == "py" else None

    cals = CalendarService(store.unit_of_work, clock=clock, course_info=catalog)
    event = _events(cals.student_calendar("ann", actor=SYSTEM))[f"{seat.id}@eduengine"]
    assert str(event["SUMMARY"]) == "Python 101" and asked == ["py"]
    wrong = CalendarService(
        store.unit_of_work,
        clock=clock,
        course_info=lambda course_id: "Python 101",  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidInput, match="CourseInfo"):
        wrong.student_calendar("ann", actor=SYSTEM)
    with pytest.raises(InvalidInput):
        CourseInfo(title="  ")
    with pytest.raises(InvalidInput):
        CalendarService(store.unit_of_work, course_info="py")  # type: ignore[arg-type]
