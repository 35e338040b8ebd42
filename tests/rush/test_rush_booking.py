"""Rush booking: a fair, reproducible admission that never oversells."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import BookingService, FixedClock
from eduengine.errors import BookingNotOpen, QueueError, QueueNotFound
from eduengine.people import SYSTEM
from eduengine.rush import RushService, fair_order
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

OPENS = T0 + timedelta(hours=1)
WINDOW = timedelta(seconds=2)

arrivals = st.dictionaries(
    keys=st.from_regex(r"s[0-9]{1,3}", fullmatch=True),
    values=st.integers(-3600, 10),  # seconds relative to opening
    max_size=25,
)


def _school(
    handle: StoreHandle, capacity: int
) -> tuple[FixedClock, BookingService, RushService, str]:
    clock = FixedClock(T0)
    slots = BookingService(handle.unit_of_work, clock=clock)
    start = T0 + timedelta(days=1)
    slot = slots.create_slot("hot", start, start + timedelta(hours=1), capacity, opens_at=OPENS)
    rush = RushService(handle.unit_of_work, clock=clock)
    rush.open_queue(slot.id, seed="spring", window=WINDOW)
    return clock, slots, rush, slot.id


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=15)
@given(entrants=arrivals, capacity=st.integers(0, 6))
def test_admission_follows_the_fair_order_and_never_oversells(
    adapter: str, entrants: dict[str, int], capacity: int
) -> None:
    handle = make_store(adapter, Path(tempfile.mkdtemp()))
    try:
        clock, slots, rush, slot_id = _school(handle, capacity)
        for student, offset in sorted(entrants.items(), key=lambda kv: (kv[1], kv[0])):
            clock.set(OPENS + timedelta(seconds=offset))
            rush.enter(slot_id, student)
        clock.set(max(clock.now(), OPENS + WINDOW))
        result = rush.admit(slot_id)
        cutoff = WINDOW.total_seconds()
        early = [s for s, o in entrants.items() if o <= cutoff]
        late = [s for s, o in sorted(entrants.items(), key=lambda kv: (kv[1], kv[0])) if o > cutoff]
        expected = fair_order("spring", early) + late
        assert list(result.admitted) + list(result.waitlisted) == expected
        assert len(result.admitted) == min(capacity, len(entrants))
        slot = slots.get_slot(slot_id, actor=SYSTEM)
        assert slot.seats_taken <= slot.capacity
        assert set(slot.bookings) == set(result.admitted)
        assert [e.student_id for e in slot.waitlist] == list(result.waitlisted)
    finally:
        handle.close()


@given(students=st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=30), seed=st.text())
def test_the_lottery_ignores_who_clicked_first_and_is_reproducible(
    students: list[str], seed: str
) -> None:
    order = fair_order(seed, students)
    assert sorted(order) == sorted(students)
    assert fair_order(seed, list(reversed(students))) == order


def test_booking_before_admission_is_refused_and_positions_are_reported(
    store: StoreHandle,
) -> None:
    clock, slots, rush, slot_id = _school(store, capacity=1)
    assert rush.enter(slot_id, "ann").state == "lottery"
    with pytest.raises(BookingNotOpen):
        slots.book(slot_id, "zed")
    clock.set(OPENS + timedelta(seconds=1))
    with pytest.raises(BookingNotOpen, match="opens for booking"):
        slots.book(slot_id, "zed")  # the lottery window: direct bookings wait
    rush.enter(slot_id, "bob")
    clock.set(OPENS + timedelta(seconds=5))
    late = rush.enter(slot_id, "cat")
    assert (late.state, late.place, late.entrants) == ("queued", 1, 3)
    with pytest.raises(QueueError, match="already in the queue"):
        rush.enter(slot_id, "cat")
    rush.admit(slot_id)
    states = {s: rush.position(slot_id, s, actor=SYSTEM).state for s in ("ann", "bob", "cat")}
    assert sorted(states.values()) == ["admitted", "waitlisted", "waitlisted"]
    assert rush.position(slot_id, "cat", actor=SYSTEM).place == 2, (
        "late arrivals queue after the lottery"
    )
    with pytest.raises(QueueError, match="already admitted"):
        rush.admit(slot_id)
    with pytest.raises(QueueError, match="admission is over"):
        rush.enter(slot_id, "dan")


def test_admission_waits_for_the_window_and_refusals_change_nothing(store: StoreHandle) -> None:
    clock, _slots, rush, slot_id = _school(store, capacity=2)
    rush.enter(slot_id, "ann")
    before = store.snapshot()
    clock.set(OPENS)
    with pytest.raises(QueueError, match="admission starts"):
        rush.admit(slot_id)
    with pytest.raises(QueueNotFound):
        rush.enter("nope", "ann")
    assert store.snapshot() == before
    clock.set(OPENS + WINDOW)
    assert [r.slot_id for r in rush.admit_due()] == [slot_id]
    assert rush.admit_due() == []
