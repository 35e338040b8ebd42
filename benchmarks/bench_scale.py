"""Growth with N: how the time of a sweep, a leaderboard, a calendar or a command changes
as the school's stored state grows from 10^3 to 10^5 (or 10^6) items.

    .venv/bin/python benchmarks/bench_scale.py [--quick] [--max 1000000] [--dsn postgresql://...]
        [--adapters memory,sqlite] [--only levels,deals] [--pg-max 10000]

For every adapter (memory, SQLite, and PostgreSQL when ``--dsn`` or ``EDUENGINE_PG_DSN``
names a server) and every N it builds a fresh store holding N items of one kind, wires
a school on it (``School.build`` with a fixed clock) and times each call: the median of
5 calls after 3 warm-up calls. ``k`` is the least-squares slope of log(time) over log(N):
time grows like N^k, so k = 0 is a call whose cost does not depend on the size of the
school and k = 1 one that reads every item.

The stored state is built fast but through the code paths the services write with:
documents in bulk, one unit of work per 10^4 (10^3 on PostgreSQL), written with the
modules' own functions (``notices.planning.attach_reminders``,
``deals.records.save_group``, the XP state of ``LevelService``,
``availability.storage.file_lesson`` with booked ``Slot`` aggregates, the coupon counts
of ``PricingService``), so the documents and their index entries are those a school
running for years would hold.

Aims (issue "Storage at school scale"): every call k <= 0.2; on SQLite every sweep,
leaderboard and calendar query under 10 ms at N = 10^5 (checked here for every call).
The garbage collector is paused while timing, as ``timeit`` does.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import statistics
import sys
import tempfile
import time as timer
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.availability.model import Busy
from eduengine.availability.storage import file_lesson
from eduengine.booking.model import Booking, Slot
from eduengine.bootstrap import DEFAULT_PLAN, SchoolStore
from eduengine.deals import GroupDeal, GroupDealCampaign, GroupState
from eduengine.deals.model import Member
from eduengine.deals.records import CODES, save_group
from eduengine.levels import LearningEvent, XpRule
from eduengine.levels.board import file_xp
from eduengine.levels.service import _fresh
from eduengine.notices.plan import Channel, reminder_record
from eduengine.notices.planning import attach_reminders
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Coupon, Customer, DiscountKind, Money, OrderLine
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.pricing.coupons import COUPONS, _count_use
from eduengine.pricing.orders import ORDERS, Order, _order_record
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: items written per unit of work while building the stored state: PostgreSQL takes an
#: advisory lock per document a unit of work touches, and its lock table (shared by every
#: session, ~max_locks_per_transaction x max_connections) overflows at ~10^4
BATCH = {"memory": 10_000, "sqlite": 10_000, "postgres": 1_000}
WARMUP = 3
REPS = 5
#: the aims
MAX_K = 0.2
MAX_SECONDS = 0.010
AIM_N = 100_000

Op = Callable[[int], object]
"""One timed call; its argument numbers the call (0, 1, ...), so commands use fresh ids."""


# --- building stored state ------------------------------------------------------------


class Filler(NamedTuple):
    """Writes stored state in bulk, ``batch`` items per unit of work."""

    uow: UnitOfWorkFactory
    batch: int

    def __call__(self, n: int, write: Callable[[UnitOfWork, int], None]) -> None:
        """``write(tx, i)`` for i in range(n)."""
        for first in range(0, n, self.batch):
            with self.uow() as tx:
                for i in range(first, min(n, first + self.batch)):
                    write(tx, i)
                tx.collect_events()  # nobody listens to the history being written
                tx.commit()


Setup = Callable[[School, Filler, int], list[tuple[str, Op]]]
"""Builds the stored state for N on an empty store and returns the calls to time."""


def reminders(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """N booked seats, each with its reminders, the confirmation already sent: the next
    reminder of each falls due from a day ahead on, so nothing is due now."""
    booked_at = T - timedelta(hours=1)

    def write(tx: UnitOfWork, i: int) -> None:
        start = T + timedelta(days=2, minutes=i)
        record = reminder_record(
            booking_id=f"b{i}",
            student_id=f"s{i}",
            slot_id=f"slot{i // 20}",
            start=start,
            channel=Channel.APP_PUSH,
            due=DEFAULT_PLAN.schedule(booked_at=booked_at, start=start),
        )
        record["items"][0]["state"] = "sent"  # as the sweep leaves it
        # in the booking's class document of the notices, as a school without notices
        # files them (one row per booking)
        attach_reminders(tx, f"b{i}", f"s{i}", record, booked_at)

    fill(n, write)

    def sweep(_: int) -> None:
        assert school.reminders.due_reminders(actor=SYSTEM) == []

    return [("reminders.due_reminders (none due)", sweep)]


PRICE = Money("99.00", "CNY")


def deals(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """N closed groups (4 in 5 formed, 1 in 5 failed and refunded) and N/100 + 1 open
    groups whose deadline is a day ahead: nothing is due."""
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="python-101",
            list_price=Money("199.00", "CNY"),
            group_price=PRICE,
            required_size=3,
            max_size=4,
            starts_at=T - timedelta(days=400),
            ends_at=T + timedelta(days=30),
        )
    )
    opened = max(1, n // 100 + 1)

    def write(tx: UnitOfWork, i: int) -> None:
        is_open = i >= n
        at = T - timedelta(hours=2) if is_open else T - timedelta(days=2, minutes=i)
        failed = not is_open and i % 5 == 4
        status = "refunded" if failed else "paid"
        members = [
            Member(
                student_id=f"s{i}-{m}",
                status=status,
                joined_at=at + timedelta(minutes=m),
                account=f"acct-{i}-{m}",
                charge_id=f"ch-{i}-{m}",
                access=not failed and not is_open,
            )
            for m in range(1 if is_open else 3)
        ]
        group = GroupDeal(
            id=f"g{i}",
            campaign_id="spring",
            initiator=members[0].student_id,
            share_code=f"CODE{i}",
            opened_at=at,
            deadline=at + timedelta(hours=24),
            price=PRICE,
            required_size=3,
            capacity=4,
            state=(
                GroupState.OPEN if is_open else GroupState.FAILED if failed else GroupState.FORMED
            ),
            members=members,
        )
        save_group(tx, group, at)
        tx.records.put(CODES, group.share_code, {"group_id": group.id})

    fill(n, write)
    fill(opened, lambda tx, i: write(tx, n + i))

    def sweep(_: int) -> None:
        assert school.deals.expire_due() == 0

    return [("deals.expire_due (none due)", sweep)]


LESSON_XP = XpRule(kind="lesson_attended", points=50)


def levels(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """N students with XP (uniform in 0..50,000, so ties are few), in 100 classes; the
    XP documents and their boards' rank counts are written as ``LevelService.record``
    writes them (``file_xp``)."""
    rng = random.Random(n)
    xp_of: dict[str, int] = {}

    def write(tx: UnitOfWork, i: int) -> None:
        student = f"s{i:07d}"
        points = rng.randrange(50_001)
        state = _fresh(student)
        event = LearningEvent(
            student_id=student, kind=LESSON_XP.kind, source_id=f"lesson-{i}", occurred_at=T
        )
        school.levels._apply(state, LESSON_XP, event, points, f"c{i % 100}")
        file_xp(tx.records, [(student, {}, state)])
        xp_of[student] = points

    fill(n, write)
    middle = sorted(xp_of, key=lambda s: (xp_of[s], s))[n // 2]
    board = school.levels.leaderboard()

    def top(_: int) -> None:
        assert len(board.top(10)) == min(10, n)

    def rank(_: int) -> None:
        assert board.rank(middle) > 1

    def around(_: int) -> None:
        assert len(school.levels.standings_around(middle)) == 5

    return [
        ("levels.leaderboard().top(10)", top),
        ("levels.leaderboard().rank(middle)", rank),
        ("levels.standings_around(middle)", around),
    ]


HALF_HOUR = timedelta(minutes=30)


def availability(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """One tutor (open every day, half-hour sessions) with N booked lessons, one every
    hour on the hour counting back from 8 days ahead, each a capacity-1 slot with its
    seat: the coming week is booked on the hour and open on the half hour."""
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="t",
            timezone="UTC",
            weekly={d: (TimeRange(time(0), time(23, 59)),) for d in range(7)},
            session=HALF_HOUR,
            step=HALF_HOUR,
        )
    )
    last = T + timedelta(days=8)

    def write(tx: UnitOfWork, i: int) -> None:
        start = last - timedelta(hours=i + 1)
        booked_at = start - timedelta(days=1)
        slot = Slot.create(
            slot_id=f"lesson{i}",
            course_id="one-on-one",
            start=start,
            end=start + HALF_HOUR,
            capacity=1,
            tutor_id="t",
            now=booked_at,
        )
        tx.slots.add(slot)
        seat = slot.book(f"st{i}", now=booked_at, new_id=partial(str, f"b{i}"))
        file_lesson(tx, "t", Busy(start=start, end=slot.end, slot_id=slot.id, booking_id=seat.id))

    fill(n, write)
    week = T + timedelta(days=1)
    made: list[Booking] = []

    def open_times(_: int) -> None:
        assert school.availability.open_times("t", week, week + timedelta(days=7))

    def book(i: int) -> None:
        # a half hour more than a day ahead (cancelling it is free of any fee)
        at = T + timedelta(days=2, hours=i, minutes=30)
        made.append(school.availability.book("t", f"bench{i}", at).booking)

    def cancel(i: int) -> None:
        school.availability.cancel(made[i].id)

    return [
        ("availability.open_times (1 week)", open_times),
        ("availability.book", book),
        ("availability.cancel", cancel),
    ]


LINES = [OrderLine(course_id="python-101", price=Money("199", "CNY"))]


def pricing(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """A coupon (one use per student) redeemed N times, each by a paid order of its own:
    the coupon's count, N per-student counts and N orders, as checkout writes them."""
    spring = Coupon(code="SPRING", kind=DiscountKind.AMOUNT, value=Money("20", "CNY"))
    school.pricing.add_coupon(spring)
    quoted = school.pricing.quote(Customer(student_id="x"), LINES, coupons=["SPRING"])
    coupon_doc: dict[str, Any] = {}

    def write(tx: UnitOfWork, i: int) -> None:
        if i % fill.batch == 0:  # each unit of work locks the coupon first, as checkout does
            found = tx.records.get(COUPONS, spring.key)  # stored under its canonical code
            assert found is not None
            coupon_doc.clear()
            coupon_doc.update(found)
        coupon = Coupon.from_record(coupon_doc["coupon"])
        _count_use(tx, spring.key, f"s{i}", coupon_doc, coupon, +1)
        order = Order(id=f"o{i}", student_id=f"s{i}", quote=quoted, status="paid")
        tx.records.put(ORDERS, order.id, _order_record(order))

    fill(n, write)
    assert school.pricing.redemptions("SPRING") == n

    school.catalogue.add_item(CatalogueItem(id="python-101", kind=ItemKind.COURSE))
    school.catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=T - timedelta(days=1),
                  prices={line.course_id: line.price for line in LINES})
    )  # fmt: skip

    def checkout(i: int) -> None:
        # the order as a student places it: a catalogue quote, her card, the checkout
        student = f"bench-s{i}"
        quote = school.catalogue.quote(student, ["python-101"], "CNY", coupons=["SPRING"])
        school.payments.add_method(student, f"acct-{i}")
        school.pricing.checkout(f"bench-o{i}", quote_id=quote.id)

    return [("pricing.checkout (coupon used N times)", checkout)]


