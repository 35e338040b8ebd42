"""Several OS processes on one store: the SQL adapters' guarantee across processes.

Each child process opens the same store from its ``location`` (the in-memory adapter has
none and is covered by the threaded tests instead).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from eduengine import (
    BookingService,
    DomainEvent,
    FixedClock,
    InMemoryEventBus,
    WaitlistPromoted,
)
from eduengine.errors import AlreadyBooked, SeatsAvailable, SlotFull
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0

PROCESSES = 8
ATTEMPTS = 300
SEATS = 100
SPAWN = multiprocessing.get_context("spawn")


def needs_location(store: StoreHandle) -> str:
    if store.location is None:
        pytest.skip(f"the {store.name} adapter lives in one process (see threaded tests)")
    return store.location


def _service(name: str, location: str) -> tuple[StoreHandle, BookingService, InMemoryEventBus]:
    handle = reopen(name, location)
    bus = InMemoryEventBus()
    return handle, BookingService(handle.unit_of_work, clock=FixedClock(T0), publisher=bus), bus


def _stampede_child(name: str, location: str, slot_id: str, n: int) -> dict[str, int]:
    handle, svc, _ = _service(name, location)
    outcome: Counter[str] = Counter()
    try:
        for attempt in range(ATTEMPTS):
            student = f"s{(n * ATTEMPTS + attempt) % 2000}"  # some students try twice
            try:
                svc.book(slot_id, student)
                outcome["booked"] += 1
            except (SlotFull, AlreadyBooked) as refused:
                outcome[type(refused).__name__] += 1
    finally:
        handle.close()
    return dict(outcome)


def test_eight_processes_never_oversell_a_hundred_seats(
    store: StoreHandle, clock: FixedClock
) -> None:
    location = needs_location(store)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("rush", start, start + timedelta(hours=1), SEATS)
    with ProcessPoolExecutor(PROCESSES, mp_context=SPAWN) as pool:
        results = list(
            pool.map(
                _stampede_child,
                [store.name] * PROCESSES,
                [location] * PROCESSES,
                [slot.id] * PROCESSES,
                range(PROCESSES),
            )
        )
    total: Counter[str] = Counter()
    for r in results:
        total.update(r)
    assert total["booked"] == SEATS
    assert total["booked"] + total["SlotFull"] + total["AlreadyBooked"] == PROCESSES * ATTEMPTS
    final = svc.get_slot(slot.id, actor=SYSTEM)
    assert final.seats_taken == SEATS
    holders = [b.student_id for b in final.bookings.values()]
    assert len(set(holders)) == SEATS
    snap = store.snapshot()
    active = [
        b
        for b in snap["bookings"].values()
        if b["slot_id"] == slot.id and b["status"].value != "cancelled"
    ]
    assert len(active) == SEATS


def _cancel_child(name: str, location: str, booking_ids: list[str]) -> list[DomainEvent]:
    handle, svc, bus = _service(name, location)
    try:
        for booking_id in booking_ids:
            svc.cancel(booking_id)
    finally:
        handle.close()
    return bus.events


def _join_child(name: str, location: str, slot_id: str, students: list[str]) -> list[DomainEvent]:
    handle, svc, bus = _service(name, location)
    try:
        for student in students:
            # As a user would: queue, or book directly if a seat is free at that instant;
            # seats come and go under our feet, so try again until one of them works.
            for _ in range(50):
                try:
                    svc.join_waitlist(slot_id, student)
                    break
                except SeatsAvailable:
                    try:
                        svc.book(slot_id, student)
                        break
                    except SlotFull:
                        continue
    finally:
        handle.close()
    return bus.events


def test_waitlist_promotion_racing_cancellations_across_processes_loses_nobody(
    store: StoreHandle, clock: FixedClock
) -> None:
    location = needs_location(store)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("rush", start, start + timedelta(hours=1), 30)
    seated = [svc.book(slot.id, f"seat{n}").id for n in range(30)]
    joiners = [f"wait{n}" for n in range(60)]
    with ProcessPoolExecutor(6, mp_context=SPAWN) as pool:
        futures = [
            pool.submit(_cancel_child, store.name, location, seated[:15]),
            pool.submit(_cancel_child, store.name, location, seated[15:]),
        ] + [
            pool.submit(_join_child, store.name, location, slot.id, joiners[k::4]) for k in range(4)
        ]
        events = [e for f in futures for e in f.result()]
    final = svc.get_slot(slot.id, actor=SYSTEM)
    assert final.seats_taken == 30
    seated_now = set(final.bookings)
    waiting = [e.student_id for e in final.waitlist]
    assert not seated_now & {f"seat{n}" for n in range(30)}
    assert seated_now | set(waiting) == set(joiners), "a student was lost"
    assert len(waiting) == len(set(waiting)) == 30
    promoted = {e.student_id for e in events if isinstance(e, WaitlistPromoted)}
    assert promoted <= seated_now, "a promoted student does not hold the seat"


def _crash_child(name: str, location: str, slot_id: str, ready: Any) -> None:
    handle = reopen(name, location)
    with handle.unit_of_work() as uow:
        slot = uow.slots.get(slot_id)
        for n in range(5):
            slot.book(f"ghost{n}", now=T0, new_id=lambda: os.urandom(8).hex())
        uow.records.put("crash-test", "k", {"half": "written"})
        ready.set()
        signal.pause()  # killed here, mid unit of work, before commit
        uow.commit()  # pragma: no cover


def test_a_process_killed_in_the_middle_of_a_command_leaves_no_trace(
    store: StoreHandle, clock: FixedClock
) -> None:
    location = needs_location(store)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("rush", start, start + timedelta(hours=1), 10)
    svc.book(slot.id, "ann")
    before = store.snapshot()
    ready = SPAWN.Event()
    child = SPAWN.Process(target=_crash_child, args=(store.name, location, slot.id, ready))
    child.start()
    assert ready.wait(30), "the child never reached the middle of its unit of work"
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert store.snapshot() == before
    # and the lock died with the process: the store keeps working
    assert svc.book(slot.id, "bob").student_id == "bob"
