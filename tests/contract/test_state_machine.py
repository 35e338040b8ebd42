"""A stateful model test of the booking core: predict every command, then assert it.

A plain Python model runs beside the real service. Every rule also tries commands that must
be refused (overbooking, double booking, booking started or cancelled slots ...) and asserts
the exact refusal, so the invariants are checked against an adversary, not a polite user.
The same machine runs against every adapter.

A refused slot command changes nothing of its own, but it may commit the expiry of the
seat offers it met that were already due (``WaitlistService._expiring``). That write is
not the command's: it depends on the clock alone, it is exactly what the sweep
``expire_offers()`` would commit at that instant (any worker may run it at any moment),
it runs in a unit of work of its own, and the refusal was judged on the state after it
(``SeatsAvailable`` because the dead offer's seat is free, ``OfferNotFound`` because the
offer is gone), so rolling it back would leave the store contradicting the answer just
given. The model therefore predicts a refusal as "the sweep of the slots the command
met, and nothing else": ``expect(..., met=[slot ids])`` expires their due offers in the
model and asserts that the refusal published exactly those expiries and the seats they
passed on. Bad input (``InvalidInput``) is checked before any unit of work opens, so it
never meets an offer and commits nothing at all.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from eduengine import (
    BookingService,
    FixedClock,
    InMemoryEventBus,
    SeatCounter,
    SlotEvent,
    WaitlistMode,
)
from eduengine.booking.events import OfferExpired, SeatOffered, WaitlistPromoted
from eduengine.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingClosed,
    BookingNotFound,
    CapacityBelowBookings,
    EduEngineError,
    InvalidTransition,
    NotWaiting,
    OfferNotFound,
    SeatsAvailable,
    SeriesFull,
    SlotFull,
)
from eduengine.people import SYSTEM
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

STUDENTS = ["ann", "bob", "cat", "dan", "eve"]
OFFER_TTL = timedelta(minutes=30)

#: a predicted event: (event class name, slot id, student id)
Emitted = tuple[str, str, str]


@dataclass
class ModelSlot:
    capacity: int
    start: datetime
    mode: WaitlistMode
    cancelled: bool = False
    seats: dict[str, str] = field(default_factory=dict)  # student -> booking status
    waitlist: list[str] = field(default_factory=list)
    offers: dict[str, datetime] = field(default_factory=dict)

    @property
    def taken(self) -> int:
        return len(self.seats) + len(self.offers)

    def bookable(self, now: datetime) -> bool:
        return not self.cancelled and now < self.start

    def fill(self, now: datetime) -> list[tuple[str, str]]:
        """Hand free seats on; returns the (event name, student) of each handed on."""
        handed: list[tuple[str, str]] = []
        if not self.bookable(now):
            return handed
        while self.waitlist and self.capacity - self.taken > 0:
            student = self.waitlist.pop(0)
            if self.mode is WaitlistMode.AUTO:
                self.seats[student] = "confirmed"
                handed.append(("WaitlistPromoted", student))
            else:
                self.offers[student] = min(now + OFFER_TTL, self.start)
                handed.append(("SeatOffered", student))
        return handed

    def expire(self, now: datetime) -> list[tuple[str, str]]:
        """Withdraw the offers due and hand their seats on; returns what that emits."""
        due = [s for s, exp in self.offers.items() if exp <= now]
        for student in due:
            del self.offers[student]
        expired = [("OfferExpired", student) for student in due]
        return expired + self.fill(now) if due else expired


class Model:
    """The predicted state; each command works on a copy and returns it (or raises)."""

    def __init__(self) -> None:
        self.slots: dict[str, ModelSlot] = {}
        self.series: dict[str, list[str]] = {}

    def book(self, slot_id: str, student: str, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        if not slot.bookable(now):
            raise BookingClosed(slot_id, "model")
        slot.expire(now)
        if student in slot.seats:
            raise AlreadyBooked(slot_id, student)
        if student in slot.offers:
            del slot.offers[student]
            slot.seats[student] = "confirmed"
            return slot
        if slot.taken >= slot.capacity:
            raise SlotFull(slot_id, slot.capacity)
        if student in slot.waitlist:
            slot.waitlist.remove(student)
        slot.seats[student] = "confirmed"
        return slot

    def cancel(self, slot_id: str, student: str, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        if slot.seats[student] != "confirmed":
            raise InvalidTransition("model")
        if now >= slot.start:
            raise BookingClosed(slot_id, "model")
        del slot.seats[student]
        slot.fill(now)
        return slot

    def join(self, slot_id: str, student: str, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        if not slot.bookable(now):
            raise BookingClosed(slot_id, "model")
        slot.expire(now)
        if student in slot.seats:
            raise AlreadyBooked(slot_id, student)
        if student in slot.offers or student in slot.waitlist:
            raise AlreadyWaiting(slot_id, student)
        if slot.capacity - slot.taken > 0:
            raise SeatsAvailable(slot_id, slot.capacity - slot.taken)
        slot.waitlist.append(student)
        return slot

    def accept(self, slot_id: str, student: str, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        slot.expire(now)
        if student not in slot.offers:
            raise OfferNotFound(slot_id, student)
        del slot.offers[student]
        slot.seats[student] = "confirmed"
        return slot

    def decline(self, slot_id: str, student: str, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        slot.expire(now)
        if student not in slot.offers:
            raise OfferNotFound(slot_id, student)
        del slot.offers[student]
        slot.fill(now)
        return slot

    def change_capacity(self, slot_id: str, capacity: int, now: datetime) -> ModelSlot:
        slot = copy.deepcopy(self.slots[slot_id])
        if slot.cancelled:
            raise BookingClosed(slot_id, "model")
        slot.expire(now)
        if capacity < slot.taken:
            raise CapacityBelowBookings(slot_id, capacity, slot.taken)
        slot.capacity = capacity
        slot.fill(now)
        return slot


def _emitted(event: object) -> Emitted:
    if isinstance(event, OfferExpired | SeatOffered | WaitlistPromoted):
        return (type(event).__name__, event.slot_id, event.student_id)
    return (type(event).__name__, "", "")  # nothing else may follow a refusal


class BookingMachine(RuleBasedStateMachine):
    adapter = "memory"

    slot_ids = Bundle("slot_ids")
    series_ids = Bundle("series_ids")

    def __init__(self) -> None:
        super().__init__()
        self.handle: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.bus = InMemoryEventBus()
        self.counter = 0
        self.svc = BookingService(
            self.handle.unit_of_work, clock=self.clock, publisher=self.bus, new_id=self._id
        )
        self.model = Model()
        self.booking_ids: dict[tuple[str, str], list[str]] = {}

    def _id(self) -> str:
        self.counter += 1
        return f"id{self.counter:05d}"

    def teardown(self) -> None:
        self.handle.close()

    # --- helpers ------------------------------------------------------------------

    def expect(
        self, predicted: Exception | None, action: object, *, met: Iterable[str] = ()
    ) -> object:
        """Run ``action``; it must fail exactly as predicted (or succeed).

        ``met`` names the slots a refused command meets with their offers due: a refusal
        commits their expiry on its own, as the sweep would (see the module docstring),
        so the model sweeps them too and the refusal may publish exactly that.
        """
        before = len(self.bus.events)
        now = self.clock.now()
        try:
            result = action()  # type: ignore[operator]
        except EduEngineError as refused:
            assert predicted is not None, f"refused unexpectedly: {refused!r}"
            assert type(refused) is type(predicted), (refused, predicted)
            swept = sorted(self._sweep(met, now))
            published = sorted(_emitted(e) for e in self.bus.events[before:])
            assert published == swept, "a refused command published more than the sweep"
            return None
        assert predicted is None, f"expected {predicted!r}, but it succeeded"
        return result

    def _sweep(self, slot_ids: Iterable[str], now: datetime) -> list[Emitted]:
        """Expire the offers due on ``slot_ids`` in the model; returns the events due."""
        return [
            (name, sid, student)
            for sid in dict.fromkeys(slot_ids)
            for name, student in self.model.slots[sid].expire(now)
        ]

    def predict(self, fn: object, *args: object) -> tuple[Exception | None, ModelSlot | None]:
        try:
            return None, fn(*args)  # type: ignore[operator]
        except EduEngineError as refused:
            return refused, None

    # --- rules --------------------------------------------------------------------

    @initialize(target=slot_ids)
    def first_slot(self) -> str:
        return self._create_slot(2, 3, WaitlistMode.AUTO)

    @rule(
        target=slot_ids,
        capacity=st.integers(0, 3),
        hours=st.integers(1, 6),
        mode=st.sampled_from(WaitlistMode),
    )
    def create_slot(self, capacity: int, hours: int, mode: WaitlistMode) -> str:
        return self._create_slot(capacity, hours, mode)

    def _create_slot(self, capacity: int, hours: int, mode: WaitlistMode) -> str:
        now = self.clock.now()
        start = now + timedelta(hours=hours)
        slot = self.svc.create_slot(
            "course",
            start,
            start + timedelta(hours=1),
            capacity,
            waitlist_mode=mode,
            offer_ttl=OFFER_TTL,
        )
        self.model.slots[slot.id] = ModelSlot(capacity=capacity, start=start, mode=mode)
        return slot.id

    @rule(target=series_ids, capacity=st.integers(0, 2), count=st.integers(1, 3))
    def create_series(self, capacity: int, count: int) -> str:
        start = self.clock.now() + timedelta(hours=1)
        series = self.svc.create_series(
            "course", f"FREQ=HOURLY;INTERVAL=2;COUNT={count}", start, timedelta(hours=1), capacity
        )
        for n, sid in enumerate(series.slot_ids):
            self.model.slots[sid] = ModelSlot(
                capacity=capacity,
                start=start + timedelta(hours=2 * n),
                mode=WaitlistMode.AUTO,
            )
        self.model.series[series.id] = list(series.slot_ids)
        return series.id

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS))
    def book(self, slot_id: str, student: str) -> None:
        now = self.clock.now()
        predicted, after = self.predict(self.model.book, slot_id, student, now)
        booking = self.expect(predicted, lambda: self.svc.book(slot_id, student), met=[slot_id])
        if after is not None:
            assert booking is not None
            self.model.slots[slot_id] = after

    @rule(series_id=series_ids, student=st.sampled_from(STUDENTS))
    def book_series(self, series_id: str, student: str) -> None:
        now = self.clock.now()
        sessions = [
            sid for sid in self.model.series[series_id] if self.model.slots[sid].bookable(now)
        ]
        predicted: Exception | None = None
        new_states: dict[str, ModelSlot] = {}
        if not sessions:
            predicted = BookingClosed(series_id, "model")
        else:
            expired = {sid: copy.deepcopy(self.model.slots[sid]) for sid in sessions}
            for s in expired.values():
                s.expire(now)
            if any(student in s.seats for s in expired.values()):
                predicted = AlreadyBooked(series_id, student)
            elif any(s.taken >= s.capacity and student not in s.offers for s in expired.values()):
                predicted = SeriesFull(series_id, ["x"])
            else:
                for sid in sessions:
                    new_states[sid] = self.model.book(sid, student, now)
        booked = self.expect(
            predicted, lambda: self.svc.book_series(series_id, student), met=sessions
        )
        if predicted is None:
            # all of the sessions still to come, and nothing else
            assert isinstance(booked, list)
            assert sorted(b.slot_id for b in booked) == sorted(sessions)
        self.model.slots.update(new_states)

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS))
    def cancel(self, slot_id: str, student: str) -> None:
        now = self.clock.now()
        slot = self.svc.get_slot(slot_id, actor=SYSTEM)
        booking = slot.bookings.get(student)
        if booking is None:
            # cancelling a booking that no longer holds a seat must be refused
            old = [
                b
                for b in self.svc.bookings_for_student(student, actor=SYSTEM)
                if b.slot_id == slot_id
            ]
            if old:
                self.expect(InvalidTransition("model"), lambda: self.svc.cancel(old[-1].id))
            else:
                self.expect(BookingNotFound("x"), lambda: self.svc.cancel(f"{slot_id}-nope"))
            return
        predicted, after = self.predict(self.model.cancel, slot_id, student, now)
        self.expect(predicted, lambda: self.svc.cancel(booking.id))
        if after is not None:
            self.model.slots[slot_id] = after

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS))
    def join_waitlist(self, slot_id: str, student: str) -> None:
        now = self.clock.now()
        predicted, after = self.predict(self.model.join, slot_id, student, now)
        position = self.expect(
            predicted, lambda: self.svc.join_waitlist(slot_id, student), met=[slot_id]
        )
        if after is not None:
            assert position == len(after.waitlist)
            self.model.slots[slot_id] = after

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS))
    def leave_waitlist(self, slot_id: str, student: str) -> None:
        slot = self.model.slots[slot_id]
        if student in slot.waitlist:
            self.expect(None, lambda: self.svc.leave_waitlist(slot_id, student))
            slot.waitlist.remove(student)
        else:
            self.expect(
                NotWaiting(slot_id, student), lambda: self.svc.leave_waitlist(slot_id, student)
            )

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS), accept=st.booleans())
    def answer_offer(self, slot_id: str, student: str, accept: bool) -> None:
        now = self.clock.now()
        fn = self.model.accept if accept else self.model.decline
        predicted, after = self.predict(fn, slot_id, student, now)
        if accept:
            self.expect(predicted, lambda: self.svc.accept_offer(slot_id, student), met=[slot_id])
        else:
            self.expect(predicted, lambda: self.svc.decline_offer(slot_id, student), met=[slot_id])
        if after is not None:
            self.model.slots[slot_id] = after

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def expire_offers(self) -> None:
        now = self.clock.now()
        due = sum(
            sum(1 for exp in s.offers.values() if exp <= now) for s in self.model.slots.values()
        )
        for slot in self.model.slots.values():
            slot.expire(now)
        assert self.svc.expire_offers() == due

    @rule(slot_id=slot_ids, capacity=st.integers(0, 4))
    def change_capacity(self, slot_id: str, capacity: int) -> None:
        now = self.clock.now()
        predicted, after = self.predict(self.model.change_capacity, slot_id, capacity, now)
        self.expect(predicted, lambda: self.svc.change_capacity(slot_id, capacity), met=[slot_id])
        if after is not None:
            self.model.slots[slot_id] = after

    @rule(slot_id=slot_ids, student=st.sampled_from(STUDENTS), show=st.booleans())
    def mark_attendance(self, slot_id: str, student: str, show: bool) -> None:
        booking = self.svc.get_slot(slot_id, actor=SYSTEM).bookings.get(student)
        if booking is None:
            return
        slot = self.model.slots[slot_id]
        predicted = None if self.clock.now() >= slot.start else InvalidTransition("model")
        mark = self.svc.mark_attended if show else self.svc.mark_no_show
        self.expect(predicted, lambda: mark(booking.id))
        if predicted is None:
            slot.seats[student] = "attended" if show else "no_show"

    @rule(slot_id=slot_ids)
    def cancel_slot(self, slot_id: str) -> None:
        slot = self.model.slots[slot_id]
        predicted = None if slot.bookable(self.clock.now()) else BookingClosed(slot_id, "m")
        self.expect(predicted, lambda: self.svc.cancel_slot(slot_id))
        if predicted is None:
            slot.cancelled = True
            slot.seats.clear()
            slot.offers.clear()
            slot.waitlist.clear()

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def real_state_matches_the_model(self) -> None:
        for slot_id, predicted in self.model.slots.items():
            real = self.svc.get_slot(slot_id, actor=SYSTEM)
            assert real.seats_taken <= real.capacity
            assert real.capacity == predicted.capacity
            assert {s: b.status.value for s, b in real.bookings.items()} == predicted.seats
            assert [e.student_id for e in real.waitlist] == predicted.waitlist
            assert {s: o.expires_at for s, o in real.offers.items()} == predicted.offers
            waiting = {e.student_id for e in real.waitlist}
            assert not waiting & set(real.bookings), "a student waits for a seat they hold"
            assert not waiting & set(real.offers)
            assert not set(real.offers) & set(real.bookings)
            if real.is_bookable(self.clock.now()) and real.waitlist_mode is WaitlistMode.AUTO:
                assert not (real.waitlist and real.seats_left > 0), "a freed seat was not refilled"

    @invariant()
    def published_events_replay_to_the_seat_counts(self) -> None:
        counter = SeatCounter()
        last: dict[str, SlotEvent] = {}
        for event in self.bus.events:
            counter.apply(event)
            if isinstance(event, SlotEvent):
                last[event.slot_id] = event
        for slot_id in self.model.slots:
            real = self.svc.get_slot(slot_id, actor=SYSTEM)
            assert counter.taken[slot_id] == real.seats_taken
            assert counter.capacity[slot_id] == real.capacity
            assert last[slot_id].seats_left == real.seats_left


def _machine_for(adapter: str) -> type[BookingMachine]:
    return type(f"BookingMachine_{adapter}", (BookingMachine,), {"adapter": adapter})


for _adapter in ADAPTERS:
    _cls = _machine_for(_adapter)
    globals()[f"TestBookingMachine_{_adapter}"] = _cls.TestCase


def _replay(machine: BookingMachine, *steps: object) -> None:
    """Run ``steps`` (callables on the machine) as hypothesis would, invariants after each."""
    try:
        for step in steps:
            step(machine)  # type: ignore[operator]
            machine.real_state_matches_the_model()
            machine.published_events_replay_to_the_seat_counts()
    finally:
        machine.teardown()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_refused_join_on_a_started_slot_sweeps_its_dead_offer_and_nothing_else(
    adapter: str,
) -> None:
    """The example hypothesis found: a seat offered at 10:12 expires at 10:42, unanswered;
    at 11:02 the slot has started and a join is refused (``BookingClosed``), and the
    refusal commits the offer's expiry, as the sweep would have, and nothing else."""
    machine = _machine_for(adapter)()
    slot: list[str] = []
    _replay(
        machine,
        lambda m: slot.append(m.create_slot(0, 2, WaitlistMode.OFFER)),
        lambda m: m.time_passes(5),
        lambda m: m.join_waitlist(slot[0], "ann"),
        lambda m: m.time_passes(67),
        lambda m: m.change_capacity(slot[0], 1),  # the seat is offered to ann
        lambda m: m.change_capacity(slot[0], 0),  # refused: her offer holds it
        lambda m: m.time_passes(50),
        lambda m: m.join_waitlist(slot[0], "ann"),  # refused: the slot started
    )
    assert [type(e) for e in machine.bus.events[-1:]] == [OfferExpired]
    assert machine.model.slots[slot[0]].offers == {}
