"""A school's reactions (notices, reminders, lifecycle, analytics) run from the feed after
commit: a worker killed after the seat committed and before its reactions ran loses
none and repeats none once the school catches up, on every adapter (issue #22)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest

from eduengine import BookingService, FixedClock, InMemoryStore, School, store_from_url
from eduengine.analytics import Period
from eduengine.events import projections as projections_module
from eduengine.events.projections import Projection
from eduengine.kernel.envelope import Envelope
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import PG_DSN, SEAL, SQLITE_KEYS, StoreHandle, each_once
from tests.conftest import T0

SPAWN = multiprocessing.get_context("spawn")
START = T0 + timedelta(days=2)
WEEK = Period.week(date(2026, 3, 2), "UTC")
#: reminders are notices: the notices projection plans a seat's reminders with its notices
REACTIONS = [
    "notices",
    "lifecycle",
    "analytics",
    "community",
    "community_metrics",
    "learning_archive",
    "growth",
    "desk",
    "desk_notices",
    "milestones",
    "learning_mastery",
    "learning_analytics",
    "learning_progress",
    "segments",
    "journeys",
    "referral_clawback",
]


def _lesson(school: School) -> str:
    """Ann registers; a lesson in two days."""
    school.students.register("ann", name="Ann")
    return school.booking.create_slot("math", START, START + timedelta(hours=1), capacity=3).id


def _book(school: School) -> str:
    """Ann books the lesson: every reaction has work to do."""
    return school.booking.book(_lesson(school), "ann").id


def _reacted_once(school: School, store: StoreHandle, booking_id: str) -> None:
    """One confirmation, one set of reminders, each counter counted once."""
    # one class document holds the confirmation and the three reminders, listed once at
    # the step it is at
    assert [n.template for n in school.notices.for_student("ann", actor=SYSTEM)] == [
        "booking_confirmed"
    ]
    for label in ("1d", "1h", "15m"):
        reminder = f"class_reminder:{booking_id}:{label}:ann"
        assert school.notices.states(reminder) == {"in_app": "pending"}
    assert [r.kind for r in school.reminders.pending(booking_id, actor=SYSTEM)] == [
        "confirmation",
        "before:1d",
        "before:1h",
        "before:15m",
    ]
    assert [(r.key, r.booked) for r in school.analytics.fill_rate(WEEK)] == [("math", 1)]
    assert [r.count for r in school.analytics.peak_hours(WEEK)] == [1]  # bookings made
    assert school.analytics.active_students(WEEK) == 1
    with store.unit_of_work() as uow:
        facts = uow.records.get("student", "ann")
    assert facts is not None and facts["facts"]["last_active"] is not None  # lifecycle


def _not_reacted(school: School, booking_id: str) -> None:
    assert school.notices.for_student("ann", actor=SYSTEM) == []
    assert school.reminders.pending(booking_id, actor=SYSTEM) == []
    assert sum(r.booked for r in school.analytics.fill_rate(WEEK)) == 0


def test_a_school_without_inline_projections_reacts_once_when_it_catches_up(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    booking_id = _book(School.build(store, clock=clock, inline_projections=False))
    restarted = School.build(store, clock=clock, inline_projections=False)
    _not_reacted(restarted, booking_id)
    assert restarted.periodic_jobs()["projections"]() > 0  # what run-due does
    _reacted_once(restarted, store, booking_id)
    assert dict(restarted.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    _reacted_once(restarted, store, booking_id)
    assert set(restarted.projections.checkpoints().values()) == {restarted.feed.head()}


def test_inline_projections_react_before_the_command_returns(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0))
    booking_id = _book(school)
    _reacted_once(school, store, booking_id)
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    _reacted_once(school, store, booking_id)


def test_a_reaction_that_fails_inline_holds_back_only_itself_and_catches_up_later(
    store: StoreHandle,
) -> None:
    school = School.build(store, clock=FixedClock(T0))
    real = school.projections.projections["notices"]
    broken = True

    def flaky(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        if broken:
            raise RuntimeError("the notice templates are being deployed")
        real.apply(uow, envelopes)

    school.projections.projections["notices"] = Projection("notices", flaky, events=real.events)
    booking_id = _book(school)  # the command commits: a reaction never refuses it
    assert sum(r.booked for r in school.analytics.fill_rate(WEEK)) == 1  # the others ran
    assert school.notices.for_student("ann", actor=SYSTEM) == []
    assert (
        school.reminders.pending(booking_id, actor=SYSTEM) == []
    )  # reminders are notices: held back too
    broken = False
    report = school.projections.catch_up()
    assert report.ok and report["notices"] > 0
    _reacted_once(school, store, booking_id)


def _url(store: StoreHandle) -> str:
    assert store.location is not None
    # the keys the harness made the store with (tests/adapters.py)
    if store.name == "sqlite":
        return f"sqlite:///{store.location}?keys={SQLITE_KEYS}"
    dsn, _, schema = store.location.rpartition("#")
    keys = f"local:{tempfile.gettempdir()}/eduengine-{schema}.keys" if SEAL else "off"
    return f"{dsn}?schema={schema}&keys={keys}"


def _paused(ready: Any) -> Callable[..., Any]:
    def pause(*args: Any, **kwargs: Any) -> Any:
        ready.set()
        signal.pause()  # SIGKILLed here

    return pause


def _killed_after_the_commit(url: str, ready: Any) -> None:
    school = School.build(store_from_url(url), clock=FixedClock(T0))
    slot_id = _lesson(school)
    # the seat commits, then the process dies before its reactions run
    school.projections.after_commit = _paused(ready)  # type: ignore[method-assign]
    school.booking.book(slot_id, "ann")


def _killed_while_reacting(url: str, ready: Any) -> None:
    school = School.build(store_from_url(url), clock=FixedClock(T0))
    slot_id = _lesson(school)
    runner = school.projections
    real = runner.projections["analytics"]

    def dies(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        real.apply(uow, envelopes)
        _paused(ready)()  # the reactions written, not committed

    runner.projections["analytics"] = Projection("analytics", dies, events=real.events)
    school.booking.book(slot_id, "ann")


@pytest.mark.parametrize("child", [_killed_after_the_commit, _killed_while_reacting])
def test_a_worker_sigkilled_after_the_seat_committed_reacts_once_after_restart(
    store: StoreHandle, child: Callable[[str, Any], None]
) -> None:
    if store.location is None:
        pytest.skip("the in-memory adapter lives in one process (see the tests above)")
    if store.name == "postgres":
        assert PG_DSN
    ready = SPAWN.Event()
    process = SPAWN.Process(target=child, args=(_url(store), ready))
    process.start()
    assert ready.wait(60), "the child never got to where it is killed"
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    restarted = School.build(store, clock=FixedClock(T0), inline_projections=False)
    with store.unit_of_work() as uow:
        [seat] = uow.bookings.for_student("ann")  # the seat did commit
    booking_id = seat.id
    _not_reacted(restarted, booking_id)
    report = restarted.projections.catch_up()
    assert report.ok
    _reacted_once(restarted, store, booking_id)
    assert dict(restarted.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    _reacted_once(restarted, store, booking_id)


def test_rules_show_what_runs_in_the_unit_of_work_and_what_reacts_after_commit() -> None:
    table = School.build(InMemoryStore()).rules()
    assert list(table) == ["rules", *[f"projection {name}" for name in REACTIONS]]
    rules = dict(table["rules"])
    assert rules["SeatBooked"] == [
        "booking.handlers.enforce_seat_guards",
        "students.handlers.consume_course_credit",
    ]
    in_the_command = {handler for handlers in rules.values() for handler in handlers}
    assert not any(
        package in handler
        for handler in in_the_command
        for package in ("reminders.", "notices.", "analytics.", "mark_lesson_activity")
    )
    # one notice system: the seat's notices and reminders are planned by one handler
    assert dict(table["projection notices"])["SeatBooked"] == ["notices.handlers.on_seat_taken"]
    without_notices = School.build(InMemoryStore(), notices=None).rules()
    assert dict(without_notices["projection reminders"])["SeatBooked"] == [
        "notices.handlers.plan_reminders"
    ]
    assert dict(table["projection lifecycle"])["AttendanceMarked"] == [
        "students.handlers.mark_lesson_activity"
    ]


def test_a_store_whose_reactions_ran_in_its_commands_is_not_replayed(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    booking_id = _book(school)
    school.close()
    with store.unit_of_work() as uow:  # a store written before 0.3 has no checkpoints
        for name in REACTIONS:
            uow.records.delete("projection_checkpoint", name)
        uow.commit()
    upgraded = School.build(store, clock=clock)
    assert set(upgraded.projections.checkpoints().values()) == {upgraded.feed.head()}
    assert dict(upgraded.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    _reacted_once(upgraded, store, booking_id)


class Counted:
    """A store that counts the units of work and feed reads asked of it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.units = 0
        self.reads = 0

    def unit_of_work(self, read_only: bool = False) -> UnitOfWork:
        self.units += 1
        uow: UnitOfWork = self.store.unit_of_work(read_only=read_only)
        return uow

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        self.reads += 1
        rows: list[tuple[int, str]] = self.store.read_feed(after, limit)
        return rows

    def feed_head(self) -> int:
        return int(self.store.feed_head())

    def prune_feed(self, before_us: int, limit: int) -> int:
        return int(self.store.prune_feed(before_us, limit))


