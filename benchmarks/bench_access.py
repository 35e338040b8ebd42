"""The access check (issue #24) on a profile read and on a booking read at school scale
on SQLite (or PostgreSQL with ``--dsn``), beside the same reads without it.

    .venv/bin/python benchmarks/bench_access.py [--students 100000] [--reads 300] [--tiny]
        [--dsn postgresql://...] [--audit synchronous|buffered|journal]

**Seeding.** ``--students`` profiles (name, phone, e-mail, a guardian's contacts, in 100
classes), written through the real adapter in units of work of 10^4, each a copy of the
document ``school.students.register`` writes; a member of academic staff on the
registry; one booked seat for each timed student (``--reads`` of them).

**Reads**, for the timed students in random order, each with the check and without it
one right after the other (which goes first alternating), each p50 / p99 in
milliseconds:

- *profile*: ``school.students.view(office, sid)`` (the check: the person's access
  revision, or on SQLite while nothing was committed since the gate read them only the
  commit mark, and on a change since the gate last read them their staff document,
  grants and revocation; the student's class and stage from the document the read holds; one
  audit row, in the read's own write unit of work) beside the same document read and
  shaped into the same ``Profile`` through the same service runner in a read-only unit
  of work, with no check and no audit row;
- *profile, masked role*: ``school.students.guardians_with(sid, role, actor=support)``
  (the check, contacts masked, no audit row) beside the same method with a gate that
  answers "masked" without reading anything;
- *a student's bookings*: ``school.booking.bookings_for_student(sid, actor=office)``
  (the check and the audit row in one write unit of work) beside the same method with a
  gate that answers "whole" without reading or writing anything.

``--audit buffered`` builds the school with ``School.build(audit="buffered")``: the
audit rows are queued and written a batch of 100 at a time by the read that fills it
(that read's time is in the p99 and the mean, not the p50). ``--audit journal`` queues
them the same way and appends each read's rows to the process's audit journal first
(one ``os.write``). Without ``--audit`` the school gets ``School.build``'s default:
``journal`` on the SQLite file, ``synchronous`` on PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import random
import secrets
import statistics
import tempfile
import time as timer
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.people import StaffRole
from eduengine.people.access import AccessGate, AuditBuffer, Look, Runner
from eduengine.people.journal import AuditJournal
from eduengine.people.model import MASKED, WHOLE, FieldSet
from eduengine.service_layer.ports import UnitOfWork, open_read_only
from eduengine.students import Actor, Guardian, GuardianRole
from eduengine.students import records as srec
from eduengine.students.profiles import _profile

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
OFFICE = Actor(id="bench-office", role="academic")
SUPPORT = Actor(id="bench-support", role="support")
BATCH = 10_000
T = TypeVar("T")


class Store(Protocol):
    """What the benchmark needs of a store (SQLite or PostgreSQL)."""

    def migrate(self) -> object: ...

    def unit_of_work(self) -> UnitOfWork: ...


def seed(
    store: Store, students: int, reads: int, audit: str | None = None
) -> tuple[School, list[str]]:
    store.migrate()
    clock = FixedClock(START)
    school = School.build(store, clock=clock, reminders=None, notices=None, audit=audit)
    school.students.register(
        "s000000",
        name="王小明",
        phone="13812341234",
        email="ming@example.com",
        guardians=[Guardian(name="王芳", phone="13900001111", roles=frozenset(GuardianRole))],
    )
    with open_read_only(store.unit_of_work) as uow:
        template = uow.records.get(srec.STUDENTS, "s000000")
    assert template is not None
    ids = [f"s{n:06d}" for n in range(students)]
    for chunk in range(1, students, BATCH):
        with store.unit_of_work() as uow:
            for sid in ids[chunk : chunk + BATCH]:
                doc = copy.deepcopy(template)
                doc.update(name=f"学生{sid}", phone=f"138{int(sid[1:]):08d}")
                doc["class_id"] = f"c{int(sid[1:]) % 100}"
                uow.records.put(srec.STUDENTS, sid, doc)
            uow.commit()
    school.people.register_staff(OFFICE.id, StaffRole.ACADEMIC)
    school.people.register_staff(SUPPORT.id, StaffRole.SUPPORT)
    timed = random.Random(24).sample(ids, min(reads, students))
    start = START + timedelta(days=2)
    for n in range(0, len(timed), 30):
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 30)
        for sid in timed[n : n + 30]:
            school.booking.book(slot.id, sid)
        start += timedelta(hours=2)
    return school, timed


@contextlib.contextmanager
def opened(dsn: str | None, folder: Path) -> Iterator[Store]:
    """A SQLite file in ``folder``, or a fresh schema on the PostgreSQL server ``dsn``."""
    if dsn is None:
        sqlite = SqliteStore(folder / "bench.sqlite3")
        try:
            yield sqlite
        finally:
            sqlite.close()
        return
    import psycopg

    from eduengine.adapters.postgres import PostgresStore

    schema = f"bench_access_{secrets.token_hex(4)}"
    pg = PostgresStore(dsn, schema=schema)
    try:
        yield pg
    finally:
        pg.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


class Unchecked(AccessGate):
    """A gate that checks nothing and audits nothing: every student is seen as ``seen``
    (the baseline: the same read without the check)."""

    def __init__(self, seen: FieldSet) -> None:
        super().__init__()
        self.seen = seen

    def read(
        self,
        run: Runner,
        actor: Actor | None,
        what: Sequence[str],
        query: Callable[[UnitOfWork, datetime, Look], T],
        *,
        ids: Mapping[str, str | None] | None = None,
        records: bool = False,
        stacklevel: int = 3,
        ahead: Sequence[tuple[str, str]] = (),
    ) -> T:
        result: T = run(lambda uow, now: query(uow, now, lambda sid: self.seen), write=False)
        return result


def time_pairs(
    checked: Callable[[str], object], plain: Callable[[str], object], sids: list[str]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Each read of each student with the check and without it, one right after the
    other (which goes first alternating), in milliseconds: a change of load on a shared
    machine falls on both alike. Wall time with and without, then the process's CPU
    time with and without (which other processes' load disturbs less)."""
    with_check: list[float] = []
    without: list[float] = []
    cpu_with: list[float] = []
    cpu_without: list[float] = []
    for n, sid in enumerate(sids):
        pair = ((checked, with_check, cpu_with), (plain, without, cpu_without))
        for read, out, cpu in pair if n % 2 == 0 else pair[::-1]:
            began, used = timer.perf_counter(), timer.process_time()
            read(sid)
            out.append((timer.perf_counter() - began) * 1000)
            cpu.append((timer.process_time() - used) * 1000)
    return with_check, without, cpu_with, cpu_without


