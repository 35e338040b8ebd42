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

The unit of work and repositories are :mod:`eduengine.adapters.sql`'s, shared with
SQLite; :class:`PostgresDialect` is what PostgreSQL does its own way.

>>> store = PostgresStore("postgresql://postgres@127.0.0.1:5432/school")  # doctest: +SKIP
>>> store.migrate()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import JsonbLoader, JsonLoader
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from eduengine.adapters import settings, sql
from eduengine.adapters import sql_common as enc
from eduengine.adapters.sql import Dialect, SlotRows, SqlStore, SqlUnitOfWork, committing, too_new
from eduengine.errors import (
    DuplicateId,
    InvalidInput,
    InvalidSetting,
    LockTimeout,
    PersistenceError,
    RetryableConflict,
    SchemaError,
    StoreClosed,
    StoreNotFound,
)
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.crypto import KeyProvider

log = logging.getLogger("eduengine.adapters")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Conn = psycopg.Connection[dict[str, Any]]

#: Versioned migrations, each a sequence of statements run one by one (no splitting).
MIGRATIONS: list[Sequence[str]] = [
    enc.filled(enc.SCHEMA_V1, serial="BIGSERIAL PRIMARY KEY", json="JSONB", blob="BYTEA"),
    enc.SCHEMA_V2,
    enc.filled(enc.SCHEMA_V3, binary=' COLLATE "C"'),
    enc.filled(enc.SCHEMA_V4, position="BIGSERIAL PRIMARY KEY"),
    enc.SCHEMA_V5,
]

SCHEMA_VERSION = len(MIGRATIONS)

#: The feed's append lock: one per schema, so stores in other schemas do not wait on it.
_FEED_LOCK = (
    b"SELECT pg_advisory_xact_lock(hashtextextended('eduengine.feed:' || current_schema(), 0))"
)
_DATABASE = "PostgreSQL database"  # as messages name it
#: "edue": the advisory lock key of migrations, with the schema's name hashed as the
#: second key, so migrations of one schema queue and other schemas' do not wait for them
_MIGRATION_LOCK = 0x6564_7565
#: marks the error a stale slot version raises inside the commit flight
_STALE = "eduengine: stale version of slot"
#: marks the error a stream counter that moved since it was read raises there
_STALE_COUNTER = "eduengine: moved counter of stream"


#: How long a command waits for the pool while some of its connections are not lent
#: out: an idle one comes at once, a new one within ~10 ms from a local server. Waiting
#: longer means the pool lost connections and reopens them on its back-off schedule
#: (1 s, 2 s, 4 s ... after failed attempts, so up to seconds after an outage ended):
#: the command connects on its own instead, which also tells at once if the server is
#: down, rather than after ``lock_timeout``.
_REFILL = 0.1
#: libpq's ``connect_timeout`` for such a connection (whole seconds, 2 at least)
_CONNECT_TIMEOUT = 2


#: the shared statements (``?`` placeholders) as psycopg runs them, made once each
_QUERIES: dict[str, bytes] = {}


def _sql(sql: str) -> bytes:
    query = _QUERIES.get(sql)
    if query is None:
        query = sql.replace("?", "%s").encode()
        if len(_QUERIES) < 1024:  # a bound, should a caller ever build statements freely
            _QUERIES[sql] = query
    return query


def _translate(exc: psycopg.Error, what: str) -> Exception:
    if isinstance(exc, pg_errors.InvalidTextRepresentation) and _STALE in str(exc):
        return RetryableConflict(f"a slot changed under the lock ({str(exc).splitlines()[0]})")
    if isinstance(exc, pg_errors.InvalidTextRepresentation) and _STALE_COUNTER in str(exc):
        return RetryableConflict(f"a stream was numbered meanwhile ({str(exc).splitlines()[0]})")
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return LockTimeout(f"PostgreSQL lock not available in time during {what}: {exc}")
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return RetryableConflict(f"PostgreSQL conflict during {what}: {exc}")
    if isinstance(exc, pg_errors.UniqueViolation):
        return DuplicateId(f"PostgreSQL refused a duplicate during {what}: {exc}")
    if isinstance(exc, pg_errors.UndefinedTable):
        return SchemaError(f"PostgreSQL schema is not migrated ({exc}): call migrate()")
    return PersistenceError(f"PostgreSQL error during {what}: {exc}")


