"""What running projections inline costs a booking (SQLite, ``outbox=True``).

Counts the SQL statements of the store's connection per booking (sqlite3's trace
callback) and times the bookings, for: no projections; ``after_commit()`` with a
projection that wants none of a booking's events; with one that counts each
``SeatBooked``; and ``after_commit(position)`` when that position was handled already.

    PYTHONPATH=src python benchmarks/bench_projections.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_storage import Statements

from eduengine import BookingService, FixedClock
from eduengine.adapters.sqlite import SqliteStore
from eduengine.booking.events import SeatBooked, SlotCancelled
from eduengine.events import EventFeed
from eduengine.events.projections import Projection, ProjectionRunner
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.ports import UnitOfWork

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def count_seats(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    doc = uow.records.get("bench_counter", "seats") or {"n": 0}
    uow.records.put("bench_counter", "seats", {"n": doc["n"] + len(envelopes)})


def idle(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:  # pragma: no cover
    raise AssertionError("a booking raises no SlotCancelled")


def measure(
    name: str,
    rounds: int,
    after: Callable[[ProjectionRunner, EventFeed], object] | None,
    projections: list[Projection],
) -> tuple[str, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite3", outbox=True)
        store.migrate()
        svc = BookingService(store.unit_of_work, clock=FixedClock(NOW))
        feed = EventFeed(store)
        runner = ProjectionRunner(store.unit_of_work, feed, projections)
        start = NOW + timedelta(days=1)
        slot = svc.create_slot("c", start, start + timedelta(hours=1), rounds + 1)
        svc.book(slot.id, "warm-up")  # the first command of a process reads the schema
        runner.catch_up()
        seen = Statements()
        store.connection().set_trace_callback(seen.append)
        began = time.perf_counter()
        for n in range(rounds):
            svc.book(slot.id, f"s{n}")
            if after is not None:
                after(runner, feed)
        took = time.perf_counter() - began
        store.connection().set_trace_callback(None)
        store.close()
    return name, len(seen) / rounds, took / rounds * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args(argv).rounds
    handled = -1

    def already_handled(runner: ProjectionRunner, feed: EventFeed) -> object:
        return runner.after_commit(handled)

    rows = [
        measure("no projections", rounds, None, []),
        measure(
            "after_commit(), nothing wanted",
            rounds,
            lambda r, f: r.after_commit(),
            [Projection("idle", idle, events=[SlotCancelled])],
        ),
        measure(
            "after_commit(), counts SeatBooked",
            rounds,
            lambda r, f: r.after_commit(),
            [Projection("seats", count_seats, events=[SeatBooked])],
        ),
        measure(
            "after_commit(position), position handled",
            rounds,
            already_handled,
            [Projection("seats", count_seats, events=[SeatBooked])],
        ),
    ]
    print("| per booking | SQL statements | µs |")
    print("|---|---|---|")
    for name, statements, micros in rows:
        print(f"| {name} | {statements:.1f} | {micros:.0f} |")


if __name__ == "__main__":
    main()
