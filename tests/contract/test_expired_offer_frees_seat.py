"""An expired seat offer stops holding its seat as soon as any command meets it, even one
that is refused: the expiry is committed on its own, so every reader sees the seat free
(or handed to the next student waiting) without waiting for the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, WaitlistMode
from eduengine.booking.events import OfferAccepted, OfferExpired, SeatOffered
from eduengine.errors import AlreadyWaiting, OfferNotFound, SlotFull
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)


def offer_slot(svc: BookingService, clock: FixedClock, *waiting: str) -> str:
    """A one-seat slot whose seat is offered to ``waiting[0]``, the others queued."""
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("m", start, start + HOUR, 1, waitlist_mode=WaitlistMode.OFFER)
    seat = svc.book(slot.id, "ann")
    for student in waiting:
        svc.join_waitlist(slot.id, student)
    svc.cancel(seat.id)
    assert set(svc.get_slot(slot.id).offers) == {waiting[0]}
    return slot.id


def test_a_refused_accept_of_an_expired_offer_frees_the_seat_for_every_reader(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    slot_id = offer_slot(svc, clock, "eve")
    clock.advance(3 * HOUR)  # the offer lived two hours
    with pytest.raises(OfferNotFound):
        svc.accept_offer(slot_id, "eve")
    # a fresh service (another process) reads the store: the seat is free
    reader = BookingService(store.unit_of_work, clock=clock)
    slot = reader.get_slot(slot_id)
    assert (slot.offers, slot.seats_left) == ({}, 1)
    assert [type(e) for e in bus.events[-1:]] == [OfferExpired]
    assert not any(isinstance(e, OfferAccepted) for e in bus.events)
    assert svc.book(slot_id, "zed").student_id == "zed"
    assert reader.get_slot(slot_id).seats_left == 0


def test_a_refused_booking_hands_the_expired_offer_s_seat_to_the_next_student_waiting(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    slot_id = offer_slot(svc, clock, "eve", "dan")
    clock.advance(3 * HOUR)
    with pytest.raises(SlotFull):  # the seat goes to dan, who waited
        svc.book(slot_id, "zed")
    slot = svc.get_slot(slot_id)
    assert set(slot.offers) == {"dan"} and slot.waitlist == []
    assert [type(e) for e in bus.events[-2:]] == [OfferExpired, SeatOffered]
    # a refusal with nothing expired still commits nothing
    published = len(bus.events)
    before = store.snapshot()
    with pytest.raises(AlreadyWaiting):
        svc.join_waitlist(slot_id, "dan")
    assert store.snapshot() == before and len(bus.events) == published
