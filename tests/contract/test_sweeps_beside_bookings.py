"""A sweep and a report over 10^4 rows in one process never stall bookings in another.

The sweep (``due_reminders`` handing out 10,000 due reminders) changes its rows in short
batches, and the report (a leaderboard over 10,000 students) reads a snapshot, so a
booking process whose lock timeout is far shorter than the whole sweep never times out.
Runs on the SQL adapters (the in-memory adapter is one process; its store lock is
covered by the threaded tests).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from eduengine import FixedClock, School
from eduengine.booking.model import Slot
from eduengine.kernel.codec import micros
from eduengine.levels import LevelCurve, XpRule
from eduengine.levels.board import KIND as XP
from eduengine.reminders import ReminderPlan
from eduengine.reminders.service import schedule
from tests.adapters import PG_DSN, StoreHandle, reopen
from tests.conftest import T0
from tests.contract.test_multiprocess import needs_location

ROWS = 10_000
SPAWN = multiprocessing.get_context("spawn")


class _Store:
    def __init__(self, handle: StoreHandle) -> None:
        self.unit_of_work = handle.unit_of_work


def _school(handle: StoreHandle, clock: FixedClock) -> School:
    return School.build(
        _Store(handle),
        clock=clock,
        xp_rules=[XpRule(kind="lesson", points=10)],
        level_curve=LevelCurve.flat(100, 10),
    )


def _fill(handle: StoreHandle) -> str:
    """10^4 bookings' reminders due at T0 + 1 h and 10^4 students with XP, written in
    bulk the way the services file them; returns a slot to book."""
    school = _school(handle, FixedClock(T0))
    start = T0 + timedelta(days=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=50)
    template = Slot.create(
        slot_id="bulk", course_id="math", start=T0 + timedelta(hours=2),
        end=T0 + timedelta(hours=3), capacity=1,
    )  # fmt: skip
    plan = ReminderPlan(confirmation=False, offsets=(timedelta(hours=1),))
    for first in range(0, ROWS, 2_000):
        with handle.unit_of_work() as uow:
            for n in range(first, first + 2_000):
                schedule(uow, plan, f"bulk-{n:05d}", f"s{n:05d}", template, T0)
                uow.records.put(XP, f"s{n:05d}", {"xp": n % 977}, index={"xp": n % 977})
            uow.commit()
    return slot.id


def _sweep_and_report(name: str, location: str) -> dict[str, Any]:
    handle = reopen(name, location)
    try:
        school = _school(handle, FixedClock(T0 + timedelta(hours=1, minutes=1)))
        started = time.perf_counter()
        sent = len(school.reminders.due_reminders())
        swept = time.perf_counter() - started
        with handle.unit_of_work() as uow:  # a report: the top of a 10^4 board
            uow.read_only = True
            top = uow.records.scan(XP, "xp", descending=True, limit=10)
        return {"sent": sent, "seconds": swept, "top": len(top)}
    finally:
        handle.close()


def _impatient(name: str, location: str) -> School:
    """A school whose bookings give up after half a second of waiting for a lock: far
    shorter than the whole sweep, longer than one of its batches."""
    store: Any
    if name == "sqlite":
        from eduengine.adapters.sqlite import SqliteStore

        store = SqliteStore(location, lock_timeout=0.5)
    else:
        from eduengine.adapters.postgres import PostgresStore

        store = PostgresStore(PG_DSN or "", schema=location.rpartition("#")[2], lock_timeout=0.5)
    return School.build(store, clock=FixedClock(T0))


def _book_meanwhile(name: str, location: str, slot_id: str) -> dict[str, Any]:
    school = _impatient(name, location)
    school.booking.get_slot(slot_id)  # connect first: the lock timeout is for locks
    slowest, booked = 0.0, 0
    for n in range(40):
        started = time.perf_counter()
        school.booking.book(slot_id, f"walk-in-{n}")  # a LockTimeout would raise here
        slowest = max(slowest, time.perf_counter() - started)
        booked += 1
        time.sleep(0.02)
    return {"booked": booked, "slowest": slowest}


def test_bookings_go_on_while_a_sweep_and_a_report_run_over_ten_thousand_rows(
    store: StoreHandle,
) -> None:
    location = needs_location(store)
    slot_id = _fill(store)
    with ProcessPoolExecutor(2, mp_context=SPAWN) as pool:
        sweeping = pool.submit(_sweep_and_report, store.name, location)
        booking = pool.submit(_book_meanwhile, store.name, location, slot_id)
        swept, booked = sweeping.result(timeout=600), booking.result(timeout=600)
    assert swept["sent"] >= ROWS and swept["top"] == 10
    assert booked["booked"] == 40
    with store.unit_of_work() as uow:
        # a booking's reminders live in its class document of the notices
        left = uow.records.scan("notice", "reminder_due", hi=micros(T0 + timedelta(hours=2)))
        assert [key for key, _ in left if key.startswith("class:bulk-")] == []
