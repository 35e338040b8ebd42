"""Bookings per second through the school and the bare service on SQLite and PostgreSQL,
beside raw SQL.

    .venv/bin/python benchmarks/bench_storage.py [--quick] [--floor] [--dsn postgresql://...]

For each store it measures, in the same run, the path a school takes
(``School.build(store)`` with its defaults, then ``school.booking.book``: every rule and
reaction the school wires), the bare service (``BookingService.book``: one unit of work,
the Slot aggregate loaded with its seats, events) and a hand-written baseline that does
the minimal correct thing in raw SQL — ``UPDATE slot SET booked = booked + 1 WHERE id = ?
AND booked < capacity`` plus the seat insert, one transaction — once in a single process
and once with 4 concurrent processes, and prints the ratios and, on SQLite, the number of
SQL statements per booking. The SQLite baseline runs with the library's own connection
settings (WAL journal, ``synchronous = NORMAL``, the same busy timeout; checked before
timing), so the ratio measures the library's work and not a slower durability setting on
one side. PostgreSQL runs when ``--dsn`` or ``EDUENGINE_PG_DSN`` names a server
(``python3 scripts/postgres.py start`` prints one). ``--floor`` also replays, on SQLite,
the bare service's own statements for each booking with no Python layers around them
(:func:`floor_worker`): what the service would cost if its Python took no time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eduengine import BookingService, FixedClock, School
from eduengine.bootstrap import REACTION_BATCH
from eduengine.errors import SlotFull

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")

#: What SqliteStore sets on each connection (see SqliteStore._connect and _use_wal); the
#: baseline uses the same, and ``same_sqlite_settings`` checks it before timing.
SQLITE_LOCK_TIMEOUT = 10.0  # SqliteStore's default lock_timeout, i.e. its busy timeout
BASELINE_PRAGMAS = (
    f"PRAGMA busy_timeout = {int(SQLITE_LOCK_TIMEOUT * 1000)}",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",  # no cost here (the baseline has no foreign keys)
)

BASELINE_SQLITE = """
CREATE TABLE IF NOT EXISTS slot (id TEXT PRIMARY KEY, capacity INT, booked INT);
CREATE TABLE IF NOT EXISTS seat (id TEXT PRIMARY KEY, slot_id TEXT, student_id TEXT,
    UNIQUE (slot_id, student_id));
