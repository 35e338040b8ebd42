"""The PostgreSQL adapter (psycopg 3), for several app servers sharing one database.

Install with ``pip install eduengine[postgres]`` (psycopg and psycopg_pool).

Concurrency control: READ COMMITTED transactions with row locks. Loading a slot takes
``SELECT ... FOR UPDATE`` on its row, and multi-slot commands (a series booking) lock
their slots in one statement ordered by id, so concurrent series bookings cannot
deadlock. Feature-module documents are guarded by a transaction-scoped advisory lock on
``(kind, key)`` (the scheme pretix uses for its quotas), which also serialises the
read-modify-write of a document that does not exist yet. Every wait is bounded by
``lock_timeout`` and raises :class:`~eduengine.errors.LockTimeout`; a deadlock or
serialisation failure raises :class:`~eduengine.errors.RetryableConflict`, which the
service layer retries a bounded number of times. A unit of work with ``read_only = True``
runs ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``: one snapshot for all its
statements (without the row locks, READ COMMITTED would let a slot's seats and its
waitlist come from different commits), no row or advisory locks (PostgreSQL forbids
``FOR UPDATE`` there), so a report never blocks a booking; a read-only transaction never
fails with a serialisation error.

Every transaction's first round trip also reads the schema version, and a write refuses
with :class:`~eduengine.errors.SchemaError` unless it equals :data:`SCHEMA_VERSION`.

>>> store = PostgresStore("postgresql://postgres@127.0.0.1:5432/school")  # doctest: +SKIP
>>> store.migrate()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import JsonbLoader, JsonLoader
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from eduengine.adapters import settings
from eduengine.adapters import sql_common as enc
from eduengine.adapters.joined import SAVEPOINT, Joined, JoinsHostTransactions
from eduengine.adapters.memory import take_raised, with_staged
from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Booking, Slot
from eduengine.booking.series import Series
from eduengine.errors import (
    BookingNotFound,
    DuplicateId,
    InvalidInput,
    InvalidSetting,
    LockTimeout,
    PersistenceError,
    RetryableConflict,
    SchemaError,
    SchemaTooNew,
    SeriesNotFound,
    SlotNotFound,
    StoreClosed,
)
from eduengine.events.envelope import Envelope
from eduengine.ports import IndexEntries
from eduengine.version import __version__

log = logging.getLogger("eduengine.adapters")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Conn = psycopg.Connection[dict[str, Any]]

#: Versioned migrations, each a sequence of statements run one by one (no splitting).
MIGRATIONS: list[Sequence[str]] = [
    enc.filled(enc.SCHEMA_V1, serial="BIGSERIAL PRIMARY KEY", json="JSONB", blob="BYTEA"),
    enc.SCHEMA_V2,
    enc.filled(enc.SCHEMA_V3, binary=' COLLATE "C"'),
    enc.filled(enc.SCHEMA_V4, position="BIGSERIAL PRIMARY KEY"),
]

SCHEMA_VERSION = len(MIGRATIONS)

#: The feed's append lock: one per schema, so stores in other schemas do not wait on it.
_FEED_LOCK = (
    b"SELECT pg_advisory_xact_lock(hashtextextended('eduengine.feed:' || current_schema(), 0))"
)
_MIGRATION_LOCK = 0x6564_7565  # "edue": one advisory lock key for migrations
#: marks the error a stale slot version raises inside the commit flight
_STALE = "eduengine: stale version of slot"


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


class PostgresStore(enc.OutboxRelay, JoinsHostTransactions[Conn]):
    """A PostgreSQL database (optionally one ``schema`` in it) holding every aggregate.

    A store object is safe to share between threads. Its connections come from a
    bounded pool (``min_size`` to ``max_size`` connections, opened on first use); a unit
    of work holds one connection from ``BEGIN`` to its end, and waiting for a free one
    is bounded by ``lock_timeout``. A connection the server dropped (restart, idle kill,
    failover) costs the next command one reconnect: a unit of work's first statement
    (``BEGIN``) is its check, and a unit of work whose ``BEGIN`` fails on a broken
    connection starts again once on a fresh one (nothing of it ran yet), after the pool's
    other idle connections were tested (a round trip each, on this rare path only), so
    the retry does not meet another dead one. With ``check_connections`` (the default)
    :meth:`connection` (migrate, snapshot, relay) also tests the connection it lends. The
    pool's own per-checkout check is not used: after a failed check it sleeps a second,
    then two, before the next, which made the first command after a restart take
    3 s instead of one reconnect (docs/storage.md). After
    :meth:`close` the store refuses further use with ``PersistenceError``.
    ``application_name`` labels its connections in ``pg_stat_activity``.

    With ``outbox=True`` committed events are also written to an ``outbox`` table in the
    same transaction, to be relayed by :meth:`relay_outbox`.

    Inside ``with store.joined(conn):`` its units of work run in the transaction the
    host opened on its own psycopg connection ``conn`` (see
    :mod:`eduengine.adapters.joined`).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        lock_timeout: float = 10.0,
        outbox: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        check_connections: bool = True,
        application_name: str | None = None,
    ) -> None:
        if (
            any(isinstance(n, bool) or not isinstance(n, int) for n in (min_size, max_size))
            or not 0 <= min_size <= max_size
            or max_size < 1
        ):
            raise InvalidSetting(
                f"pool sizes must satisfy 0 <= min_size <= max_size and max_size >= 1, "
                f"got min_size={min_size}, max_size={max_size}"
            )
        if not isinstance(dsn, str) or not dsn:
            raise InvalidSetting(f"dsn must be a PostgreSQL connection string, got {dsn!r}")
        if schema is not None and (not isinstance(schema, str) or not _SCHEMA_NAME.match(schema)):
            raise InvalidSetting(
                f"schema must be a plain SQL name (letters, digits, _), got {schema!r}"
            )
        self.dsn = dsn
        self.schema = schema
        self.lock_timeout = settings.lock_timeout(lock_timeout)
        self.outbox = settings.flag(outbox, "outbox")
        self.min_size = min_size
        self.max_size = max_size
        self.check_connections = check_connections
        #: shown in ``pg_stat_activity`` (None: whatever the DSN or server says)
        self.application_name = application_name
        self._pool: ConnectionPool[Conn] | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    # --- connections --------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool[Conn]:
        with self._pool_lock:
            if self._closed:
                raise StoreClosed(
                    "this PostgresStore is closed: make a new one to use the database again"
                )
            if self._pool is None:
                options = f"-c search_path={self.schema}" if self.schema else ""
                kwargs: dict[str, Any] = {
                    "autocommit": True,
                    "row_factory": dict_row,
                    "options": options,
                }
                if self.application_name is not None:
                    kwargs["application_name"] = self.application_name
                pool: ConnectionPool[Conn] = ConnectionPool(
                    self.dsn,
                    connection_class=psycopg.Connection[dict[str, Any]],
                    kwargs=kwargs,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    # no per-checkout check: it backs off 1 s, 2 s ... after a failure
                    # (see the class docstring); BEGIN's failure is the check instead
                    check=None,
                    timeout=self.lock_timeout,
                    open=False,
                    name=f"eduengine:{self.schema or 'public'}",
                )
                # wait=False: opening never blocks on the server; the first getconn waits
                # (bounded by lock_timeout) and reports a server that cannot be reached.
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _borrow(self) -> Conn:
        pool = self._pool if self._pool is not None and not self._closed else self._open_pool()
        try:
            return pool.getconn(timeout=self.lock_timeout)
        except PoolClosed as exc:
            raise StoreClosed(
                "this PostgresStore is closed: make a new one to use the database again"
            ) from exc
        except PoolTimeout as exc:
            raise LockTimeout(
                f"no PostgreSQL connection within {self.lock_timeout}s: all {self.max_size} "
                f"of the pool are busy, or the server cannot be reached ({exc})"
            ) from exc

    def _give_back(self, conn: Conn) -> None:
        pool = self._pool
        if pool is None:  # pragma: no cover - a borrowed connection implies a pool
            conn.close()
            return
        # a closed or broken connection is dropped by the pool, which opens a new one
        pool.putconn(conn)

    def _check_idle(self) -> None:
        pool = self._pool
        if pool is not None:
            pool.check()  # replaces every idle connection that does not answer

    def _borrow_working(self) -> Conn:
        """A pooled connection that answered an empty round trip (with
        ``check_connections``): one that does not is dropped, the idle ones are tested,
        and a fresh or tested one is lent instead, without the pool's back-off."""
        conn = self._borrow()
        if not self.check_connections:
            return conn
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            self._give_back(conn)  # broken: the pool drops it and opens another
            self._check_idle()
            return self._borrow()
        return conn

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """Borrow a connection (autocommit, rows as dicts) for the ``with`` block."""
        conn = self._borrow_working()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def close(self) -> None:
        """Close the pool and every connection; the store cannot be used afterwards."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @contextmanager
    def transaction(self, *, check_schema: bool = True) -> Iterator[Conn]:
        """One transaction on a pooled connection; commits on success, rolls back on error.

        With ``check_schema`` (the default) it refuses with :class:`SchemaError` unless the
        database is at this library's schema version."""
        with self.connection() as conn:
            found = begin(conn, self.lock_timeout, check_schema=check_schema)
            try:
                if check_schema:
                    check_version(found, write=True)
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # --- schema -------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`; idempotent and safe concurrently."""
        try:
            with self.transaction(check_schema=False) as conn:
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
                    raise _too_new(current, "migrate() cannot go back; nothing changed")
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version - 1]:
                        conn.execute(statement.encode())
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (%s, now())",
                        (version,),
                    )
        except psycopg.Error as exc:
            raise _translate(exc, "migrate") from exc

    def schema_version(self) -> int:
        """The version the database was migrated to (0 if never)."""
        with self.connection() as conn:
            try:
                row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
            except pg_errors.UndefinedTable:
                return 0
        return int((row or {}).get("v") or 0)

    # --- units of work, snapshot, outbox --------------------------------------------

    def unit_of_work(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, self._joined())

    def snapshot(self) -> dict[str, Any]:
        """The whole stored state, shaped exactly like ``InMemoryStore.snapshot()``."""
        uow = self.unit_of_work()
        uow.read_only = True  # no row locks: a snapshot never blocks a booking
        with uow:
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

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        # Writers append under one advisory lock held to their COMMIT (see
        # PostgresUnitOfWork.commit), so a row becomes visible only after every row with a
        # lower position did: a reader past position p never misses a row below p.
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            rows = uow.execute(enc.READ_FEED.replace("?", "%s"), (after, limit)).fetchall()
        return [(int(row["position"]), str(row["envelope"])) for row in rows]

    def feed_head(self) -> int:
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            row = uow.execute("SELECT MAX(position) AS p FROM event_feed").fetchone()
        return int((row or {}).get("p") or 0)

    def stream_sequence(self, stream: str) -> int:
        """The last sequence number given to an event of ``stream`` (0: none yet), as
        committed; a live page reads it *before* the state it shows (see eduengine.live)."""
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            row = uow.execute(
                "SELECT last FROM event_streams WHERE stream = %s", (stream,)
            ).fetchone()
        return 0 if row is None else int(row["last"])

    def prune_feed(self, before_us: int, limit: int) -> int:
        with self.transaction() as conn:
            cur = conn.execute(enc.PRUNE_FEED.replace("?", "%s").encode(), (before_us, limit))
            return int(cur.rowcount)


