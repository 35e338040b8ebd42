"""One notice system (issue #22): a booking's reminders are planned once, with its
notices, into one class document; ``school.reminders`` reads and hands out the same row.
Reminder documents of their own, written before, stay readable and voidable."""

from __future__ import annotations

from datetime import timedelta

from eduengine import FixedClock, School
from eduengine.events.projections import flush_deferred
from eduengine.notices import NoticePolicy
from eduengine.notices.planning import NOTICES
from eduengine.people import SYSTEM
from eduengine.reminders.model import Channel, reminder_record
from eduengine.reminders.service import KIND as OLD_REMINDERS
from eduengine.reminders.service import store as store_old_reminders
from eduengine.service_layer.ports import open_read_only
from eduengine.students import Guardian, GuardianRole
from tests.adapters import StoreHandle
from tests.notices.helpers import Provider


def _rows(store: StoreHandle, kind: str) -> list[str]:
    flush_deferred()  # a raw read: the reactions the school defers applied first
    with open_read_only(store.unit_of_work) as uow:
        return [key for key, _ in uow.records.list(kind)]


def test_a_booking_plans_its_reminders_once_in_one_row(
    store: StoreHandle, clock: FixedClock
) -> None:
    provider = Provider()
    school = School.build(store, clock=clock, notifiers={"in_app": provider})
    start = clock.now() + timedelta(hours=48)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")

    # the confirmation, three reminders and the reminders school.reminders hands out
    assert _rows(store, NOTICES) == [f"class:{seat.id}:ann"]
    assert _rows(store, OLD_REMINDERS) == []
    kinds = [r.kind for r in school.reminders.pending(seat.id, actor=SYSTEM)]
    assert kinds == ["confirmation", "before:1d", "before:1h", "before:15m"]
    feed = [e.type for e in school.feed.events_since(0, limit=100)]
    assert feed.count("reminders.scheduled") == 1  # planned once, by one system

    # both deliveries read the same row, each hands out its own once
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == ["confirmation"]
    assert school.notices.deliver_due("w1").sent == 1
    clock.set(start - timedelta(days=1))
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == ["before:1d"]
    assert school.notices.deliver_due("w1").sent == 1
    assert provider.keys()[-1] == f"class_reminder:{seat.id}:1d:ann:in_app"
    assert school.notices.states(f"class_reminder:{seat.id}:1h:ann") == {"in_app": "pending"}

    school.booking.cancel(seat.id)  # one row voided: both its notices and its reminders
    assert school.reminders.pending(seat.id, actor=SYSTEM) == []
    assert school.notices.states(f"class_reminder:{seat.id}:1h:ann") == {"in_app": "void"}
    assert sorted(_rows(store, NOTICES)) == [
        f"booking_cancelled:{seat.id}:ann",
        f"class:{seat.id}:ann",
    ]


def test_without_notices_the_reminders_still_cost_one_row_and_leave_with_it(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock, notices=None)
    start = clock.now() + timedelta(hours=2)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")
    assert _rows(store, NOTICES) == [f"class:{seat.id}:ann"]
    assert school.notices.for_student("ann", actor=SYSTEM) == []  # it holds no notice
    clock.set(start)
    assert school.reminders.due_reminders(actor=SYSTEM) == []  # never after class
    assert _rows(store, NOTICES) == []  # nothing left: the row is gone


def test_reminder_documents_written_before_are_still_handed_out_and_voided(
    store: StoreHandle, clock: FixedClock
) -> None:
    # this school plans no reminders of its own: only the old document holds any
    school = School.build(store, clock=clock, reminders=None)
    start = clock.now() + timedelta(hours=48)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")
    with store.unit_of_work() as uow:  # as an older release filed them
        record = reminder_record(
            booking_id=seat.id,
            student_id="ann",
            slot_id=lesson.id,
            start=start,
            channel=Channel.SMS,
            due=[("confirmation", clock.now()), ("before:1h", start - timedelta(hours=1))],
        )
        store_old_reminders(uow, seat.id, record)
        uow.commit()
    assert [r.kind for r in school.reminders.pending(seat.id, actor=SYSTEM)] == [
        "confirmation",
        "before:1h",
    ]
    assert [r.channel for r in school.reminders.due_reminders(actor=SYSTEM)] == [Channel.SMS]
    school.booking.cancel(seat.id)
    assert school.reminders.pending(seat.id, actor=SYSTEM) == []
    assert _rows(store, OLD_REMINDERS) == []


def test_a_dead_step_is_reported_under_its_own_id_after_the_booking_moved_on(
    store: StoreHandle, clock: FixedClock
) -> None:
    provider = Provider(fail=lambda notice, channel: notice.kind == "booking_confirmed")
    policy = NoticePolicy(max_attempts=1)
    school = School.build(store, clock=clock, notices=policy, notifiers={"in_app": provider})
    start = clock.now() + timedelta(hours=48)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")
    assert school.notices.deliver_due("w1").dead == 1
    clock.set(start - timedelta(days=1))
    assert school.notices.deliver_due("w1").sent == 1  # the class document moved on
    confirmation = f"booking_confirmed:{seat.id}:ann"
    assert [n.id for n in school.notices.dead_letters(actor=SYSTEM)] == [confirmation]
    assert school.notices.states(confirmation) == {"in_app": "dead"}
    assert school.notices.states(f"class_reminder:{seat.id}:1d:ann") == {"in_app": "sent"}


def test_attendance_voids_the_notices_and_reminders_still_ahead_in_one_row(
    store: StoreHandle, clock: FixedClock
) -> None:
    # the class has begun: nothing more to remind of, on either delivery
    school = School.build(store, clock=clock)
    start = clock.now() + timedelta(hours=48)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")
    clock.set(start + timedelta(minutes=5))  # attendance is marked once class began
    school.booking.mark_attended(seat.id)
    assert school.reminders.pending(seat.id, actor=SYSTEM) == []
    assert school.notices.states(f"class_reminder:{seat.id}:15m:ann") == {"in_app": "void"}
    assert _rows(store, NOTICES) == [f"class:{seat.id}:ann"]
    assert school.reminders.due_reminders(actor=SYSTEM) == []
    feed = [e.type for e in school.feed.events_since(0, limit=100)]
    assert feed.count("reminders.voided") == 1


def test_a_guardians_copy_holds_no_second_set_of_reminders(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    mum = Guardian(
        name="Mum", phone="13800000000", roles=frozenset({GuardianRole.RECEIVE_REMINDERS})
    )
    school.students.register("ann", name="Ann", guardians=[mum])
    start = clock.now() + timedelta(hours=48)
    lesson = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(lesson.id, "ann")
    assert sorted(_rows(store, NOTICES)) == [
        f"class:{seat.id}:ann",
        f"class:{seat.id}:ann#guardian0",
    ]
    # the guardian gets each notice; school.reminders hands the student's out once
    assert school.notices.states(f"class_reminder:{seat.id}:1h:ann#guardian0") == {
        "in_app": "pending"
    }
    assert len(school.reminders.pending(seat.id, actor=SYSTEM)) == 4
    assert [r.student_id for r in school.reminders.due_reminders(actor=SYSTEM)] == ["ann"]