def test_a_bookings_reactions_take_one_unit_of_work_and_no_feed_read(
    store: StoreHandle,
) -> None:
    counted = Counted(store.store)
    school = School.build(counted, clock=FixedClock(T0), reaction_batch=1)
    slot_id = _lesson(school)
    counted.units = counted.reads = 0
    booking_id = school.booking.book(slot_id, "ann").id
    # the booking's, then all four reactions'; the store said where the booking's events
    # went in the feed, so nothing is read back
    assert (counted.units, counted.reads) == (2, 0)
    _reacted_once(school, store, booking_id)
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)


def test_a_booking_after_another_processs_commit_reads_the_feed_and_reacts_to_both(
    store: StoreHandle,
) -> None:
    counted = Counted(store.store)
    school = School.build(counted, clock=FixedClock(T0), reaction_batch=1)
    slot_id = _lesson(school)
    school.booking.book(slot_id, "cat")
    # another process books (it runs no reactions): its commit lies between what this
    # school's reactions have seen and its next booking
    elsewhere = BookingService(store.unit_of_work, clock=FixedClock(T0))
    elsewhere.book(slot_id, "bob")
    counted.units = counted.reads = 0
    booking_id = school.booking.book(slot_id, "ann").id
    assert (counted.units, counted.reads) == (2, 1)
    # each booking counted once, the other process's too
    assert [(r.key, r.booked) for r in school.analytics.fill_rate(WEEK)] == [("math", 3)]
    for student in ("cat", "bob", "ann"):
        # one class document each: the confirmation first, its reminders after
        assert [n.template for n in school.notices.for_student(student, actor=SYSTEM)] == [
            "booking_confirmed"
        ]
    assert len(school.reminders.pending(booking_id, actor=SYSTEM)) == 4
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)


