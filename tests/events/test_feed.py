"""The event feed on every adapter: committed envelopes only, in commit order, numbered
per aggregate without gaps, readable by cursor from other processes, prunable."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import (
    BookingService,
    FixedClock,
    InMemoryEventBus,
    InMemoryStore,
    School,
    ops,
    store_from_url,
)
from eduengine.adapters import settings as settings_module
from eduengine.adapters.sqlite import SqliteStore
from eduengine.booking.events import SeatBooked, SeatCounter
from eduengine.errors import AlreadyBooked, FeedUnavailable, InvalidInput, SlotFull
from eduengine.events import Envelope, EventFeed
from eduengine.events.feed import FeedStore
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.streams import stamp
from tests.adapters import ADAPTERS, PG_DSN, StoreHandle, make_store, reopen
from tests.conftest import T0

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=ADAPTERS)
def feed_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreHandle]:
    handle = make_store(request.param, tmp_path_factory.mktemp(request.param), outbox=True)
    try:
        yield handle
    finally:
        handle.close()


def booking_service(
    handle: StoreHandle, clock: FixedClock, bus: MessageBus | None = None
) -> BookingService:
    return BookingService(handle.unit_of_work, clock=clock, bus=bus)


def new_slot(svc: BookingService, capacity: int, slot_id: str | None = None, days: int = 1) -> str:
    start = T0 + timedelta(days=days)
    return svc.create_slot("math", start, start + timedelta(hours=1), capacity, slot_id=slot_id).id


def test_the_feed_holds_committed_events_in_order_numbered_per_slot(
    feed_store: StoreHandle, clock: FixedClock
) -> None:
    svc = booking_service(feed_store, clock)
    feed = EventFeed(feed_store.store, clock=clock)
    a, b = new_slot(svc, 1), new_slot(svc, 2)
    seat = svc.book(a, "ann")
    svc.book(b, "ann")
    with pytest.raises(SlotFull):
        svc.book(a, "bob")  # refused: nothing enters the feed
    svc.join_waitlist(a, "bob")
    svc.cancel(seat.id)  # releases ann's seat and promotes bob, in one commit
    got = feed.events_since(0, limit=100)
    assert [(e.type, e.aggregate_id, e.sequence) for e in got] == [
        ("booking.slot_created", a, 1),
        ("booking.slot_created", b, 1),
        ("booking.seat_booked", a, 2),
        ("booking.seat_booked", b, 2),
        ("booking.waitlist_joined", a, 3),
        ("booking.seat_released", a, 4),
        ("booking.waitlist_promoted", a, 5),
    ]
    positions = [e.position or 0 for e in got]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert feed.head() == positions[-1]
    assert len({e.id for e in got}) == len(got)
    # paging by cursor reads the same envelopes
    paged: list[Envelope] = []
    cursor = 0
    while page := feed.events_since(cursor, limit=2):
        paged.extend(page)
        cursor = page[-1].position or 0
    assert paged == got
    assert [p for p, _ in feed.rows_since(positions[2], limit=2)] == positions[3:5]


def test_a_command_over_many_streams_numbers_and_feeds_every_event_in_order(
    feed_store: StoreHandle, clock: FixedClock
) -> None:
    # 130 sessions: more feed rows and stream counters than one multi-row INSERT holds
    svc = booking_service(feed_store, clock)
    feed = EventFeed(feed_store.store, clock=clock)
    series = svc.create_series(
        "math", "FREQ=DAILY;COUNT=130", T0 + timedelta(days=1), timedelta(hours=1), 2
    )
    svc.book(series.slot_ids[0], "zoe")  # one stream already one number further
    head = feed.head()
    svc.book_series(series.id, "ann")
    got = feed.events_since(head, limit=1000)
    assert [(e.type, e.aggregate_id, e.sequence) for e in got] == [
        ("booking.seat_booked", sid, 3 if n == 0 else 2) for n, sid in enumerate(series.slot_ids)
    ]
    positions = [e.position or 0 for e in got]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    first, second = series.slot_ids[:2]
    assert feed_store.store.stream_sequence(f"slot:{first}") == 3
    assert feed_store.store.stream_sequence(f"slot:{second}") == 2


def test_a_refused_command_leaves_no_envelope_and_no_number_behind(
    feed_store: StoreHandle, clock: FixedClock
) -> None:
    svc = booking_service(feed_store, clock)
    feed = EventFeed(feed_store.store, clock=clock)
    slot = new_slot(svc, 1)
    svc.book(slot, "ann")
    head = feed.head()
    for student in ("bob", "ann"):  # full, already booked
        with pytest.raises((SlotFull, AlreadyBooked)):
            svc.book(slot, student)
    assert feed.events_since(head) == []
    svc.change_capacity(slot, 2)
    assert [e.sequence for e in feed.events_since(head)] == [3]


def test_pruning_drops_old_envelopes_and_positions_are_never_reused(
    feed_store: StoreHandle, clock: FixedClock
) -> None:
    svc = booking_service(feed_store, clock)
    feed = EventFeed(feed_store.store, clock=clock)
    slot = new_slot(svc, 10, days=5)
    for n in range(5):
        clock.advance(timedelta(hours=1))
        svc.book(slot, f"s{n}")
    before = feed.events_since(0)
    assert feed.prune(T0 + timedelta(hours=2, minutes=30), batch=2) == 3  # created, s0, s1
    kept = feed.events_since(0)
    assert kept == before[3:]
    assert feed.prune(timedelta(hours=1)) == 1  # now is T0+5h: s2 at T0+3h goes
    assert feed.prune(timedelta(hours=10)) == 0
    clock.advance(timedelta(days=1))
    assert feed.prune(timedelta(0)) == 2
    assert feed.events_since(0) == []
    svc.book(slot, "late")
    (after,) = feed.events_since(0)
    assert (after.position or 0) > (before[-1].position or 0)
    assert after.sequence == 7


def test_named_cursors_only_move_forward(feed_store: StoreHandle, clock: FixedClock) -> None:
    feed = EventFeed(feed_store.store, clock=clock)
    assert feed.cursor("relay") == 0
    assert feed.save_cursor("relay", 5) == 5
    assert feed.save_cursor("relay", 3) == 5
    assert feed.cursor("relay") == 5 and feed.cursor("other") == 0
    with pytest.raises(InvalidInput):
        feed.save_cursor("relay", -1)
    with pytest.raises(InvalidInput):
        feed.events_since(-1)
    with pytest.raises(InvalidInput):
        feed.events_since(0, limit=0)


def test_every_store_writes_its_events_to_the_feed_without_being_asked(
    store: StoreHandle, clock: FixedClock
) -> None:
    # the ``store`` fixture builds each adapter with no outbox flag at all
    assert store.store is not None and store.store.outbox is True  # what hosts read
    svc = booking_service(store, clock)
    slot = new_slot(svc, 2)
    svc.book(slot, "ann")
    envelopes = EventFeed(store.store, clock=clock).events_since(0)
    assert [(e.type, e.stream, e.sequence) for e in envelopes] == [
        ("booking.slot_created", f"slot:{slot}", 1),
        ("booking.seat_booked", f"slot:{slot}", 2),
    ]


def _store_urls() -> list[str]:
    urls = ["memory://", "sqlite:///{tmp}/school.sqlite3"]
    if PG_DSN:
        urls.append(f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}schema={{schema}}")
    return urls


@pytest.mark.parametrize("template", _store_urls(), ids=lambda u: u.partition(":")[0])
def test_a_process_built_from_any_store_url_writes_its_events_to_the_feed(
    template: str, tmp_path: Path, clock: FixedClock
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    store = store_from_url(template.format(tmp=tmp_path, schema=schema))
    try:
        ops.migrate(store)
        school = School.build(store, clock=clock, reminders=None)
        slot = school.booking.create_slot(
            "math", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), capacity=2
        )
        school.booking.book(slot.id, "ann")
        # a second process on the same store reads what this one committed
        reader = EventFeed(
            store
            if template == "memory://"
            else store_from_url(template.format(tmp=tmp_path, schema=schema))
        )
        assert [e.type for e in reader.events_since(0)] == [
            "booking.slot_created",
            "booking.seat_booked",
        ]
        if reader.store is not store:
            cast(Any, reader.store).close()
    finally:
        store.close()
        if PG_DSN and template.startswith(PG_DSN):
            import psycopg

            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def test_outbox_false_is_ignored_with_one_deprecation_warning(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "_outbox_warned", False)
    with pytest.warns(DeprecationWarning, match="always on; outbox= is ignored"):
        mem = InMemoryStore(outbox=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process, not once per store
        lite = store_from_url(f"sqlite:///{tmp_path}/school.sqlite3?outbox=false")
        InMemoryStore(outbox=True)
    assert isinstance(lite, SqliteStore)
    lite.migrate()
    for store in (mem, lite):
        assert store.outbox is True
        svc = BookingService(store.unit_of_work, clock=clock)
        new_slot(svc, 1)
        assert [e.type for e in EventFeed(store).events_since(0)] == ["booking.slot_created"]
    lite.close()


def test_a_url_asking_for_no_feed_is_warned_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "_outbox_warned", False)
    with pytest.warns(DeprecationWarning, match="outbox= is ignored"):
        store = store_from_url("memory://?outbox=false")
    assert store.outbox is True


def test_a_host_adapter_without_a_feed_says_so() -> None:
    class NoFeed:  # a host's own store that never implemented the feed
        def unit_of_work(self) -> Any:
            raise NotImplementedError

    with pytest.raises(FeedUnavailable, match="NoFeed keeps no event feed"):
        EventFeed(cast(FeedStore, NoFeed())).events_since(0)


def test_school_feed_and_the_legacy_relay_read_the_same_events(
    feed_store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(feed_store.store, clock=clock)
    slot = new_slot(school.booking, 3)
    school.booking.book(slot, "ann")
    types = [e.type for e in school.feed.events_since(0)]
    assert types[:2] == ["booking.slot_created", "booking.seat_booked"]
    if hasattr(feed_store.store, "relay_outbox"):
        bus = InMemoryEventBus()
        assert feed_store.store.relay_outbox(bus) == len(types)
        assert feed_store.store.relay_outbox(bus) == 0
        assert [type(e).__name__ for e in bus.events[:2]] == ["SlotCreated", "SeatBooked"]


# --- commit order under concurrency ---------------------------------------------------


def check_commit_order(feed: list[Envelope], capacity: dict[str, int]) -> None:
    """Each slot's stream is 1, 2, 3 ... in feed order, and replaying the feed in order
    reproduces every seat count the events carry: feed order is commit order."""
    counter = SeatCounter()
    last: dict[str, int] = defaultdict(int)
    for envelope in feed:
        assert envelope.sequence == last[envelope.stream] + 1, envelope
        last[envelope.stream] = envelope.sequence
        counter.apply(envelope.event)
        event = envelope.event
        if isinstance(event, SeatBooked):
            assert event.seats_left == counter.seats_left(event.slot_id)
    for slot_id, seats in capacity.items():
        assert counter.seats_left(slot_id) >= 0 and counter.capacity[slot_id] == seats


def _churn(handle: StoreHandle, worker: int, slots: list[str], rounds: int) -> int:
    svc = BookingService(handle.unit_of_work, clock=FixedClock(T0))
    done = 0
    for n in range(rounds):
        slot = slots[(worker + n) % len(slots)]
        try:
            seat = svc.book(slot, f"w{worker}-{n}")
            done += 1
            if n % 3 == 0:
                svc.cancel(seat.id)
        except SlotFull:
            pass
    return done


def _tail(handle: StoreHandle, stop_slot: str) -> list[str]:
    """Read the feed by cursor while others write, until ``stop_slot`` is created:
    the ids in the order read (a row made visible late would be skipped)."""
    feed = EventFeed(handle.store, clock=FixedClock(T0))
    seen: list[str] = []
    cursor = 0
    while True:
        page = feed.events_since(cursor, limit=50)
        for envelope in page:
            seen.append(envelope.id)
            cursor = envelope.position or cursor
            if envelope.aggregate_id == stop_slot:
                return seen


def test_threads_see_the_feed_in_commit_order(feed_store: StoreHandle) -> None:
    svc = BookingService(feed_store.unit_of_work, clock=FixedClock(T0))
    slots = [new_slot(svc, 4) for _ in range(3)]
    with ThreadPoolExecutor(5) as pool:
        tail = pool.submit(_tail, feed_store, "stop")
        list(pool.map(lambda w: _churn(feed_store, w, slots, 12), range(4)))
        new_slot(svc, 1, slot_id="stop")
        seen = tail.result(timeout=120)
    everything = EventFeed(feed_store.store).events_since(0, limit=10_000)
    assert seen == [e.id for e in everything]
    check_commit_order(everything, {s: 4 for s in slots})


def _churn_in_process(name: str, location: str, worker: int, slots: list[str], rounds: int) -> int:
    handle = reopen(name, location, outbox=True)
    try:
        return _churn(handle, worker, slots, rounds)
    finally:
        handle.close()


def _tail_in_process(name: str, location: str, stop_slot: str) -> list[str]:
    handle = reopen(name, location, outbox=True)
    try:
        return _tail(handle, stop_slot)
    finally:
        handle.close()


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(4, mp_context=SPAWN) as pool:
        yield pool


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if a != "memory"])
@settings(max_examples=3, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot_count=st.integers(1, 3), capacity=st.integers(1, 6), rounds=st.integers(4, 15))
def test_the_feed_order_is_commit_order_across_processes(
    adapter: str,
    processes: ProcessPoolExecutor,
    tmp_path_factory: pytest.TempPathFactory,
    slot_count: int,
    capacity: int,
    rounds: int,
) -> None:
    handle = make_store(adapter, tmp_path_factory.mktemp(adapter), outbox=True)
    try:
        location = handle.location
        assert location is not None
        svc = BookingService(handle.unit_of_work, clock=FixedClock(T0))
        slots = [new_slot(svc, capacity) for _ in range(slot_count)]
        tail = processes.submit(_tail_in_process, adapter, location, "stop")
        writers = [
            processes.submit(_churn_in_process, adapter, location, w, slots, rounds)
            for w in range(3)
        ]
        for writer in writers:
            writer.result(timeout=300)
        new_slot(svc, 1, slot_id="stop")
        seen = tail.result(timeout=300)
        everything = EventFeed(handle.store).events_since(0, limit=10_000)
        assert seen == [e.id for e in everything]
        check_commit_order(everything, {s: capacity for s in slots})
    finally:
        handle.close()


# --- in-process publication -----------------------------------------------------------


def test_listeners_see_each_slot_in_commit_order_when_threads_race(
    store: StoreHandle, clock: FixedClock
) -> None:
    """The issue's stampede: 50 threads for 10 seats; every listener ends at 0 seats,
    having seen sequence 2, 3, ... 11 in order (1 is the slot's creation)."""
    bus = MessageBus()
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def listener(envelope: Envelope) -> None:
        if isinstance(envelope.event, SeatBooked):
            with lock:
                seen.append((envelope.sequence, envelope.event.seats_left))

    bus.listen(listener)
    svc = BookingService(store.unit_of_work, clock=clock, bus=bus)
    svc.max_attempts = 10
    slot = new_slot(svc, 10)

    def attempt(n: int) -> bool:
        try:
            svc.book(slot, f"s{n}")
            return True
        except SlotFull:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(attempt, range(50))) == 10
    assert seen == [(n + 2, 9 - n) for n in range(10)]