def begin(
    conn: Conn, lock_timeout: float, *, read_only: bool = False, check_schema: bool = True
) -> int:
    """Start a transaction and return the database's schema version (0 if unchecked).

    BEGIN, the lock timeout for this transaction only, and the schema version travel in
    one round trip (three statements of one simple query): the version check costs no
    extra round trip, just an index lookup in a one-row-per-version table. Under READ
    COMMITTED the SELECT sees the latest committed migration, and a migration that
    commits later must wait for the locks this transaction takes on the rows it writes.
    """
    statements = [
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if read_only else "BEGIN",
        f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'",
    ]
    if check_schema:
        statements.append("SELECT max(version) AS v FROM schema_version")
    try:
        cur = conn.execute("; ".join(statements).encode())
        if not check_schema:
            return 0
        # psycopg keeps every statement's result: move on to the SELECT's
        while cur.description is None and cur.nextset():
            pass
        row = cur.fetchone()
    except psycopg.Error as exc:
        _end_failed(conn)
        raise _translate(exc, "begin") from exc
    return int((row or {}).get("v") or 0)


def _too_new(found: int, outcome: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"PostgreSQL database was migrated to schema version {found} by a newer eduengine, "
        f"but this process runs eduengine {__version__} with schema version "
        f"{SCHEMA_VERSION}: upgrade eduengine in this process (and restart it) before it "
        f"writes again; {outcome}",
        found=found,
        supported=SCHEMA_VERSION,
    )