class PostgresStore(SqlStore[Conn]):
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
    3 s instead of one reconnect (docs/storage.md). The pool reopens dropped connections
    in the background, backing off 1 s, 2 s, 4 s ... after failed attempts: when it has
    none ready within 0.1 s although not all ``max_size`` are in use, a command opens one
    of its own (closed after it), and a server that refuses it raises
    :class:`~eduengine.errors.StoreNotFound` at once rather than ``LockTimeout`` after
    ``lock_timeout``. After :meth:`close` the store refuses further use with
    ``PersistenceError``.
    ``application_name`` labels its connections in ``pg_stat_activity``.

    Committed events are also written to the event feed (``event_feed``) in the same
    transaction, to be read with :class:`eduengine.events.EventFeed` or relayed by
    :meth:`relay_outbox` (``outbox=`` is a deprecated no-op: the feed is always on).

    Inside ``with store.joined(conn):`` its units of work run in the transaction the
    host opened on its own psycopg connection ``conn`` (see
    :mod:`eduengine.adapters.joined`).

    ``keys=`` a :class:`~eduengine.service_layer.crypto.KeyProvider` (a KMS, or a key
    file) seals contact fields; without it they are stored in clear, which is logged
    once per process; ``keys="off"`` says clear text is meant (docs/privacy.md).
    """

    library_schema_version = SCHEMA_VERSION

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        lock_timeout: float = 10.0,
        outbox: bool | None = None,
        min_size: int = 1,
        max_size: int = 10,
        check_connections: bool = True,
        application_name: str | None = None,
        keys: KeyProvider | str | None = None,
        region: str | None = None,
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
        self.outbox = settings.outbox(outbox)
        self.sealer = settings.sealer(settings.remote_keys(keys), region)
        self.min_size = min_size
        self.max_size = max_size
        self.check_connections = check_connections
        #: shown in ``pg_stat_activity`` (None: whatever the DSN or server says)
        self.application_name = application_name
        self._pool: ConnectionPool[Conn] | None = None
        self._pool_lock = threading.Lock()
        self._connect_kwargs: dict[str, Any] = {}
        #: connections lent (from the pool or of their own) and not given back yet
        self._lent = 0
        #: the lent connections of their own (see _REFILL), closed when given back
        self._outside: set[Conn] = set()
        self._lent_lock = threading.Lock()
        #: the last connection of its own was refused: the server is probably down
        self._refused = False
        #: run before the store closes (a school's deferred reactions, its audit rows)
        self.before_close = settings.BeforeClose()
        self._closed = False
        self.dialect = PostgresDialect(self)

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
                self._connect_kwargs = kwargs
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
                # wait=False: opening never blocks on the server; the first command waits
                # for the pool's first connection, or connects on its own (see _REFILL).
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _borrow(self) -> Conn:
        pool = self._pool if self._pool is not None and not self._closed else self._open_pool()
        with self._lent_lock:
            busy = self._lent >= self.max_size
        if self._refused and not busy and not pool.get_stats().get("pool_available"):
            # ask the server again at once: queueing in the pool first would only add
            # the wait, and psycopg_pool keeps every timed-out waiter until it next
            # hands out a connection
            return self._connect_outside()
        try:
            conn = pool.getconn(
                timeout=self.lock_timeout if busy else min(_REFILL, self.lock_timeout)
            )
        except PoolClosed as exc:
            raise StoreClosed(
                "this PostgresStore is closed: make a new one to use the database again"
            ) from exc
        except PoolTimeout as exc:
            if not busy:
                return self._connect_outside()
            raise LockTimeout(
                f"no PostgreSQL connection within {self.lock_timeout}s: all {self.max_size} "
                f"of the pool are in use ({exc})"
            ) from exc
        with self._lent_lock:
            self._lent += 1
        return conn

    def _connect_outside(self) -> Conn:
        """A new connection outside the pool, for one borrower, closed when given back:
        the pool has none ready although not all are lent out, so it is reopening
        dropped ones on its back-off schedule (see ``_REFILL``). A server that cannot be
        reached is reported at once with :class:`StoreNotFound`."""
        try:
            conn: Conn = psycopg.Connection.connect(
                self.dsn, connect_timeout=_CONNECT_TIMEOUT, **self._connect_kwargs
            )
        except psycopg.Error as exc:
            self._refused = True
            detail = " ".join(str(exc).split())  # psycopg names host and port, no password
            raise StoreNotFound(
                f"cannot connect to PostgreSQL (is the server down?): {detail}; nothing was done"
            ) from exc
        self._refused = False
        log.info(
            "PostgreSQL pool has no connection ready, lending a new one of its own",
            extra={"schema": self.schema},
        )
        with self._lent_lock:
            self._lent += 1
            self._outside.add(conn)
        return conn

    def _give_back(self, conn: Conn) -> None:
        with self._lent_lock:
            self._lent -= 1
            outside = conn in self._outside
            self._outside.discard(conn)
        pool = self._pool
        if outside or pool is None:  # None: the store was closed meanwhile
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
        if not self._closed:
            self.before_close.run()
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
            with committing(self.dialect, conn):
                if check_schema:
                    check_version(found, write=True)
                yield conn

    # --- schema -------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`; idempotent and safe concurrently."""
        try:
            with self.transaction(check_schema=False) as conn:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_MIGRATION_LOCK, self.schema or ""),
                )
                if self.schema:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                )
                row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
                current = (row or {}).get("v") or 0
                if current > SCHEMA_VERSION:
                    raise too_new(
                        _DATABASE,
                        current,
                        SCHEMA_VERSION,
                        "migrate() cannot go back; nothing changed",
                    )
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

    # --- units of work, feed ------------------------------------------------------

    def unit_of_work(self, *, read_only: bool = False) -> PostgresUnitOfWork:
        """A unit of work; ``read_only=True`` for a query (one read-only snapshot, no row
        locks)."""
        return PostgresUnitOfWork(self, self._joined(), read_only=read_only)

    def prune_feed(self, before_us: int, limit: int) -> int:
        with self.transaction() as conn:
            return int(conn.execute(_sql(enc.PRUNE_FEED), (before_us, limit)).rowcount)


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
    """Raise :class:`SchemaError` unless a transaction may run at schema ``found`` (see
    :func:`eduengine.adapters.sql.check_version`)."""
    sql.check_version(_DATABASE, found, SCHEMA_VERSION, write=write)


