"""A school applies the reactions of several commands together (``reaction_batch``):
what a process reads through the school is as if each command had applied its own, the
raw store catches up when the batch is full, at close, at exit and at ``run-due``, and
every event is applied once however the commands, reads and flushes interleave."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock, InMemoryStore, School, store_from_url
from eduengine.errors import InvalidInput, InvalidSetting
from eduengine.events.projections import flush_deferred
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0
from tests.projections.test_school_reactions import REACTIONS, WEEK, _url

SPAWN = multiprocessing.get_context("spawn")
START = T0 + timedelta(days=2)
LONG = timedelta(hours=1)


def _slot(school: School, capacity: int = 50) -> str:
    """A lesson in two days; its creation's reactions applied."""
    slot_id = school.booking.create_slot("math", START, START + timedelta(hours=1), capacity).id
    school.projections.flush()
    return slot_id


def _notices_stored(store: Any) -> int:
    """Notice documents in the store, read past the school (no reaction is applied)."""
    with store.unit_of_work() as uow:
        return len(list(uow.records.list("notice")))


def _booked_counted(school: School) -> int:
    return sum(r.booked for r in school.analytics.fill_rate(WEEK))


def test_reactions_wait_for_their_batch_and_a_read_through_the_school_applies_them_first(
    store: StoreHandle,
) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=50, reaction_wait=LONG)
    slot_id = _slot(school)
    seats = [school.booking.book(slot_id, f"s{n}").id for n in range(3)]
    assert school.projections.deferred == 3  # one SeatBooked each, none applied yet
    assert _notices_stored(store) == 0
    # the read applies the batch before it opens its unit of work
    assert [n.template for n in school.notices.for_student("s1", actor=SYSTEM)] == [
        "booking_confirmed"
    ]
    assert school.projections.deferred == 0
    assert _notices_stored(store) == 3
    assert _booked_counted(school) == 3
    for seat in seats:
        assert len(school.reminders.pending(seat, actor=SYSTEM)) == 4
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)


def test_a_full_batch_is_applied_by_the_command_that_fills_it(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=4, reaction_wait=LONG)
    slot_id = _slot(school)
    for n in range(3):
        school.booking.book(slot_id, f"s{n}")
    assert _notices_stored(store) == 0
    school.booking.book(slot_id, "s3")  # the fourth event: the batch is applied
    assert school.projections.deferred == 0
    assert _notices_stored(store) == 4
    school.booking.book(slot_id, "s4")
    assert _notices_stored(store) == 4
    assert school.projections.deferred == 1


