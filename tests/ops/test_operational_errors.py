"""Errors an operator meets, each typed and said plainly: a missing directory, a closed
store, a bad setting, a library older than its database; and migrations that need no
statement splitter."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryStore, store_from_url
from eduengine.adapters import sqlite
from eduengine.adapters.sqlite import SCHEMA_VERSION, SqliteStore
from eduengine.errors import (
    InvalidInput,
    InvalidSetting,
    SchemaError,
    SchemaTooNew,
    StoreClosed,
    StoreNotFound,
)
from eduengine.ops.stores import Store
from eduengine.people import SYSTEM
from tests.adapters import ADAPTERS, PG_DSN


def test_a_sqlite_file_in_a_missing_directory_is_refused_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StoreNotFound, match="does not exist") as refused:
        SqliteStore(tmp_path / "missing" / "school.sqlite3")
    assert isinstance(refused.value, FileNotFoundError)
    with pytest.raises(StoreNotFound):
        store_from_url(f"sqlite:///{tmp_path / 'missing' / 'school.sqlite3'}")
    assert time.monotonic() - started < 1
    live = SqliteStore(tmp_path / "school.sqlite3")
    with pytest.raises(StoreNotFound, match="does not exist"):
        live.backup(tmp_path / "missing" / "copy.sqlite3")


def _stores(tmp_path: Path) -> Iterator[tuple[Store, Callable[[], None]]]:
    yield InMemoryStore(), lambda: None
    lite = SqliteStore(tmp_path / "school.sqlite3")
    lite.migrate()
    yield lite, lambda: None
    if "postgres" in ADAPTERS:
        import psycopg

        from eduengine.adapters.postgres import PostgresStore

        assert PG_DSN
        schema = f"t_{uuid.uuid4().hex[:12]}"
        pg = PostgresStore(PG_DSN, schema=schema)
        pg.migrate()

        def drop() -> None:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

        yield pg, drop


def test_a_closed_store_stays_closed(tmp_path: Path, clock: FixedClock) -> None:
    for store, drop in _stores(tmp_path):
        svc = BookingService(store.unit_of_work, clock=clock)
        start = clock.now() + timedelta(days=1)
        slot = svc.create_slot("math", start, start + timedelta(hours=1), 2)
        store.close()
        with pytest.raises(StoreClosed, match="closed"):
            svc.get_slot(slot.id, actor=SYSTEM)  # no quiet reconnect
        with pytest.raises(StoreClosed):
            svc.book(slot.id, "ann")
        store.close()  # closing again is harmless
        drop()


@pytest.mark.parametrize("timeout", [-1, 0, math.nan, math.inf, "5", True, None])
def test_a_lock_timeout_that_is_not_a_positive_number_is_refused(
    tmp_path: Path, timeout: object
) -> None:
    makers: list[Callable[[], object]] = [
        lambda: InMemoryStore(lock_timeout=timeout),  # type: ignore[arg-type]
        lambda: SqliteStore(tmp_path / "a.sqlite3", lock_timeout=timeout),  # type: ignore[arg-type]
    ]
    if "postgres" in ADAPTERS:
        from eduengine.adapters.postgres import PostgresStore

        makers.append(lambda: PostgresStore("postgresql://x/y", lock_timeout=timeout))  # type: ignore[arg-type]
    for make in makers:
        with pytest.raises(InvalidSetting, match="lock_timeout must be") as refused:
            make()
        assert isinstance(refused.value, InvalidInput)
        assert isinstance(refused.value, ValueError)


def test_other_bad_settings_are_refused_when_the_store_is_made(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match="outbox"):
        SqliteStore(tmp_path / "a.sqlite3", outbox="false")  # type: ignore[arg-type]
    with pytest.raises(InvalidSetting, match="path"):
        SqliteStore("")
    for url, message in [
        ("mysql://db/school", "unknown store URL scheme"),
        ("school.sqlite3", "looks like"),
        ("sqlite://host/school.sqlite3", "names a host"),
        ("sqlite:///", "names no file"),
        (f"sqlite:///{tmp_path}/a.sqlite3?lock_timeout=soon", "not a number"),
        (f"sqlite:///{tmp_path}/a.sqlite3?lock_timeout=-2", "lock_timeout must be"),
        (f"sqlite:///{tmp_path}/a.sqlite3?outbox=maybe", "true or false"),
        (f"sqlite:///{tmp_path}/a.sqlite3?schema=x", "unknown setting"),
        ("memory://?lock_timeout=1&x=2", "unknown setting"),
        ("postgresql://u:secret@h/db?max_size=many", "not a whole number"),
        ("postgresql://u@h/db?schema=a;drop", "plain SQL name"),
        ("postgresql://u@h/db?min_size=3&max_size=2", "pool sizes"),
    ]:
        with pytest.raises(InvalidSetting, match=message) as refused:
            store_from_url(url)
        assert "secret" not in str(refused.value)


def test_a_store_url_carries_the_stores_settings(tmp_path: Path) -> None:
    lite = store_from_url(f"sqlite:///{tmp_path}/a.sqlite3?lock_timeout=2.5&outbox=true")
    assert isinstance(lite, SqliteStore)
    assert (lite.path, lite.lock_timeout, lite.outbox) == (f"{tmp_path}/a.sqlite3", 2.5, True)
    assert isinstance(store_from_url("memory://"), InMemoryStore)
    if "postgres" in ADAPTERS:
        from eduengine.adapters.postgres import PostgresStore

        pg = store_from_url("postgres://u@h:5433/db?schema=s1&max_size=4&sslmode=require")
        assert isinstance(pg, PostgresStore)
        assert (pg.schema, pg.max_size) == ("s1", 4)
        assert pg.dsn == "postgres://u@h:5433/db?sslmode=require"  # the rest goes to libpq


def test_a_downgraded_library_is_told_the_database_is_newer_not_to_migrate(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "school.sqlite3"
    with monkeypatch.context() as newer:  # a newer release migrates the database
        newer.setattr(sqlite, "MIGRATIONS", [*sqlite.MIGRATIONS, ["CREATE TABLE later (x)"]])
        newer.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        upgraded = SqliteStore(path)
        upgraded.migrate()
        svc = BookingService(upgraded.unit_of_work, clock=clock)
        start = clock.now() + timedelta(days=1)
        svc.create_slot("math", start, start + timedelta(hours=1), 2, slot_id="s1")
        upgraded.close()
    old = SqliteStore(path)  # then the library is downgraded
    svc = BookingService(old.unit_of_work, clock=clock)
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 2  # reads go on: a migration only adds
    with pytest.raises(SchemaTooNew, match="newer eduengine") as refused:
        svc.book("s1", "ann")
    assert "call migrate()" not in str(refused.value)
    assert (refused.value.found, refused.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    with pytest.raises(SchemaTooNew, match=r"migrate\(\) cannot go back"):
        old.migrate()
    assert isinstance(refused.value, SchemaError)
    old.close()


def test_migrations_are_statements_so_a_semicolon_in_a_literal_or_trigger_is_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sqlite,
        "MIGRATIONS",
        [
            *sqlite.MIGRATIONS,
            [
                "CREATE TABLE notes (body TEXT NOT NULL DEFAULT 'a; b')",
                "CREATE TABLE note_log (line TEXT)",
                "CREATE TRIGGER note_logged AFTER INSERT ON notes BEGIN "
                "INSERT INTO note_log VALUES ('added; ' || new.body); "
                "INSERT INTO note_log VALUES ('twice;'); END",
                "INSERT INTO notes DEFAULT VALUES",
            ],
        ],
    )
    monkeypatch.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = SqliteStore(tmp_path / "school.sqlite3")
    store.migrate()
    rows = store.connection().execute("SELECT line FROM note_log ORDER BY rowid").fetchall()
    assert [row["line"] for row in rows] == ["added; a; b", "twice;"]
    store.close()


@pytest.mark.skipif("postgres" not in ADAPTERS, reason="needs a PostgreSQL server")
def test_a_downgraded_library_on_postgresql_is_told_the_same(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from eduengine.adapters import postgres

    assert PG_DSN
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with monkeypatch.context() as newer:
        later = ["CREATE TABLE later (x int)"]
        newer.setattr(postgres, "MIGRATIONS", [*postgres.MIGRATIONS, later])
        newer.setattr(postgres, "SCHEMA_VERSION", postgres.SCHEMA_VERSION + 1)
        upgraded = postgres.PostgresStore(PG_DSN, schema=schema)
        upgraded.migrate()
        upgraded.close()
    old = postgres.PostgresStore(PG_DSN, schema=schema)
    try:
        with pytest.raises(SchemaTooNew, match=r"newer eduengine.*migrate\(\) cannot go back"):
            old.migrate()
        svc = BookingService(old.unit_of_work, clock=clock)
        start = clock.now() + timedelta(days=1)
        with pytest.raises(SchemaTooNew, match="nothing was written"):
            svc.create_slot("math", start, start + timedelta(hours=1), 2)
    finally:
        old.close()
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
