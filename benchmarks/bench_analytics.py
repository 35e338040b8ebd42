"""Every dashboard query at school scale on SQLite, beside a naive recomputation.

    .venv/bin/python benchmarks/bench_analytics.py [--bookings 1000000] [--students 100000]
        [--tiny]

**Seeding (the fast path).** Running a million bookings through the services would take
most of an hour, so the school's history is generated as events (a year of timetable:
100 courses, 40 tutors, sessions of 12 seats at the school's busy hours; bookings with
lead times, cancellations with reasons, attendance; students registering, trying,
buying, renewing and churning; group deals) and each event is handed to the **real
projection rules** (``eduengine.analytics.projection``) over an in-memory stand-in for
the unit of work; the counter documents they produce are then written to SQLite with
``records.put`` in units of work of 10^4 documents, with the index entries the rules
gave them. So the store holds exactly the documents a school that lived that year
would hold, and the queries read them through the adapter as in production.

**Naive recomputation.** Beside each query, the same figure recounted from the full
history held in memory (one pass over every booking, student or group), which is the
least any "scan everything" report costs before it even reads a disk.

The dashboard's period is a week and a month (in Asia/Shanghai); every query is timed
as the median of 5 calls after 2 warm-up calls.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time as timer
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.analytics import Period
from eduengine.analytics import projection as pj
from eduengine.booking import events as ev
from eduengine.deals import GroupFailed, GroupFormed, GroupOpened, MemberJoined
from eduengine.deals.records import CAMPAIGNS, GROUPS
from eduengine.pricing import Money
from eduengine.students import records as rec

ZONE = "Asia/Shanghai"
YEAR = datetime(2025, 9, 1, tzinfo=UTC)
HOURS = (1, 2, 3, 10, 11, 12, 13)  # 09:00-11:00 and 18:00-21:00 in Beijing
REASONS = ("sick", "schedule_conflict", "travel", "price", None)


@attrs.define
class FakeSlot:
    course_id: str
    tutor_id: str | None
    start: datetime


class FastRecords:
    """The record port over plain dicts (no copies, no locks): for seeding only."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], tuple[dict[str, Any], dict[str, int] | None]] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        found = self.docs.get((kind, key))
        return None if found is None else found[0]

    def put(self, kind: str, key: str, data: dict[str, Any], *, index: Any = None) -> None:
        self.docs[kind, key] = (data, dict(index) if index else None)


class FastSlots:
    def __init__(self) -> None:
        self.slots: dict[str, FakeSlot] = {}

    def get(self, slot_id: str) -> FakeSlot:
        return self.slots[slot_id]


class FastUow:
    def __init__(self) -> None:
        self.records = FastRecords()
        self.slots = FastSlots()
        self.rules = pj.analytics_rules()

    def apply(self, event: ev.DomainEvent) -> None:
        for handler in self.rules.get(type(event), ()):
            handler(event, self)  # type: ignore[arg-type]
        pj.flush(self)  # type: ignore[arg-type]


@attrs.define
class History:
    """What the naive side recounts: the raw facts, as a scan-everything report sees them."""

    slots: dict[str, FakeSlot] = attrs.field(factory=dict)
    capacity: dict[str, int] = attrs.field(factory=dict)
    #: (slot, student, booked at, status)
    bookings: list[tuple[str, str, datetime, str]] = attrs.field(factory=list)
    cancels: list[tuple[str, datetime, str]] = attrs.field(factory=list)
    registered: dict[str, datetime] = attrs.field(factory=dict)
    stages: list[tuple[str, str, datetime, str | None]] = attrs.field(factory=list)
    groups: list[tuple[str, str, str, datetime, str]] = attrs.field(factory=list)