"""


# --- the service --------------------------------------------------------------------


def _open(kind: str, where: str) -> Any:
    if kind == "sqlite":
        from eduengine.adapters.sqlite import SqliteStore

        return SqliteStore(where, lock_timeout=SQLITE_LOCK_TIMEOUT)
    from eduengine.adapters.postgres import PostgresStore

    dsn, _, schema = where.partition("#")
    return PostgresStore(dsn, schema=schema)


def service_worker(kind: str, where: str, slot_ids: list[str], tag: str) -> int:
    store = _open(kind, where)
    svc = BookingService(store.unit_of_work, clock=FixedClock(NOW))
    done = _book_all(svc, slot_ids, tag)
    store.close()
    return done


def school_worker(kind: str, where: str, slot_ids: list[str], tag: str) -> int:
    store = _open(kind, where)
    school = School.build(store, clock=FixedClock(NOW))
    done = _book_all(school.booking, slot_ids, tag)
    # the reactions still deferred (reaction_batch) are applied inside the timing
    school.close()
    store.close()
    return done


def _book_all(svc: BookingService, slot_ids: list[str], tag: str) -> int:
    done = 0
    for n, slot_id in enumerate(slot_ids):
        try:
            svc.book(slot_id, f"{tag}-{n}")
            done += 1
        except SlotFull:
            pass
    return done


def statements_per_booking(
    where: str, slot_ids: list[str], *, school: bool
) -> tuple[float, float]:
    """SQL statements the SQLite connection runs per booking (sqlite3's trace callback):
    the booking commands' own (the seat's transactions: the school's reactions wait for
    their batch meanwhile), and all of them once the batch of reactions is applied."""
    store = _open("sqlite", where)
    built = School.build(store, clock=FixedClock(NOW)) if school else None
    svc = (
        built.booking
        if built is not None
        else BookingService(store.unit_of_work, clock=FixedClock(NOW))
    )
    svc.book(slot_ids[0], "warm-up")  # the first command of a process reads the schema
    if built is not None:
        built.close()
    seen = Statements()
    store.connection().set_trace_callback(seen.append)
    # one batch of the school's reactions (its reaction_batch), applied inside the count
    rounds = REACTION_BATCH
    _book_all(svc, [slot_ids[k % len(slot_ids)] for k in range(rounds - 1)], "counted")
    seats = len(seen)
    _book_all(svc, [slot_ids[0]], "last")  # fills the batch: its reactions are applied
    if built is not None:
        built.close()
    store.connection().set_trace_callback(None)
    store.close()
    return seats / (rounds - 1), len(seen) / rounds


class Statements(list[str]):
    """The statements a sqlite3 trace callback reports, each once: Python's callback
    (3.11) reports each row a trigger fires on (the feed's, which numbers its stream) as
    more calls with the text of the statement that fired it, one after the other."""

    def append(self, sql: str) -> None:
        if not self or self[-1] != sql:
            super().append(sql)


def setup_service(kind: str, where: str, slots: int, capacity: int) -> list[str]:
    store = _open(kind, where)
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=FixedClock(NOW))
    start = NOW + timedelta(days=1)
    ids = [
        svc.create_slot("c", start, start + timedelta(hours=1), capacity).id for _ in range(slots)
    ]
    store.close()
    return ids


# --- the baseline ---------------------------------------------------------------------


def baseline_worker(kind: str, where: str, slot_ids: list[str], tag: str) -> int:
    done = 0
    if kind == "sqlite":
        conn = baseline_connection(where)
        for n, slot_id in enumerate(slot_ids):
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(
                "UPDATE slot SET booked = booked + 1 WHERE id = ? AND booked < capacity",
                (slot_id,),
            )
            if cur.rowcount == 1:
                conn.execute(
                    "INSERT INTO seat VALUES (?, ?, ?)", (uuid.uuid4().hex, slot_id, f"{tag}-{n}")
                )
                done += 1
            conn.execute("COMMIT")
        conn.close()
        return done
    import psycopg

    dsn, _, schema = where.partition("#")
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as pg:
        for n, slot_id in enumerate(slot_ids):
            with pg.transaction():
                pg_cur = pg.execute(
                    "UPDATE slot SET booked = booked + 1 WHERE id = %s AND booked < capacity",
                    (slot_id,),
                )
                if pg_cur.rowcount == 1:
                    pg.execute(
                        "INSERT INTO seat VALUES (%s, %s, %s)",
                        (uuid.uuid4().hex, slot_id, f"{tag}-{n}"),
                    )
                    done += 1
    return done


#: the statements the bare service runs for one booking on SQLite (its trace, with the
#: schema check folded into the slot's load), for :func:`floor_worker`
FLOOR_STATEMENTS = (
    "SELECT s.*, EXISTS (SELECT 1 FROM waitlist w WHERE w.slot_id = s.id) AS queued, "
    "EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = s.id) AS held, "
    "(SELECT e.last FROM event_streams e WHERE e.stream = 'slot:' || s.id) AS stream_last, "
    "(SELECT MAX(version) FROM schema_version) AS schema_v, "
    "EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id AND b.student_id = ? "
    "AND b.status <> 'cancelled') AS seat_held FROM slots s WHERE s.id = ?",
    "UPDATE slots SET booked = ?, version = ? WHERE id = ? AND version = ?",
    "INSERT INTO bookings (id, slot_id, student_id, status, created_at, series_id) "
    "VALUES (?, ?, ?, 'confirmed', ?, NULL) ON CONFLICT (id) DO UPDATE SET status = "
    "excluded.status",
    "INSERT INTO event_feed (event_id, type, stream, sequence, occurred_us, envelope) "
    "VALUES (?, 'booking.seat_booked', ?, ?, ?, ?)",
)


def floor_worker(kind: str, where: str, slot_ids: list[str], tag: str) -> int:
    """The bare service's own SQLite statements for each booking, replayed with as
    little Python as raw SQL takes (``--floor``): what the service would cost if its
    Python took no time, on the library's schema and connection settings."""
    from eduengine.kernel.codec import micros

    store = _open(kind, where)
    conn = store.connection()
    load, update, seat, feed = FLOOR_STATEMENTS
    created, occurred = f"{NOW.isoformat()}|", micros(NOW)
    # the envelope's text as long as the service's (the feed's pages fill alike)
    envelope = (
        '{"id":"%s","type":"booking.seat_booked","aggregate_type":"slot","aggregate_id":'
        '"%s","sequence":%d,"occurred_at":"2026-03-02T09:00:00+00:00","data":{"slot_id":'
        '"%s","capacity":4000,"seats_left":3999,"booking_id":"%s","student_id":"%s",'
        '"series_id":null}}'
    )
    done = 0
    for n, slot_id in enumerate(slot_ids):
        student = f"{tag}-{n}"
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(load, (student, slot_id)).fetchone()
        if row["seat_held"] or row["booked"] >= row["capacity"]:
            conn.execute("ROLLBACK")
            continue
        # the stream's number read with the slot; the feed row's trigger stores it
        stream, last = f"slot:{slot_id}", (row["stream_last"] or 0) + 1
        conn.execute(update, (row["booked"] + 1, row["version"] + 1, slot_id, row["version"]))
        booking_id, event_id = uuid.uuid4().hex, uuid.uuid4().hex
        conn.execute(seat, (booking_id, slot_id, student, created))
        text = envelope % (event_id, slot_id, last, slot_id, booking_id, student)
        conn.execute(feed, (event_id, stream, last, occurred, text))
        conn.execute("COMMIT")
        done += 1
    store.close()
    return done


def baseline_connection(where: str) -> sqlite3.Connection:
    """A plain sqlite3 connection with the library's settings (WAL is set at setup)."""
    conn = sqlite3.connect(where, isolation_level=None, timeout=SQLITE_LOCK_TIMEOUT)
    for pragma in BASELINE_PRAGMAS:
        conn.execute(pragma)
    return conn


def sqlite_settings(conn: sqlite3.Connection) -> tuple[str, int, int]:
    """(journal mode, synchronous level, busy timeout in ms) of a connection."""
    return (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA synchronous").fetchone()[0],
        conn.execute("PRAGMA busy_timeout").fetchone()[0],
    )


def same_sqlite_settings(service_db: str, baseline_db: str) -> None:
    """Refuse to time a comparison whose two sides run with different settings."""
    store = _open("sqlite", service_db)
    library = sqlite_settings(store.connection())
    store.close()
    conn = baseline_connection(baseline_db)
    baseline = sqlite_settings(conn)
    conn.close()
    if library != baseline:
        raise SystemExit(f"SQLite settings differ: library {library}, baseline {baseline}")


def setup_baseline(kind: str, where: str, slots: int, capacity: int) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(slots)]
    if kind == "sqlite":
        conn = baseline_connection(where)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(BASELINE_SQLITE)
        conn.executemany("INSERT INTO slot VALUES (?, ?, 0)", [(i, capacity) for i in ids])
        conn.close()
        return ids
    import psycopg

    dsn, _, schema = where.partition("#")
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute(f'CREATE SCHEMA "{schema}"'.encode())
        pg.execute(f'SET search_path TO "{schema}"'.encode())
        pg.execute("CREATE TABLE slot (id TEXT PRIMARY KEY, capacity INT, booked INT)")
        pg.execute(
            "CREATE TABLE seat (id TEXT PRIMARY KEY, slot_id TEXT, student_id TEXT, "
            "UNIQUE (slot_id, student_id))"
        )
        with pg.cursor() as cur:
            cur.executemany("INSERT INTO slot VALUES (%s, %s, 0)", [(i, capacity) for i in ids])
    return ids


