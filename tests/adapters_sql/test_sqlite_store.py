"""What is specific to the SQLite adapter: schema migrations, locking, the outbox."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, SeatBooked
from eduengine.adapters.sqlite import SCHEMA_VERSION, SqliteStore
from eduengine.errors import LockTimeout, SchemaError


def test_an_unmigrated_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fresh.sqlite3")
    with pytest.raises(SchemaError, match="migrate"), store.unit_of_work():
        pass


def test_migrate_is_idempotent_and_records_the_schema_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    store.migrate()
    assert store.schema_version() == SCHEMA_VERSION
    again = SqliteStore(tmp_path / "school.sqlite3")
    again.migrate()
    assert again.schema_version() == SCHEMA_VERSION


def test_concurrent_migrations_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "school.sqlite3"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            SqliteStore(path).migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = SqliteStore(path).connection()
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_a_writer_that_cannot_get_the_lock_in_time_gets_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "school.sqlite3"
    holder = SqliteStore(path)
    holder.migrate()
    impatient = SqliteStore(path, lock_timeout=0.2)
    with (
        holder.unit_of_work(),
        pytest.raises(LockTimeout, match="write lock"),
        impatient.unit_of_work(),
    ):
        pass


def test_the_outbox_keeps_committed_events_until_relayed(tmp_path: Path, clock: FixedClock) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3", outbox=True)
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)  # no publisher: the outbox relays
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("math", start, start + timedelta(hours=1), 2)
    svc.book(slot.id, "ann")
    # a process that died after commit would find the events still pending
    restarted = SqliteStore(tmp_path / "school.sqlite3", outbox=True)
    pending = restarted.pending_outbox()
    assert [type(e).__name__ for _, e in pending] == ["SlotCreated", "SeatBooked"]
    bus = InMemoryEventBus()
    assert restarted.relay_outbox(bus) == 2
    assert isinstance(bus.events[1], SeatBooked) and bus.events[1].student_id == "ann"
    assert restarted.relay_outbox(bus) == 0


def test_zoned_datetimes_round_trip_exactly(tmp_path: Path, clock: FixedClock) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)
    shanghai = ZoneInfo("Asia/Shanghai")
    series = svc.create_series(
        "ielts",
        "FREQ=WEEKLY;COUNT=2",
        datetime(2026, 3, 4, 20, tzinfo=shanghai),
        timedelta(minutes=90),
        5,
    )
    loaded = svc.get_series(series.id)
    assert loaded == series
    assert loaded.dtstart.tzinfo == shanghai
    assert svc.get_slot(series.slot_ids[0]).start.tzinfo == shanghai
