"""Commands inside a transaction the host opened: ``store.joined(conn)``."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from eduengine import DomainEvent, FixedClock, School, SeatBooked
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import AlreadyBooked, InvalidInput
from eduengine.people import SYSTEM

PG_DSN = os.environ.get("EDUENGINE_PG_DSN")


class Seen:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)


# One host per adapter: (store, host connection, begin, commit, rollback, host insert)
Host = tuple[
    Any,
    Any,
    Callable[[], object],
    Callable[[], object],
    Callable[[], object],
    Callable[[str], object],
]


def _sqlite_host(tmp: Path) -> Iterator[Host]:
    store = SqliteStore(tmp / "school.sqlite3", outbox=True)
    store.migrate()
    # used from AsyncSchool's threads too, as Django's connection is
    conn = sqlite3.connect(tmp / "school.sqlite3", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE payments (ref TEXT)")
    yield (
        store,
        conn,
        lambda: conn.execute("BEGIN IMMEDIATE"),
        lambda: conn.execute("COMMIT"),
        lambda: conn.execute("ROLLBACK"),
        lambda ref: conn.execute("INSERT INTO payments VALUES (?)", (ref,)),
    )
    conn.close()
    store.close()


def _postgres_host() -> Iterator[Host]:
    import psycopg

    from eduengine.adapters.postgres import PostgresStore

    assert PG_DSN is not None
    schema = f"j_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(PG_DSN, schema=schema, outbox=True)
    store.migrate()
    conn = psycopg.connect(PG_DSN, autocommit=True, options=f"-c search_path={schema}")
    conn.execute("CREATE TABLE payments (ref TEXT)")
    yield (
        store,
        conn,
        lambda: conn.execute("BEGIN"),
        lambda: conn.execute("COMMIT"),
        lambda: conn.execute("ROLLBACK"),
        lambda ref: conn.execute("INSERT INTO payments VALUES (%s)", (ref,)),
    )
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()
    store.close()


HOSTS = ["sqlite"] + (["postgres"] if PG_DSN or os.environ.get("CI") == "true" else [])


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    yield from (_sqlite_host(tmp_path) if request.param == "sqlite" else _postgres_host())


def _school(store: Any, clock: FixedClock) -> tuple[School, Seen, str]:
    seen = Seen()
    school = School.build(store, clock=clock, reminders=None, publisher=seen)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=3
    )
    return school, seen, slot.id


def _payments(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM payments").fetchone()[0])


def test_two_commands_in_one_host_transaction_commit_with_it(host: Host, clock: FixedClock) -> None:
    store, conn, begin, commit, _, pay = host
    school, seen, slot_id = _school(store, clock)
    heard: list[tuple[str, int]] = []
    school.bus.listen(lambda envelope: heard.append((envelope.type, envelope.sequence)))
    head = school.feed.head()
    begin()
    pay("p-1")
    with store.joined(conn) as tx:
        school.booking.book(slot_id, "ann")
        school.booking.book(slot_id, "bob")
    # nothing is published before the host commits: the host may still roll back
    assert [e for e in seen.events if isinstance(e, SeatBooked)] == []
    assert heard == []
    assert len(tx.events) == 2
    commit()
    tx.publish(school.bus)
    assert [e.student_id for e in seen.events if isinstance(e, SeatBooked)] == ["ann", "bob"]
    assert heard == [("booking.seat_booked", 2), ("booking.seat_booked", 3)]
    assert [(e.type, e.sequence) for e in school.feed.events_since(head)] == heard
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 1
    assert _payments(conn) == 1


def test_a_host_rollback_undoes_the_seat(host: Host, clock: FixedClock) -> None:
    store, conn, begin, _, rollback, pay = host
    school, _, slot_id = _school(store, clock)
    head = school.feed.head()
    begin()
    pay("p-1")
    with store.joined(conn):
        school.booking.book(slot_id, "ann")
        # inside the host's transaction the command's writes are visible to the next one
        assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 2
    rollback()  # the payment failed after all
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 3
    assert _payments(conn) == 0
    assert school.feed.events_since(head) == []  # nor is the seat in the feed


def test_a_refused_command_changes_nothing_and_the_host_transaction_goes_on(
    host: Host, clock: FixedClock
) -> None:
    store, conn, begin, commit, _, pay = host
    school, _, slot_id = _school(store, clock)
    begin()
    pay("p-1")
    with store.joined(conn) as tx:
        school.booking.book(slot_id, "ann")
        with pytest.raises(AlreadyBooked):
            school.booking.book(slot_id, "ann")
        pay("p-2")  # the host's transaction is still usable
    commit()
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 2
    assert _payments(conn) == 2
    assert len(tx.events) == 1


def test_a_write_without_an_open_host_transaction_is_refused(host: Host, clock: FixedClock) -> None:
    store, conn, *_ = host
    school, _, slot_id = _school(store, clock)
    with store.joined(conn), pytest.raises(InvalidInput, match="no open transaction"):
        school.booking.book(slot_id, "ann")
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 3


def test_outside_the_block_the_store_uses_its_own_transactions(
    host: Host, clock: FixedClock
) -> None:
    store, conn, begin, _, rollback, _ = host
    school, seen, slot_id = _school(store, clock)
    begin()
    with store.joined(conn):
        school.booking.book(slot_id, "ann")
    rollback()
    school.booking.book(slot_id, "bob")  # its own connection, committed and published
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 2
    assert [e.student_id for e in seen.events if isinstance(e, SeatBooked)] == ["bob"]


def test_the_host_connections_row_factory_is_left_as_it_was(
    tmp_path: Path, clock: FixedClock
) -> None:
    store, conn, begin, commit, _, _ = next(_sqlite_host(tmp_path))
    school, _, slot_id = _school(store, clock)
    begin()
    with store.joined(conn):
        school.booking.book(slot_id, "ann")
    commit()
    assert conn.row_factory is None
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_snapshot_inside_the_block_reads_the_host_transaction_with_the_stores_rows(
    host: Host, clock: FixedClock
) -> None:
    # the host's connection hands out plain tuples (sqlite3's default, psycopg's)
    store, conn, begin, _, rollback, _ = host
    school, _, slot_id = _school(store, clock)
    begin()
    with store.joined(conn):
        seat = school.booking.book(slot_id, "ann")
        inside = store.snapshot()
    rollback()
    assert inside["slots"][slot_id]["seats"] == [seat.id]  # the uncommitted seat
    assert inside["bookings"][seat.id]["student_id"] == "ann"
    assert store.snapshot()["slots"][slot_id]["seats"] == []


def test_awaited_commands_inside_the_block_join_the_host_transaction(
    tmp_path: Path, clock: FixedClock
) -> None:
    import asyncio

    from eduengine.web.aio import AsyncSchool

    store, conn, begin, _, rollback, _ = next(_sqlite_host(tmp_path))
    school, _, slot_id = _school(store, clock)

    async def book_two() -> None:
        async with AsyncSchool(school) as aschool:
            # awaited together: still one command at a time on the host's connection
            await asyncio.gather(
                aschool.booking.book(slot_id, "ann"), aschool.booking.book(slot_id, "bob")
            )

    begin()
    with store.joined(conn) as tx:
        asyncio.run(book_two())
    assert len(tx.events) == 2
    rollback()
    assert school.booking.get_slot(slot_id, actor=SYSTEM).seats_left == 3
