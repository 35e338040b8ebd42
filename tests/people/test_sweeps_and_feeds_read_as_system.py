"""The reminder sweep, the reminders handed to a host and a calendar opened by its token
are reads of a student's records too (issue #24): as an actor they are checked and
audited like any read; as the library's own they are audited as ``system``, once a day
per student and purpose."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied
from eduengine.notices.plan import Reminder
from eduengine.people import SYSTEM, StaffRole
from eduengine.students import Actor
from tests.adapters import StoreHandle

TUTOR = Actor(id="u-tutor", role="tutor")


def school_with_lessons(store: StoreHandle, clock: FixedClock, *students: str) -> School:
    """A school where each of ``students`` booked a lesson (its confirmation due now)."""
    school = School.build(store, clock=clock)
    start = clock.now() + timedelta(days=2)
    for student in students:
        school.students.register(student, name=f"name of {student}")
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        school.booking.book(slot.id, student)
    return school


def rows(school: School, actor: Actor) -> list[tuple[str, str, tuple[str, ...]]]:
    page = school.people.audit_log(actor_id=actor.id, limit=1000, actor=SYSTEM)
    return [(e.student_id, e.action, e.fields) for e in page.entries]


def test_a_sweep_as_staff_takes_the_reminders_of_its_students_and_leaves_the_others(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_lessons(store, clock, "ann", "bo", "cy")
    school.people.register_staff("u-tutor", StaffRole.TUTOR, student_ids={"bo"})
    # batch=1: the batches of reminders she may not see are passed over, not read forever
    taken = school.reminders.due_reminders(batch=1, actor=TUTOR)
    assert [(r.student_id, r.kind) for r in taken] == [("bo", "confirmation")]
    assert rows(school, TUTOR) == [("bo", "read", ("reminders",))]
    # the others wait for a reader who may see them
    left = school.reminders.due_reminders(actor=SYSTEM)
    assert sorted(r.student_id for r in left) == ["ann", "cy"]


def test_a_sweep_that_may_see_none_of_the_due_students_is_refused_and_takes_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_lessons(store, clock, "ann", "cy")
    school.people.register_staff("u-tutor", StaffRole.TUTOR, student_ids={"bo"})
    with pytest.raises(AccessDenied):
        school.reminders.due_reminders(actor=TUTOR)
    assert rows(school, TUTOR) == [("ann", "denied", ()), ("cy", "denied", ())]
    assert len(school.reminders.due_reminders(actor=SYSTEM)) == 2  # nothing was taken


def test_the_librarys_sweep_and_delivery_of_reminders_are_audited_once_a_day_as_system(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_lessons(store, clock, "ann")
    sent: list[Reminder] = []

    class Host:
        def send(self, reminder: Reminder) -> None:
            sent.append(reminder)

    assert school.reminders.send_due(Host()) == 1
    clock.advance(timedelta(hours=25))  # the day-before reminder, the next day
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == ["before:1d"]
    start = clock.now() + timedelta(days=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    school.booking.book(slot.id, "ann")
    assert len(school.reminders.due_reminders(actor=SYSTEM)) == 1  # same day: no row
    reminder_rows = [r for r in rows(school, SYSTEM) if r[2] == ("reminders",)]
    assert reminder_rows == [("ann", "read", ("reminders",))] * 2
    assert [r.kind for r in sent] == ["confirmation"]


def test_a_calendar_opened_by_its_token_is_read_as_system_and_as_staff_is_checked(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_lessons(store, clock, "ann")
    token = school.calendar.student_feed_token("ann")
    for _ in range(3):
        assert b"BEGIN:VEVENT" in school.calendar.feed_for_token(token)
    assert [r for r in rows(school, SYSTEM) if r[2] == ("calendar",)] == [
        ("ann", "read", ("calendar",))
    ]
    school.people.register_staff("u-tutor", StaffRole.TUTOR, student_ids={"bo"})
    with pytest.raises(AccessDenied):
        school.calendar.student_calendar("ann", actor=TUTOR)
    assert rows(school, TUTOR) == [("ann", "denied", ())]