def test_a_booking_costs_nothing_for_the_projections_it_gives_no_work(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=1)
    slot_id = _lesson(school)
    booked = {"booking.seat_booked", "reminders.scheduled"}
    busy = {name for name, types in school.projections.table() if booked & set(types)}
    idle = set(REACTIONS) - busy
    # segments: a booking is activity, which moves a student's inactivity tags
    assert busy == {"notices", "lifecycle", "analytics", "segments"}
    assert idle and len(idle) == len(REACTIONS) - len(busy)
    before = school.projections.checkpoints()
    read: list[str] = []
    real = projections_module._read_checkpoints

    def spy(uow: UnitOfWork, names: Any) -> dict[str, int | None]:
        names = list(names)
        read.extend(names)
        return real(uow, names)

    monkeypatch.setattr(projections_module, "_read_checkpoints", spy)
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    booking_id = school.booking.book(slot_id, "ann").id
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
    # no checkpoint of an idle projection is read or written: they stay where they were
    assert set(read) == busy
    after = school.projections.checkpoints()
    assert {n: after[n] for n in idle} == {n: before[n] for n in idle}
    assert all(after[n] > before[n] for n in busy)
    assert not [s for s in statements for n in idle if f"'{n}'" in s]
    monkeypatch.undo()
    _reacted_once(school, store, booking_id)
    # a restart (another process, reactions off): what lagged is read again, and nothing
    # is applied twice or lost
    restarted = School.build(store, clock=FixedClock(T0), inline_projections=False)
    assert dict(restarted.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    assert set(restarted.projections.checkpoints().values()) == {school.feed.head()}
    _reacted_once(restarted, store, booking_id)


def test_a_rush_caught_up_reads_the_seats_documents_per_batch_and_plans_the_same(
    store: StoreHandle,
) -> None:
    school = School.build(store, clock=FixedClock(T0), inline_projections=False)
    slot_id = school.booking.create_slot("math", START, START + timedelta(hours=1), 20).id
    students = [f"s{n}" for n in range(6)]
    for student in students[:3]:
        school.students.register(student, name=student.upper())
    school.notices.set_preferences("s1", zone="Asia/Shanghai")
    seats = {student: school.booking.book(slot_id, student).id for student in students}
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    assert school.projections.catch_up().ok
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
        # one query per kind for the batch (read ahead), none per seat
        point = [s for s in statements if s.startswith(("SELECT data", "SELECT r.data"))]
        assert not [s for s in point if "'student'" in s or "'notice_prefs'" in s], point
    for student, booking_id in seats.items():
        assert [n.template for n in school.notices.for_student(student, actor=SYSTEM)] == [
            "booking_confirmed"
        ]
        assert len(school.reminders.pending(booking_id, actor=SYSTEM)) == 4
    [confirmed] = school.notices.for_student("s1", actor=SYSTEM)
    assert confirmed.context["start"].endswith("+08:00")  # s1's own zone, read ahead
    assert school.projections.catch_up() == dict.fromkeys(REACTIONS, 0)


def test_a_bookings_reactions_write_their_checkpoints_at_once_and_rewrite_no_index_entry(
    store: StoreHandle,
) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=1)
    slot_id = _lesson(school)
    school.booking.book(slot_id, "cat")  # the counters and active day exist from here on
    statements: list[str] = []
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(statements.append)
    booking_id = school.booking.book(slot_id, "ann").id
    if store.name == "sqlite":
        store.store.connection().set_trace_callback(None)
        after = statements[statements.index("COMMIT") + 1 :]
        checkpoints = [
            s
            for s in after
            if s.startswith("INSERT INTO records") and "'projection_checkpoint'" in s
        ]
        # notices, lifecycle, analytics and segments move in one statement
        assert len(checkpoints) == 1, checkpoints
        # the counters (and the student's documents) keep their index entries: nothing
        # cleared, no counter's filed again
        assert not [s for s in after if s.startswith("DELETE FROM record_index")], after
        assert not [s for s in after if "INSERT INTO record_index" in s and "_counter" in s]
        # each kind of analytics document read in one query
        assert not [s for s in after if s.startswith("SELECT data") and "analytics_c" in s]
        # a sealing store reads the student's data key once (her name is in the notice)
        keys = [s for s in after if s.startswith("SELECT data FROM records") and "'data_key'" in s]
        assert len(keys) <= 1, keys
        # 30 before the active-student bitmaps, which number a student the first time she
        # is active (her number and the shard's sequence: three more statements)
        assert len(after) - len(keys) <= 34, "\n".join(after)
    assert [(r.key, r.booked) for r in school.analytics.fill_rate(WEEK)] == [("math", 2)]
    assert school.analytics.active_students(WEEK) == 2
    assert [r.count for r in school.analytics.peak_hours(WEEK)] == [2]
    _reacted_once_more(school, booking_id)
    restarted = School.build(store, clock=FixedClock(T0), inline_projections=False)
    assert dict(restarted.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    assert set(restarted.projections.checkpoints().values()) == {school.feed.head()}


def _reacted_once_more(school: School, booking_id: str) -> None:
    assert [n.template for n in school.notices.for_student("ann", actor=SYSTEM)] == [
        "booking_confirmed"
    ]
    assert len(school.reminders.pending(booking_id, actor=SYSTEM)) == 4



def test_a_batch_of_reactions_costs_the_same_statements_for_three_seats_or_twelve(
    store: StoreHandle,
) -> None:
    """Each handler's reads are read ahead for the batch and its writes held back to a
    few multi-row statements: a catch-up's statements do not grow with its seats, and it
    plans and counts what it did seat by seat."""
    counted: dict[int, list[str]] = {}
    for rush, seats in enumerate((3, 12)):
        school = School.build(store, clock=FixedClock(T0), inline_projections=False)
        course = f"course{rush}"
        slots = [
            school.booking.create_slot(course, START, START + timedelta(hours=1), 20).id
            for _ in range(4)
        ]
        students = [f"r{rush}s{n}" for n in range(seats)]
        for student in students[1::2]:  # half of them registered (names to seal)
            school.students.register(student, name=student.upper())
        assert school.projections.catch_up().ok  # the slots' and students' reactions
        booked = {s: school.booking.book(slots[n % 4], s).id for n, s in enumerate(students)}
        statements: list[str] = []
        if store.name == "sqlite":
            store.store.connection().set_trace_callback(statements.append)
        assert school.projections.catch_up().ok
        if store.name == "sqlite":
            store.store.connection().set_trace_callback(None)
        counted[seats] = each_once(statements)
        for student, booking_id in booked.items():
            assert [n.template for n in school.notices.for_student(student, actor=SYSTEM)] == [
                "booking_confirmed"
            ]
            assert len(school.reminders.pending(booking_id, actor=SYSTEM)) == 4
        [row] = [r for r in school.analytics.fill_rate(WEEK) if r.key == course]
        assert row.booked == seats
        assert school.projections.catch_up() == dict.fromkeys(REACTIONS, 0)
    if store.name == "sqlite":
        assert len(counted[12]) == len(counted[3]), "\n".join(counted[12])
        # no statement per seat: 12 seats in a handful of reads and multi-row writes
        assert len(counted[12]) <= 30, "\n".join(counted[12])
