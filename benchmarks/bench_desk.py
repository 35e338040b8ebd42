"""The desk at 10^5 open tickets, each measurement beside a plain indexed-SQL baseline
in the same run.

    .venv/bin/python benchmarks/bench_desk.py [--tickets 100000] [--tiny]

Each figure is the median of 5 runs (3 above 10^4 tickets) after a warm-up. The
tickets are seeded on SQLite as the documents the service writes (``store_ticket``,
units of work of 5000); the baseline is its own SQLite file (WAL, ``synchronous =
NORMAL``, as the store), one row per ticket with plain indexed columns.

1. **SLA evaluation of every open ticket.** ``school.desk.sla_alerts(t)``: the warnings
   and breaches every open ticket has reached by ``t``, from the ``sla:<target>:<kind>``
   index alone (the instants are worked out on the team's calendar when a ticket
   changes), beside the baseline: a table with one indexed column per target and kind
   holding the same instants, four range queries ``WHERE col <= t``, the same answer
   built (asserted equal). At ``t`` = now (1% of the tickets opened long ago, the rest
   in the last hour) and three days later (nearly every ticket late).
2. **The periodic job.** Finding and evaluating the due tickets (``sla_due`` index,
   documents read in one query per batch), beside reading every ticket; then
   ``school.desk.run_due()`` itself.
3. **Routing.** ``school.desk.open_ticket`` of a question, routed to its class's head
   teacher (one of 100, one away with a delegate), the whole command committed, beside
   the baseline: the head teacher and her absence looked up by key, the ticket row
   inserted, committed. ``school.desk.leads.capture`` of a lead, assigned round robin,
   beside a counter row bumped and the lead row inserted.
"""

from __future__ import annotations

import argparse
import functools
import random
import sqlite3
import statistics
import tempfile
import time as timer
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import (
    DeskSetup,
    LeadContact,
    LeadRouting,
    Party,
    Priority,
    Sla,
    TicketCategory,
)
from eduengine.desk.records import (
    SLA_DUE,
    SLA_MARKS,
    TICKETS,
    SlaAlert,
    load_tickets,
    store_ticket,
)
from eduengine.desk.tickets import Ticket
from eduengine.kernel.codec import from_micros, micros

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)  # a Friday, noon in Shanghai
OFFICE = BusinessHours.weekly(
    "Asia/Shanghai",
    {d: [(time(9), time(12)), (time(13), time(18))] for d in range(5)},
    holidays=[date(2026, 3, 9)],
)
SLA = Sla(timedelta(hours=8), timedelta(hours=40), warn_before=timedelta(hours=1))
#: the baseline's column of each SLA mark
COLUMNS = tuple(m.replace(":", "_") for m in SLA_MARKS)


def median_ms(run: Callable[[], object], repeat: int = 5) -> float:
    """The median of ``repeat`` runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeat):
        start = timer.perf_counter()
        run()
        times.append((timer.perf_counter() - start) * 1000)
    return statistics.median(times)


def tickets(n: int, seed: int = 7) -> list[Ticket]:
    rng = random.Random(seed)
    made = []
    for i in range(n):
        opened = NOW - timedelta(minutes=rng.randrange(1, 21 * 24 * 60))
        made.append(
            Ticket.open(
                ticket_id=f"t{i:07d}",
                category=TicketCategory.QUESTION,
                priority=Priority.NORMAL,
                asker=Party("student", f"s{i % 5000}"),
                subject="s",
                text="t",
                team="support",
                sla=SLA,
                hours=OFFICE,
                now=opened,
            )
        )
        made[-1].events = []
    return made


def seed(store: SqliteStore, found: list[Ticket]) -> None:
    """Every ticket as the service stores it, with its index entries."""
    for start in range(0, len(found), 5000):
        with store.unit_of_work() as uow:
            for ticket in found[start : start + 5000]:
                store_ticket(uow, ticket, OFFICE)
            uow.commit()


def plain_store(path: Path, found: list[Ticket]) -> sqlite3.Connection:
    """The baseline: one row per ticket, the same SLA instants in indexed columns, the
    routing tables."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    cols = ", ".join(f"{c} INTEGER" for c in COLUMNS)
    conn.execute(
        "CREATE TABLE tickets (id TEXT PRIMARY KEY, category TEXT, asker TEXT, team TEXT, "
        f"assignee TEXT, state TEXT, opened_us INTEGER, subject TEXT, body TEXT, {cols})"
    )
    for c in COLUMNS:
        conn.execute(f"CREATE INDEX tickets_{c} ON tickets ({c})")
    conn.execute("CREATE INDEX tickets_assignee ON tickets (assignee)")
    conn.execute("CREATE TABLE head_teachers (class_id TEXT PRIMARY KEY, staff_id TEXT)")
    conn.execute(
        "CREATE TABLE away (staff_id TEXT, start_us INTEGER, end_us INTEGER, delegate TEXT)"
    )
    conn.execute("CREATE INDEX away_staff ON away (staff_id)")
    conn.execute("CREATE TABLE lead_turn (pool TEXT PRIMARY KEY, n INTEGER)")
    conn.execute(
        "CREATE TABLE leads (id TEXT PRIMARY KEY, phone TEXT, source TEXT, consultant TEXT, "
        "created_us INTEGER)"
    )
    conn.execute("BEGIN")
    for ticket in found:
        marks = ticket.sla_marks(OFFICE)
        conn.execute(
            f"INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?{', ?' * len(COLUMNS)})",
            (
                ticket.id,
                ticket.category.value,
                ticket.asker.id,
                ticket.team,
                ticket.assignee,
                ticket.state.value,
                micros(ticket.opened_at),
                ticket.subject,
                ticket.messages[0].text,
                *(micros(marks[m]) if m in marks else None for m in SLA_MARKS),
            ),
        )
    conn.execute("COMMIT")
    return conn


