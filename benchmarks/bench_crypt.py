"""Encryption at rest: a profile read and a booking with sealed contact fields beside the
same on a store that seals nothing, at 10^5 students (issue #24's aim: within 1.2x).

    .venv/bin/python benchmarks/bench_crypt.py [--students 100000] [--calls 400] [--cold]

Two SQLite stores in one temp folder, one plain and one with a key file beside it
(``LocalKeyProvider.beside``), each seeded with N students as the documents
``students.register`` writes (with a guardian row: name, phone, e-mail each), in units of
work of 5000 (the sealed one through its sealing repository, so each student has her data
key). Then, alternating plain and sealed calls on random students so both see the same
machine load:

1. **a profile read**: ``school.students.view(actor, student)`` (the access check, the
   audit row, and on the sealed store her data key read in the document's statement and
   one decryption of her seven sealed values);
2. **a booking**: ``school.booking.book(slot, student)`` with the school's default notices
   (the confirmation to the student, planned inline from the feed: her contact copied
   into the notice, sealed on the sealed store).

Each figure is the median of ``--calls`` calls (the first tenth dropped as warm-up).

The seeding process made every data key, and keeps the last 65536 it made unwrapped (the
sealer's bounded cache), so without ``--cold`` about two reads in three at 10^5 find
their key unwrapped already. ``--cold``: both stores are opened afresh after seeding, as
a process that has not met these students opens them (each sealed read unwraps her key).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time as timer
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.kernel.codec import dt_out
from eduengine.service_layer.crypto import LocalKeyProvider
from eduengine.students import Actor

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFICE = Actor(id="u-office", role="academic")
AIM = 1.2


def student_doc(n: int) -> dict[str, Any]:
    """The document ``students.register`` writes, with one guardian row."""
    return {
        "name": f"Student {n:06d}",
        "phone": f"139{n:08d}",
        "email": f"s{n}@example.org",
        "birth_date": "2015-04-09",
        "guardians": [
            {
                "name": f"Parent {n:06d}",
                "phone": f"138{n:08d}",
                "email": f"p{n}@example.org",
                "roles": ["receive_reminders"],
            }
        ],
        "class_id": None,
        "tags": [],
        "stage": "registered",
        "erased": False,
        "facts": {
            "registered_at": dt_out(NOW),
            "purchases": 0,
            "modules": [],
            "last_login": None,
            "last_active": dt_out(NOW),
            "trial": False,
        },
        "packages": [],
        "region": None,
    }


def seed(store: SqliteStore, students: int, batch: int = 5000) -> None:
    for start in range(0, students, batch):
        with store.unit_of_work() as uow:
            for n in range(start, min(students, start + batch)):
                uow.records.put("student", f"s{n}", student_doc(n))
            uow.commit()


def build(
    folder: Path, name: str, students: int, sealed: bool, *, cold: bool = False
) -> tuple[SqliteStore, School]:
    path = folder / f"{name}.sqlite3"
    keys = LocalKeyProvider.beside(path) if sealed else None
    store = SqliteStore(path, keys=keys)
    store.migrate()
    seed(store, students)
    if cold:
        # a store (and sealer) of its own: no data key this process made is kept
        store.close()
        store = SqliteStore(path, keys=LocalKeyProvider.beside(path) if sealed else None)
    clock = FixedClock(NOW)
    return store, School.build(store, clock=clock)


def ms_since(started: float) -> float:
    return (timer.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument(
        "--cold", action="store_true", help="stores opened afresh after seeding (keys unknown)"
    )
    args = parser.parse_args(argv)
    rng = random.Random(24)
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = timer.perf_counter()
        plain_store, plain = build(folder, "plain", args.students, sealed=False, cold=args.cold)
        sealed_store, sealed = build(folder, "sealed", args.students, sealed=True, cold=args.cold)
        seeded = timer.perf_counter() - started
        print(f"seeded 2 x {args.students} students in {seeded:.1f} s")
        schools = {"plain": plain, "sealed": sealed}
        start = NOW + timedelta(days=2)
        # one slot per call on each store, big enough for every booking
        slots = {
            name: school.booking.create_slot("math", start, start + timedelta(hours=1), 10_000).id
            for name, school in schools.items()
        }
        picks = [f"s{rng.randrange(args.students)}" for _ in range(args.calls)]
        booked = [f"s{n}" for n in rng.sample(range(args.students), args.calls)]
        times: dict[str, dict[str, list[float]]] = {
            what: {"plain": [], "sealed": []} for what in ("profile read", "booking")
        }
        gc.disable()
        try:
            for who in picks:
                for name, school in schools.items():
                    started = timer.perf_counter()
                    school.students.view(OFFICE, who)
                    times["profile read"][name].append(ms_since(started))
            for who in booked:
                for name, school in schools.items():
                    started = timer.perf_counter()
                    school.booking.book(slots[name], who)
                    times["booking"][name].append(ms_since(started))
        finally:
            gc.enable()
        skip = max(1, args.calls // 10)
        for what, by_store in times.items():
            plain_ms = statistics.median(by_store["plain"][skip:])
            sealed_ms = statistics.median(by_store["sealed"][skip:])
            ratio = sealed_ms / plain_ms
            verdict = "met" if ratio <= AIM else "NOT met"
            print(
                f"{what}: plain {plain_ms:.3f} ms, sealed {sealed_ms:.3f} ms, "
                f"{ratio:.2f}x (aim <= {AIM}x): {verdict}"
            )
            results[what] = (plain_ms, sealed_ms)
        plain_store.close()
        sealed_store.close()
    return results


if __name__ == "__main__":
    main()
