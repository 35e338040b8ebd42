"""What is specific to the SQLite adapter: schema migrations, locking, the outbox."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, SeatBooked
from eduengine.adapters.sqlite import SCHEMA_VERSION, SqliteStore
from eduengine.errors import LockTimeout, SchemaError
from eduengine.events import EventFeed
from eduengine.people import SYSTEM
from tests.adapters import each_once


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
    assert svc.get_slot(series.slot_ids[0], actor=SYSTEM).start.tzinfo == shanghai


def test_a_read_only_unit_of_work_reads_while_a_writer_holds_the_lock(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "school.sqlite3"
    writer = SqliteStore(path)
    writer.migrate()
    svc = BookingService(writer.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 2, slot_id="s1")
    reader = SqliteStore(path, lock_timeout=0.2)
    with writer.unit_of_work() as holding:
        holding.slots.get("s1").book("ann", now=clock.now(), new_id=lambda: "b1")
        query = reader.unit_of_work(read_only=True)
        with query:  # a deferred BEGIN: no LockTimeout although the write lock is taken
            assert query.slots.get("s1").seats_left == 2  # the snapshot before the commit
        holding.commit()
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 1


def _upgrade_to_next_version(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a newer library (one more migration) does when it migrates the database."""
    from eduengine.adapters import sqlite

    with monkeypatch.context() as newer:
        newer.setattr(sqlite, "MIGRATIONS", [*sqlite.MIGRATIONS, ["CREATE TABLE later (x TEXT)"]])
        newer.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        upgrader = SqliteStore(path)
        upgrader.migrate()
        assert upgrader.schema_version() == SCHEMA_VERSION + 1
        upgrader.close()