def _end_failed(conn: Conn) -> None:
    """Roll back what a failed statement left open, so the connection can go back."""
    if conn.closed or conn.broken:
        return
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()


def check_version(found: int, *, write: bool) -> None:
    """Raise :class:`SchemaError` unless a transaction may run at schema ``found``.

    Reads go on against a newer schema (a migration only adds), writes need the exact
    version, so a process left on an older library cannot write rows the newer schema
    does not expect.
    """
    if found == SCHEMA_VERSION or (found > SCHEMA_VERSION and not write):
        return
    if found > SCHEMA_VERSION:
        raise _too_new(found, "nothing was written")
    raise SchemaError(
        f"PostgreSQL database is at schema version {found}, this library needs "
        f"{SCHEMA_VERSION}: call migrate(); nothing was written"
    )


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
        self._uow.refuse_if_read_only(f"adding slot {slot.id!r}")
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
                if self._uow.read_only:
                    # no FOR UPDATE: PostgreSQL refuses it in a read-only transaction,
                    # and a query must not wait for (or block) a command anyway
                    loading = self._uow.execute(_LOAD_SLOTS, (missing,))
                else:
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
        self._uow.refuse_if_read_only(f"adding series {series.id!r}")
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
        # a read-only unit of work reads without locks (it never writes back)
        if (kind, key) not in self._locked and not self._uow.read_only:
            # advisory locks are database-wide: the schema keeps two schools' (or two
            # test runs') documents of the same kind and key from blocking each other
            name = f"{self._uow.store.schema or ''}\x1f{kind}\x1f{key}"
            self._uow.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
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
        self._uow.refuse_if_read_only(f"writing record {kind}/{key}")
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
                with self._uow.cursor() as cur:
                    cur.executemany(enc.INSERT_INDEX.replace("?", "%s").encode(), rows)
            except psycopg.Error as exc:
                raise _translate(exc, "indexing a record") from exc

    def delete(self, kind: str, key: str) -> None:
        self._uow.refuse_if_read_only(f"deleting record {kind}/{key}")
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
    """One READ COMMITTED transaction with row locks; rolls back unless committed.

    Set :attr:`read_only` before entering for a query: one read-only REPEATABLE READ
    snapshot, no locks, and every write through it raises ``InvalidInput``.
    """

    def __init__(self, store: PostgresStore, joined: Joined[Conn] | None = None) -> None:
        self.store = store
        #: the host's transaction this unit of work runs in (None: its own)
        self.joined = joined
        #: a query: a read-only snapshot, no row or advisory locks; writes are refused
        self.read_only = False
        self.staged: dict[str, Slot] = {}
        self.new_slot_ids: set[str] = set()
        #: waitlist and offers as loaded, so unchanged ones are not rewritten
        self.loaded_children: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self._events: list[DomainEvent] = []
        self._envelopes: Sequence[Envelope] = ()
        self._dispatched = 0
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
            if self.joined is None:
                return self.conn.execute(query.encode(), params)
            return self.cursor().execute(query.encode(), params)
        except psycopg.Error as exc:
            raise _translate(exc, "a unit of work") from exc

    def cursor(self) -> psycopg.Cursor[Any]:
        """A cursor with this adapter's row factory and JSON loaders, also on a host's
        connection (Django's loads ``jsonb`` as text and rows as tuples)."""
        if self.joined is None:
            return self.conn.cursor()
        cur = psycopg.Cursor(self.conn, row_factory=dict_row)
        cur.adapters.register_loader("jsonb", JsonbLoader)  # the cursor's own copy
        cur.adapters.register_loader("json", JsonLoader)
        return cur

    def __enter__(self) -> Self:
        if self.joined is not None:
            return self._enter_joined(self.joined.conn)
        store = self.store
        conn = store._borrow()
        try:
            try:
                found = begin(conn, store.lock_timeout, read_only=self.read_only)
            except PersistenceError:
                if not (conn.closed or conn.broken):
                    raise
                # The server dropped this connection (restart, idle kill, failover) before
                # anything of this unit of work ran, so starting again is safe: once, on a
                # fresh connection; a second failure is reported. Whatever dropped one
                # idle connection probably dropped them all, so have the pool test its
                # idle ones first (a round trip each, on this rare path only).
                log.warning(
                    "PostgreSQL connection lost before BEGIN, reconnecting",
                    extra={"schema": store.schema},
                )
                store._give_back(conn)
                store._check_idle()
                conn = store._borrow()
                found = begin(conn, store.lock_timeout, read_only=self.read_only)
            try:
                check_version(found, write=not self.read_only)
            except SchemaError:
                _end_failed(conn)
                raise
        except BaseException:
            store._give_back(conn)
            raise
        self.conn = conn
        return self._opened()

    def _opened(self) -> Self:
        self._open = True
        self.staged = {}
        self.new_slot_ids = set()
        self.loaded_children = {}
        self._events = []
        self._envelopes = ()
        self._dispatched = 0
        self._records._locked = set()
        return self

    def _enter_joined(self, conn: Conn) -> Self:
        # The host's transaction, the host's timeouts: no SET LOCAL lock_timeout here,
        # it would outlive the command. A savepoint per write command, so a refusal (or
        # a deadlock, which ROLLBACK TO clears) leaves the host's transaction usable.
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.INERROR:
            raise PersistenceError(
                "store.joined(conn): the host's transaction has already failed; roll it back"
            )
        if not self.read_only and conn.autocommit and status == psycopg.pq.TransactionStatus.IDLE:
            raise InvalidInput(
                "store.joined(conn): the connection has no open transaction; begin one "
                "(conn.transaction(), or Django's transaction.atomic()) before a command"
            )
        assert self.joined is not None
        self.joined.acquire(self.store.lock_timeout)
        self.conn = conn
        try:
            if not self.read_only:
                self.execute(f"SAVEPOINT {SAVEPOINT}")
            row = self.execute("SELECT max(version) AS v FROM schema_version").fetchone()
            check_version(int((row or {}).get("v") or 0), write=not self.read_only)
        except BaseException:
            try:
                if not self.read_only:
                    self._end_savepoint(rollback=True)
            finally:
                self.joined.in_use.release()
            raise
        return self._opened()

    def _end_savepoint(self, *, rollback: bool) -> None:
        if rollback:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}".encode())
        self.conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}".encode())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._open:
                self.rollback()
        finally:
            if self.joined is None:
                self.store._give_back(self.conn)
            else:
                self.joined.in_use.release()

    def refuse_if_read_only(self, what: str) -> None:
        """Raise ``InvalidInput`` naming ``what`` if this unit of work is read-only."""
        if self.read_only:
            raise InvalidInput(f"{what} in a read-only unit of work (set read_only = False)")

    def commit(self) -> None:
        if self.read_only:
            changed = sorted(sid for sid, slot in self.staged.items() if slot.changed)
            if changed or self._events:
                self.rollback()
                self.refuse_if_read_only(
                    f"committing changed slot(s) {', '.join(changed)}"
                    if changed
                    else f"committing {len(self._events)} event(s)"
                )
        try:
            # Pipeline mode sends every write and the COMMIT in one flight. COMMIT is
            # queued last, after all Python-side work succeeded; if any write fails on
            # the server (the version check included, see _write_slot), the server skips
            # the rest of the flight, COMMIT too, and we roll back below.
            with self.conn.pipeline():
                for slot in self.staged.values():
                    self._events.extend(slot.events)
                    if slot.changed:
                        self._write_slot(slot)
                if self.store.outbox and self._envelopes:
                    # A sequence value is taken at INSERT but seen by readers at COMMIT,
                    # so two writers could commit positions 8 and 7 in that order and a
                    # reader at cursor 8 would never see 7. One lock per feed, taken
                    # here, the last step before COMMIT, and held to its end, makes
                    # positions visible in order; it serialises only the INSERT and the
                    # COMMIT of writers that publish (eventsourcing's notification log
                    # takes a table lock for the same reason).
                    self.conn.execute(_FEED_LOCK)
                    with self.cursor() as cur:
                        cur.executemany(
                            enc.INSERT_FEED.replace("?", "%s").encode(),
                            enc.feed_params(self._envelopes),
                        )
                if self.joined is None:
                    self.conn.execute(b"COMMIT")
                elif not self.read_only:
                    self._end_savepoint(rollback=False)
        except pg_errors.InvalidTextRepresentation as exc:
            self.rollback()
            if _STALE in str(exc):
                raise RetryableConflict(
                    f"a slot changed under the lock ({str(exc).splitlines()[0]})"
                ) from exc
            raise _translate(exc, "commit") from exc
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
        with self.cursor() as cur:
            for w in writes:
                sql = w.sql.replace("?", "%s").encode()
                if w.many:
                    cur.executemany(sql, w.params)
                elif w.expect_one:
                    # The version check, a second line of defence behind the row lock.
                    # COMMIT travels in the same flight, so the check must fail on the
                    # server: a stale version makes the CASE yield a text that is no
                    # integer, and the cast error aborts the transaction. (The CASE
                    # depends on count(*), so the planner cannot fold it early.)
                    cur.execute(
                        b"WITH changed AS (" + sql + b" RETURNING 1) "
                        b"SELECT (CASE WHEN count(*) = 1 THEN '1'::text "
                        b"ELSE %s::text END)::int FROM changed",
                        (*w.params, f"{_STALE} {slot.id}"),
                    )
                else:
                    cur.execute(sql, w.params)

    def rollback(self) -> None:
        if self._open:
            self._open = False
            try:
                if self.joined is None:
                    self.conn.execute("ROLLBACK")
                elif not self.read_only:
                    self._end_savepoint(rollback=True)
            except psycopg.Error:
                if self.joined is None:
                    self.conn.close()  # a broken connection is replaced on next use
        self.staged = {}
        self.new_slot_ids = set()
        self._events = []
        self._envelopes = ()
        self._dispatched = 0

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        self.refuse_if_read_only("numbering events")
        out: dict[str, int] = {}
        for stream in sorted(counts):
            n = counts[stream]
            row = self.execute(enc.NEXT_SEQUENCE.replace("?", "%s"), (stream, n)).fetchone()
            assert row is not None  # an upsert with RETURNING always yields its row
            out[stream] = int(row["last"]) - n
        return out

    def stage_feed(self, envelopes: Sequence[Envelope]) -> None:
        """Append ``envelopes`` to the feed in this transaction (if the store keeps one)."""
        self._envelopes = envelopes

    def record_events(self, events: Sequence[DomainEvent]) -> None:
        self._events.extend(events)

    def raised_events(self) -> list[DomainEvent]:
        new, self._dispatched = take_raised(self.staged.values(), self._events, self._dispatched)
        return new

    def collect_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        self._dispatched = 0
        if self.joined is not None:
            # committed only when the host commits: the host publishes them then
            self.joined.events.extend(events)
            self.joined.envelopes.extend(self._envelopes)
            self._envelopes = ()
            return []
        return events
