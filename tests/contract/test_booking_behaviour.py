"""Behaviour of the booking core, run against every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from eduengine import (
    BookingService,
    BookingStatus,
    FixedClock,
    InMemoryEventBus,
    SeatBooked,
    SeatCounter,
    WaitlistMode,
    WaitlistPromoted,
)
from eduengine.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingClosed,
    BookingNotOpen,
    CapacityBelowBookings,
    InvalidTransition,
    OfferNotFound,
    SeatsAvailable,
    SeriesFull,
    SlotFull,
)
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
def svc(store: StoreHandle, clock: FixedClock, bus: InMemoryEventBus) -> BookingService:
    return BookingService(store.unit_of_work, clock=clock, publisher=bus)


def tomorrow(clock: FixedClock) -> tuple[datetime, datetime]:
    start = clock.now() + timedelta(days=1)
    return start, start + HOUR


def test_booking_takes_a_seat_and_publishes_the_seats_left(
    svc: BookingService, clock: FixedClock, bus: InMemoryEventBus
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=2)
    booking = svc.book(slot.id, "ann")
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.created_at == clock.now()
    assert svc.get_slot(slot.id, actor=SYSTEM).seats_left == 1
    booked = [e for e in bus.events if isinstance(e, SeatBooked)]
    assert [(e.student_id, e.seats_left) for e in booked] == [("ann", 1)]


def test_a_full_slot_refuses_the_next_student(svc: BookingService, clock: FixedClock) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=1)
    svc.book(slot.id, "ann")
    with pytest.raises(SlotFull, match=slot.id):
        svc.book(slot.id, "bob")


def test_a_student_cannot_hold_two_seats_in_one_slot(
    svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=5)
    svc.book(slot.id, "ann")
    with pytest.raises(AlreadyBooked, match="ann"):
        svc.book(slot.id, "ann")


def test_cannot_book_a_slot_that_already_started(svc: BookingService, clock: FixedClock) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=5)
    clock.set(slot.start)
    with pytest.raises(BookingClosed):
        svc.book(slot.id, "ann")


def test_cannot_book_a_cancelled_slot(svc: BookingService, clock: FixedClock) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=5)
    booking = svc.book(slot.id, "ann")
    released = svc.cancel_slot(slot.id)
    assert [b.id for b in released] == [booking.id]
    assert svc.get_booking(booking.id, actor=SYSTEM).status is BookingStatus.CANCELLED
    with pytest.raises(BookingClosed, match="cancelled"):
        svc.book(slot.id, "bob")


def test_cancelling_frees_the_seat_and_promotes_the_first_waiting_student(
    svc: BookingService, clock: FixedClock, bus: InMemoryEventBus
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=1)
    ann = svc.book(slot.id, "ann")
    assert svc.join_waitlist(slot.id, "bob") == 1
    clock.advance(timedelta(minutes=1))
    assert svc.join_waitlist(slot.id, "cat") == 2
    svc.cancel(ann.id)
    after = svc.get_slot(slot.id, actor=SYSTEM)
    assert after.holds_seat("bob") and not after.holds_seat("ann")
    assert svc.waitlist_position(slot.id, "cat", actor=SYSTEM) == 1
    promoted = [e for e in bus.events if isinstance(e, WaitlistPromoted)]
    assert [e.student_id for e in promoted] == ["bob"]
    assert svc.get_booking(promoted[0].booking_id, actor=SYSTEM).status is BookingStatus.CONFIRMED


def test_waitlist_refuses_students_with_a_seat_or_already_waiting_or_when_seats_are_free(
    svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=1)
    with pytest.raises(SeatsAvailable):
        svc.join_waitlist(slot.id, "bob")
    svc.book(slot.id, "ann")
    with pytest.raises(AlreadyBooked):
        svc.join_waitlist(slot.id, "ann")
    svc.join_waitlist(slot.id, "bob")
    with pytest.raises(AlreadyWaiting):
        svc.join_waitlist(slot.id, "bob")
    svc.leave_waitlist(slot.id, "bob")
    assert svc.waitlist_position(slot.id, "bob", actor=SYSTEM) is None


def test_raising_capacity_promotes_waiting_students_and_lowering_below_bookings_is_refused(
    svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=1)
    svc.book(slot.id, "ann")
    svc.join_waitlist(slot.id, "bob")
    svc.join_waitlist(slot.id, "cat")
    svc.change_capacity(slot.id, 2)
    assert svc.get_slot(slot.id, actor=SYSTEM).holds_seat("bob")
    with pytest.raises(CapacityBelowBookings, match="capacity 1"):
        svc.change_capacity(slot.id, 1)
    assert svc.get_slot(slot.id, actor=SYSTEM).capacity == 2


def test_offer_mode_holds_the_seat_for_the_first_waiting_student_until_it_expires(
    svc: BookingService, clock: FixedClock, bus: InMemoryEventBus
) -> None:
    slot = svc.create_slot(
        "math", *tomorrow(clock), capacity=1, waitlist_mode=WaitlistMode.OFFER, offer_ttl=HOUR
    )
    ann = svc.book(slot.id, "ann")
    svc.join_waitlist(slot.id, "bob")
    svc.join_waitlist(slot.id, "cat")
    svc.cancel(ann.id)
    held = svc.get_slot(slot.id, actor=SYSTEM)
    assert list(held.offers) == ["bob"] and held.seats_left == 0
    with pytest.raises(SlotFull):
        svc.book(slot.id, "dan")
    with pytest.raises(OfferNotFound):
        svc.accept_offer(slot.id, "cat")
    clock.advance(HOUR)
    assert svc.expire_offers() == 1
    assert list(svc.get_slot(slot.id, actor=SYSTEM).offers) == ["cat"]
    assert svc.expire_offers() == 0
    booking = svc.accept_offer(slot.id, "cat")
    final = svc.get_slot(slot.id, actor=SYSTEM)
    assert final.holds_seat("cat") and not final.offers and final.seats_left == 0
    assert booking.student_id == "cat"
    counter = SeatCounter()
    for event in bus.events:
        counter.apply(event)
    assert counter.taken[slot.id] == 1


def test_an_offer_never_outlives_the_slot_start(svc: BookingService, clock: FixedClock) -> None:
    start = clock.now() + timedelta(minutes=30)
    slot = svc.create_slot(
        "math", start, start + HOUR, 1, waitlist_mode=WaitlistMode.OFFER, offer_ttl=2 * HOUR
    )
    ann = svc.book(slot.id, "ann")
    svc.join_waitlist(slot.id, "bob")
    svc.cancel(ann.id)
    assert svc.get_slot(slot.id, actor=SYSTEM).offers["bob"].expires_at == start
    clock.set(start)
    with pytest.raises(OfferNotFound):
        svc.accept_offer(slot.id, "bob")
    assert svc.get_slot(slot.id, actor=SYSTEM).seats_taken == 0
    assert svc.expire_offers() == 0  # the refused accept expired it already


def test_declining_an_offer_passes_it_to_the_next_student(
    svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), 1, waitlist_mode=WaitlistMode.OFFER)
    ann = svc.book(slot.id, "ann")
    svc.join_waitlist(slot.id, "bob")
    svc.join_waitlist(slot.id, "cat")
    svc.cancel(ann.id)
    svc.decline_offer(slot.id, "bob")
    assert list(svc.get_slot(slot.id, actor=SYSTEM).offers) == ["cat"]


def test_attendance_is_marked_only_after_start(svc: BookingService, clock: FixedClock) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=3)
    ann = svc.book(slot.id, "ann")
    bob = svc.book(slot.id, "bob")
    cat = svc.book(slot.id, "cat")
    with pytest.raises(InvalidTransition):
        svc.mark_attended(ann.id)
    clock.set(slot.start + timedelta(minutes=5))
    assert svc.mark_attended(ann.id).status is BookingStatus.ATTENDED
    assert svc.mark_no_show(bob.id).status is BookingStatus.NO_SHOW
    with pytest.raises(InvalidTransition, match="no_show"):
        svc.cancel(bob.id)
    with pytest.raises(BookingClosed, match="after start"):
        svc.cancel(cat.id)
    assert svc.get_slot(slot.id, actor=SYSTEM).seats_taken == 3


def test_a_cancelled_booking_cannot_be_cancelled_again(
    svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=2)
    ann = svc.book(slot.id, "ann")
    svc.cancel(ann.id)
    with pytest.raises(InvalidTransition, match=ann.id):
        svc.cancel(ann.id)
    # and the student may book again
    assert svc.book(slot.id, "ann").id != ann.id
    assert [b.status for b in svc.bookings_for_student("ann", actor=SYSTEM)] == [
        BookingStatus.CANCELLED,
        BookingStatus.CONFIRMED,
    ]


def test_a_weekly_series_keeps_its_wall_clock_time_in_its_zone(
    svc: BookingService, clock: FixedClock
) -> None:
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 3, 4, 20, 0, tzinfo=ny)  # DST starts in New York on 8 March
    series = svc.create_series(
        "english",
        "FREQ=WEEKLY;BYDAY=WE;COUNT=4",
        first,
        HOUR,
        capacity=3,
        exdates=[datetime(2026, 3, 18, 20, 0, tzinfo=ny)],
    )
    starts = [svc.get_slot(sid, actor=SYSTEM).start for sid in series.slot_ids]
    assert [s.day for s in starts] == [4, 11, 25]
    assert {(s.hour, s.minute) for s in starts} == {(20, 0)}
    assert starts[0].astimezone(UTC).hour == 1 and starts[1].astimezone(UTC).hour == 0


def test_booking_a_series_is_all_or_nothing_and_names_the_full_sessions(
    svc: BookingService, clock: FixedClock
) -> None:
    series = svc.create_series(
        "english",
        "FREQ=DAILY;COUNT=3",
        clock.now() + timedelta(days=1),
        HOUR,
        capacity=1,
    )
    svc.book(series.slot_ids[1], "ann")
    with pytest.raises(SeriesFull) as refused:
        svc.book_series(series.id, "bob")
    assert refused.value.full_slot_ids == (series.slot_ids[1],)
    assert all(
        svc.get_slot(sid, actor=SYSTEM).seats_taken == (i == 1)
        for i, sid in enumerate(series.slot_ids)
    )
    svc.cancel(svc.bookings_for_student("ann", actor=SYSTEM)[0].id)
    booked = svc.book_series(series.id, "bob")
    assert [b.slot_id for b in booked] == list(series.slot_ids)
    assert {b.series_id for b in booked} == {series.id}


def test_a_series_books_only_the_sessions_still_to_come(
    svc: BookingService, clock: FixedClock
) -> None:
    series = svc.create_series(
        "english", "FREQ=DAILY;COUNT=3", clock.now() + timedelta(hours=1), HOUR, capacity=2
    )
    clock.advance(timedelta(days=1))
    booked = svc.book_series(series.id, "ann")
    assert [b.slot_id for b in booked] == list(series.slot_ids[1:])


def test_a_rush_slot_refuses_bookings_before_it_opens(
    svc: BookingService, clock: FixedClock
) -> None:
    start, end = tomorrow(clock)
    opens = clock.now() + HOUR
    slot = svc.create_slot("math", start, end, capacity=3, opens_at=opens)
    with pytest.raises(BookingNotOpen, match=slot.id):
        svc.book(slot.id, "ann")
    clock.set(opens)
    assert svc.book(slot.id, "ann").slot_id == slot.id


def test_an_exception_before_commit_leaves_the_store_unchanged(
    store: StoreHandle, svc: BookingService, clock: FixedClock
) -> None:
    slot = svc.create_slot("math", *tomorrow(clock), capacity=3)
    svc.book(slot.id, "ann")
    before = store.snapshot()
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        loaded = uow.slots.get(slot.id)
        loaded.book("bob", now=clock.now(), new_id=lambda: "b-bob")
        loaded.change_capacity(9, now=clock.now(), new_id=lambda: "x")
        uow.records.put("notes", "n1", {"text": "never stored"})
        raise RuntimeError("the host's code failed before commit")
    assert store.snapshot() == before


def test_a_transient_conflict_is_retried_with_fresh_state(
    store: StoreHandle, clock: FixedClock, bus: InMemoryEventBus
) -> None:
    from eduengine.errors import RetryableConflict

    calls = {"n": 0}

    def flaky_uow(read_only: bool = False) -> Any:
        calls["n"] += 1
        uow: UnitOfWork = store.store.unit_of_work(read_only=read_only)
        if calls["n"] == 1:
            original = uow.commit

            def conflict() -> None:
                raise RetryableConflict("deadlock detected (simulated)")

            uow.commit = conflict  # type: ignore[method-assign]
            _ = original
        return uow

    svc = BookingService(flaky_uow, clock=clock, publisher=bus)
    series = svc.create_series("c", "FREQ=DAILY;COUNT=2", clock.now() + timedelta(days=1), HOUR, 3)
    assert calls["n"] == 2
    assert [type(e).__name__ for e in bus.events].count("SeriesCreated") == 1
    assert svc.get_series(series.id).slot_ids == series.slot_ids
