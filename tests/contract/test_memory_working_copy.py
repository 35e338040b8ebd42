"""The memory adapter loads a slot for a command without copying its seats.

A unit of work works on a :class:`SeatOverlay` over the committed seat mapping: it must
behave exactly like a private copy (the reference semantics of every adapter), cost
O(1) in the number of seats to make, and write its changes back in place on commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.adapters.memory import SeatOverlay
from eduengine.booking.model import Booking, BookingStatus
from eduengine.errors import SlotFull
from eduengine.people import SYSTEM

HOUR = timedelta(hours=1)
T = datetime(2026, 3, 2, 9, 0).astimezone()


class NoFullReads(dict[str, Booking]):
    """A committed seat mapping that fails the test if anything reads all of it."""

    def _refuse(self, *args: Any) -> Any:
        raise AssertionError("the whole seat mapping was read (a copy per command)")

    __iter__ = keys = values = items = copy = _refuse


def _school(seats: int, clock: FixedClock) -> tuple[InMemoryStore, BookingService]:
    store = InMemoryStore()
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + HOUR, seats + 10, slot_id="big")
    for n in range(seats):
        svc.book("big", f"s{n}")
    return store, svc


def test_booking_and_cancelling_never_read_every_seat_of_the_slot(clock: FixedClock) -> None:
    store, svc = _school(200, clock)
    committed = NoFullReads(store.slots["big"].bookings)
    store.slots["big"].bookings = committed
    booking = svc.book("big", "new")
    svc.cancel(booking.id)
    svc.cancel(store.slots["big"].bookings["s7"].id)
    assert store.slots["big"].bookings is committed  # changed in place, not replaced
    assert dict.__len__(committed) == 199 and "new" not in committed and "s7" not in committed
    assert "s8" in committed


def test_a_slot_read_by_a_query_is_independent_of_later_commands(clock: FixedClock) -> None:
    _, svc = _school(3, clock)
    seen = svc.get_slot("big", actor=SYSTEM)
    svc.book("big", "late")
    assert set(seen.bookings) == {"s0", "s1", "s2"} and type(seen.bookings) is dict
    seen.bookings.pop("s0")
    assert svc.get_slot("big", actor=SYSTEM).holds_seat("s0")


def test_a_command_that_fails_after_changing_seats_leaves_the_committed_seats_alone(
    clock: FixedClock,
) -> None:
    store, svc = _school(2, clock)
    svc.change_capacity("big", 3)
    svc.book("big", "third")
    before = dict(store.slots["big"].bookings)
    with pytest.raises(SlotFull), store.unit_of_work() as uow:
        slot = uow.slots.get("big")
        slot.cancel(before["s0"].id, now=clock.now(), new_id=lambda: "e1")
        slot.book("x", now=clock.now(), new_id=lambda: "b-x")
        slot.book("y", now=clock.now(), new_id=lambda: "b-y")  # full again: refused
    assert store.slots["big"].bookings == before


def _seat(student: str, n: int) -> Booking:
    return Booking(
        id=f"{student}-{n}",
        student_id=student,
        slot_id="s",
        status=BookingStatus.CONFIRMED,
        created_at=T,
    )


STUDENTS = st.sampled_from([f"p{n}" for n in range(8)])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), STUDENTS),
        st.tuples(st.just("pop"), STUDENTS),
        st.tuples(st.just("del"), STUDENTS),
    ),
    max_size=30,
)


@given(start=st.lists(STUDENTS, unique=True), ops=OPS)
def test_the_overlay_behaves_exactly_like_a_private_copy(start: list[str], ops: list[Any]) -> None:
    committed = {s: _seat(s, 0) for s in start}
    original = dict(committed)
    overlay, copy = SeatOverlay(committed), dict(committed)
    for n, (op, student) in enumerate(ops, start=1):
        if op == "set":
            overlay[student] = copy[student] = _seat(student, n)
        elif op == "pop":
            assert overlay.pop(student, None) == copy.pop(student, None)
        elif student in copy:
            del overlay[student]
            del copy[student]
        else:
            with pytest.raises(KeyError):
                del overlay[student]
        assert committed == original  # nothing reaches the committed seats before commit
        assert len(overlay) == len(copy) and bool(overlay) == bool(copy)
        assert list(overlay.items()) == list(copy.items())  # same content, same order
        assert overlay == copy and dict(overlay.items()) == copy
        for s in ("p0", "p5", "absent"):
            assert (s in overlay) == (s in copy) and overlay.get(s) == copy.get(s)
    applied = overlay.apply()
    assert applied is committed and list(committed.items()) == list(copy.items())
