"""Open times, booking and cancelling through the service for a tutor with many lessons.

    .venv/bin/python benchmarks/bench_availability_service.py [--adapter sqlite] [--lessons N]

Each lesson is its own indexed row, so the cost follows the window asked for, not the
size of the tutor's calendar (with one calendar document, 10^5 lessons cost 435 ms per
open_times and 1.1 s per book or cancel).
"""

from __future__ import annotations

import argparse
import tempfile
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path

from eduengine import FixedClock
from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.availability import AvailabilityService, TimeRange, TutorSchedule
from eduengine.availability.model import Busy
from eduengine.availability.storage import file_lesson
from eduengine.booking.model import Slot
from eduengine.service_layer.ports import UnitOfWorkFactory

HALF_HOUR = timedelta(minutes=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--lessons", type=int, default=100_000)
    args = parser.parse_args()
    uow: UnitOfWorkFactory
    if args.adapter == "sqlite":
        lite = SqliteStore(Path(tempfile.mkdtemp()) / "bench.sqlite3")
        lite.migrate()
        uow = lite.unit_of_work
    else:
        uow = InMemoryStore().unit_of_work
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    now = FixedClock(t0 - timedelta(days=1))
    desk = AvailabilityService(uow, clock=now)
    desk.set_schedule(
        TutorSchedule(
            tutor_id="t",
            timezone="UTC",
            weekly={d: (TimeRange(time(0), time(23, 30)),) for d in range(7)},
            session=HALF_HOUR,
            step=HALF_HOUR,
            horizon=timedelta(days=4000),
        )
    )
    days = _fill(uow, "t", t0, args.lessons, now.now())
    mid = t0 + timedelta(days=days // 2)
    print(f"{args.adapter}: {args.lessons} lessons over {days} days")
    for span in (1, 7):
        took = _best(partial(desk.open_times, "t", mid, mid + timedelta(days=span)))
        print(f"open_times, {span} day(s): {took:7.2f} ms")
    started = clock.perf_counter()
    lessons = [desk.book("t", f"x{i}", mid + timedelta(days=i) + HALF_HOUR) for i in range(20)]
    print(f"book               : {(clock.perf_counter() - started) * 50:7.2f} ms")
    started = clock.perf_counter()
    for lesson in lessons:
        desk.cancel(lesson.booking.id)
    print(f"cancel             : {(clock.perf_counter() - started) * 50:7.2f} ms")


def _fill(uow: UnitOfWorkFactory, tutor: str, t0: datetime, count: int, now: datetime) -> int:
    """``count`` lessons, every other half hour from ``t0``, in one unit of work."""
    with uow() as tx:
        for n in range(count):
            start = t0 + timedelta(days=n // 23, hours=(n % 23))
            slot = Slot.create(
                slot_id=f"s{n}",
                course_id="one-on-one",
                start=start,
                end=start + HALF_HOUR,
                capacity=1,
                tutor_id=tutor,
                now=now,
            )
            tx.slots.add(slot)
            booking = slot.book(f"st{n}", now=now, new_id=partial(str, f"b{n}"))
            lesson = Busy(start=start, end=slot.end, slot_id=slot.id, booking_id=booking.id)
            file_lesson(tx, tutor, lesson)
        tx.collect_events()
        tx.commit()
    return count // 23 + 1


def _best(fn: Callable[[], object], rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = clock.perf_counter()
        fn()
        best = min(best, clock.perf_counter() - started)
    return best * 1000


if __name__ == "__main__":
    main()