def plain_alerts(conn: sqlite3.Connection, at: datetime) -> list[SlaAlert]:
    """``sla_alerts`` from the plain table: a range query per indexed column."""
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for mark, column in zip(SLA_MARKS, COLUMNS, strict=True):
        target, kind = mark.split(":")
        rows = conn.execute(
            f"SELECT id, {column} FROM tickets WHERE {column} <= ? ORDER BY {column}",
            (micros(at),),
        )
        for key, value in rows:
            found[key, target] = (kind, value)
    return [
        SlaAlert(ticket_id=key, target=target, kind=kind, at=from_micros(value))
        for value, key, target, kind in sorted(
            (value, key, target, kind) for (key, target), (kind, value) in found.items()
        )
    ]


def plain_route(conn: sqlite3.Connection, k: int) -> str | None:
    """A question to its class's head teacher, or her delegate while she is away."""
    now = micros(NOW)
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute(
        "SELECT staff_id FROM head_teachers WHERE class_id = ?", (f"class-{k % 100}",)
    ).fetchone()
    person = None if row is None else row[0]
    if person is not None:
        away = conn.execute(
            "SELECT delegate FROM away WHERE staff_id = ? AND start_us <= ? AND end_us > ?",
            (person, now, now),
        ).fetchone()
        if away is not None:
            person = away[0]
    conn.execute(
        "INSERT INTO tickets (id, category, asker, team, assignee, state, opened_us, subject, "
        "body) VALUES (?, 'question', ?, 'teaching', ?, 'new', ?, 'Exam', 'When is it?')",
        (f"p{k}", f"s{k}", person, now),
    )
    conn.execute("COMMIT")
    return person


