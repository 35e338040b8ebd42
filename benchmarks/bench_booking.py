"""Throughput of ``book`` + ``cancel`` through the service vs a minimal baseline.

Both run in the same process, in the same run, so the ratio is meaningful on any machine:

    .venv/bin/python benchmarks/bench_booking.py [--quick]

The baseline is the least a correct in-memory booker must do: a dict of slots with a seat
counter, a set of students per slot, a lock, and the same checks (slot exists, not started,
not full, not booked twice) — no events, no waitlist, no unit of work.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eduengine import BookingService, FixedClock, InMemoryStore

SEATS = 100


class Baseline:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slots: dict[str, dict[str, object]] = {}
        self.bookings: dict[int, tuple[str, str]] = {}
        self.next_id = 0

    def create(self, slot_id: str, capacity: int, start: datetime) -> None:
        self.slots[slot_id] = {"capacity": capacity, "start": start, "students": set()}

    def book(self, slot_id: str, student: str, now: datetime) -> int:
        with self.lock:
            slot = self.slots[slot_id]
            students: set[str] = slot["students"]  # type: ignore[assignment]
            if now >= slot["start"]:  # type: ignore[operator]
                raise RuntimeError("closed")
            if student in students:
                raise RuntimeError("twice")
            if len(students) >= slot["capacity"]:  # type: ignore[operator]
                raise RuntimeError("full")
            students.add(student)
            self.next_id += 1
            self.bookings[self.next_id] = (slot_id, student)
            return self.next_id

    def cancel(self, booking_id: int, now: datetime) -> None:
        with self.lock:
            slot_id, student = self.bookings.pop(booking_id)
            students: set[str] = self.slots[slot_id]["students"]  # type: ignore[assignment]
            students.remove(student)


def measure(label: str, rounds: int, op: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for n in range(rounds):
        op(n)
    elapsed = time.perf_counter() - started
    rate = rounds / elapsed
    print(f"{label:<38} {rate:>12,.0f} book+cancel/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    args = parser.parse_args()
    rounds = 2_000 if args.quick else 50_000

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    start = now + timedelta(days=1)

    base = Baseline()
    base.create("s", SEATS, start)
    for n in range(SEATS - 1):  # a nearly full slot, as in a rush
        base.book("s", f"pre{n}", now)

    def base_op(n: int) -> None:
        base.cancel(base.book("s", f"st{n}", now), now)

    clock = FixedClock(now)
    svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
    slot = svc.create_slot("c", start, start + timedelta(hours=1), SEATS)
    for n in range(SEATS - 1):
        svc.book(slot.id, f"pre{n}")

    def svc_op(n: int) -> None:
        svc.cancel(svc.book(slot.id, f"st{n}").id)

    measure("warm-up", rounds // 10, base_op)
    measure("warm-up", rounds // 10, svc_op)
    baseline = measure("baseline (dict + set + lock)", rounds, base_op)
    service = measure("BookingService on InMemoryStore", rounds, svc_op)
    print(f"ratio baseline/service: {baseline / service:.1f}x (target: within 5x)")


if __name__ == "__main__":
    main()
