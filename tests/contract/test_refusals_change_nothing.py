"""Every refused command leaves the store exactly as it was, and publishes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, WaitlistMode
from eduengine.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingClosed,
    BookingNotFound,
    BookingNotOpen,
    CapacityBelowBookings,
    DuplicateId,
    EduEngineError,
    InvalidCapacity,
    InvalidId,
    InvalidInput,
    InvalidRecurrence,
    InvalidTimeRange,
    InvalidTransition,
    NaiveDatetime,
    NotWaiting,
    OfferNotFound,
    SeatsAvailable,
    SeriesFull,
    SeriesNotFound,
    SlotFull,
    SlotNotFound,
)
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)


class World:
    """A small school with a little of everything, so refusals have state to disturb."""

    def __init__(self, store: StoreHandle, clock: FixedClock) -> None:
        self.clock = clock
        self.bus = InMemoryEventBus()
        self.svc = BookingService(store.unit_of_work, clock=clock, publisher=self.bus)
        now = clock.now()
        self.start = now + timedelta(days=1)
        self.full = self.svc.create_slot("math", self.start, self.start + HOUR, 1, slot_id="full")
        self.ann = self.svc.book("full", "ann")
        self.svc.join_waitlist("full", "bob")
        self.open = self.svc.create_slot("math", self.start, self.start + HOUR, 3, slot_id="open")
        self.cat = self.svc.book("open", "cat")
        self.offer = self.svc.create_slot(
            "math",
            self.start,
            self.start + HOUR,
            1,
            slot_id="offer",
            waitlist_mode=WaitlistMode.OFFER,
        )
        dan = self.svc.book("offer", "dan")
        self.svc.join_waitlist("offer", "eve")
        self.svc.cancel(dan.id)  # eve now holds an offer
        self.soon = self.svc.create_slot("math", now + HOUR, now + 2 * HOUR, 2, slot_id="soon")
        self.fay = self.svc.book("soon", "fay")
        self.rush = self.svc.create_slot(
            "math", self.start, self.start + HOUR, 2, slot_id="rush", opens_at=now + HOUR
        )
        self.gone = self.svc.create_slot("math", self.start, self.start + HOUR, 2, slot_id="gone")
        self.svc.cancel_slot("gone")
        self.series = self.svc.create_series(
            "ielts", "FREQ=DAILY;COUNT=3", self.start, HOUR, 1, series_id="ser"
        )
        self.svc.book(self.series.slot_ids[1], "gus")
        self.cancelled = self.svc.book("open", "hal")
        self.svc.cancel(self.cancelled.id)


naive = datetime(2026, 3, 3, 9, 0)

Case = tuple[str, type[EduEngineError], Callable[[World], Any]]

CASES: list[Case] = [
    ("naive start", NaiveDatetime, lambda w: w.svc.create_slot("m", naive, w.start, 1)),
    ("naive end", NaiveDatetime, lambda w: w.svc.create_slot("m", w.start, naive, 1)),
    (
        "end before start",
        InvalidTimeRange,
        lambda w: w.svc.create_slot("m", w.start, w.start - HOUR, 1),
    ),
    ("empty slot", InvalidTimeRange, lambda w: w.svc.create_slot("m", w.start, w.start, 1)),
    (
        "negative capacity",
        InvalidCapacity,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, -1),
    ),
    (
        "bool capacity",
        InvalidCapacity,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, True),
    ),
    (
        "float capacity",
        InvalidCapacity,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, 2.0),  # type: ignore[arg-type]
    ),
    ("empty course id", InvalidInput, lambda w: w.svc.create_slot("", w.start, w.start + HOUR, 1)),
    (
        "duplicate slot id",
        DuplicateId,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, 1, slot_id="open"),
    ),
    (
        "opens after start",
        InvalidTimeRange,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, 1, opens_at=w.start + HOUR),
    ),
    (
        "naive opens_at",
        NaiveDatetime,
        lambda w: w.svc.create_slot("m", w.start, w.start + HOUR, 1, opens_at=naive),
    ),
    ("unknown slot", SlotNotFound, lambda w: w.svc.book("nope", "ann")),
    ("non-string slot id", InvalidId, lambda w: w.svc.book(42, "ann")),  # type: ignore[arg-type]
    ("empty student id", InvalidInput, lambda w: w.svc.book("open", "")),
    ("unknown booking", BookingNotFound, lambda w: w.svc.cancel("nope")),
    ("unknown series", SeriesNotFound, lambda w: w.svc.book_series("nope", "ann")),
    ("full slot", SlotFull, lambda w: w.svc.book("full", "zed")),
    ("booked twice", AlreadyBooked, lambda w: w.svc.book("open", "cat")),
    ("seat held by an offer", SlotFull, lambda w: w.svc.book("offer", "zed")),
    ("started slot", BookingClosed, lambda w: (w.clock.advance(2 * HOUR), w.svc.book("soon", "z"))),
    (
        "cancel after start",
        BookingClosed,
        lambda w: (w.clock.advance(2 * HOUR), w.svc.cancel(w.fay.id)),
    ),
    ("cancelled slot", BookingClosed, lambda w: w.svc.book("gone", "zed")),
    ("rush slot before opening", BookingNotOpen, lambda w: w.svc.book("rush", "zed")),
    ("capacity below bookings", CapacityBelowBookings, lambda w: w.svc.change_capacity("open", 0)),
    ("capacity of a cancelled slot", BookingClosed, lambda w: w.svc.change_capacity("gone", 9)),
    (
        "unbounded rrule",
        InvalidRecurrence,
        lambda w: w.svc.create_series("m", "FREQ=DAILY", w.start, HOUR, 1),
    ),
    (
        "garbage rrule",
        InvalidRecurrence,
        lambda w: w.svc.create_series("m", "FREQ=SOMETIMES", w.start, HOUR, 1),
    ),
    (
        "rrule emptied by exdates",
        InvalidRecurrence,
        lambda w: w.svc.create_series(
            "m", "FREQ=DAILY;COUNT=1", w.start, HOUR, 1, exdates=[w.start]
        ),
    ),
    (
        "negative duration",
        InvalidTimeRange,
        lambda w: w.svc.create_series("m", "FREQ=DAILY;COUNT=2", w.start, -HOUR, 1),
    ),
    (
        "naive series start",
        NaiveDatetime,
        lambda w: w.svc.create_series("m", "FREQ=DAILY;COUNT=2", naive, HOUR, 1),
    ),
    (
        "duplicate series id",
        DuplicateId,
        lambda w: w.svc.create_series("m", "FREQ=DAILY;COUNT=2", w.start, HOUR, 1, series_id="ser"),
    ),
    ("series with a full session", SeriesFull, lambda w: w.svc.book_series("ser", "zed")),
    ("series already booked", AlreadyBooked, lambda w: w.svc.book_series("ser", "gus")),
    ("waitlist while seats are free", SeatsAvailable, lambda w: w.svc.join_waitlist("open", "z")),
    ("waitlist twice", AlreadyWaiting, lambda w: w.svc.join_waitlist("full", "bob")),
    ("waitlist with a seat", AlreadyBooked, lambda w: w.svc.join_waitlist("full", "ann")),
    ("waitlist with an offer", AlreadyWaiting, lambda w: w.svc.join_waitlist("offer", "eve")),
    ("leave a waitlist not joined", NotWaiting, lambda w: w.svc.leave_waitlist("full", "zed")),
    ("accept someone else's offer", OfferNotFound, lambda w: w.svc.accept_offer("offer", "z")),
    ("decline without an offer", OfferNotFound, lambda w: w.svc.decline_offer("full", "bob")),
    # accepting an expired offer is refused but commits the expiry (what the sweep would
    # do): see test_expired_offer_frees_seat.py
    ("attendance before start", InvalidTransition, lambda w: w.svc.mark_attended(w.cat.id)),
    ("cancel a cancelled booking", InvalidTransition, lambda w: w.svc.cancel(w.cancelled.id)),
    (
        "attendance of a cancelled booking",
        InvalidTransition,
        lambda w: w.svc.mark_no_show(w.cancelled.id),
    ),
    ("cancel a cancelled slot", BookingClosed, lambda w: w.svc.cancel_slot("gone")),
]


@pytest.mark.parametrize(("name", "error", "action"), CASES, ids=[c[0] for c in CASES])
def test_a_refused_command_changes_nothing(
    store: StoreHandle,
    clock: FixedClock,
    name: str,
    error: type[EduEngineError],
    action: Callable[[World], Any],
) -> None:
    world = World(store, clock)
    before = store.snapshot()
    published = len(world.bus.events)
    with pytest.raises(error) as refused:
        action(world)
    assert isinstance(refused.value, EduEngineError)
    assert str(refused.value), "an error message must say what was refused"
    assert store.snapshot() == before
    assert len(world.bus.events) == published
