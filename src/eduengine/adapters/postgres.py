"""The PostgreSQL adapter (psycopg 3), for several app servers sharing one database.

Install with ``pip install eduengine[postgres]``.

Concurrency control: READ COMMITTED transactions with row locks. Loading a slot takes
``SELECT ... FOR UPDATE`` on its row, and multi-slot commands (a series booking) lock
their slots in one statement ordered by id, so concurrent series bookings cannot
deadlock. Feature-module documents are guarded by a transaction-scoped advisory lock on
``(kind, key)`` (the scheme pretix uses for its quotas), which also serialises the
read-modify-write of a document that does not exist yet. Every wait is bounded by
``lock_timeout`` and raises :class:`~eduengine.errors.LockTimeout`; a deadlock or
serialisation failure raises :class:`~eduengine.errors.RetryableConflict`, which the
service layer retries a bounded number of times.

>>> store = PostgresStore("postgresql://postgres@127.0.0.1:5432/school")  # doctest: +SKIP
>>> store.migrate()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import pickle
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from eduengine.adapters import sql_common as enc
from eduengine.adapters.memory import take_raised, with_staged
from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Booking, Slot
from eduengine.booking.series import Series
from eduengine.errors import (
    BookingNotFound,
    DuplicateId,
    LockTimeout,
    PersistenceError,
    RetryableConflict,
    SchemaError,
    SeriesNotFound,
    SlotNotFound,
)
from eduengine.ports import IndexEntries

Conn = psycopg.Connection[dict[str, Any]]

MIGRATIONS: list[str] = [
    enc.SCHEMA_V1.format(serial="BIGSERIAL PRIMARY KEY", json="JSONB", blob="BYTEA"),
    enc.SCHEMA_V2,
    enc.SCHEMA_V3.format(binary=' COLLATE "C"'),
]

SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = 0x6564_7565  # "edue": one advisory lock key for migrations


def _translate(exc: psycopg.Error, what: str) -> Exception:
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return LockTimeout(f"PostgreSQL lock not available in time during {what}: {exc}")
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return RetryableConflict(f"PostgreSQL conflict during {what}: {exc}")
    if isinstance(exc, pg_errors.UniqueViolation):
        return DuplicateId(f"PostgreSQL refused a duplicate during {what}: {exc}")
    if isinstance(exc, pg_errors.UndefinedTable):
        return SchemaError(f"PostgreSQL schema is not migrated ({exc}): call migrate()")
    return PersistenceError(f"PostgreSQL error during {what}: {exc}")


class PostgresStore(enc.OutboxRelay):
    """A PostgreSQL database (optionally one ``schema`` in it) holding every aggregate.

    A store object is safe to share between threads: each thread gets its own connection.
    With ``outbox=True`` committed events are also written to an ``outbox`` table in the
    same transaction, to be relayed by :meth:`relay_outbox`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        lock_timeout: float = 10.0,
        outbox: bool = False,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.lock_timeout = lock_timeout
        self.outbox = outbox
        self._local = threading.local()
        self._connections: list[Conn] = []
        self._connections_lock = threading.Lock()
        self._schema_checked = False

    def connection(self) -> Conn:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            options = f"-c search_path={self.schema}" if self.schema else ""
            try:
                conn = psycopg.connect(
                    self.dsn, autocommit=True, row_factory=dict_row, options=options
                )
            except psycopg.Error as exc:
                raise PersistenceError(f"cannot connect to PostgreSQL: {exc}") from exc
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        conn = self.connection()
        begin(conn, self.lock_timeout)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`; idempotent and safe concurrently."""
        try:
            with self.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                if self.schema:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                )
                row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
                current = (row or {}).get("v") or 0
                if current > SCHEMA_VERSION:
                    raise SchemaError(
                        f"database schema version {current} is newer than this library's "
                        f"{SCHEMA_VERSION}"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[version - 1].encode())
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (%s, now())",
                        (version,),
                    )
        except psycopg.Error as exc:
            raise _translate(exc, "migrate") from exc
        self._schema_checked = True

    def schema_version(self) -> int:
        try:
            row = (
                self.connection().execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
            )
        except pg_errors.UndefinedTable:
            return 0
        return int((row or {}).get("v") or 0)

    def _check_schema(self) -> None:
        if not self._schema_checked:
            if self.schema_version() != SCHEMA_VERSION:
                raise SchemaError("PostgreSQL database is not migrated: call migrate()")
            self._schema_checked = True

    def unit_of_work(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self)

    def snapshot(self) -> dict[str, Any]:
        """The whole stored state, shaped exactly like ``InMemoryStore.snapshot()``."""
        with self.unit_of_work() as uow:
            conn = uow.conn
            return enc.snapshot_of(
                uow.slots.get_many(uow.slots.list_ids()),
                conn.execute("SELECT * FROM bookings ORDER BY seq").fetchall(),
                conn.execute("SELECT id, data FROM series ORDER BY id").fetchall(),
                (
                    (row["kind"], row["key"], row["data"])
                    for row in conn.execute(
                        "SELECT kind, key, data FROM records ORDER BY kind, key"
                    ).fetchall()
                ),
            )

    def pending_outbox(self, limit: int = 1000) -> list[tuple[int, DomainEvent]]:
        rows = self.connection().execute(
            "SELECT id, payload FROM outbox WHERE published = 0 ORDER BY id LIMIT %s", (limit,)
        )
        return [(row["id"], pickle.loads(row["payload"])) for row in rows]

    def mark_published(self, ids: Sequence[int]) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ANY(%s)", (list(ids),))


def begin(conn: Conn, lock_timeout: float) -> None:
    try:
        # one round trip: BEGIN and the lock timeout for this transaction only
        conn.execute(f"BEGIN; SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'".encode())
    except psycopg.Error as exc:
        raise _translate(exc, "begin") from exc


_LOAD_SLOTS = """
SELECT s.*,
    (SELECT coalesce(json_agg(w ORDER BY w.position), '[]'::json) FROM waitlist w
        WHERE w.slot_id = s.id) AS queue,
    (SELECT coalesce(json_agg(o ORDER BY o.id), '[]'::json) FROM offers o
        WHERE o.slot_id = s.id) AS held
FROM slots s
WHERE s.id = ANY(%s)
"""

_LOCK_SLOTS = "SELECT id FROM slots WHERE id = ANY(%s) ORDER BY id FOR UPDATE"


class PostgresSlotRepository:
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow

    def add(self, slot: Slot) -> None:
        exists = self._uow.execute("SELECT 1 FROM slots WHERE id = %s", (slot.id,)).fetchone()
        if exists or slot.id in self._uow.staged:
            raise DuplicateId(f"slot {slot.id!r} already exists")
        slot.changed = True
        self._uow.staged[slot.id] = slot
        self._uow.new_slot_ids.add(slot.id)

    def get(self, slot_id: str) -> Slot:
        return self.get_many([slot_id])[0]

    def get_many(self, slot_ids: Sequence[str]) -> list[Slot]:
        staged = self._uow.staged
        for sid in slot_ids:
            if not isinstance(sid, str):
                raise SlotNotFound(str(sid))
        missing = sorted({sid for sid in slot_ids if sid not in staged})
        if missing:
            # Lock the rows first, in id order (so concurrent series bookings cannot
            # deadlock), then read them with their seats, waitlist and offers in a second
            # statement: under READ COMMITTED that statement takes a fresh snapshot, so
            # it sees whatever the previous lock holder committed. (Reading in the same
            # statement as the lock would return seats from before the wait.)
            try:
                with self._uow.conn.pipeline():
                    self._uow.execute(_LOCK_SLOTS, (missing,))
                    loading = self._uow.execute(_LOAD_SLOTS, (missing,))
                rows = loading.fetchall()
            except psycopg.Error as exc:
                raise _translate(exc, "loading slots") from exc
            found = {row["id"]: row for row in rows}
            for sid in missing:
                if sid not in found:
                    raise SlotNotFound(sid)
            for sid in missing:
                row = found[sid]
                seats = self._seats(sid, row["booked"])
                slot = enc.slot_from_rows(row, seats, row["queue"], row["held"])
                staged[sid] = slot
                self._uow.loaded_children[sid] = (
                    tuple(slot.waitlist),
                    tuple(slot.offers.values()),
                )
        return [staged[sid] for sid in slot_ids]

    def _seats(self, slot_id: str, count: int) -> enc.LazySeats:
        def one(student_id: str) -> Booking | None:
            row = self._uow.execute(
                "SELECT * FROM bookings WHERE slot_id = %s AND student_id = %s "
                "AND status <> 'cancelled'",
                (slot_id, student_id),
            ).fetchone()
            return None if row is None else enc.booking_from_row(row)

        def every() -> list[Booking]:
            rows = self._uow.execute(
                "SELECT * FROM bookings WHERE slot_id = %s AND status <> 'cancelled' ORDER BY seq",
                (slot_id,),
            )
            return [enc.booking_from_row(r) for r in rows]

        return enc.LazySeats(count, one, every)

    def ids_with_offers_due(self, now: datetime) -> list[str]:
        rows = self._uow.execute(
            "SELECT DISTINCT slot_id FROM offers WHERE expires_us <= %s ORDER BY slot_id",
            (enc.micros(now),),
        )
        return [row["slot_id"] for row in rows]

    def list_ids(self) -> list[str]:
        rows = self._uow.execute("SELECT id FROM slots")
        return sorted({row["id"] for row in rows} | set(self._uow.staged))

    def ids_for_tutor(self, tutor_id: str) -> list[str]:
        rows = self._uow.execute("SELECT id FROM slots WHERE tutor_id = %s", (tutor_id,))
        staged = {sid for sid, slot in self._uow.staged.items() if slot.tutor_id == tutor_id}
        return sorted({row["id"] for row in rows} | staged)


class PostgresBookingRepository:
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow

    def get(self, booking_id: str) -> Booking:
        for slot in self._uow.staged.values():
            if booking_id in slot.changed_bookings:
                return slot.changed_bookings[booking_id]
        if not isinstance(booking_id, str):
            raise BookingNotFound(str(booking_id))
        row = self._uow.execute("SELECT * FROM bookings WHERE id = %s", (booking_id,)).fetchone()
        if row is None:
            raise BookingNotFound(booking_id)
        return enc.booking_from_row(row)

    def for_student(self, student_id: str) -> list[Booking]:
        rows = self._uow.execute(
            "SELECT * FROM bookings WHERE student_id = %s ORDER BY seq", (student_id,)
        )
        committed = [enc.booking_from_row(row) for row in rows]
        return with_staged(committed, self._uow.staged.values(), student_id)


class PostgresSeriesRepository:
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow

    def add(self, series: Series) -> None:
        if self._uow.execute("SELECT 1 FROM series WHERE id = %s", (series.id,)).fetchone():
            raise DuplicateId(f"series {series.id!r} already exists")
        self._uow.execute(
            "INSERT INTO series (id, data) VALUES (%s, %s)", (series.id, enc.series_out(series))
        )

    def get(self, series_id: str) -> Series:
        row = self._uow.execute("SELECT data FROM series WHERE id = %s", (series_id,)).fetchone()
        if row is None:
            raise SeriesNotFound(str(series_id))
        return enc.series_in(series_id, row["data"])


class PostgresRecordRepository:
    """JSONB documents; ``get`` takes a transaction-scoped advisory lock on (kind, key)."""

    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow
        self._locked: set[tuple[str, str]] = set()

    def _lock(self, kind: str, key: str) -> None:
        if (kind, key) not in self._locked:
            self._uow.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{kind}\x1f{key}",)
            )
            self._locked.add((kind, key))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        self._lock(kind, key)
        row = self._uow.execute(
            "SELECT data FROM records WHERE kind = %s AND key = %s", (kind, key)
        ).fetchone()
        return None if row is None else dict(row["data"])

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        rows = enc.index_rows(kind, key, index)
        self._lock(kind, key)
        self._uow.execute(
            "INSERT INTO records (kind, key, data) VALUES (%s, %s, %s::jsonb) "
            "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data",
            (kind, key, json.dumps(data, sort_keys=True)),
        )
        self._uow.execute(enc.DELETE_INDEX.replace("?", "%s"), (kind, key))
        if rows:
            try:
                with self._uow.conn.cursor() as cur:
                    cur.executemany(enc.INSERT_INDEX.replace("?", "%s").encode(), rows)
            except psycopg.Error as exc:
                raise _translate(exc, "indexing a record") from exc

    def delete(self, kind: str, key: str) -> None:
        self._lock(kind, key)
        self._uow.execute("DELETE FROM records WHERE kind = %s AND key = %s", (kind, key))
        self._uow.execute(enc.DELETE_INDEX.replace("?", "%s"), (kind, key))

    def list(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._uow.execute(
            "SELECT key, data FROM records WHERE kind = %s ORDER BY key", (kind,)
        )
        return [(row["key"], dict(row["data"])) for row in rows]

    def scan(
        self,
        kind: str,
        index: str,
        *,
        lo: int | None = None,
        hi: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> IndexEntries:
        sql, params = enc.scan_sql(kind, index, lo, hi, limit, descending)
        rows = self._uow.execute(sql.replace("?", "%s"), params)
        return [(row["key"], int(row["value"])) for row in rows]

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        sql, params = enc.scan_sql(kind, index, lo, hi, None, False, count=True)
        row = self._uow.execute(sql.replace("?", "%s"), params).fetchone()
        return 0 if row is None else int(row["n"])


class PostgresUnitOfWork:
    """One READ COMMITTED transaction with row locks; rolls back unless committed."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.staged: dict[str, Slot] = {}
        self.new_slot_ids: set[str] = set()
        #: waitlist and offers as loaded, so unchanged ones are not rewritten
        self.loaded_children: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.version_checks: list[tuple[str, psycopg.Cursor[Any]]] = []
        self._events: list[DomainEvent] = []
        self._dispatched = 0
        self.read_only = False
        self._open = False
        self._slots = PostgresSlotRepository(self)
        self._bookings = PostgresBookingRepository(self)
        self._series = PostgresSeriesRepository(self)
        self._records = PostgresRecordRepository(self)

    @property
    def slots(self) -> PostgresSlotRepository:
        return self._slots

    @property
    def bookings(self) -> PostgresBookingRepository:
        return self._bookings

    @property
    def series(self) -> PostgresSeriesRepository:
        return self._series

    @property
    def records(self) -> PostgresRecordRepository:
        return self._records

    def execute(self, query: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        try:
            return self.conn.execute(query.encode(), params)
        except psycopg.Error as exc:
            raise _translate(exc, "a unit of work") from exc

    def __enter__(self) -> Self:
        self.store._check_schema()
        self.conn = self.store.connection()
        begin(self.conn, self.store.lock_timeout)
        self._open = True
        self.staged = {}
        self.new_slot_ids = set()
        self._events = []
        self._dispatched = 0
        self._records._locked = set()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._open:
            self.rollback()

    def commit(self) -> None:
        try:
            # Pipeline mode sends every write and the COMMIT in one flight.
            with self.conn.pipeline():
                for slot in self.staged.values():
                    self._events.extend(slot.events)
                    if slot.changed:
                        self._write_slot(slot)
                if self.store.outbox and self._events:
                    with self.conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO outbox (event_type, payload) VALUES (%s, %s)",
                            [(type(e).__name__, pickle.dumps(e)) for e in self._events],
                        )
            stale = [sid for sid, cur in self.version_checks if cur.rowcount != 1]
            if stale:
                raise RetryableConflict(f"slot(s) {', '.join(stale)} changed under the lock")
            self.conn.execute("COMMIT")
        except psycopg.Error as exc:
            self.rollback()
            raise _translate(exc, "commit") from exc
        except BaseException:
            self.rollback()
            raise
        self._open = False
        for slot in self.staged.values():
            slot.events = []
            slot.changed_bookings = {}
            slot.changed = False
        self.staged = {}

    def _write_slot(self, slot: Slot) -> None:
        writes = enc.slot_writes(
            slot,
            is_new=slot.id in self.new_slot_ids,
            loaded_children=self.loaded_children.get(slot.id),
        )
        with self.conn.cursor() as cur:
            for w in writes:
                sql = w.sql.replace("?", "%s").encode()
                if w.many:
                    cur.executemany(sql, w.params)
                elif w.expect_one:
                    # the version check, a second line of defence behind the row lock;
                    # read after the pipeline syncs
                    self.version_checks.append((slot.id, self.conn.execute(sql, w.params)))
                else:
                    cur.execute(sql, w.params)

    def rollback(self) -> None:
        if self._open:
            self._open = False
            try:
                self.conn.execute("ROLLBACK")
            except psycopg.Error:
                self.conn.close()  # a broken connection is replaced on next use
        self.staged = {}
        self.new_slot_ids = set()
        self._events = []
        self._dispatched = 0

    def record_events(self, events: Sequence[DomainEvent]) -> None:
        self._events.extend(events)

    def raised_events(self) -> list[DomainEvent]:
        new, self._dispatched = take_raised(self.staged.values(), self._events, self._dispatched)
        return new

    def collect_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        self._dispatched = 0
        return events
