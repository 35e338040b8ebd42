"""Many threads hammering one slot never oversell it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from eduengine import BookingService, BookingStatus, FixedClock, InMemoryEventBus
from eduengine.errors import AlreadyBooked, EduEngineError, SlotFull
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle

THREADS = 16
ATTEMPTS = 500
SEATS = 100


def test_sixteen_threads_never_oversell_a_hundred_seats(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("rush", start, start + timedelta(hours=1), SEATS)
    refusals: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    gate = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        gate.wait()
        for attempt in range(ATTEMPTS):
            # students repeat across threads so double booking is attempted too
            student = f"s{(n * ATTEMPTS + attempt) % 3000}"
            try:
                svc.book(slot.id, student)
            except (SlotFull, AlreadyBooked) as refused:
                with lock:
                    refusals[type(refused).__name__] += 1
            except EduEngineError as other:  # pragma: no cover - reported below
                with lock:
                    unexpected.append(other)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert unexpected == []
    final = svc.get_slot(slot.id, actor=SYSTEM)
    assert final.seats_taken == SEATS and final.seats_left == 0
    holders = [b.student_id for b in final.bookings.values()]
    assert len(holders) == len(set(holders)) == SEATS
    confirmed = [
        b
        for s in set(holders)
        for b in svc.bookings_for_student(s, actor=SYSTEM)
        if b.slot_id == slot.id and b.status is BookingStatus.CONFIRMED
    ]
    assert len(confirmed) == SEATS
    assert refusals["SlotFull"] + refusals["AlreadyBooked"] == THREADS * ATTEMPTS - SEATS


def test_cancellations_racing_waitlist_joins_keep_every_freed_seat_filled(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("rush", start, start + timedelta(hours=1), 20)
    seated = [svc.book(slot.id, f"seat{n}") for n in range(20)]
    gate = threading.Barrier(2)

    def cancel_all() -> None:
        gate.wait()
        for booking in seated:
            svc.cancel(booking.id)

    def join_many() -> None:
        gate.wait()
        for n in range(40):
            try:
                svc.join_waitlist(slot.id, f"wait{n}")
            except EduEngineError:
                # a seat was free at that instant: take it directly, as a user would
                svc.book(slot.id, f"wait{n}")

    threads = [threading.Thread(target=cancel_all), threading.Thread(target=join_many)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    final = svc.get_slot(slot.id, actor=SYSTEM)
    assert final.seats_taken == 20, "every freed seat went to someone who wanted it"
    assert not any(s.startswith("seat") for s in final.bookings)
    waiting = {e.student_id for e in final.waitlist}
    assert len(final.waitlist) == 20 and not waiting & set(final.bookings)
    assert set(final.bookings) | waiting == {f"wait{n}" for n in range(40)}