_LOAD_SLOTS = f"""
SELECT s.*,
    (SELECT coalesce(json_agg(w ORDER BY w.position), '[]'::json) FROM waitlist w
        WHERE w.slot_id = s.id) AS queue,
    (SELECT coalesce(json_agg(o ORDER BY o.id), '[]'::json) FROM offers o
        WHERE o.slot_id = s.id) AS held,
    (SELECT e.last FROM event_streams e WHERE e.stream = '{enc.SLOT_STREAM}' || s.id)
        AS stream_last
FROM slots s
WHERE s.id = ANY(?)
"""

#: :data:`_LOAD_SLOTS` for a command about one student's seat (the first ``?``): whether
#: she holds one comes with the row, read after the lock like the rest
_LOAD_SEAT = _LOAD_SLOTS.replace(
    "\nFROM slots s",
    ",\n    EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id AND b.student_id = ?\n"
    "        AND b.status <> 'cancelled') AS seat_held\nFROM slots s",
)

_LOCK_SLOTS = "SELECT id FROM slots WHERE id = ANY(?) ORDER BY id FOR UPDATE"

#: a stream's counter moved from the number read (the third ``?``) to the last one given
#: out, or an error naming it (the fourth) that fails the commit's flight
_STORE_COUNTER = (
    "WITH moved AS (INSERT INTO event_streams (stream, last) VALUES (?, ?) "
    "ON CONFLICT (stream) DO UPDATE SET last = excluded.last "
    "WHERE event_streams.last = ? RETURNING 1) "
    "SELECT (CASE WHEN count(*) = 1 THEN '1'::text ELSE ?::text END)::int FROM moved"
)


class PostgresUnitOfWork(SqlUnitOfWork[Conn]):
    """One READ COMMITTED transaction with row locks; rolls back unless committed.

    Opened with ``store.unit_of_work(read_only=True)`` for a query: one read-only
    REPEATABLE READ snapshot, no locks, and every write through it raises
    ``InvalidInput``.
    """


