"""ProjectionRunner on every adapter: each event applied once, checkpoints written with
the projection's changes, failures rolled back and reported, unwanted events skipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from eduengine import BookingService, FixedClock
from eduengine.booking.events import SeatBooked, SeatReleased, SlotCreated, SlotEvent
from eduengine.errors import InvalidInput
from eduengine.events import EventFeed
from eduengine.events.codec import envelope_to_json
from eduengine.events.projections import (
    CHECKPOINTS,
    Projection,
    ProjectionRunner,
)
from eduengine.kernel.envelope import Envelope
from eduengine.notices.events import RemindersScheduled
from eduengine.service_layer.ports import UnitOfWork, open_read_only
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.projections.helpers import APPLIED, applied, counting, feed_ids, history

BOOKED = "booking.seat_booked"


def runner(
    handle: StoreHandle, *projections: Projection, feed: EventFeed | None = None
) -> ProjectionRunner:
    return ProjectionRunner(
        handle.unit_of_work, feed or EventFeed(handle.store), projections, clock=FixedClock(T0)
    )


def stored_checkpoint(handle: StoreHandle, name: str) -> int | None:
    with open_read_only(handle.unit_of_work) as uow:
        doc = uow.records.get(CHECKPOINTS, name)
    return None if doc is None else int(doc["position"])


class CountingFeed(EventFeed):
    """Counts the feed queries, to prove the cheap paths make none."""

    reads = 0

    def rows_since(self, cursor: int = 0, limit: int = 100) -> list[tuple[int, str]]:
        self.reads += 1
        return super().rows_since(cursor, limit)


def test_a_counting_projection_applies_every_event_once_after_a_random_history(
    fed_store: StoreHandle,
) -> None:
    feed = EventFeed(fed_store.store)
    every, seats = counting("every"), counting("seats", events=[SeatBooked])
    first = runner(fed_store, every, seats)
    history(fed_store.unit_of_work, seed=1, commands=15)
    # small batches, a second worker joining halfway, inline runs after more commands
    first.catch_up(batch=3, max_batches=2)
    second = runner(fed_store, every, seats)
    history(fed_store.unit_of_work, seed=2, commands=10)
    assert first.after_commit(feed.head()).ok
    report = second.catch_up(batch=4)
    assert report.ok
    assert first.catch_up() == {"every": 0, "seats": 0}
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)
    assert applied(fed_store.unit_of_work, "seats") == dict.fromkeys(feed_ids(feed, [BOOKED]), 1)
    assert first.checkpoints() == {"every": feed.head(), "seats": feed.head()}


def test_the_checkpoint_is_the_position_of_the_last_event_applied_and_never_repeats_one(
    fed_store: StoreHandle,
) -> None:
    seen: list[int] = []

    def note(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        seen.extend(e.position or 0 for e in envelopes)

    run = runner(fed_store, Projection("note", note))
    history(fed_store.unit_of_work, seed=3, commands=8)
    head = EventFeed(fed_store.store).head()
    assert run.catch_up(batch=2)["note"] == len(seen) > 0
    assert seen == sorted(set(seen)) and seen[-1] == head
    assert stored_checkpoint(fed_store, "note") == head


def test_a_failing_projection_rolls_its_batch_back_and_the_others_go_on(
    fed_store: StoreHandle, caplog: pytest.LogCaptureFixture
) -> None:
    broken = True

    def fragile(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        if broken:
            uow.records.put(APPLIED, "fragile:half", {"n": 1})  # must be rolled back
            raise RuntimeError("projection bug")
        for e in envelopes:
            uow.records.put(APPLIED, f"fragile:{e.id}", {"n": 1})

    run = runner(fed_store, Projection("fragile", fragile), counting("steady"))
    history(fed_store.unit_of_work, seed=4, commands=6)
    feed = EventFeed(fed_store.store)
    with caplog.at_level(logging.ERROR, logger="eduengine.projections"):
        report = run.catch_up()
    assert not report.ok and set(report.failures) == {"fragile"}
    failure = report.failures["fragile"]
    assert isinstance(failure.error, RuntimeError) and failure.first == 1
    assert report["steady"] == len(feed_ids(feed)) and report["fragile"] == 0
    assert "projection fragile failed on feed positions 1.." in caplog.text
    assert applied(fed_store.unit_of_work, "fragile") == {}
    assert stored_checkpoint(fed_store, "fragile") is None
    # inline runs swallow the error: the command had committed
    history(fed_store.unit_of_work, seed=5, commands=2)
    assert set(run.after_commit(feed.head()).failures) == {"fragile"}
    broken = False
    assert run.catch_up().ok
    assert applied(fed_store.unit_of_work, "fragile") == dict.fromkeys(feed_ids(feed), 1)
    assert applied(fed_store.unit_of_work, "steady") == dict.fromkeys(feed_ids(feed), 1)


def test_a_projection_ignoring_the_events_still_advances_its_checkpoint(
    fed_store: StoreHandle,
) -> None:
    calls: list[int] = []
    idle = Projection(
        "idle", lambda uow, envelopes: calls.append(len(envelopes)), events=[SeatReleased]
    )
    feed = CountingFeed(fed_store.store)
    run = runner(fed_store, idle, feed=feed)
    svc = BookingService(fed_store.unit_of_work, clock=FixedClock(T0))
    start = T0 + timedelta(days=1)
    slot = svc.create_slot("math", start, start + timedelta(hours=1), 5)
    svc.book(slot.id, "ann")
    # inline: nothing wanted, so no unit of work: the stored checkpoint may lag
    assert run.after_commit(feed.head()) == {"idle": 0}
    assert stored_checkpoint(fed_store, "idle") is None
    # ... and what this process knows keeps it from reading the same rows again
    reads = feed.reads
    assert run.after_commit(feed.head()) == {} and feed.reads == reads
    assert run.catch_up() == {"idle": 0}
    assert stored_checkpoint(fed_store, "idle") == feed.head() and calls == []
    booking = svc.book(slot.id, "bob")
    svc.cancel(booking.id)
    assert run.after_commit(feed.head()) == {"idle": 1} and calls == [1]
    assert stored_checkpoint(fed_store, "idle") == feed.head()


def test_after_commit_reads_nothing_when_the_position_was_already_handled(
    fed_store: StoreHandle,
) -> None:
    feed = CountingFeed(fed_store.store)
    run = runner(fed_store, counting("seats", events=[SeatBooked]), feed=feed)
    history(fed_store.unit_of_work, seed=6, commands=4)
    # another worker got there first: this runner sees the checkpoint moved, applies nothing
    assert runner(fed_store, counting("seats", events=[SeatBooked])).catch_up().ok
    assert run.after_commit(feed.head()) == {}
    reads = feed.reads
    assert run.after_commit(feed.head()) == {} and run.after_commit(1) == {}
    assert feed.reads == reads
    assert applied(fed_store.unit_of_work, "seats") == dict.fromkeys(feed_ids(feed, [BOOKED]), 1)


def test_a_rewound_checkpoint_is_followed_by_every_runner(fed_store: StoreHandle) -> None:
    run = runner(fed_store, counting("every"))
    history(fed_store.unit_of_work, seed=7, commands=3)
    feed = EventFeed(fed_store.store)
    run.catch_up()
    with fed_store.unit_of_work() as uow:  # a rebuild: drop the projection's state
        for key, _ in uow.records.list(APPLIED):
            uow.records.delete(APPLIED, key)
        uow.records.delete(CHECKPOINTS, "every")
        uow.commit()
    assert run.catch_up()["every"] == len(feed_ids(feed))  # nothing new, all over again
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)
    with fed_store.unit_of_work() as uow:  # once more, and this time new events follow
        for key, _ in uow.records.list(APPLIED):
            uow.records.delete(APPLIED, key)
        uow.records.delete(CHECKPOINTS, "every")
        uow.commit()
    history(fed_store.unit_of_work, seed=8, commands=2)
    assert run.after_commit(feed.head()).ok
    run.catch_up()
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)


def test_an_event_class_stands_for_its_type_and_a_base_class_for_its_subclasses() -> None:
    assert Projection("p", lambda uow, envelopes: None, events=[SeatBooked]).events == frozenset(
        {BOOKED}
    )
    slot_events = Projection("p", lambda uow, envelopes: None, events=[SlotEvent]).events
    assert slot_events is not None and {BOOKED, "booking.slot_created"} <= slot_events
    mixed = Projection("p", lambda uow, envelopes: None, events=[SlotCreated, "host.thing_done"])
    assert mixed.wants("host.thing_done") and not mixed.wants(BOOKED)
    assert Projection("p", lambda uow, envelopes: None).wants("anything.at_all")


def test_bad_projections_and_arguments_are_refused(fed_store: StoreHandle) -> None:
    nothing = lambda uow, envelopes: None  # noqa: E731
    with pytest.raises(InvalidInput):
        Projection("", nothing)
    with pytest.raises(InvalidInput):
        Projection("p", nothing, events=BOOKED)
    with pytest.raises(InvalidInput):
        Projection("p", nothing, events=[int])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="two projections are named 'p'"):
        runner(fed_store, Projection("p", nothing), Projection("p", nothing))
    run = runner(fed_store, Projection("p", nothing))
    with pytest.raises(InvalidInput, match="no projection named 'q'"):
        run.catch_up("q")
    with pytest.raises(InvalidInput):
        run.catch_up(batch=0)
    with pytest.raises(InvalidInput):
        run.catch_up(max_batches=0)
    assert run.table() == [("p", ["*"])]
    assert stored_checkpoint(fed_store, "p") is None


def test_a_projection_far_behind_does_not_keep_the_others_from_reacting_at_once(
    fed_store: StoreHandle,
) -> None:
    feed = EventFeed(fed_store.store)
    history(fed_store.unit_of_work, seed=9, commands=10)
    assert runner(fed_store, counting("fresh", events=[SeatBooked])).catch_up().ok
    both = ProjectionRunner(
        fed_store.unit_of_work,
        feed,
        [counting("late"), counting("fresh", events=[SeatBooked])],
        inline_batch=2,
        inline_batches=1,
    )
    svc = BookingService(fed_store.unit_of_work, clock=FixedClock(T0))
    start = T0 + timedelta(days=1)
    slot = svc.create_slot("new", start, start + timedelta(hours=1), 5)
    svc.book(slot.id, "zoe")
    # the one read goes to the projections nearest the head; "late" waits for catch_up
    assert both.after_commit(feed.head()) == {"fresh": 1}
    assert both.catch_up().ok
    assert applied(fed_store.unit_of_work, "late") == dict.fromkeys(feed_ids(feed), 1)
    assert applied(fed_store.unit_of_work, "fresh") == dict.fromkeys(feed_ids(feed, [BOOKED]), 1)


def test_inline_runs_leave_a_projection_that_failed_alone_until_catch_up_ran_it(
    fed_store: StoreHandle,
) -> None:
    calls: list[int] = []
    broken = True

    def fragile(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        calls.append(len(envelopes))
        if broken:
            raise RuntimeError("projection bug")

    feed = EventFeed(fed_store.store)
    run = ProjectionRunner(
        fed_store.unit_of_work, feed, [Projection("fragile", fragile)], inline_backoff=3600
    )
    history(fed_store.unit_of_work, seed=10, commands=2)
    assert set(run.after_commit(feed.head()).failures) == {"fragile"} and len(calls) == 1
    history(fed_store.unit_of_work, seed=11, commands=2)
    # resting: not tried on every command while it is broken
    assert run.after_commit(feed.head()) == {} and len(calls) == 1
    assert not run.catch_up().ok and len(calls) == 2  # catch_up always tries
    broken = False
    assert run.catch_up() == {"fragile": len(feed_ids(feed))}
    history(fed_store.unit_of_work, seed=12, commands=1)
    assert run.after_commit(feed.head()).ok and len(calls) == 4
    with pytest.raises(InvalidInput):
        ProjectionRunner(fed_store.unit_of_work, feed, [], inline_backoff=-1)


def test_a_rebuilt_projection_equals_the_live_one(fed_store: StoreHandle) -> None:
    live = counting("every")

    def reset(uow: UnitOfWork) -> None:
        for key, _ in uow.records.list(APPLIED):
            uow.records.delete(APPLIED, key)

    every = Projection("every", live.apply, reset=reset)
    run = runner(fed_store, every)
    history(fed_store.unit_of_work, seed=13, commands=6)
    run.catch_up(batch=4)
    history(fed_store.unit_of_work, seed=14, commands=3)
    run.after_commit()
    before = applied(fed_store.unit_of_work, "every")
    # another worker, behind, carries on during and after the rebuild
    other = runner(fed_store, every)
    other.catch_up(batch=2, max_batches=1)
    report = run.rebuild("every", batch=5)
    assert report.ok and report["every"] == len(before)
    assert other.catch_up() == {"every": 0}
    assert applied(fed_store.unit_of_work, "every") == before
    assert stored_checkpoint(fed_store, "every") == EventFeed(fed_store.store).head()
    with pytest.raises(InvalidInput, match="has no reset"):
        runner(fed_store, counting("plain")).rebuild("plain")
    with pytest.raises(InvalidInput, match="no projection named"):
        run.rebuild("nope")


def test_projections_at_one_position_catch_up_with_one_feed_read_and_unit_of_work_per_batch(
    fed_store: StoreHandle,
) -> None:
    history(fed_store.unit_of_work, seed=3, commands=8)
    units = 0

    def counted_unit_of_work(read_only: bool = False) -> UnitOfWork:
        nonlocal units
        units += 1
        uow: UnitOfWork = fed_store.store.unit_of_work(read_only=read_only)
        return uow

    feed = CountingFeed(fed_store.store)
    every, seats = counting("every"), counting("seats", events=[SeatBooked])
    run = ProjectionRunner(counted_unit_of_work, feed, [every, seats], clock=FixedClock(T0))
    units = 0
    report = run.catch_up(batch=4)
    assert report.ok
    events = len(feed_ids(EventFeed(fed_store.store)))
    batches = -(-events // 4)  # a last, short batch says the head was reached
    reads = batches + (events % 4 == 0)
    # both stand at 0: they read, parse and apply every batch together (one checkpoint
    # read for the two, then one unit of work per batch)
    assert (feed.reads, units) == (reads, 1 + batches)
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(
        feed_ids(EventFeed(fed_store.store)), 1
    )
    assert applied(fed_store.unit_of_work, "seats") == dict.fromkeys(
        feed_ids(EventFeed(fed_store.store), [BOOKED]), 1
    )


def test_an_idle_checkpoint_lags_at_most_idle_lag_and_a_new_runner_repeats_nothing(
    fed_store: StoreHandle,
) -> None:
    feed = EventFeed(fed_store.store)

    def make() -> ProjectionRunner:
        return ProjectionRunner(
            fed_store.unit_of_work,
            feed,
            [counting("seats", events=[SeatBooked]), counting("freed", events=[SeatReleased])],
            clock=FixedClock(T0),
            idle_lag=3,
        )

    run = make()
    svc = BookingService(fed_store.unit_of_work, clock=FixedClock(T0))
    start = T0 + timedelta(days=1)
    slot = svc.create_slot("math", start, start + timedelta(hours=1), 9)  # position 1
    svc.book(slot.id, "ann")  # 2
    assert run.after_commit(feed.head()) == {"seats": 1, "freed": 0}
    # nothing freed: its checkpoint is neither read nor written, it lags (2 < idle_lag)
    assert stored_checkpoint(fed_store, "freed") is None
    assert stored_checkpoint(fed_store, "seats") == 2
    svc.book(slot.id, "bob")  # 3: three behind, written with the seats' batch
    assert run.after_commit(feed.head()) == {"seats": 1, "freed": 0}
    assert stored_checkpoint(fed_store, "freed") == 3
    svc.cancel(svc.book(slot.id, "cat").id)  # 4, 5
    svc.book(slot.id, "dan")  # 6
    assert run.after_commit(feed.head()) == {"seats": 2, "freed": 1}
    svc.book(slot.id, "eve")  # 7
    assert run.after_commit(feed.head()) == {"seats": 1, "freed": 0}
    assert stored_checkpoint(fed_store, "freed") == 6  # lags again, 1 behind
    # a restart: another runner starts from the stored checkpoints and re-reads what the
    # lagging one skipped, applying nothing twice
    restarted = make()
    assert restarted.catch_up() == {"seats": 0, "freed": 0}
    assert applied(fed_store.unit_of_work, "seats") == dict.fromkeys(feed_ids(feed, [BOOKED]), 1)
    freed = feed_ids(feed, ["booking.seat_released"])
    assert len(freed) == 1 and applied(fed_store.unit_of_work, "freed") == dict.fromkeys(freed, 1)
    assert stored_checkpoint(fed_store, "freed") == feed.head()


def test_idle_lag_is_checked(fed_store: StoreHandle) -> None:
    feed = EventFeed(fed_store.store)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InvalidInput):
            ProjectionRunner(fed_store.unit_of_work, feed, [], idle_lag=bad)  # type: ignore[arg-type]


def test_events_a_batch_raises_reach_the_projections_that_want_them_as_the_feed_holds_them(
    fed_store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the raised event's instants in a named zone: the feed keeps only their offset, so a
    # projection handed the raised object instead of the feed's would see another tzinfo
    tokyo = ZoneInfo("Asia/Tokyo")

    def remind(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        uow.record_events(
            [
                RemindersScheduled(
                    occurred_at=e.occurred_at.astimezone(tokyo),
                    booking_id=e.event.booking_id,
                    student_id=e.event.student_id,
                    due=(e.occurred_at.astimezone(tokyo) + timedelta(hours=1),),
                )
                for e in envelopes
                if isinstance(e.event, SeatBooked)
            ]
        )

    seen: list[Envelope] = []
    parsed: list[str] = []
    loads = json.loads

    def counted(text: str) -> object:
        parsed.append(text)
        return loads(text)

    monkeypatch.setattr(json, "loads", counted)
    feed = EventFeed(fed_store.store)
    raising = runner(fed_store, Projection("reminding", remind, events=[SeatBooked]), feed=feed)
    history(fed_store.unit_of_work, seed=3, commands=6)
    assert raising.catch_up().ok
    assert raising.catch_up().ok  # and past the reminders it raised
    svc = BookingService(fed_store.unit_of_work, clock=FixedClock(T0))
    slot = svc.create_slot("c", T0 + timedelta(days=3), T0 + timedelta(days=3, hours=1), 5)
    svc.book(slot.id, "zoe")
    parsed.clear()
    assert raising.after_commit() == {"reminding": 1}
    # nobody wants the reminders: their rows went by unparsed (only the seat's was read)
    assert [p for p in parsed if "reminders.scheduled" in p] == []
    wanting = runner(
        fed_store,
        Projection("reminding", remind, events=[SeatBooked]),
        Projection("seen", lambda uow, es: seen.extend(es), events=[RemindersScheduled]),
        feed=feed,
    )
    assert wanting.catch_up().ok  # both at the head, with what is there already
    seen.clear()
    svc.book(slot.id, "ann")
    report = wanting.after_commit()
    assert report == {"reminding": 1, "seen": 1}
    [got] = seen
    assert got.position is not None
    [stored] = feed.events_since(got.position - 1, 1)
    # as the feed holds it (decoded from its row, position included), not the raised object
    assert got == stored and envelope_to_json(got) == envelope_to_json(stored)
    assert got.occurred_at.tzinfo != tokyo