def cell(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.3f} / {p99:.3f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--tiny", action="store_true", help="10^3 students, 60 reads")
    parser.add_argument(
        "--dsn", help="a PostgreSQL server to run on instead (in a schema of its own, dropped)"
    )
    parser.add_argument(
        "--audit",
        choices=("synchronous", "buffered", "journal"),
        default=None,
        help="how unmasked reads file their audit rows (School.build(audit=...); default: "
        "School.build's, journal on SQLite and synchronous on PostgreSQL)",
    )
    args = parser.parse_args(argv)
    students, reads = (1_000, 60) if args.tiny else (args.students, args.reads)
    with tempfile.TemporaryDirectory() as tmp, opened(args.dsn, Path(tmp)) as store:
        began = timer.perf_counter()
        school, timed = seed(store, students, reads, args.audit)
        took = timer.perf_counter() - began
        on = "PostgreSQL" if args.dsn else "SQLite"
        mode = {AuditJournal: "journal", AuditBuffer: "buffered"}.get(
            type(school.audit), "synchronous"
        )
        print(
            f"seeded {students:,} students on {on}, {len(timed)} timed, audit {mode}: {took:.1f} s"
        )
        # the same reads through the same service runner (a read-only unit of work,
        # retries, logging), with no check and no audit row: the profile shaped by the
        # same function, the other two the very same service methods and queries with a
        # gate that answers the field set the check would (masked, whole) unread
        run = school.students._run
        unchecked_students = copy.copy(school.students)
        unchecked_students.gate = Unchecked(MASKED)
        unchecked_booking = copy.copy(school.booking)
        unchecked_booking.gate = Unchecked(WHOLE)

        def plain_profile(sid: str) -> object:
            return run(lambda u, now: _profile(sid, srec.student(u, sid), WHOLE), write=False)

        def plain_guardians(sid: str) -> object:
            return unchecked_students.guardians_with(sid, GuardianRole.PAY, actor=SUPPORT)

        def plain_bookings(sid: str) -> object:
            return unchecked_booking.bookings_for_student(sid, actor=OFFICE)

        pairs: list[tuple[str, Callable[[str], object], Callable[[str], object]]] = [
            ("profile", lambda sid: school.students.view(OFFICE, sid), plain_profile),
            (
                "profile, masked role",
                lambda sid: school.students.guardians_with(sid, GuardianRole.PAY, actor=SUPPORT),
                plain_guardians,
            ),
            (
                "a student's bookings",
                lambda sid: school.booking.bookings_for_student(sid, actor=OFFICE),
                plain_bookings,
            ),
        ]
        print(
            "| read | with the check | without | mean with / without "
            "| CPU p50 with / without, ratio | ratio (p50) |"
        )
        print("|---|---|---|---|---|---|")
        for name, checked, plain in pairs:
            order = random.Random(name).sample(timed, len(timed))
            for warm in order[:10]:
                checked(warm)
                plain(warm)
            with_check, without, cpu_with, cpu_without = time_pairs(checked, plain, order)
            ratio = statistics.median(with_check) / statistics.median(without)
            means = f"{statistics.fmean(with_check):.3f} / {statistics.fmean(without):.3f} ms"
            cpu = f"{statistics.median(cpu_with):.3f} / {statistics.median(cpu_without):.3f} ms"
            cpu += (
                f", {statistics.median(cpu_with) / max(statistics.median(cpu_without), 1e-9):.2f}x"
            )
            print(
                f"| {name} | {cell(with_check)} | {cell(without)} | {means} | {cpu} "
                f"| {ratio:.2f}x |"
            )
        school.close()


if __name__ == "__main__":
    main()
