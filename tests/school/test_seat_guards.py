"""Seat guards live with the booking core (``eduengine.booking.guards``), on every adapter.

A guard added with :func:`add_seat_guard` refuses a seat on every path and leaves the
store unchanged; rush admission skips a refused entrant; the bus's old methods
(``add_seat_guard``, ``refusal``) still file and ask the same guards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eduengine import FixedClock, School, Slot
from eduengine.booking.guards import SEAT, SeatGuard, add_seat_guard, seat_refusal
from eduengine.booking.guards import SeatGuard as OldSeatGuard
from eduengine.errors import BookingRestricted, EduEngineError
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = T0 + timedelta(days=2)


def no_mallory(
    uow: UnitOfWork, student_id: str, slot: Slot, now: datetime, seats: int
) -> EduEngineError | None:
    if student_id == "mallory" and seats:
        return BookingRestricted(student_id, "unpaid invoices")
    return None


def build(store: StoreHandle) -> School:
    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    return School.build(Store(), clock=FixedClock(T0))


def test_a_seat_guard_refuses_a_seat_and_nothing_changes(store: StoreHandle) -> None:
    school = build(store)
    add_seat_guard(school.bus, no_mallory)
    slot_id = school.booking.create_slot("math", START, START + timedelta(hours=1), 2).id
    before = store.snapshot()
    with pytest.raises(BookingRestricted):
        school.booking.book(slot_id, "mallory")
    assert store.snapshot() == before
    school.booking.book(slot_id, "ann")
    # a waitlist place takes no seat: this guard lets it through
    school.booking.book(slot_id, "bob")
    school.booking.join_waitlist(slot_id, "mallory")


def test_rush_admission_skips_a_refused_entrant(store: StoreHandle) -> None:
    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    clock = FixedClock(T0)
    school = School.build(Store(), clock=clock)
    add_seat_guard(school.bus, no_mallory)
    opens = T0 + timedelta(hours=1)
    hot = school.booking.create_slot(
        "math", START, START + timedelta(hours=1), 2, opens_at=opens
    ).id
    school.rush.open_queue(hot, seed="fair")
    for student in ("mallory", "ann"):
        school.rush.enter(hot, student)
    clock.advance(timedelta(hours=1, seconds=2))
    admitted = school.rush.admit(hot)
    assert admitted.refused == ("mallory",)
    assert admitted.admitted == ("ann",)


def test_the_bus_old_methods_file_and_ask_the_same_guards(store: StoreHandle) -> None:
    school = build(store)
    seen: list[str] = []

    def first(
        uow: UnitOfWork, student_id: str, slot: Slot, now: datetime, seats: int
    ) -> EduEngineError | None:
        seen.append(student_id)
        return None

    school.bus.add_seat_guard(first)  # deprecated: kept until 0.4
    add_seat_guard(school.bus, no_mallory)
    # after the school's own guard (the cancellation policy's restriction)
    assert school.bus.guards_for(SEAT)[-2:] == (first, no_mallory)
    assert school.bus.seat_guards[-2:] == [first, no_mallory]
    slot_id = school.booking.create_slot("math", START, START + timedelta(hours=1), 2).id
    with store.unit_of_work() as uow:
        slot = uow.slots.get(slot_id)
        new = seat_refusal(school.bus, uow, "mallory", slot, T0)
        old = school.bus.refusal(uow, "mallory", slot, T0)
    assert isinstance(new, BookingRestricted) and isinstance(old, BookingRestricted)
    assert seen == ["mallory", "mallory"]
    guard: OldSeatGuard = no_mallory
    also: SeatGuard = guard
    assert also is no_mallory
