"""A booking's cost at two roster sizes, measured side by side (issue #22: "fast at
100,000 students and a million bookings").

    .venv/bin/python benchmarks/bench_roster.py [--students 2000 100000] [--calls 300]

One SQLite store per roster size in one temp folder, each seeded with N students as
``benchmarks/bench_crypt.py`` seeds them (the documents ``students.register`` writes,
one guardian row each), and a ``School.build`` with its defaults on each (notices and
every projection inline). Then ``booking.book(slot, student)`` for random students, each
followed by ``school.projections.flush()`` inside the count (a school applies its
reactions in batches, so without it a booking's figures would depend on whether the
batch's wait ran out during that very call),
**alternating between the stores**, so each roster size sees the same machine load (on
a shared machine, two runs minutes apart differ by more than any effect of N). Per roster
size: the median wall time, the mean CPU time of the process (``time.process_time``) and
the SQLite statements per booking; the first tenth dropped as warm-up.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time as timer
from datetime import timedelta
from pathlib import Path

from bench_crypt import NOW, seed
from bench_storage import Statements

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore


def main(argv: list[str] | None = None) -> dict[int, tuple[float, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[2_000, 100_000])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    rng = random.Random(22)
    results: dict[int, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[int, SqliteStore] = {}
        schools: dict[int, School] = {}
        slots: dict[int, str] = {}
        start = NOW + timedelta(days=2)
        for n in args.students:
            store = stores[n] = SqliteStore(Path(tmp) / f"roster{n}.sqlite3")
            store.migrate()
            seed(store, n)
            schools[n] = School.build(store, clock=FixedClock(NOW))
            slot = schools[n].booking.create_slot("math", start, start + timedelta(hours=1), 10**5)
            slots[n] = slot.id
        booked = {n: [f"s{k}" for k in rng.sample(range(n), args.calls)] for n in args.students}
        wall: dict[int, list[float]] = {n: [] for n in args.students}
        cpu: dict[int, list[float]] = {n: [] for n in args.students}
        statements = dict.fromkeys(args.students, 0)
        skip = max(1, args.calls // 10)
        gc.disable()
        try:
            for i in range(args.calls):
                for n, school in schools.items():
                    seen = Statements()
                    stores[n].connection().set_trace_callback(seen.append)
                    started, used = timer.perf_counter(), timer.process_time()
                    school.booking.book(slots[n], booked[n][i])
                    school.projections.flush()
                    wall[n].append((timer.perf_counter() - started) * 1000)
                    cpu[n].append((timer.process_time() - used) * 1000)
                    stores[n].connection().set_trace_callback(None)
                    if i >= skip:
                        statements[n] += len(seen)
        finally:
            gc.enable()
        print("| students | booking, median wall | mean CPU | SQLite statements |")
        print("|---:|---:|---:|---:|")
        for n in args.students:
            counted = args.calls - skip
            figures = (
                statistics.median(wall[n][skip:]),
                statistics.mean(cpu[n][skip:]),
                statements[n] / counted,
            )
            results[n] = figures
            print(f"| {n:,} | {figures[0]:.2f} ms | {figures[1]:.2f} ms | {figures[2]:.1f} |")
        for store in stores.values():
            store.close()
    return results


if __name__ == "__main__":
    main()