# --- the runs -----------------------------------------------------------------------


def timed(
    worker: Callable[[str, str, list[str], str], int],
    kind: str,
    where: str,
    slot_ids: list[str],
    processes: int,
    attempts: int,
) -> float:
    plan = [slot_ids[k % len(slot_ids)] for k in range(attempts)]
    started = time.perf_counter()
    if processes == 1:
        booked = worker(kind, where, plan, "p0")
    else:
        with ProcessPoolExecutor(processes, mp_context=SPAWN) as pool:
            parts = [plan[p::processes] for p in range(processes)]
            booked = sum(
                pool.map(
                    worker,
                    [kind] * processes,
                    [where] * processes,
                    parts,
                    [f"p{p}" for p in range(processes)],
                )
            )
    elapsed = time.perf_counter() - started
    assert booked == attempts, f"{worker.__name__} booked {booked} of {attempts}"
    return attempts / elapsed


def compare(
    kind: str, make_where: Callable[[str], str], attempts: int, *, floor: bool = False
) -> None:
    slots, capacity = 50, attempts  # never full: every attempt books
    for processes in (1, 4):
        where_s, where_b = make_where("svc"), make_where("base")
        svc_ids = setup_service(kind, where_s, slots, capacity)
        base_ids = setup_baseline(kind, where_b, slots, capacity)
        if kind == "sqlite":
            same_sqlite_settings(where_s, where_b)
        where_k = make_where("school")
        school_ids = setup_service(kind, where_k, slots, capacity)
        if kind == "sqlite" and processes == 1:
            bare, _ = statements_per_booking(where_s, svc_ids, school=False)
            seat, wired = statements_per_booking(where_k, school_ids, school=True)
            print(
                f"{kind:<9} statements per booking: raw SQL 4, service {bare:.0f}, "
                f"School.build defaults: the seat's transaction {seat:.0f} (aim: at most "
                f"10), {wired:.1f} in all with its reactions (a batch of {REACTION_BATCH})"
            )
        service = timed(service_worker, kind, where_s, svc_ids, processes, attempts)
        school = timed(school_worker, kind, where_k, school_ids, processes, attempts)
        baseline = timed(baseline_worker, kind, where_b, base_ids, processes, attempts)
        print(
            f"{kind:<9} {processes} process(es): School.build {school:>8,.0f} bookings/s, "
            f"service {service:>8,.0f}, raw SQL {baseline:>8,.0f}; "
            f"service/raw {baseline / service:.2f}x (aim 2x), "
            f"school/service {service / school:.2f}x (aim 2x)"
        )
        if floor and kind == "sqlite" and processes == 1:
            where_f = make_where("floor")
            floor_ids = setup_service(kind, where_f, slots, capacity)
            replayed = timed(floor_worker, kind, where_f, floor_ids, processes, attempts)
            print(
                f"{kind:<9} {processes} process(es): the service's statements replayed "
                f"{replayed:>8,.0f} bookings/s; replayed/raw {baseline / replayed:.2f}x, "
                f"service/replayed {replayed / service:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dsn", default=os.environ.get("EDUENGINE_PG_DSN"))
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also replay the bare service's own SQLite statements with no Python layers",
    )
    args = parser.parse_args()
    attempts = 400 if args.quick else 4000
    with tempfile.TemporaryDirectory() as tmp:
        compare(
            "sqlite",
            lambda tag: str(Path(tmp) / f"{tag}-{uuid.uuid4().hex}.db"),
            attempts,
            floor=args.floor,
        )
    if args.dsn:
        dsn = args.dsn
        compare("postgres", lambda tag: f"{dsn}#bench_{tag}_{uuid.uuid4().hex[:8]}", attempts)
    else:
        print("postgres: skipped (no --dsn / EDUENGINE_PG_DSN)")


if __name__ == "__main__":
    main()
