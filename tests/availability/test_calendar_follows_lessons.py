"""The tutor's time is freed whichever service cancels a 1-on-1 lesson, on every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from eduengine import FixedClock, InMemoryStore
from eduengine.availability import AvailabilityService, BusyIndex, TimeRange, TutorSchedule
from eduengine.availability.model import Busy
from eduengine.availability.storage import CALENDARS
from eduengine.booking.events import SlotCancelled
from eduengine.booking.model import BookingStatus, SlotStatus
from eduengine.errors import BookingClosed, InvalidTransition
from eduengine.kernel.events import DomainEvent
from eduengine.people import SYSTEM
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle
from tests.availability.helpers import lesson_rows, live_lessons, school

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
SCHEDULE = TutorSchedule(
    tutor_id="lin",
    timezone="Europe/London",
    weekly={d: (TimeRange(time(9), time(12)),) for d in range(7)},
    buffer_after=timedelta(minutes=10),
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY - timedelta(days=3))


def test_every_cancellation_path_frees_the_tutors_time(
    store: StoreHandle, clock: FixedClock
) -> None:
    desk, slots, policy, _ = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    by_booking = desk.book("lin", "ann", at(0, 9))
    by_policy = desk.book("lin", "bob", at(1, 9))
    by_slot = desk.book("lin", "cai", at(2, 9))
    by_desk = desk.book("lin", "dan", at(3, 9))
    for lesson in (by_booking, by_policy, by_slot, by_desk):
        assert lesson.start not in desk.open_times("lin", at(-1, 0), at(5, 0))

    slots.cancel(by_booking.booking.id)
    assert not policy.cancel(by_policy.booking.id).late
    slots.cancel_slot(by_slot.slot_id)
    desk.cancel(by_desk.booking.id)

    free = desk.open_times("lin", at(-1, 0), at(5, 0))
    for lesson in (by_booking, by_policy, by_slot, by_desk):
        assert lesson.start in free
        assert slots.get_slot(lesson.slot_id, actor=SYSTEM).status is SlotStatus.CANCELLED
        assert slots.get_booking(lesson.booking.id, actor=SYSTEM).status is BookingStatus.CANCELLED
    assert lesson_rows(store.unit_of_work, "lin") == []
    assert live_lessons(store.unit_of_work, "lin") == []
    # the freed time can be booked again, as a new lesson
    again = desk.book("lin", "eve", at(0, 9))
    assert again.slot_id != by_booking.slot_id


def test_a_freed_lesson_slot_goes_to_nobody_else(store: StoreHandle, clock: FixedClock) -> None:
    desk, slots, _, _ = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    lesson = desk.book("lin", "ann", at(0, 10))
    slots.join_waitlist(lesson.slot_id, "bob")
    slots.cancel(lesson.booking.id)
    # bob was promoted into the seat by the cancel, and lost it with the lesson's slot
    slot = slots.get_slot(lesson.slot_id, actor=SYSTEM)
    assert slot.status is SlotStatus.CANCELLED and slot.seats_taken == 0
    with pytest.raises(BookingClosed):
        slots.book(lesson.slot_id, "cai")
    assert lesson.start in desk.open_times("lin", at(0, 0), at(1, 0))


def test_rescheduling_a_lesson_into_a_class_frees_the_tutor(
    store: StoreHandle, clock: FixedClock
) -> None:
    desk, slots, policy, _ = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    lesson = desk.book("lin", "ann", at(1, 11))
    group = slots.create_slot("maths", at(2, 14), at(2, 15), capacity=5)
    policy.reschedule(lesson.booking.id, group.id)
    assert lesson.start in desk.open_times("lin", at(1, 0), at(2, 0))
    assert slots.get_slot(group.id, actor=SYSTEM).seats_taken == 1


def test_slots_that_are_no_lessons_are_left_alone(store: StoreHandle, clock: FixedClock) -> None:
    desk, slots, _, _ = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    group = slots.create_slot("maths", at(2, 14), at(2, 15), capacity=5, tutor_id="lin")
    first = slots.book(group.id, "ann")
    slots.book(group.id, "bob")
    slots.cancel(first.id)
    assert slots.get_slot(group.id, actor=SYSTEM).status is SlotStatus.OPEN
    with pytest.raises(InvalidTransition, match="not a 1-on-1 lesson"):
        desk.cancel(slots.book(group.id, "cai").id)


def test_a_service_built_alone_brings_its_handlers_and_a_shared_bus_is_left_to_the_school(
    clock: FixedClock,
) -> None:
    store = InMemoryStore()
    alone = AvailabilityService(store.unit_of_work, clock=clock)
    assert alone.bus.table() == [
        ("SeatReleased", ["availability.handlers.free_tutor_time"]),
        ("SlotCancelled", ["availability.handlers.drop_cancelled_lesson"]),
    ]
    shared = MessageBus()
    AvailabilityService(store.unit_of_work, clock=clock, bus=shared)
    assert shared.table() == []  # the school's bootstrap subscribes them once


def test_cancelling_on_one_bus_is_refused_whole(store: StoreHandle, clock: FixedClock) -> None:
    desk, slots, _, bus = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    lesson = desk.book("lin", "ann", at(0, 9))

    def refuse(event: DomainEvent, uow: UnitOfWork) -> None:
        raise InvalidTransition("the school refuses")

    bus.subscribe(SlotCancelled, refuse)  # runs after the availability handlers
    before = store.snapshot()
    with pytest.raises(InvalidTransition, match="the school refuses"):
        slots.cancel(lesson.booking.id)
    assert store.snapshot() == before
    assert lesson.start not in desk.open_times("lin", at(0, 0), at(1, 0))


def test_a_calendar_document_of_earlier_releases_moves_into_lesson_rows(
    store: StoreHandle, clock: FixedClock
) -> None:
    desk, slots, _, _ = school(store.unit_of_work, clock)
    desk.set_schedule(SCHEDULE)
    kept = desk.book("lin", "ann", at(0, 9))
    gone = desk.book("lin", "bob", at(1, 9))
    slots.cancel(gone.booking.id)
    legacy = BusyIndex(
        Busy(
            start=lesson.start, end=lesson.end, slot_id=lesson.slot_id, booking_id=lesson.booking.id
        )
        for lesson in (kept, gone)
    )
    rows = lesson_rows(store.unit_of_work, "lin")
    with store.unit_of_work() as uow:  # as an earlier release left it: no lesson rows
        for row in rows:
            uow.records.delete("tutor_lesson", row.slot_id)
        uow.records.put(CALENDARS, "lin", legacy.to_record())
        uow.commit()
    assert kept.start in desk.open_times("lin", at(0, 0), at(1, 0))
    assert desk.migrate_calendar("lin") == 1
    assert desk.migrate_calendar("lin") == 0
    assert kept.start not in desk.open_times("lin", at(0, 0), at(1, 0))
    assert gone.start in desk.open_times("lin", at(1, 0), at(2, 0))
    assert [b.slot_id for b in desk.booked_times("lin", at(-1, 0), at(9, 0))] == [kept.slot_id]
