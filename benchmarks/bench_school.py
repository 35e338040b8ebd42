"""The rest of issue #22's aims, measured: a booking through ``School.build`` when a worker
runs the projections, the 8-process hot-slot drain, and the projections' catch-up after a
rush.

    .venv/bin/python benchmarks/bench_school.py [--quick] [--dsn postgresql://...]

1. **Call with a worker.** ``School.build(store, inline_projections=False)`` books
   ``--calls`` seats in one process while a second process runs
   ``school.projections.catch_up()`` in a loop (the worker); the bare ``BookingService``
   books as many into a store of its own. Wall-clock throughput and the booking process's
   CPU time per call are printed; the aim is the school's call within 1.3x the bare one.
2. **Hot-slot drain.** 8 processes try ``--attempts`` bookings (distinct students) of one
   slot of 100 seats through ``School.build`` defaults, then the same with the raw
   conditional ``UPDATE`` of ``bench_storage.py`` (same SQLite pragmas, checked). Each
   process builds its school before a barrier, so start-up is not timed; the drain time
   runs from the barrier to the last attempt's answer. Aim: within 2x raw SQL; the p50 and
   p99 latency of the successful bookings are printed beside it.
3. **Catch-up after a rush** (SQLite only): ``--rush`` bookings with
   ``inline_projections=False``, then a fresh school (as a worker process would build it)
   times ``school.projections.catch_up()``. Aim: under 10 s for 10^4.

PostgreSQL runs 1 and 2 when ``--dsn`` or ``EDUENGINE_PG_DSN`` names a server.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench_storage import (
    NOW,
    SPAWN,
    _open,
    baseline_worker,
    same_sqlite_settings,
    setup_baseline,
    setup_service,
)

from eduengine import BookingService, FixedClock, School
from eduengine.errors import EduEngineError, SlotFull

Where = Callable[[str], str]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- 1. a booking call while a worker runs the projections ---------------------------


def projection_worker(kind: str, where: str, stop: Any, ready: Any, applied: Any) -> None:
    store = _open(kind, where)
    school = School.build(store, clock=FixedClock(NOW), inline_projections=False)
    ready.set()
    total = 0
    while not stop.is_set():
        report = school.projections.catch_up()
        total += sum(report.values())
        if not sum(report.values()):
            time.sleep(0.01)  # an idle worker polls; it does not spin on the feed
    total += sum(school.projections.catch_up().values())
    applied.value = total
    store.close()


def book_calls(svc: BookingService, slot_ids: list[str], calls: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``calls`` bookings spread over ``slot_ids``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(calls):
        svc.book(slot_ids[n % len(slot_ids)], f"call-{n}")
    return time.perf_counter() - wall, time.process_time() - cpu


def call_with_worker(kind: str, make_where: Where, calls: int) -> None:
    slots, capacity = 50, calls
    where_b, where_s = make_where("bare"), make_where("school")
    where_a = make_where("alone")
    bare_ids = setup_service(kind, where_b, slots, capacity)
    school_ids = setup_service(kind, where_s, slots, capacity)
    alone_ids = setup_service(kind, where_a, slots, capacity)

    # the same call with no worker running: what the call costs apart from contention
    store = _open(kind, where_a)
    alone = School.build(store, clock=FixedClock(NOW), inline_projections=False)
    alone.booking.book(alone_ids[0], "warm-up")
    alone_wall, alone_cpu = book_calls(alone.booking, alone_ids, calls)
    store.close()

    store = _open(kind, where_b)
    bare_svc = BookingService(store.unit_of_work, clock=FixedClock(NOW))
    bare_svc.book(bare_ids[0], "warm-up")
    bare_wall, bare_cpu = book_calls(bare_svc, bare_ids, calls)
    store.close()

    stop, ready = SPAWN.Event(), SPAWN.Event()
    applied = SPAWN.Value("q", 0)
    worker = SPAWN.Process(target=projection_worker, args=(kind, where_s, stop, ready, applied))
    store = _open(kind, where_s)
    school = School.build(store, clock=FixedClock(NOW), inline_projections=False)
    school.booking.book(school_ids[0], "warm-up")
    worker.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the projection worker did not start")
        school_wall, school_cpu = book_calls(school.booking, school_ids, calls)
    finally:
        stop.set()
        worker.join(300)
    store.close()
    if worker.exitcode != 0:
        raise SystemExit(f"the projection worker failed (exit code {worker.exitcode})")

    ratio = school_wall / bare_wall
    print(
        f"{kind:<9} call, worker running the projections: School.build(inline_projections="
        f"False) {calls / school_wall:,.0f} bookings/s ({school_cpu / calls * 1000:.3f} ms "
        f"CPU/call), bare service {calls / bare_wall:,.0f}/s ({bare_cpu / calls * 1000:.3f} "
        f"ms CPU/call); school/bare {ratio:.2f}x wall, {school_cpu / bare_cpu:.2f}x CPU "
        f"(aim 1.3x): {verdict(ratio <= 1.3)}; the worker applied {applied.value} events"
    )
    print(
        f"{kind:<9} call, no worker running: School.build(inline_projections=False) "
        f"{calls / alone_wall:,.0f} bookings/s ({alone_cpu / calls * 1000:.3f} ms CPU/call); "
        f"school/bare {alone_wall / bare_wall:.2f}x wall, {alone_cpu / bare_cpu:.2f}x CPU"
    )


# --- 2. the hot-slot drain ------------------------------------------------------------


def drain_worker(
    kind: str,
    where: str,
    slot_id: str,
    tag: str,
    attempts: int,
    raw: bool,
    barrier: Any,
    results: Any,
) -> None:
    """Wait at the barrier with everything built, then try ``attempts`` bookings; put
    (booked, errors, latencies of the successes, first start, last end) on ``results``."""
    if raw:
        barrier.wait()
        started = time.monotonic()
        booked = baseline_worker(kind, where, [slot_id] * attempts, tag)
        results.put((booked, 0, [], started, time.monotonic()))
        return
    store = _open(kind, where)
    school = School.build(store, clock=FixedClock(NOW))
    barrier.wait()
    latencies: list[float] = []
    booked = errors = 0
    started = time.monotonic()
    for n in range(attempts):
        t = time.perf_counter()
        try:
            school.booking.book(slot_id, f"{tag}-{n}")
        except SlotFull:
            continue
        except EduEngineError:
            errors += 1  # a conflict the service gave up on: counted, not hidden
            continue
        latencies.append(time.perf_counter() - t)
        booked += 1
    # the reactions still deferred (reaction_batch) are applied inside the drain's time
    school.close()
    ended = time.monotonic()
    store.close()
    results.put((booked, errors, latencies, started, ended))


def drain(
    kind: str, where: str, slot_id: str, processes: int, attempts: int, *, raw: bool
) -> tuple[float, int, int, list[float]]:
    """(drain seconds, booked, errors, latencies) of ``processes`` racing for one slot."""
    barrier = SPAWN.Barrier(processes)
    results = SPAWN.Queue()
    share = attempts // processes
    procs = [
        SPAWN.Process(
            target=drain_worker,
            args=(kind, where, slot_id, f"p{p}", share, raw, barrier, results),
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    parts = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(60)
        if proc.exitcode != 0:
            raise SystemExit(f"a drain worker failed (exit code {proc.exitcode})")
    seconds = max(p[4] for p in parts) - min(p[3] for p in parts)
    latencies = sorted(x for p in parts for x in p[2])
    return seconds, sum(p[0] for p in parts), sum(p[1] for p in parts), latencies


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def hot_slot_drain(kind: str, make_where: Where, processes: int, attempts: int, seats: int) -> None:
    where_s, where_b = make_where("drain"), make_where("drain-raw")
    (school_slot,) = setup_service(kind, where_s, 1, seats)
    (raw_slot,) = setup_baseline(kind, where_b, 1, seats)
    if kind == "sqlite":
        same_sqlite_settings(where_s, where_b)
    school_s, booked, errors, latencies = drain(
        kind, where_s, school_slot, processes, attempts, raw=False
    )
    raw_s, raw_booked, _, _ = drain(kind, where_b, raw_slot, processes, attempts, raw=True)
    if raw_booked != seats:
        raise SystemExit(f"raw SQL booked {raw_booked} of {seats} seats")
    ratio = school_s / raw_s
    print(
        f"{kind:<9} hot-slot drain, {processes} processes, {attempts:,} attempts for {seats} "
        f"seats: School.build defaults {school_s:.2f} s ({booked} booked, {errors} errors; "
        f"successful bookings p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 "
        f"{percentile(latencies, 0.99) * 1000:.1f} ms), raw SQL {raw_s:.2f} s; "
        f"school/raw {ratio:.2f}x (aim 2x): {verdict(ratio <= 2 and booked == seats)}"
    )


# --- 3. catch-up after a rush ---------------------------------------------------------


def catch_up_after_rush(kind: str, make_where: Where, bookings: int) -> None:
    where = make_where("rush")
    slots = max(1, bookings // 100)
    slot_ids = setup_service(kind, where, slots, 100)
    store = _open(kind, where)
    school = School.build(store, clock=FixedClock(NOW), inline_projections=False)
    started = time.perf_counter()
    for n in range(bookings):
        school.booking.book(slot_ids[n % slots], f"rush-{n}")
    rush_s = time.perf_counter() - started
    store.close()

    store = _open(kind, where)
    worker = School.build(store, clock=FixedClock(NOW), inline_projections=False)
    wall, cpu = time.perf_counter(), time.process_time()
    report = worker.projections.catch_up()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    again = worker.projections.catch_up()
    store.close()
    if report.failures or again.failures or sum(again.values()):
        raise SystemExit(f"catch-up incomplete: {report!r}, then {again!r}")
    events = max(report.values(), default=0)
    print(
        f"{kind:<9} catch-up after a rush of {bookings:,} bookings ({rush_s:.1f} s to book, "
        f"projections off): {wall:.2f} s ({cpu:.2f} s CPU) for {events:,} events per "
        f"projection, {len(report)} projections (aim under 10 s for 10,000): "
        f"{verdict(wall < 10 * bookings / 10_000)}"
    )


# --- the runs -----------------------------------------------------------------------


def run(kind: str, make_where: Where, args: argparse.Namespace) -> None:
    call_with_worker(kind, make_where, args.calls)
    hot_slot_drain(kind, make_where, args.processes, args.attempts, args.seats)
    if kind == "sqlite":
        catch_up_after_rush(kind, make_where, args.rush)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--dsn", default=os.environ.get("EDUENGINE_PG_DSN"))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--calls", type=int)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--attempts", type=int)
    parser.add_argument("--seats", type=int)
    parser.add_argument("--rush", type=int)
    args = parser.parse_args(argv)
    quick = args.quick
    args.calls = args.calls or (100 if quick else 2000)
    args.attempts = args.attempts or (400 if quick else 4000)
    args.seats = args.seats or (20 if quick else 100)
    args.rush = args.rush or (200 if quick else 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", lambda tag: str(Path(tmp) / f"{tag}-{uuid.uuid4().hex}.db"), args)
    if args.dsn and not args.sqlite_only:
        dsn = args.dsn
        run("postgres", lambda tag: f"{dsn}#bench_{tag}_{uuid.uuid4().hex[:8]}", args)
    else:
        print("postgres: skipped (no --dsn / EDUENGINE_PG_DSN, or --sqlite-only)")


if __name__ == "__main__":
    main()