class PostgresDialect(Dialect[Conn]):
    """PostgreSQL's ways: ``%s`` placeholders, a pooled connection per unit of work whose
    ``BEGIN`` also reads the schema version, row locks taken in id order, advisory locks
    on documents and on the feed, the commit's writes and ``COMMIT`` in one pipelined
    flight, and psycopg's errors translated into ours."""

    json_param = "?::jsonb"
    record_locks = True
    index_key_as_record_key = 'i.key COLLATE "default"'
    index_entries_sql = (
        "(SELECT json_agg(json_build_array(i.name, i.value)) FROM record_index i "
        "WHERE i.kind = r.kind AND i.key = r.key)"
    )

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def begin(self, uow: SqlUnitOfWork[Conn]) -> Conn:
        store = self.store
        conn = store._borrow()
        held: Conn | None = conn  # what to give back should this fail
        try:
            try:
                found = begin(conn, store.lock_timeout, read_only=uow.read_only)
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
                held = None  # given back once, even if borrowing again fails
                store._give_back(conn)
                store._check_idle()
                conn = held = store._borrow()
                found = begin(conn, store.lock_timeout, read_only=uow.read_only)
            try:
                check_version(found, write=not uow.read_only)
            except SchemaError:
                _end_failed(conn)
                raise
        except BaseException:
            if held is not None:
                store._give_back(held)
            raise
        return conn

    def release(self, uow: SqlUnitOfWork[Conn]) -> None:
        self.store._give_back(uow.conn)

    def join(self, uow: SqlUnitOfWork[Conn], conn: Conn) -> None:
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.INERROR:
            raise PersistenceError(
                "store.joined(conn): the host's transaction has already failed; roll it back"
            )
        if not uow.read_only and conn.autocommit and status == psycopg.pq.TransactionStatus.IDLE:
            raise InvalidInput(
                "store.joined(conn): the connection has no open transaction; begin one "
                "(conn.transaction(), or Django's transaction.atomic()) before a command"
            )

    def check_joined_version(self, uow: SqlUnitOfWork[Conn]) -> None:
        row = uow.execute("SELECT max(version) AS v FROM schema_version").fetchone()
        check_version(int((row or {}).get("v") or 0), write=not uow.read_only)

    def control(self, conn: Conn, statement: str) -> None:
        conn.execute(statement.encode())

    def flight(self, uow: SqlUnitOfWork[Conn]) -> AbstractContextManager[object]:
        # Pipeline mode sends every write and the COMMIT in one flight. COMMIT is queued
        # last, after all Python-side work succeeded; if any write fails on the server
        # (the version check included, see update_checked), the server skips the rest of
        # the flight, COMMIT too, and the unit of work rolls back.
        return uow.conn.pipeline()

    def commit_failed(self, exc: BaseException) -> Exception | None:
        return _translate(exc, "commit") if isinstance(exc, psycopg.Error) else None

    def rollback_failed(self, uow: SqlUnitOfWork[Conn], exc: Exception) -> bool:
        if not isinstance(exc, psycopg.Error):
            return False
        if uow.joined is None:
            uow.conn.close()  # a broken connection is replaced on next use
        return True

    def executors(self, uow: SqlUnitOfWork[Conn]) -> tuple[Callable[..., Any], Callable[..., Any]]:
        conn = uow.conn
        joined = uow.joined is not None
        cursor = self._cursor

        def execute(sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
            try:
                if joined:
                    return cursor(uow).execute(_sql(sql), params)
                return conn.execute(_sql(sql), params)
            except psycopg.Error as exc:
                raise _translate(exc, "a unit of work") from exc

        def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> None:
            try:
                with cursor(uow) as cur:
                    cur.executemany(_sql(sql), rows)
            except psycopg.Error as exc:
                raise _translate(exc, "a unit of work") from exc

        return execute, executemany

    def _cursor(self, uow: SqlUnitOfWork[Conn]) -> psycopg.Cursor[Any]:
        """A cursor with this adapter's row factory and JSON loaders, also on a host's
        connection (Django's loads ``jsonb`` as text and rows as tuples)."""
        if uow.joined is None:
            return uow.conn.cursor()
        cur = psycopg.Cursor(uow.conn, row_factory=dict_row)
        cur.adapters.register_loader("jsonb", JsonbLoader)  # the cursor's own copy
        cur.adapters.register_loader("json", JsonLoader)
        return cur

    def update_checked(
        self, uow: SqlUnitOfWork[Conn], sql: str, params: Sequence[Any], slot_id: str
    ) -> None:
        # COMMIT travels in the same flight, so the check must fail on the server: a
        # stale version makes the CASE yield a text that is no integer, and the cast
        # error aborts the transaction. (The CASE depends on count(*), so the planner
        # cannot fold it early.)
        uow.execute(
            f"WITH changed AS ({sql} RETURNING 1) "
            "SELECT (CASE WHEN count(*) = 1 THEN '1'::text ELSE ?::text END)::int FROM changed",
            (*params, f"{_STALE} {slot_id}"),
        )

    def load_slots(
        self, uow: SqlUnitOfWork[Conn], slot_ids: list[str], seat_of: str | None = None
    ) -> dict[str, SlotRows]:
        # Lock the rows first, in id order (so concurrent series bookings cannot
        # deadlock), then read them with their seats, waitlist and offers in a second
        # statement: under READ COMMITTED that statement takes a fresh snapshot, so it
        # sees whatever the previous lock holder committed. (Reading in the same
        # statement as the lock would return seats from before the wait.)
        load, params = (
            (_LOAD_SLOTS, (slot_ids,)) if seat_of is None else (_LOAD_SEAT, (seat_of, slot_ids))
        )
        try:
            if uow.read_only:
                # no FOR UPDATE: PostgreSQL refuses it in a read-only transaction, and a
                # query must not wait for (or block) a command anyway
                loading = uow.execute(load, params)
            else:
                with uow.conn.pipeline():
                    uow.execute(_LOCK_SLOTS, (slot_ids,))
                    loading = uow.execute(load, params)
            rows = loading.fetchall()
        except psycopg.Error as exc:
            raise _translate(exc, "loading slots") from exc
        if not uow.read_only and uow.joined is None:
            # read after the lock, so no other command numbers the slot's stream until
            # this one ends; in a host's transaction the host appends the feed rows,
            # later: these could be behind by then
            counted = uow.stream_lasts
            for row in rows:
                counted.setdefault(enc.SLOT_STREAM + row["id"], row["stream_last"] or 0)
        return {row["id"]: (row, row["queue"], row["held"]) for row in rows}

    def store_numbered(
        self, uow: SqlUnitOfWork[Conn], numbered: Mapping[str, int], envelopes: Sequence[Envelope]
    ) -> None:
        # In the commit's flight, the counters in sorted order: each moves from what the
        # load read to the last number given out, or the flight fails and nothing is
        # committed (a writer that numbered the stream without the slot's lock)
        read = uow.stream_lasts
        for stream in sorted(numbered):
            uow.execute(
                _STORE_COUNTER,
                (stream, numbered[stream], read[stream], f"{_STALE_COUNTER} {stream}"),
            )

    def lock_record(self, uow: SqlUnitOfWork[Conn], kind: str, key: str) -> None:
        # advisory locks are database-wide: the schema keeps two schools' (or two test
        # runs') documents of the same kind and key from blocking each other
        name = f"{self.store.schema or ''}\x1f{kind}\x1f{key}"
        uow.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    def lock_records(self, uow: SqlUnitOfWork[Conn], kind: str, keys: Sequence[str]) -> None:
        # one round trip: a function scan yields the array's names in order, and each
        # row's lock is taken as it is produced
        prefix = f"{self.store.schema or ''}\x1f{kind}\x1f"
        uow.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(n, 0)) FROM unnest(?::text[]) AS t(n)",
            ([prefix + key for key in keys],),
        ).fetchall()

    def lock_feed(self, uow: SqlUnitOfWork[Conn]) -> None:
        # A sequence value is taken at INSERT but seen by readers at COMMIT, so two
        # writers could commit positions 8 and 7 in that order and a reader at cursor 8
        # would never see 7. One lock per feed, taken as the last step before COMMIT and
        # held to its end, makes positions visible in order; it serialises only the
        # INSERT and the COMMIT of writers that publish (eventsourcing's notification
        # log takes a table lock for the same reason).
        uow.conn.execute(_FEED_LOCK)

    def insert_feed(
        self, uow: SqlUnitOfWork[Conn], params: Sequence[Sequence[Any]]
    ) -> Callable[[], list[int]]:
        # RETURNING rides in the commit's flight; the rows are read once it has landed
        step = uow.ROWS_PER_INSERT
        cursors = [
            uow.execute(
                f"{enc.multi_row(enc.INSERT_FEED, len(chunk))} RETURNING position",
                [v for row in chunk for v in row],
            )
            for chunk in (params[n : n + step] for n in range(0, len(params), step))
        ]
        return lambda: [int(row["position"]) for cur in cursors for row in cur.fetchall()]

    def json_in(self, value: Any) -> dict[str, Any]:
        return dict(value)  # psycopg loads jsonb