def plain_capture(conn: sqlite3.Connection, k: int, consultants: tuple[str, ...]) -> str:
    """A lead assigned round robin: the pool's counter bumped, the lead inserted."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO lead_turn VALUES ('round_robin', 1) "
        "ON CONFLICT (pool) DO UPDATE SET n = n + 1"
    )
    row = conn.execute("SELECT n FROM lead_turn WHERE pool = 'round_robin'").fetchone()
    n: int = row[0]
    consultant = consultants[(n - 1) % len(consultants)]
    conn.execute(
        "INSERT INTO leads VALUES (?, ?, 'douyin', ?, ?)",
        (f"l{k}", f"138{k:08d}", consultant, micros(NOW)),
    )
    conn.execute("COMMIT")
    return consultant


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--tiny", action="store_true", help="500 tickets (a smoke test)")
    args = parser.parse_args(argv)
    n = 500 if args.tiny else args.tickets
    rng = random.Random(11)
    repeat = 5 if n <= 10_000 else 3
    found = tickets(n)
    # 1% of the tickets were opened long enough ago to be late now, the rest lately
    for ticket in found:
        if rng.random() >= 0.01:
            opened = NOW - timedelta(minutes=rng.randrange(1, 60))
            for clock in ticket.clocks.values():
                clock.since = opened
                clock.plan(OFFICE)
    dues = [t.due_at(OFFICE) for t in found]
    due = sum(1 for at in dues if at is not None and at <= NOW)
    later = NOW + timedelta(days=3)
    consultants = tuple(f"c{k}" for k in range(20))
    print(f"# desk benchmark: {n} open tickets, SQLite\n")
    print("| measurement | ours | plain indexed-SQL baseline | ratio |")
    print("|---|---|---|---|")

    def row(what: str, ours: float, plain: float) -> None:
        print(f"| {what} | {ours:.3f} ms | {plain:.3f} ms | {ours / plain:.2f}x |")

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "desk.sqlite3")
        store.migrate()
        seed(store, found)
        conn = plain_store(Path(tmp) / "plain.sqlite3", found)
        setup = DeskSetup(
            zone="Asia/Shanghai",
            teams={"support": OFFICE},
            leads=LeadRouting(consultants=consultants),
        )
        school = School.build(store, clock=FixedClock(NOW), desk=setup, reminders=None)

        for at, label in ((NOW, "now"), (later, "3 days later")):
            alerts = school.desk.sla_alerts(at)
            assert alerts == plain_alerts(conn, at)
            row(
                f"SLA of every open ticket at {label}: `sla_alerts` ({len(alerts)} late)",
                median_ms(functools.partial(school.desk.sla_alerts, at), repeat),
                median_ms(functools.partial(plain_alerts, conn, at), repeat),
            )

        def job_once() -> int:
            # what run_due reads, without writing (so every run finds the same work)
            with store.unit_of_work(read_only=True) as uow:
                rows = uow.records.scan(TICKETS, SLA_DUE, hi=micros(NOW))
                late = 0
                for ticket in load_tickets(uow, [key for key, _ in rows]):
                    for clock in ticket.clocks.values():
                        late += bool(clock.due_announcements(OFFICE, NOW))
                return late

        def scan_everything() -> int:
            with store.unit_of_work(read_only=True) as uow:
                late = 0
                for key, doc in uow.records.list(TICKETS):
                    for clock in Ticket.from_dict(key, doc).clocks.values():
                        late += bool(clock.due_announcements(OFFICE, NOW))
                return late

        assert job_once() == scan_everything()
        print(
            f"| find and evaluate the due tickets ({due} of {n}) | "
            f"{median_ms(job_once, repeat):.3f} ms | "
            # (reading every ticket takes about a minute at 10^5: timed once after a warm-up)
            f"{median_ms(scan_everything, 1 if n > 10_000 else repeat):.3f} ms "
            "(read every ticket) | - |"
        )
        start = timer.perf_counter()
        announced = school.desk.run_due()
        run_due_ms = (timer.perf_counter() - start) * 1000
        print(
            f"| `school.desk.run_due()` (announces {announced}, writes them) | "
            f"{run_due_ms:.3f} ms | - | - |"
        )
        again = median_ms(school.desk.run_due)
        print(f"| `run_due()` again (nothing due) | {again:.3f} ms | - | - |")

        # routing beside the open tickets: a question goes to its class's head teacher
        # (one of 100; one is away, her tickets go to her delegate)
        for k in range(100):
            school.desk.set_head_teacher(f"class-{k}", f"teacher-{k}")
        conn.executemany(
            "INSERT INTO head_teachers VALUES (?, ?)",
            [(f"class-{k}", f"teacher-{k}") for k in range(100)],
        )
        school.desk.set_away(
            "teacher-0", NOW - timedelta(days=1), NOW + timedelta(days=1), delegate="teacher-1"
        )
        conn.execute(
            "INSERT INTO away VALUES ('teacher-0', ?, ?, 'teacher-1')",
            (micros(NOW - timedelta(days=1)), micros(NOW + timedelta(days=1))),
        )
        calls = iter(range(10**9))

        def route_one() -> str | None:
            k = next(calls)
            return school.desk.open_ticket(
                category="question",
                asker=Party("student", f"s{k}"),
                class_id=f"class-{k % 100}",
                subject="Exam",
                text="When is it?",
            ).assignee

        plain_calls = iter(range(10**9))
        assert route_one() == plain_route(conn, next(plain_calls)) == "teacher-1"
        times = 50 if n > 10_000 else 20
        row(
            f"`open_ticket` routed to a head teacher ({n} open)",
            median_ms(route_one, times),
            median_ms(lambda: plain_route(conn, next(plain_calls)), times),
        )

        def capture_one() -> str | None:
            k = next(calls)
            contact = LeadContact(phone=f"139{k:08d}")
            return school.desk.leads.capture(source="douyin", contact=contact).consultant

        assert capture_one() == plain_capture(conn, next(plain_calls), consultants) == "c0"
        row(
            "`leads.capture` assigned round robin",
            median_ms(capture_one, times),
            median_ms(lambda: plain_capture(conn, next(plain_calls), consultants), times),
        )
        conn.close()
        store.close()


if __name__ == "__main__":
    main()