def generate(bookings: int, students: int, rng: random.Random) -> Iterator[ev.DomainEvent]:
    """A year of a school, as events, in roughly time order per kind."""
    history = HISTORY
    sids = [f"s{i:06d}" for i in range(students)]
    for n, sid in enumerate(sids):
        at = YEAR + timedelta(seconds=int(n * 365 * 86400 / students))
        history.registered[sid] = at
        yield rec.StudentRegistered(occurred_at=at, student_id=sid)
        path = ["trial"] * (rng.random() < 0.6)
        if path and rng.random() < 0.5:
            path.append("first_purchase")
            if rng.random() < 0.4:
                path.append("renewed")
        if rng.random() < 0.15:
            path.append("churned")
        previous = "registered"
        for i, stage in enumerate(path):
            when = at + timedelta(days=3 * (i + 1))
            code = rng.choice(REASONS) if stage == "churned" else None
            history.stages.append((sid, stage, when, code))
            yield rec.StageChanged(
                occurred_at=when,
                student_id=sid,
                stage=stage,
                previous=previous,
                reason="bench",
                reason_code=code,
            )
            previous = stage
    seats = 12
    sessions = bookings // 10 + 1
    for n in range(sessions):
        day = YEAR + timedelta(days=int(n * 365 / sessions))
        start = day.replace(hour=HOURS[n % len(HOURS)])
        sid = f"slot{n:07d}"
        slot = FakeSlot(f"course{n % 100:03d}", f"tutor{n % 40:02d}", start)
        history.slots[sid] = slot
        history.capacity[sid] = seats
        UOW.slots.slots[sid] = slot
        yield ev.SlotCreated(
            occurred_at=start - timedelta(days=14),
            slot_id=sid,
            capacity=seats,
            seats_left=seats,
            course_id=slot.course_id,
            start=start,
            end=start + timedelta(hours=1),
            tutor_id=slot.tutor_id,
        )
        for b in range(10):
            student = sids[rng.randrange(students)]
            at = start - timedelta(hours=rng.randint(2, 240))
            left = seats - b - 1
            yield ev.SeatBooked(
                occurred_at=at,
                booking_id=f"{sid}-{b}",
                student_id=student,
                slot_id=sid,
                capacity=seats,
                seats_left=left,
            )
            if rng.random() < 0.1:
                code = rng.choice(REASONS)
                history.cancels.append((sid, at + timedelta(hours=1), code or "unspecified"))
                history.bookings.append((sid, student, at, "cancelled"))
                yield ev.SeatReleased(
                    occurred_at=at + timedelta(hours=1),
                    booking_id=f"{sid}-{b}",
                    student_id=student,
                    reason_code=code,
                    slot_id=sid,
                    capacity=seats,
                    seats_left=left,
                )
                continue
            status = "attended" if rng.random() < 0.88 else "no_show"
            history.bookings.append((sid, student, at, status))
            yield ev.AttendanceMarked(
                occurred_at=start + timedelta(minutes=5),
                booking_id=f"{sid}-{b}",
                student_id=student,
                status=status,
                slot_id=sid,
                capacity=seats,
                seats_left=left,
            )
    price = Money("199", "CNY")
    for g in range(students // 5):
        opened = YEAR + timedelta(seconds=int(g * 365 * 86400 / (students // 5)))
        gid, campaign = f"g{g:06d}", f"camp{g % 12}"
        opener = sids[rng.randrange(students)]
        UOW.records.put(
            GROUPS,
            gid,
            {"campaign_id": campaign, "initiator": opener, "opened_at": opened.isoformat()},
        )
        UOW.records.put(CAMPAIGNS, campaign, {"course_id": f"course{g % 12:03d}"})
        yield GroupOpened(
            occurred_at=opened,
            group_id=gid,
            campaign_id=campaign,
            initiator=opener,
            share_code="",
            deadline=opened,
            course_id=f"course{g % 12:03d}",
        )
        joined = rng.randint(0, 3)
        for m in range(joined + 1):
            yield MemberJoined(
                occurred_at=opened,
                group_id=gid,
                student_id=opener if m == 0 else sids[rng.randrange(students)],
                amount=price,
                members=m + 1,
                still_needed=0,
                seconds_left=0,
                new_student=m > 0 and rng.random() < 0.3,
                is_initiator=m == 0,
            )
        state = "formed" if joined >= 2 else rng.choice(["failed", "failed", "cancelled", "open"])
        history.groups.append((gid, campaign, opener, opened, state))
        if state == "formed":
            yield GroupFormed(occurred_at=opened, group_id=gid, members=(), forced=False)
        elif state != "open":
            yield GroupFailed(
                occurred_at=opened, group_id=gid, members=(), cancelled=state == "cancelled"
            )


HISTORY = History()
UOW = FastUow()


def seed(path: Path, bookings: int, students: int) -> tuple[SqliteStore, int]:
    rng = random.Random(16)
    for event in generate(bookings, students, rng):
        UOW.apply(event)
    store = SqliteStore(path)
    store.migrate()
    # what the queries read (the students' numbers and the erased markers are read only
    # for days counted before the bitmaps, and for erased openers: none here)
    kinds = (pj.COUNTERS, pj.ACTIVE_DAYS, pj.ACTIVE_BITS, pj.PROFILES, pj.ERASED)
    docs = [(k, key, d, i) for (k, key), (d, i) in UOW.records.docs.items() if k in kinds]
    for n in range(0, len(docs), 10_000):
        with store.unit_of_work() as uow:
            for kind, key, data, index in docs[n : n + 10_000]:
                uow.records.put(kind, key, data, index=index)
            uow.commit()
    return store, len(docs)


def inside(at: datetime, period: Period) -> bool:
    return period.start <= at < period.end


def naive_fill(period: Period) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sid, slot in HISTORY.slots.items():
        if inside(slot.start, period):
            out[slot.course_id][1] += HISTORY.capacity[sid]
    for sid, _, _, status in HISTORY.bookings:
        slot = HISTORY.slots[sid]
        if status != "cancelled" and inside(slot.start, period):
            out[slot.course_id][0] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def naive_groups(period: Period) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for _, campaign, _, opened, state in HISTORY.groups:
        if inside(opened, period) and state == "formed":
            out[campaign] += 1
    return out


def naive_active(period: Period) -> int:
    return len({s for _, s, at, _ in HISTORY.bookings if inside(at, period)})


def naive_funnel(period: Period) -> int:
    cohort = {s for s, at in HISTORY.registered.items() if inside(at, period)}
    return sum(1 for s, stage, _, _ in HISTORY.stages if s in cohort and stage == "trial")


def naive_cancels(period: Period) -> int:
    return sum(1 for _, at, _ in HISTORY.cancels if inside(at, period))


def median_ms(call: Callable[[], object], runs: int = 5) -> float:
    for _ in range(2):
        call()
    times = []
    for _ in range(runs):
        t = timer.perf_counter()
        call()
        times.append(timer.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--tiny", action="store_true", help="10^3 bookings, 10^2 students")
    args = parser.parse_args(argv)
    bookings, students = (1_000, 100) if args.tiny else (args.bookings, args.students)
    global HISTORY, UOW
    HISTORY, UOW = History(), FastUow()
    with tempfile.TemporaryDirectory() as tmp:
        started = timer.perf_counter()
        store, docs = seed(Path(tmp) / "bench.sqlite3", bookings, students)
        seeded = timer.perf_counter() - started
        print(
            f"seeded {bookings:,} bookings, {students:,} students: {docs:,} documents "
            f"in {seeded:.1f} s"
        )
        school = School.build(store, clock=FixedClock(YEAR + timedelta(days=300)))
        a = school.analytics
        week = Period.week(date(2026, 3, 2), ZONE)
        month = Period.month(2026, 3, ZONE)
        naive: dict[str, Callable[[], object]] = {
            "fill": lambda: naive_fill(month),
            "groups": lambda: naive_groups(month),
            "active": lambda: naive_active(week),
            "funnel": lambda: naive_funnel(month),
            "cancels": lambda: naive_cancels(month),
        }
        queries: list[tuple[str, Callable[[], object], str]] = []
        for name, period in (("week", week), ("month", month)):
            for by in ("course", "tutor", "weekday", "hour", "weekday_hour"):
                queries.append(
                    (f"fill_rate {name} by {by}", partial(a.fill_rate, period, by=by), "fill")
                )
            queries += [
                (f"attendance {name} by course", partial(a.attendance, period), "fill"),
                (f"peak_hours {name}", partial(a.peak_hours, period), "fill"),
                (f"popular_courses {name}", partial(a.popular_courses, period), "fill"),
                (f"popular_tutors {name}", partial(a.popular_tutors, period), "fill"),
                (
                    f"cancellation_reasons {name}",
                    partial(a.cancellation_reasons, period),
                    "cancels",
                ),
                (f"lead_time {name}", partial(a.lead_time, period), "fill"),
            ]
            for by in ("course", "campaign", "opener"):
                queries.append(
                    (
                        f"group_metrics {name} by {by}",
                        partial(a.group_metrics, period, by=by),
                        "groups",
                    )
                )
            queries += [
                (f"new_students {name}", partial(a.new_students, period), "funnel"),
                (f"active_students {name}", partial(a.active_students, period), "active"),
                (f"renewal_rate {name}", partial(a.renewal_rate, period), "funnel"),
                (f"referral_rate {name}", partial(a.referral_rate, period), "funnel"),
                (f"funnel {name} cohort", partial(a.funnel, period), "funnel"),
                (f"churn_reasons {name}", partial(a.churn_reasons, period), "funnel"),
                (f"stage_moves {name}", partial(a.stage_moves, period), "funnel"),
            ]
        queries.append(("segments (now)", a.segments, "funnel"))
        naive_ms = {k: median_ms(f, runs=3) for k, f in naive.items()}
        print("| query | SQLite | naive recount (in memory) |")
        print("|---|---|---|")
        for label, call, kind in queries:
            print(f"| {label} | {median_ms(call):.3f} ms | {naive_ms[kind]:.3f} ms |")
        store.close()


if __name__ == "__main__":
    main()