def test_an_older_process_refuses_to_write_once_another_migrated_the_database(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "school.sqlite3"
    old = SqliteStore(path)
    old.migrate()
    svc = BookingService(old.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    svc.book("s1", "ann")  # the old process is warmed up: its store checked the schema
    _upgrade_to_next_version(path, monkeypatch)
    before = old.snapshot()
    with pytest.raises(SchemaError, match=r"upgrade eduengine.*nothing was written"):
        svc.book("s1", "bob")
    with pytest.raises(SchemaError, match="upgrade eduengine"):
        svc.cancel(svc.bookings_for_student("ann", actor=SYSTEM)[0].id)
    # reads go on, and the slot is exactly as it was: one seat, still ann's
    assert old.snapshot() == before
    query = old.unit_of_work(read_only=True)
    with query:
        assert query.slots.get("s1").holds_seat("ann")
        assert query.slots.get("s1").seats_left == 0


def test_a_process_whose_library_is_newer_than_the_database_is_told_to_migrate(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import sqlite

    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    monkeypatch.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store._schema_checked = True  # a process that checked long ago, before its upgrade
    # the check rides on a write transaction's first statement, whatever it is
    with pytest.raises(SchemaError, match=r"call migrate\(\)"), store.unit_of_work() as uow:
        uow.slots.list_ids()


def test_a_write_refused_for_its_schema_reads_and_writes_nothing_even_if_caught(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import sqlite

    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    start = clock.now() + timedelta(days=1)
    BookingService(store.unit_of_work, clock=clock).create_slot(
        "math", start, start + timedelta(hours=1), 2, slot_id="s1"
    )
    before = store.snapshot()
    monkeypatch.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with store.unit_of_work() as uow:
        # the first slot read carries the check
        with pytest.raises(SchemaError, match=r"call migrate\(\)"):
            uow.slots.get("s1")
        # a command that swallows the refusal still cannot write: the check stays due
        with pytest.raises(SchemaError, match=r"call migrate\(\)"):
            uow.records.put("note", "k", {"x": 1})
        uow.commit()  # commits nothing
    assert store.snapshot() == before


def test_a_booking_takes_six_statements_and_reads_no_empty_waitlist_or_offers(
    tmp_path: Path, clock: FixedClock
) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    svc.book("s1", "ann")
    seen: list[str] = []
    store.connection().set_trace_callback(seen.append)
    svc.book("s1", "bob")  # a seat is taken: bob's own seat is looked up
    store.connection().set_trace_callback(None)
    seen = each_once(seen)  # the feed row's trigger is traced as repeats of its INSERT
    # BEGIN, the slot (with the schema check, whether bob holds a seat and the stream's
    # counter), the slot's versioned UPDATE, the booking, the feed row (its trigger moves
    # the counter on), COMMIT (raw SQL: 4); the stream had its own upsert before
    assert [s.split()[0] for s in seen] == [
        "BEGIN", "SELECT", "UPDATE", "INSERT", "INSERT", "COMMIT"
    ]  # fmt: skip
    assert "AS seat_held" in seen[1] and "AS stream_last" in seen[1]
    assert "event_streams" not in " ".join(seen[2:])
    # ann's and bob's seats are the slot's events 2 and 3, and the counter says so
    assert [json.loads(text)["sequence"] for _, text in store.read_feed(0, 10)] == [1, 2, 3]
    assert store.stream_sequence("slot:s1") == 3
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 1
    # the slot's UPDATE sets the seat count and the version, not the thirteen columns
    # of its row (nothing else changed; issue #22)
    (update,) = [s for s in seen if s.startswith("UPDATE")]
    assert update.startswith("UPDATE slots SET booked = 2, version = 2 WHERE id = 's1'")


def test_a_database_migrated_before_the_version_was_in_its_header_is_still_accepted(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "school.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    store.connection().execute("PRAGMA user_version = 0")  # as an earlier release left it
    svc = BookingService(SqliteStore(path).unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    assert svc.create_slot("math", start, start + timedelta(hours=1), 1).capacity == 1
    store.migrate()  # stamps the header
    assert store.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_service_queries_do_not_wait_for_a_command_holding_the_write_lock(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "school.sqlite3"
    writer = SqliteStore(path)
    writer.migrate()
    start = clock.now() + timedelta(days=1)
    BookingService(writer.unit_of_work, clock=clock).create_slot(
        "math", start, start + timedelta(hours=1), 2, slot_id="s1"
    )
    queries = BookingService(SqliteStore(path, lock_timeout=0.2).unit_of_work, clock=clock)
    # the system's first read of her bookings today writes its audit row (summary rule):
    # made before the lock is held, the reads below write nothing
    assert queries.bookings_for_student("ann", actor=SYSTEM) == []
    with writer.unit_of_work() as holding:
        holding.slots.get("s1").book("ann", now=clock.now(), new_id=lambda: "b1")
        assert (
            queries.get_slot("s1", actor=SYSTEM).seats_left == 2
        )  # no LockTimeout: a snapshot read
        assert queries.bookings_for_student("ann", actor=SYSTEM) == []


def test_a_database_whose_schema_has_no_feed_is_refused_until_migrate_adds_it(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eduengine.adapters import sqlite

    path = tmp_path / "school.sqlite3"
    # a database migrated by a release before the feed (schema version 3)
    with monkeypatch.context() as old_release:
        old_release.setattr(sqlite, "MIGRATIONS", sqlite.MIGRATIONS[:3])
        old_release.setattr(sqlite, "SCHEMA_VERSION", 3)
        SqliteStore(path).migrate()
    store = SqliteStore(path)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    # no process can commit events the feed would not get: the write is refused
    with pytest.raises(SchemaError, match=rf"version 3, need {SCHEMA_VERSION}.*call migrate"):
        svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM slots").fetchone() == (0,)
    store.migrate()  # builds the feed
    svc.create_slot("math", start, start + timedelta(hours=1), 1, slot_id="s1")
    assert [e.type for e in EventFeed(store).events_since(0)] == ["booking.slot_created"]
    store.close()


def test_a_document_read_twice_in_one_unit_of_work_is_read_from_the_database_once(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    with store.unit_of_work() as uow:
        uow.records.put("profile", "ann", {"xp": 1})
        uow.commit()
    seen: list[str] = []
    with store.unit_of_work() as uow:
        store.connection().set_trace_callback(seen.append)
        assert uow.records.get("profile", "ann") == {"xp": 1}
        assert uow.records.get("profile", "ann") == {"xp": 1}
        assert uow.records.get("profile", "bob") is None
        assert uow.records.get("profile", "bob") is None
        store.connection().set_trace_callback(None)
    assert sum("FROM records" in s for s in seen) == 2


def test_schema_version_5_drops_the_seat_index_a_booking_wrote_for_nothing(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bookings_by_slot`` repeated the one-active-seat index's first column under the
    same condition: gone, a booking writes one index page fewer, and the reads of a
    slot's seats use the one-active-seat index (issue #22)."""
    from eduengine.adapters import sqlite as adapter

    path = tmp_path / "school.sqlite3"
    with monkeypatch.context() as old_release:  # a database migrated to version 4
        old_release.setattr(adapter, "MIGRATIONS", adapter.MIGRATIONS[:4])
        old_release.setattr(adapter, "SCHEMA_VERSION", 4)
        SqliteStore(path).migrate()

    def indexes(store: SqliteStore) -> set[str]:
        rows = store.connection().execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bookings'"
        )
        return {row["name"] for row in rows}

    store = SqliteStore(path)
    assert "bookings_by_slot" in indexes(store)
    store.migrate()
    assert indexes(store) == {
        "sqlite_autoindex_bookings_1", "bookings_one_active_seat", "bookings_by_student"
    }  # fmt: skip
    plan = " ".join(
        row["detail"]
        for row in store.connection().execute(
            "EXPLAIN QUERY PLAN SELECT * FROM bookings WHERE slot_id = ? "
            "AND status <> 'cancelled' ORDER BY seq",
            ("s1",),
        )
    )
    assert "USING INDEX bookings_one_active_seat (slot_id=?)" in plan
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    for student in ("cat", "ann", "bob"):
        svc.book("s1", student)
    roster = svc.get_slot("s1", actor=SYSTEM).bookings
    assert list(roster) == ["cat", "ann", "bob"]  # still in booking order
    store.close()


def test_numbers_taken_from_the_counter_read_with_the_slot_are_never_given_again(
    tmp_path: Path, clock: FixedClock
) -> None:
    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + timedelta(hours=1), 3, slot_id="s1")
    with store.unit_of_work() as uow:
        uow.slots.get_for_student("s1", "ann")  # reads the counter with the row: 1
        assert uow.next_sequences({"slot:s1": 2}) == {"slot:s1": 1}
        assert uow.next_sequences({"slot:s1": 1, "slot:s9": 1}) == {"slot:s1": 3, "slot:s9": 0}
        uow.commit()  # no feed row carries them: the commit stores the counter itself
    assert store.stream_sequence("slot:s1") == 4
    assert store.stream_sequence("slot:s9") == 1
    with store.unit_of_work() as uow:
        uow.slots.get("s1")
        uow.next_sequences({"slot:s1": 5})
        uow.rollback()  # nothing given out: the next command numbers from 5 again
    svc.book("s1", "ann")
    [(_, text)] = store.read_feed(1, 10)
    assert json.loads(text)["sequence"] == 5
    assert store.stream_sequence("slot:s1") == 5