class NoTimer:
    """A timer that never fires: only the commands' own clock checks remain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.daemon = True

    def start(self) -> None:
        pass


def test_the_first_command_after_the_wait_applies_the_batch(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threading, "Timer", NoTimer)
    wait = timedelta(milliseconds=30)
    school = School.build(store, clock=FixedClock(T0), reaction_batch=100, reaction_wait=wait)
    slot_id = _slot(school)
    school.booking.book(slot_id, "s0")
    assert _notices_stored(store) == 0
    time.sleep(wait.total_seconds() * 2)
    school.booking.book(slot_id, "s1")  # the oldest waited long enough
    assert _notices_stored(store) == 2
    assert school.projections.deferred == 0


def test_with_no_next_command_a_timer_applies_the_batch_after_the_wait(
    store: StoreHandle,
) -> None:
    wait = timedelta(milliseconds=50)
    school = School.build(store, clock=FixedClock(T0), reaction_batch=100, reaction_wait=wait)
    slot_id = _slot(school)
    school.booking.book(slot_id, "s0")
    school.booking.book(slot_id, "s1")
    deadline = time.monotonic() + 30
    while _notices_stored(store) < 2 and time.monotonic() < deadline:
        time.sleep(wait.total_seconds())
    assert _notices_stored(store) == 2  # no read, no command, no close: the timer did
    assert school.projections.deferred == 0


def test_reaction_batch_one_applies_each_commands_reactions_before_it_returns(
    store: StoreHandle,
) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=1)
    slot_id = _slot(school)
    school.booking.book(slot_id, "s0")
    assert _notices_stored(store) == 1
    assert school.projections.deferred == 0


def test_close_and_flush_deferred_apply_what_waits(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=50, reaction_wait=LONG)
    other = School.build(store, clock=FixedClock(T0), reaction_batch=50, reaction_wait=LONG)
    slot_id = _slot(school)
    school.booking.book(slot_id, "s0")
    school.close()
    assert _notices_stored(store) == 1
    other.booking.book(slot_id, "s1")
    school.booking.book(slot_id, "s2")
    assert flush_deferred() >= 2 * len({"notices", "lifecycle", "analytics", "segments"})
    assert _notices_stored(store) == 3
    assert school.projections.deferred == other.projections.deferred == 0


def test_closing_the_store_applies_what_the_schools_on_it_defer(store: StoreHandle) -> None:
    real = store.store  # the adapter's own object: the handle is a test's wrapper
    school = School.build(real, clock=FixedClock(T0), reaction_batch=50, reaction_wait=LONG)
    slot_id = _slot(school)
    school.booking.book(slot_id, "s0")
    school.booking.book(slot_id, "s1")
    assert school.projections.deferred == 2
    real.close()  # a script's last line: no school.close() before it
    assert school.projections.deferred == 0
    if store.location is not None:
        again = reopen(store.name, store.location)
        try:
            assert _notices_stored(again) == 2
        finally:
            again.close()


def test_the_settings_are_checked() -> None:
    with pytest.raises(InvalidInput):
        School.build(InMemoryStore(), reaction_batch=0)
    with pytest.raises(InvalidInput):
        School.build(InMemoryStore(), reaction_batch=True)
    with pytest.raises(InvalidSetting):
        School.build(InMemoryStore(), reaction_wait=timedelta(seconds=-1))
    with pytest.raises(InvalidSetting):
        School.build(InMemoryStore(), reaction_wait=0.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidSetting):
        School.build(InMemoryStore(), reaction_wait=timedelta(days=1))


def test_threads_booking_at_once_have_each_reaction_applied_once(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reaction_batch=7, reaction_wait=LONG)
    slot_id = _slot(school, capacity=200)
    errors: list[BaseException] = []

    def buyer(k: int) -> None:
        try:
            for n in range(10):
                school.booking.book(slot_id, f"t{k}-{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=buyer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _booked_counted(school) == 40  # the read flushed what was left
    assert _notices_stored(store) == 40
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)


def _books_and_exits(url: str, count: int) -> None:
    school = School.build(
        store_from_url(url), clock=FixedClock(T0), reaction_batch=100, reaction_wait=LONG
    )
    slot_id = _slot(school)
    for n in range(count):
        school.booking.book(slot_id, f"s{n}")
    assert school.projections.deferred == count
    # no close(): the interpreter's exit applies them


def test_a_process_that_exits_applies_what_it_deferred(store: StoreHandle) -> None:
    if store.location is None:
        pytest.skip("the in-memory adapter lives in one process")
    process = SPAWN.Process(target=_books_and_exits, args=(_url(store), 3))
    process.start()
    process.join(120)
    assert process.exitcode == 0
    assert _notices_stored(store) == 3
    school = School.build(store, clock=FixedClock(T0), inline_projections=False)
    assert dict(school.projections.catch_up()) == dict.fromkeys(REACTIONS, 0)
    assert _booked_counted(school) == 3


class DeferredReactions(RuleBasedStateMachine):
    """Two schools of one store book, read, flush and catch up in any order: the
    reactions read through a school always match the seats taken, each counted once."""

    def __init__(self) -> None:
        super().__init__()
        self.store = InMemoryStore()
        clock = FixedClock(T0)
        self.schools = [
            School.build(self.store, clock=clock, reaction_batch=b, reaction_wait=LONG)
            for b in (3, 5)
        ]
        self.slot_id = _slot(self.schools[0], capacity=1000)
        self.booked = 0

    @rule(which=st.integers(0, 1), times=st.integers(1, 4))
    def book(self, which: int, times: int) -> None:
        for _ in range(times):
            self.schools[which].booking.book(self.slot_id, f"s{self.booked}")
            self.booked += 1

    @rule(which=st.integers(0, 1))
    def read(self, which: int) -> None:
        # another school's deferred batch is that process's own: a read through this
        # school applies its own, and catch_up the rest (as run-due would)
        school = self.schools[which]
        school.projections.catch_up()
        assert _booked_counted(school) == self.booked
        assert _notices_stored(self.store) == self.booked

    @rule(which=st.integers(0, 1))
    def flush(self, which: int) -> None:
        self.schools[which].projections.flush()

    @invariant()
    def never_more_than_taken(self) -> None:
        assert _notices_stored(self.store) <= self.booked


DeferredReactions.TestCase.settings = settings(max_examples=25, stateful_step_count=20)
test_deferred_reactions_are_applied_once = DeferredReactions.TestCase