def test_a_failing_subscriber_is_isolated(
    store: StoreHandle, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    events = InMemoryEventBus()
    calls: list[str] = []

    def hub_down(event: DomainEvent) -> None:
        calls.append("hub")
        raise ConnectionError("websocket hub is down")

    events.subscribe(hub_down)
    events.subscribe(lambda e: calls.append(type(e).__name__))
    bus = MessageBus([events])
    envelopes: list[Envelope] = []

    def bad_listener(envelope: Envelope) -> None:
        raise RuntimeError("boom")

    bus.listen(bad_listener)
    bus.listen(envelopes.append)
    svc = BookingService(store.unit_of_work, clock=clock, bus=bus)
    slot = new_slot(svc, 1)
    with caplog.at_level(logging.ERROR, logger="eduengine"):
        booking = svc.book(slot, "ann")  # committed: the result comes back
    assert booking.student_id == "ann"
    assert calls == ["hub", "SlotCreated", "hub", "SeatBooked"]
    assert [e.type for e in envelopes] == ["booking.slot_created", "booking.seat_booked"]
    assert sum("failed" in r.getMessage() for r in caplog.records) >= 4
    with pytest.raises(AlreadyBooked):  # the client's retry sees the truth
        svc.book(slot, "ann")


def test_follow_yields_history_then_new_events_until_stopped(clock: FixedClock) -> None:
    handle = make_store("memory", Path("."), outbox=True)
    svc = booking_service(handle, clock)
    feed = EventFeed(handle.store, clock=clock)
    slot = new_slot(svc, 5)
    stop = threading.Event()
    got: list[int] = []

    def follower() -> None:
        for envelope in feed.follow(0, poll=0.01, stop=stop):
            got.append(envelope.sequence)
            if len(got) == 3:
                stop.set()

    thread = threading.Thread(target=follower)
    thread.start()
    svc.book(slot, "ann")
    svc.book(slot, "bob")
    thread.join(timeout=10)
    assert not thread.is_alive() and got == [1, 2, 3]


def test_a_unit_of_work_reports_the_feed_rows_its_commit_appended(
    feed_store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    svc = booking_service(feed_store, clock)
    slot = svc.create_slot("math", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), 5)
    bus = InMemoryEventBus()
    svc.bus.publishers.append(bus)
    heard: list[Envelope] = []
    svc.bus.listen(heard.append)
    svc.book(slot.id, "ann")
    feed = EventFeed(feed_store.store)
    # listeners get the position the store gave each envelope
    assert [(e.position, e.type) for e in heard] == [
        (e.position, e.type) for e in feed.events_since(feed.head() - 1)
    ]
    with feed_store.unit_of_work() as uow:
        assert uow.committed_feed == []  # type: ignore[attr-defined]
        events = [
            SeatBooked(
                occurred_at=T0,
                slot_id=slot.id,
                capacity=5,
                seats_left=4,
                booking_id=f"b{n}",
                student_id=f"s{n}",
            )
            for n in range(3)
        ]
        uow.stage_feed(stamp(uow, events))
        uow.commit()
        written = uow.committed_feed  # type: ignore[attr-defined]
    assert written == feed.rows_since(feed.head() - 3, 10)
    assert [p for p, _ in written] == [feed.head() - 2, feed.head() - 1, feed.head()]
