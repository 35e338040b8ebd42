"""SLA evaluation of every open ticket at 10^5 open tickets, beside plain baselines.

    .venv/bin/python benchmarks/bench_desk.py [--tickets 100000] [--tiny]

Three measurements, each the median of 5 runs (3 above 10^4 tickets) after a warm-up:

1. **Evaluating every open ticket in memory.** For each ticket, both SLA clocks'
   business time so far and deadline on the team's calendar (Shanghai office hours with
   a lunch break and holidays, tickets opened over the past three weeks), beside the
   plain baseline: wall-clock ``now - opened`` and ``opened + target`` (what a desk that
   ignores business hours computes).
2. **The periodic job on SQLite.** ``school.desk.run_due()`` with 10^5 open tickets of
   which 1% fall due, which reads only the tickets filed as due, beside the plain
   baseline: read every open ticket and evaluate it (what a job without the due index
   does). The tickets are seeded as the documents the service writes (``store_ticket``),
   in units of work of 5000.
3. **Routing.** ``school.desk.open_ticket`` of a question, routed to its class's head
   teacher (one of 100, one away with a delegate), with the tickets above stored: the
   whole command (routing, the ticket and its indexes written, committed).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time as timer
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import TARGETS, DeskSetup, Party, Priority, Sla, TicketCategory
from eduengine.desk.records import SLA_DUE, TICKETS, store_ticket
from eduengine.desk.tickets import Ticket
from eduengine.kernel.codec import micros

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)  # a Friday, noon in Shanghai
OFFICE = BusinessHours.weekly(
    "Asia/Shanghai",
    {d: [(time(9), time(12)), (time(13), time(18))] for d in range(5)},
    holidays=[date(2026, 3, 9)],
)
SLA = Sla(timedelta(hours=8), timedelta(hours=40), warn_before=timedelta(hours=1))


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


def evaluate_all(found: list[Ticket]) -> int:
    late = 0
    for ticket in found:
        for name in TARGETS:
            clock = ticket.clocks[name]
            late += clock.elapsed(OFFICE, NOW) > clock.target
            clock.deadline(OFFICE)
    return late


def plain_all(found: list[Ticket]) -> int:
    late = 0
    for ticket in found:
        for name in TARGETS:
            clock = ticket.clocks[name]
            assert clock.since is not None
            late += NOW - clock.since > clock.target
            _ = clock.since + clock.target
    return late


def seed(store: SqliteStore, found: list[Ticket]) -> None:
    """Every ticket as the service stores it, with its index entries."""
    for start in range(0, len(found), 5000):
        with store.unit_of_work() as uow:
            for ticket in found[start : start + 5000]:
                store_ticket(uow, ticket, OFFICE)
            uow.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--tiny", action="store_true", help="500 tickets (a smoke test)")
    args = parser.parse_args(argv)
    n = 500 if args.tiny else args.tickets
    rng = random.Random(11)

    repeat = 5 if n <= 10_000 else 3
    found = tickets(n)
    ours = median_ms(lambda: evaluate_all(found), repeat)
    plain = median_ms(lambda: plain_all(found), repeat)
    print(f"# desk SLA benchmark: {n} open tickets\n")
    print("| measurement | ours | plain baseline |")
    print("|---|---|---|")
    print(f"| evaluate every open ticket (2 targets) | {ours:.3f} ms | {plain:.3f} ms |")

    # the job: only 1% of the tickets were opened long enough ago to be due
    recent = [Ticket.from_dict(t.id, t.to_dict()) for t in found]
    for ticket in recent:
        if rng.random() >= 0.01:
            for clock in ticket.clocks.values():
                clock.since = NOW - timedelta(minutes=rng.randrange(1, 60))
    dues = [t.due_at(OFFICE) for t in recent]
    due = sum(1 for at in dues if at is not None and at <= NOW)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "desk.sqlite3")
        store.migrate()
        seed(store, recent)
        setup = DeskSetup(zone="Asia/Shanghai", teams={"support": OFFICE})
        school = School.build(store, clock=FixedClock(NOW), desk=setup, reminders=None)

        def job_once() -> int:
            # what run_due reads, without writing (so every run finds the same work)
            uow = store.unit_of_work()
            uow.read_only = True
            with uow:
                rows = uow.records.scan(TICKETS, SLA_DUE, hi=micros(NOW))
                late = 0
                for key, _ in rows:
                    doc = uow.records.get(TICKETS, key)
                    assert doc is not None
                    late += bool(
                        Ticket.from_dict(key, doc)
                        .clocks["first_response"]
                        .due_announcements(OFFICE, NOW)
                    )
                return late

        def scan_everything() -> int:
            uow = store.unit_of_work()
            uow.read_only = True
            with uow:
                late = 0
                for key, doc in uow.records.list(TICKETS):
                    late += bool(
                        Ticket.from_dict(key, doc)
                        .clocks["first_response"]
                        .due_announcements(OFFICE, NOW)
                    )
                return late

        assert job_once() == scan_everything()
        ours_job = median_ms(job_once, repeat)
        plain_job = median_ms(scan_everything, repeat)
        print(
            f"| find and evaluate the due tickets ({due} of {n}) | {ours_job:.3f} ms | "
            f"{plain_job:.3f} ms |"
        )
        start = timer.perf_counter()
        announced = school.desk.run_due()
        run_due_ms = (timer.perf_counter() - start) * 1000
        print(
            f"| `school.desk.run_due()` (announces {announced}, writes them) | "
            f"{run_due_ms:.3f} ms | - |"
        )
        again = median_ms(school.desk.run_due)
        print(f"| `run_due()` again (nothing due) | {again:.3f} ms | - |")
        # routing beside the open tickets: a question goes to its class's head teacher
        # (one of 100; one is away, her tickets go to her delegate)
        for k in range(100):
            school.desk.set_head_teacher(f"class-{k}", f"teacher-{k}")
        school.desk.set_away(
            "teacher-0", NOW - timedelta(days=1), NOW + timedelta(days=1), delegate="teacher-1"
        )
        calls = iter(range(10**9))

        def route_one() -> object:
            k = next(calls)
            return school.desk.open_ticket(
                category="question",
                asker=Party("student", f"s{k}"),
                class_id=f"class-{k % 100}",
                subject="Exam",
                text="When is it?",
            )

        routed = median_ms(route_one, 50 if n > 10_000 else 20)
        print(f"| `open_ticket` routed to a head teacher ({n} open) | {routed:.3f} ms | - |")
        store.close()


if __name__ == "__main__":
    main()
