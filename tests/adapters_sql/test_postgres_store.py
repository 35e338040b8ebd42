"""What is specific to the PostgreSQL adapter: migrations, lock timeouts, lock order."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus
from eduengine.errors import (
    EduEngineError,
    InvalidInput,
    LockTimeout,
    PersistenceError,
    RetryableConflict,
    SchemaError,
)
from tests.adapters import PG_DSN

if not PG_DSN and os.environ.get("CI") != "true":
    pytest.skip(
        "PostgreSQL not available: run `python3 dev.py test`, which starts one",
        allow_module_level=True,
    )

from eduengine.adapters.postgres import SCHEMA_VERSION, PostgresStore, PostgresUnitOfWork
from eduengine.people import SYSTEM


@pytest.fixture
def schema() -> Iterator[str]:
    assert PG_DSN, "CI must run the PostgreSQL tests: EDUENGINE_PG_DSN is not set"
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())


def test_an_unmigrated_database_is_refused_with_a_clear_error(schema: str) -> None:
    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema)
    with pytest.raises(SchemaError, match="migrate"), store.unit_of_work():
        pass
    store.close()


def test_concurrent_migrations_apply_each_version_once(schema: str) -> None:
    assert PG_DSN
    dsn = PG_DSN
    errors: list[BaseException] = []

    def run() -> None:
        store = PostgresStore(dsn, schema=schema)
        try:
            store.migrate()
            store.migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = PostgresStore(dsn, schema=schema)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_a_command_waiting_too_long_for_a_slot_lock_gets_lock_timeout(
    schema: str, clock: FixedClock
) -> None:
    assert PG_DSN
    holder = PostgresStore(PG_DSN, schema=schema)
    holder.migrate()
    impatient = PostgresStore(PG_DSN, schema=schema, lock_timeout=0.2)
    svc = BookingService(holder.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("math", start, start + timedelta(hours=1), 3)
    other = BookingService(impatient.unit_of_work, clock=clock)
    with holder.unit_of_work() as uow:
        uow.slots.get(slot.id)  # row locked until this unit of work ends
        with pytest.raises(LockTimeout):
            other.book(slot.id, "ann")
    assert other.book(slot.id, "ann").student_id == "ann"
    holder.close()
    impatient.close()


def test_series_booked_concurrently_lock_in_one_order_and_never_deadlock(
    schema: str, clock: FixedClock
) -> None:
    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema, lock_timeout=20)
    store.migrate()
    bus = InMemoryEventBus()
    svc = BookingService(store.unit_of_work, clock=clock, publisher=bus)
    start = clock.now() + timedelta(days=1)
    series = [
        svc.create_series("c", "FREQ=DAILY;COUNT=6", start, timedelta(hours=1), 50)
        for _ in range(2)
    ]
    errors: list[EduEngineError] = []

    def student(n: int) -> None:
        for k in range(10):
            try:
                svc.book_series(series[(n + k) % 2].id, f"s{n}-{k}")
            except EduEngineError as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for s in series:
        assert {svc.get_slot(sid, actor=SYSTEM).seats_taken for sid in s.slot_ids} == {30}
    store.close()


def _store(schema: str, **options: Any) -> PostgresStore:
    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema, **options)
    store.migrate()
    return store


def _read_only(store: PostgresStore) -> PostgresUnitOfWork:
    return store.unit_of_work(read_only=True)


def test_a_read_only_unit_of_work_neither_waits_for_nor_takes_row_locks(
    schema: str, clock: FixedClock
) -> None:
    store = _store(schema, lock_timeout=0.2)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    with store.unit_of_work() as holder:
        holder.slots.get("s1")  # row locked until this unit of work ends
        holder.records.get("notes", "n1")  # advisory lock on the document too
        with _read_only(store) as query:  # would raise LockTimeout if it locked
            assert query.slots.get("s1").seats_left == 3
            assert query.records.get("notes", "n1") is None
            in_flight = query.conn.execute(
                "SELECT current_setting('transaction_read_only') AS ro"
            ).fetchone()
            assert in_flight == {"ro": "on"}
    store.close()


def _upgrade_to_next_version(schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a newer library (one more migration) does when it migrates the database."""
    from eduengine.adapters import postgres

    with monkeypatch.context() as newer:
        later = ["CREATE TABLE later (x TEXT)"]
        newer.setattr(postgres, "MIGRATIONS", [*postgres.MIGRATIONS, later])
        newer.setattr(postgres, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        upgrader = _store(schema)
        assert upgrader.schema_version() == SCHEMA_VERSION + 1
        upgrader.close()


def test_an_older_process_refuses_to_write_once_another_migrated_the_database(
    schema: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _store(schema)
    svc = BookingService(old.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    svc.book("s1", "ann")  # warmed up: the pool holds a connection that saw version N
    _upgrade_to_next_version(schema, monkeypatch)
    before = old.snapshot()  # reads go on
    with pytest.raises(SchemaError, match=r"upgrade eduengine.*nothing was written"):
        svc.book("s1", "bob")
    with pytest.raises(SchemaError, match="upgrade eduengine"):
        svc.cancel(svc.bookings_for_student("ann", actor=SYSTEM)[0].id)
    assert old.snapshot() == before
    with _read_only(old) as query:
        assert query.slots.get("s1").holds_seat("ann")
        assert query.slots.get("s1").seats_left == 0
    old.close()


def test_a_process_whose_library_is_newer_than_the_database_is_told_to_migrate(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import postgres

    store = _store(schema)
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for read_only in (False, True):
        uow = store.unit_of_work(read_only=read_only)
        with pytest.raises(SchemaError, match=r"call migrate\(\)"), uow:
            pass
    store.close()


def _terminate_backends(schema: str) -> int:
    """Kill, from outside, every server process serving the store of ``schema``."""
    import psycopg

    assert PG_DSN
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = %s",
            (f"eduengine-{schema}",),
        ).fetchone()
    return int(killed[0]) if killed else 0


@pytest.mark.parametrize("check_connections", [True, False], ids=["checked", "unchecked"])
def test_a_command_after_the_server_dropped_every_connection_succeeds(
    schema: str, clock: FixedClock, check_connections: bool
) -> None:
    store = _store(
        schema,
        min_size=2,
        max_size=2,
        check_connections=check_connections,
        application_name=f"eduengine-{schema}",
    )
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    svc.book("s1", "ann")
    assert _terminate_backends(schema) >= 1
    # the pool's check (or, unchecked, the failed BEGIN) replaces the dead connection
    assert svc.book("s1", "bob").student_id == "bob"
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 1
    store.close()


@pytest.mark.parametrize("check_connections", [True, False], ids=["checked", "unchecked"])
def test_a_dropped_connection_costs_the_next_command_one_reconnect_not_seconds(
    schema: str, clock: FixedClock, check_connections: bool
) -> None:
    """The pool's per-checkout check slept 1 s, then 2 s, between failed checks: after
    every backend was killed the next command took 2.75-3.3 s (warm: 16-43 ms)."""
    store = _store(
        schema,
        min_size=2,
        max_size=4,
        check_connections=check_connections,
        application_name=f"eduengine-{schema}",
    )
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 30, slot_id="s1")
    for attempt in range(3):
        svc.book("s1", f"warm{attempt}")
        time.sleep(0.2)  # let the pool open its min_size connections
        assert _terminate_backends(schema) >= 1
        began = time.perf_counter()
        assert svc.book("s1", f"after{attempt}").student_id == f"after{attempt}"
        took = time.perf_counter() - began
        assert took < 1.0, f"the first command after the drop took {took:.2f} s"
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 24
    store.close()


def test_a_closed_store_refuses_to_be_used_instead_of_reconnecting(
    schema: str, clock: FixedClock
) -> None:
    store = _store(schema)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    store.close()
    with pytest.raises(PersistenceError, match="closed"):
        svc.book("s1", "ann")
    with pytest.raises(PersistenceError, match="closed"):
        store.schema_version()


def test_pool_sizes_are_validated() -> None:
    assert PG_DSN
    with pytest.raises(InvalidInput, match="min_size"):
        PostgresStore(PG_DSN, min_size=3, max_size=2)


def test_a_stale_slot_version_fails_the_commit_flight_and_writes_nothing(
    schema: str, clock: FixedClock
) -> None:
    from eduengine.errors import RetryableConflict

    store = _store(schema)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    before = store.snapshot()
    with pytest.raises(RetryableConflict, match="s1"), store.unit_of_work() as uow:
        slot = uow.slots.get("s1")
        slot.book("ann", now=clock.now(), new_id=lambda: "b-ann")
        slot.version -= 1  # what a write-back that raced past the row lock would carry
        uow.commit()  # the version check and COMMIT travel in one flight
    assert store.snapshot() == before
    assert svc.book("s1", "ann").student_id == "ann"  # the connection is usable again
    store.close()


def test_a_read_only_unit_of_work_reads_one_snapshot_although_it_takes_no_locks(
    schema: str, clock: FixedClock
) -> None:
    store = _store(schema, max_size=2)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    svc.book("s1", "bob")
    with _read_only(store) as query:
        slot = query.slots.get("s1")  # the slot row; its seats load lazily, later
        svc.book("s1", "ann")  # commits meanwhile, on another connection
        assert sorted(slot.bookings) == ["bob"]  # seats from the same snapshot as the row
        assert len(slot.bookings) == 1
    assert svc.get_slot("s1", actor=SYSTEM).seats_taken == 2
    store.close()


def test_service_queries_do_not_wait_for_a_command_holding_the_slot_lock(
    schema: str, clock: FixedClock
) -> None:
    store = _store(schema, lock_timeout=0.2)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 2, slot_id="s1")
    with store.unit_of_work() as holding:
        holding.slots.get("s1")  # row locked until this unit of work ends
        assert svc.get_slot("s1", actor=SYSTEM).seats_left == 2  # no LockTimeout: no FOR UPDATE
        assert svc.waitlist_position("s1", "ann", actor=SYSTEM) is None
    store.close()


def test_a_database_whose_schema_has_no_feed_is_refused_until_migrate_adds_it(
    schema: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import postgres
    from eduengine.events import EventFeed

    # a schema migrated by a release before the feed (schema version 3)
    with monkeypatch.context() as old_release:
        old_release.setattr(postgres, "MIGRATIONS", postgres.MIGRATIONS[:3])
        old_release.setattr(postgres, "SCHEMA_VERSION", 3)
        _store(schema).close()
    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    # no process can commit events the feed would not get: the write is refused
    with pytest.raises(SchemaError, match=rf"version 3, this library needs {SCHEMA_VERSION}"):
        svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    store.migrate()  # builds the feed
    svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    assert [e.type for e in EventFeed(store).events_since(0)] == ["booking.slot_created"]
    store.close()


def test_schema_version_5_drops_the_seat_index_a_booking_wrote_for_nothing(
    schema: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import postgres

    with monkeypatch.context() as old_release:  # a schema migrated to version 4
        old_release.setattr(postgres, "MIGRATIONS", postgres.MIGRATIONS[:4])
        old_release.setattr(postgres, "SCHEMA_VERSION", 4)
        _store(schema).close()

    def indexes(store: PostgresStore) -> set[str]:
        with store.connection() as conn:
            rows = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'bookings'",
                (schema,),
            ).fetchall()
        return {row["indexname"] for row in rows}

    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema)
    assert "bookings_by_slot" in indexes(store)
    store.migrate()
    assert "bookings_by_slot" not in indexes(store)
    assert "bookings_one_active_seat" in indexes(store)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    for student in ("cat", "ann", "bob"):
        svc.book("s1", student)
    assert list(svc.get_slot("s1", actor=SYSTEM).bookings) == ["cat", "ann", "bob"]
    store.close()


def test_a_booking_numbers_its_slots_stream_from_the_load_and_refuses_a_moved_counter(
    schema: str, clock: FixedClock
) -> None:
    assert PG_DSN
    store = PostgresStore(PG_DSN, schema=schema)
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    svc.book("s1", "ann")
    assert store.stream_sequence("slot:s1") == 2
    # the counter read with the slot numbers its events, and the commit stores it
    with store.unit_of_work() as uow:
        uow.slots.get_for_student("s1", "bob")
        assert uow.next_sequences({"slot:s1": 2}) == {"slot:s1": 2}
        assert uow.next_sequences({"slot:s1": 1}) == {"slot:s1": 4}
        uow.commit()
    assert store.stream_sequence("slot:s1") == 5
    # a writer that numbered the stream meanwhile without the slot's lock: the commit
    # fails as a conflict (the command is tried again) and writes nothing
    with store.unit_of_work() as uow:
        uow.slots.get("s1")
        uow.next_sequences({"slot:s1": 1})
        with store.unit_of_work() as other:
            other.next_sequences({"slot:s1": 1})
            other.commit()
        with pytest.raises(RetryableConflict, match="slot:s1"):
            uow.commit()
    assert store.stream_sequence("slot:s1") == 6
    svc.book("s1", "bob")  # numbered 7, after the counter the other writer left
    assert store.stream_sequence("slot:s1") == 7
    store.close()
