"""An expired seat offer stops holding its seat as soon as any command meets it, even one
that is refused: the expiry is committed on its own, so every reader sees the seat free
(or handed to the next student waiting) without waiting for the sweep.

That expiry is not a partial write of the refused command: it is exactly what the sweep
``expire_offers()`` commits at that instant (the twin-store test below proves it), and
bad input, checked before any unit of work opens, commits nothing at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, WaitlistMode
from eduengine.booking.events import OfferAccepted, OfferExpired, SeatOffered
from eduengine.errors import (
    AlreadyWaiting,
    BookingClosed,
    InvalidInput,
    OfferNotFound,
    SeatsAvailable,
    SlotFull,
)
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle, make_store
from tests.conftest import T0

HOUR = timedelta(hours=1)


def offer_slot(
    svc: BookingService, clock: FixedClock, *waiting: str, store: StoreHandle
) -> str:
    """A one-seat slot whose seat is offered to ``waiting[0]``, the others queued (checked
    in the store itself: a read as an actor writes audit rows, and the twins below must
    write nothing but what their commands do)."""
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("m", start, start + HOUR, 1, waitlist_mode=WaitlistMode.OFFER)
    seat = svc.book(slot.id, "ann")
    for student in waiting:
        svc.join_waitlist(slot.id, student)
    svc.cancel(seat.id)
    with store.unit_of_work() as uow:
        assert set(uow.slots.get(slot.id).offers) == {waiting[0]}
    return slot.id


def test_a_refused_accept_of_an_expired_offer_frees_the_seat_for_every_reader(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    slot_id = offer_slot(svc, clock, "eve", store=store)
    clock.advance(3 * HOUR)  # the offer lived two hours
    with pytest.raises(OfferNotFound):
        svc.accept_offer(slot_id, "eve")
    # a fresh service (another process) reads the store: the seat is free
    reader = BookingService(store.unit_of_work, clock=clock)
    slot = reader.get_slot(slot_id, actor=SYSTEM)
    assert (slot.offers, slot.seats_left) == ({}, 1)
    assert [type(e) for e in bus.events[-1:]] == [OfferExpired]
    assert not any(isinstance(e, OfferAccepted) for e in bus.events)
    assert svc.book(slot_id, "zed").student_id == "zed"
    assert reader.get_slot(slot_id, actor=SYSTEM).seats_left == 0


def test_a_refused_booking_hands_the_expired_offer_s_seat_to_the_next_student_waiting(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    slot_id = offer_slot(svc, clock, "eve", "dan", store=store)
    clock.advance(3 * HOUR)
    with pytest.raises(SlotFull):  # the seat goes to dan, who waited
        svc.book(slot_id, "zed")
    slot = svc.get_slot(slot_id, actor=SYSTEM)
    assert set(slot.offers) == {"dan"} and slot.waitlist == []
    assert [type(e) for e in bus.events[-2:]] == [OfferExpired, SeatOffered]
    # a refusal with nothing expired still commits nothing
    published = len(bus.events)
    before = store.snapshot()
    with pytest.raises(AlreadyWaiting):
        svc.join_waitlist(slot_id, "dan")
    assert store.snapshot() == before and len(bus.events) == published


def counting_ids() -> Callable[[], str]:
    count = 0

    def new_id() -> str:
        nonlocal count
        count += 1
        return f"id{count:04d}"

    return new_id


@pytest.mark.parametrize(
    ("late", "refusal", "command"),
    [
        # the slot started: the dead offer is withdrawn, its seat goes to nobody
        (25 * HOUR, BookingClosed, lambda svc, sid: svc.join_waitlist(sid, "zed")),
        # the seat is free again, so there is no waitlist to join
        (3 * HOUR, SeatsAvailable, lambda svc, sid: svc.join_waitlist(sid, "zed")),
        (3 * HOUR, OfferNotFound, lambda svc, sid: svc.decline_offer(sid, "eve")),
    ],
)
def test_a_refused_command_commits_exactly_what_the_sweep_would_and_nothing_of_its_own(
    store: StoreHandle,
    tmp_path: Path,
    late: timedelta,
    refusal: type[Exception],
    command: Callable[[BookingService, str], object],
) -> None:
    """Two stores live the same history; on one a command is refused, on the other the
    sweep runs instead: both end in the same state, with the same events published."""
    """Two stores live the same history; on one a command is refused, on the other the
    sweep runs instead: both end in the same state, with the same events published."""
    twin = make_store(store.name, tmp_path)
    try:
        lives = []
        for handle in (store, twin):
            clock, bus = FixedClock(T0), InMemoryEventBus()
            svc = BookingService(
                handle.unit_of_work, clock=clock, publisher=bus, new_id=counting_ids()
            )
            slot_id = offer_slot(svc, clock, "eve", store=handle)
            clock.advance(late)
            lives.append((svc, bus))
        (refused, refused_bus), (swept, swept_bus) = lives
        with pytest.raises(refusal):
            command(refused, slot_id)
        assert swept.expire_offers() == 1
        assert store.snapshot() == twin.snapshot()
        assert refused_bus.events == swept_bus.events
        assert refused.expire_offers() == 0
    finally:
        twin.close()


def test_bad_input_meeting_a_due_offer_commits_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    slot_id = offer_slot(svc, clock, "eve", store=store)
    clock.advance(3 * HOUR)
    published, before = len(bus.events), store.snapshot()
    for bad in (
        lambda: svc.join_waitlist(slot_id, ""),
        lambda: svc.accept_offer(slot_id, "e" * 10_000),
        lambda: svc.change_capacity(slot_id, -1),
    ):
        with pytest.raises(InvalidInput):
            bad()
    assert store.snapshot() == before and len(bus.events) == published
    assert svc.get_slot(
        slot_id, actor=SYSTEM
    ).offers  # still there for the sweep: input decided nothing