def many_slots(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """N slots of 30 seats over the coming weeks; the call books the middle one."""

    def write(tx: UnitOfWork, i: int) -> None:
        start = T + timedelta(days=2, minutes=10 * i)
        tx.slots.add(
            Slot.create(
                slot_id=f"slot{i}",
                course_id=f"course{i % 50}",
                start=start,
                end=start + timedelta(hours=1),
                capacity=30,
                tutor_id=f"tutor{i % 200}",
                now=T,
            )
        )

    fill(n, write)
    target = f"slot{n // 2}"

    def book(i: int) -> None:
        school.booking.book(target, f"bench{i}")

    return [("booking.book (N slots)", book)]


def full_slot(school: School, fill: Filler, n: int) -> list[tuple[str, Op]]:
    """One slot with capacity N + 10 holding N seats; the call takes one more."""
    start = T + timedelta(days=2)
    school.booking.create_slot("lecture", start, start + timedelta(hours=1), n + 10, slot_id="big")

    def write(tx: UnitOfWork, i: int) -> None:
        tx.slots.get("big").book(f"s{i}", now=T, new_id=partial(str, f"b{i}"))

    fill(n, write)

    def book(i: int) -> None:
        school.booking.book("big", f"bench{i}")

    return [("booking.book (N seats in the slot)", book)]


ADAPTERS = ["memory", "sqlite", "postgres"]
SCENARIOS: dict[str, Setup] = {
    "reminders": reminders,
    "deals": deals,
    "levels": levels,
    "availability": availability,
    "pricing": pricing,
    "slots": many_slots,
    "seats": full_slot,
}


# --- stores ---------------------------------------------------------------------------


@contextmanager
def fresh_store(adapter: str, folder: Path, dsn: str | None) -> Iterator[SchoolStore]:
    """An empty, migrated store, removed again afterwards."""
    if adapter == "memory":
        yield InMemoryStore()
        return
    if adapter == "sqlite":
        path = folder / f"{uuid.uuid4().hex}.sqlite3"
        lite = SqliteStore(path)
        lite.migrate()
        try:
            yield lite
        finally:
            lite.close()
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()
        return
    assert adapter == "postgres" and dsn, adapter
    import psycopg

    from eduengine.adapters.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    pg = PostgresStore(dsn, schema=schema)
    pg.migrate()
    try:
        yield pg
    finally:
        pg.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


# --- measuring ------------------------------------------------------------------------


class Row(NamedTuple):
    operation: str
    adapter: str
    seconds: dict[int, float]

    @property
    def k(self) -> float:
        return growth(self.seconds)

    def verdict(self) -> str:
        missed = []
        if self.k > MAX_K:
            missed.append(f"k > {MAX_K}")
        at_aim = self.seconds.get(AIM_N)
        if self.adapter == "sqlite" and at_aim is not None and at_aim >= MAX_SECONDS:
            missed.append(f">= {MAX_SECONDS * 1000:.0f} ms")
        return "yes" if not missed else "NO (" + ", ".join(missed) + ")"


def growth(seconds: dict[int, float]) -> float:
    """The least-squares slope of log(time) over log(N)."""
    xs = [math.log(n) for n in seconds]
    ys = [math.log(t) for t in seconds.values()]
    if len(xs) < 2:
        return math.nan
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def median_time(op: Op) -> float:
    """Median seconds of ``REPS`` calls after ``WARMUP`` calls.

    The garbage collector is paused while timing, as ``timeit`` does: a full collection
    walks the whole heap, which holds the in-memory store, and would be charged to
    whichever call it happened to interrupt.
    """
    took = []
    gc.collect()
    gc.disable()
    try:
        for i in range(WARMUP + REPS):
            started = timer.perf_counter()
            op(i)
            took.append(timer.perf_counter() - started)
    finally:
        gc.enable()
    return statistics.median(took[WARMUP:])


def measure(
    adapters: Sequence[str],
    sizes: dict[str, list[int]],
    scenarios: Sequence[str],
    dsn: str | None,
) -> list[Row]:
    rows: dict[tuple[str, str], Row] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for adapter in adapters:
            for name in scenarios:
                for n in sizes[adapter]:
                    with fresh_store(adapter, Path(tmp), dsn) as store:
                        school = School.build(
                            store,
                            clock=FixedClock(T),
                            gateway=FakePaymentGateway(),
                            xp_rules=[LESSON_XP],
                        )
                        started = timer.perf_counter()
                        ops = SCENARIOS[name](school, Filler(store.unit_of_work, BATCH[adapter]), n)
                        filled = timer.perf_counter() - started
                        shown = []
                        for operation, op in ops:
                            row = rows.setdefault((operation, adapter), Row(operation, adapter, {}))
                            row.seconds[n] = median_time(op)
                            shown.append(f"{operation} {row.seconds[n] * 1000:.3f} ms")
                        print(
                            f"[{adapter} {name} N={n}: built in {filled:.1f} s] "
                            + "; ".join(shown),
                            file=sys.stderr,
                            flush=True,
                        )
    return list(rows.values())


def power(n: int) -> str:
    exponent = round(math.log10(n))
    return f"10^{exponent}" if 10**exponent == n else str(n)


def table(rows: Sequence[Row]) -> str:
    sizes = sorted({n for row in rows for n in row.seconds})
    head = ["operation", "adapter", *(f"t({power(n)})" for n in sizes), "k", "aim met?"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda r: (SCENARIO_ORDER[r.operation], ADAPTERS.index(r.adapter))):
        cells = [f"{row.seconds[n] * 1000:.3f} ms" if n in row.seconds else "—" for n in sizes]
        lines.append(
            "| "
            + " | ".join([row.operation, row.adapter, *cells, f"{row.k:.2f}", row.verdict()])
            + " |"
        )
    return "\n".join(lines)


SCENARIO_ORDER = {
    "reminders.due_reminders (none due)": 0,
    "deals.expire_due (none due)": 1,
    "levels.leaderboard().top(10)": 2,
    "levels.leaderboard().rank(middle)": 3,
    "levels.standings_around(middle)": 4,
    "availability.open_times (1 week)": 5,
    "availability.book": 6,
    "availability.cancel": 7,
    "pricing.checkout (coupon used N times)": 8,
    "booking.book (N slots)": 9,
    "booking.book (N seats in the slot)": 10,
}


def decades(top: int, *, bottom: int = 1000) -> list[int]:
    return [10**e for e in range(round(math.log10(bottom)), round(math.log10(top)) + 1)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="stop at N = 10^4")
    parser.add_argument("--tiny", action="store_true", help="N = 10 and 100 (a smoke test)")
    parser.add_argument("--max", type=int, default=100_000, help="largest N (a power of 10)")
    parser.add_argument("--pg-max", type=int, default=None, help="largest N on PostgreSQL")
    parser.add_argument("--dsn", default=os.environ.get("EDUENGINE_PG_DSN"))
    parser.add_argument(
        "--adapters", default="memory,sqlite,postgres", help="comma-separated adapters"
    )
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS)
    )
    args = parser.parse_args(argv)
    ns = [10, 100] if args.tiny else decades(10_000 if args.quick else args.max)
    adapters = [a for a in args.adapters.split(",") if a]
    if "postgres" in adapters and not args.dsn:
        print("postgres: skipped (no --dsn / EDUENGINE_PG_DSN)", file=sys.stderr)
        adapters.remove("postgres")
    sizes = {a: ns for a in adapters}
    if "postgres" in sizes and args.pg_max is not None:
        sizes["postgres"] = [n for n in ns if n <= args.pg_max]
    scenarios = [s for s in args.only.split(",") if s]
    for unknown in set(scenarios) - set(SCENARIOS) | set(adapters) - set(ADAPTERS):
        parser.error(f"unknown scenario or adapter {unknown!r}")
    rows = measure(adapters, sizes, scenarios, args.dsn)
    print(f"Time per call (median of {REPS} after {WARMUP} warm-up calls); time ~ N^k")
    print(table(rows))


if __name__ == "__main__":
    main()
