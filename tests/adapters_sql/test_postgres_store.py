"""What is specific to the PostgreSQL adapter: migrations, lock timeouts, lock order."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus
from eduengine.errors import EduEngineError, LockTimeout, SchemaError
from tests.adapters import PG_DSN

if not PG_DSN and os.environ.get("CI") != "true":
    pytest.skip(
        "PostgreSQL not available: run `python3 dev.py test`, which starts one",
        allow_module_level=True,
    )

from eduengine.adapters.postgres import SCHEMA_VERSION, PostgresStore


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
        assert {svc.get_slot(sid).seats_taken for sid in s.slot_ids} == {30}
    store.close()
