"""The SQLite adapter: the embedded default store (stdlib ``sqlite3``).

Concurrency control: every unit of work is one ``BEGIN IMMEDIATE`` transaction. SQLite
allows one writer per database at a time, across threads *and* processes, so commands
are serialisable and a slot can never be oversold, whatever the interleaving. Waiting for
the write lock is bounded by ``lock_timeout`` (SQLite's ``busy_timeout``), after which
:class:`~eduengine.errors.LockTimeout` is raised. File databases use WAL journaling, so
readers never block the writer. A unit of work with ``read_only = True`` begins with a
plain (deferred) ``BEGIN`` instead: under WAL it reads a snapshot and never takes the
write lock.

Erased data leaves the files: every connection runs with ``PRAGMA secure_delete = ON``
(deleted and overwritten content is zeroed in the pages), and a unit of work that erases
(:meth:`SqliteUnitOfWork.scrub_on_commit`) checkpoints the WAL, which still holds the old
pages, into the database and truncates it after its commit (:func:`scrub_wal`).

Schema guard: :meth:`SqliteStore.migrate` stamps the schema version into the database
header (``PRAGMA user_version``), and every write transaction reads it right after
taking the write lock, so a process whose library is older (or newer) than the database
refuses to write with :class:`~eduengine.errors.SchemaError` instead of writing rows the
other schema does not expect.

>>> store = SqliteStore(":memory:")
>>> store.migrate()
>>> with store.unit_of_work() as uow:
...     uow.slots.list_ids()
[]
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

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
    StoreNotFound,
)
from eduengine.events.envelope import Envelope
from eduengine.ports import IndexEntries
from eduengine.version import __version__

log = logging.getLogger("eduengine.adapters")

#: Versioned migrations, each a sequence of statements run one by one (no splitting).
MIGRATIONS: list[Sequence[str]] = [
    enc.filled(enc.SCHEMA_V1, serial="INTEGER PRIMARY KEY AUTOINCREMENT", json="TEXT", blob="BLOB"),
    enc.SCHEMA_V2,
    enc.filled(enc.SCHEMA_V3, binary=""),
    enc.filled(enc.SCHEMA_V4, position="INTEGER PRIMARY KEY AUTOINCREMENT"),
]

SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore(enc.OutboxRelay, JoinsHostTransactions[sqlite3.Connection]):
    """A SQLite database holding every aggregate of the library.

    ``path`` is a file (created if missing) or ``":memory:"``. Call :meth:`migrate` once
    (it is idempotent) before the first unit of work. With ``outbox=True`` every committed
    event is also written to the event feed (:class:`eduengine.events.EventFeed`) in the
    same transaction, so no event is lost if the process dies between commit and
    publish.

    Inside ``with store.joined(conn):`` its units of work run in the transaction the
    host opened on its own ``sqlite3`` connection ``conn`` (see
    :mod:`eduengine.adapters.joined`).

    A file in a directory that does not exist raises :class:`StoreNotFound` at once, a
    ``lock_timeout`` that is not a number of seconds above zero :class:`InvalidSetting`.
    After :meth:`close` every use raises :class:`StoreClosed`.
    """

    def __init__(
        self, path: str | Path, *, lock_timeout: float = 10.0, outbox: bool = False
    ) -> None:
        if not isinstance(path, str | Path) or str(path) == "":
            raise InvalidSetting(f"path must be a file path or ':memory:', got {path!r}")
        self.path = str(path)
        self.lock_timeout = settings.lock_timeout(lock_timeout)
        self.outbox = settings.flag(outbox, "outbox")
        self._memory = self.path == ":memory:"
        if not self._memory:
            folder = Path(self.path).absolute().parent
            if not folder.is_dir():
                # sqlite3 would only say "unable to open database file", and only once
                # the first connection tries (after the WAL switch's retries)
                raise StoreNotFound(
                    f"SQLite database {self.path!r}: directory {str(folder)!r} does not "
                    "exist (create it first; the database file itself is created on migrate)"
                )
        self._closed = False
        self._local = threading.local()
        self._shared_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._schema_checked = False
        self._shared: sqlite3.Connection | None = None

    # --- connections --------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.lock_timeout,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,
            )
        except sqlite3.OperationalError as exc:
            raise StoreNotFound(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        scrub_deleted(conn)
        if not self._memory:
            conn.execute("PRAGMA synchronous = NORMAL")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (one shared connection for ``:memory:``)."""
        if self._closed:
            raise StoreClosed(
                f"SQLite store {self.path!r} is closed: make a new SqliteStore to use it again"
            )
        if self._memory:
            if self._shared is None:
                self._shared = self._connect()
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def transaction(self, *, check_schema: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; commits on success, rolls back on error.

        With ``check_schema`` (the default) it first checks that the database is at this
        library's schema version and raises :class:`SchemaError` otherwise."""
        if self._memory and not self._shared_lock.acquire(timeout=self.lock_timeout):
            raise LockTimeout(f"SQLite store busy for more than {self.lock_timeout}s")
        try:
            conn = self.connection()
            begin(conn, self.lock_timeout)
            try:
                if check_schema:
                    self._check_write_version(conn)
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        finally:
            if self._memory:
                self._shared_lock.release()

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards (each use raises
        :class:`StoreClosed`). Calling it again does nothing."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._shared = None

    def backup(self, target: str | Path, *, pages: int = 1024) -> None:
        """Copy the database to the file ``target`` (replacing what it holds) with
        SQLite's online backup API, while other connections go on reading and writing:
        the copy is one consistent state, taken ``pages`` pages at a time so a writer
        waits at most for one step.

        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> live = SqliteStore(folder / "school.sqlite3")
        >>> live.migrate()
        >>> live.backup(folder / "copy.sqlite3")
        >>> SqliteStore(folder / "copy.sqlite3").schema_version() == SCHEMA_VERSION
        True
        """
        target = Path(target)
        if not target.absolute().parent.is_dir():
            raise StoreNotFound(
                f"backup target {str(target)!r}: directory "
                f"{str(target.absolute().parent)!r} does not exist"
            )
        source = self.connection()
        copy = sqlite3.connect(target)
        try:
            source.backup(copy, pages=pages)
        except sqlite3.Error as exc:
            raise PersistenceError(f"backup of {self.path!r} to {str(target)!r}: {exc}") from exc
        finally:
            copy.close()

    # --- schema -------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`; safe to call again or concurrently."""
        if not self._memory:
            self._use_wal()
        with self.transaction(check_schema=False) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            if current > SCHEMA_VERSION:
                raise _too_new(self.path, current, "migrate() cannot go back; nothing changed")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat()),
                )
            # The header copy of the version is what every write transaction checks: it
            # costs no table lookup. The schema_version table stays the record of when
            # each version was applied. (PRAGMA cannot take a bound parameter.)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        self._schema_checked = True

    def _use_wal(self) -> None:
        # WAL is a property of the database file, so setting it once (here) is enough.
        # Switching needs a moment of exclusive access, which SQLite does not wait for
        # through busy_timeout: retry briefly while another process is connected.
        deadline = time.monotonic() + self.lock_timeout
        warned = False
        while True:
            try:
                self.connection().execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise PersistenceError(f"cannot switch {self.path!r} to WAL: {exc}") from exc
                if time.monotonic() > deadline:
                    log.warning(
                        "SQLite %s: WAL switch timed out", self.path, extra={"path": self.path}
                    )
                    raise LockTimeout(f"cannot switch {self.path!r} to WAL: {exc}") from exc
                if not warned:
                    warned = True
                    log.warning(
                        "SQLite %s: WAL switch waits for other connections (%s), retrying",
                        self.path,
                        exc,
                        extra={"path": self.path},
                    )
                time.sleep(0.01)

    def schema_version(self) -> int:
        conn = self.connection()
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0] or 0)

    def _check_schema(self) -> None:
        # Once per store object: enough for reads, which may go on across an upgrade
        # (a migration only adds). Writes check again in every transaction.
        if self._schema_checked:
            return
        found = self.schema_version()
        if found < SCHEMA_VERSION:
            raise SchemaError(
                f"SQLite database {self.path!r} is not migrated "
                f"(version {found}, need {SCHEMA_VERSION}): call migrate()"
            )
        # a newer schema: reads go on (a migration only adds); writes are refused, with
        # the reason, by _check_write_version
        self._schema_checked = True

    def _check_write_version(self, conn: sqlite3.Connection) -> None:
        """Refuse to write unless the database is at this library's schema version.

        Runs right after ``BEGIN IMMEDIATE``: holding the write lock, nobody can migrate
        until this transaction ends, so the version read is the one the writes land in.
        ``PRAGMA user_version`` is read from the database header, which SQLite already
        has in its page cache, so the check costs next to nothing per command.
        """
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found == 0:
            # Migrated before the version was stamped in the header (or not at all):
            # ask the table. Only migrate() writes the header, so this stays the slow
            # path until someone calls it.
            found = self.schema_version()
        if found == SCHEMA_VERSION:
            return
        if found > SCHEMA_VERSION:
            raise _too_new(self.path, found, "nothing was written")
        raise SchemaError(
            f"SQLite database {self.path!r} is at schema version {found}, this library "
            f"needs {SCHEMA_VERSION}: call migrate(); nothing was written"
        )

    # --- units of work, snapshot, outbox --------------------------------------------

    def unit_of_work(self) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, self._joined())

    def snapshot(self) -> dict[str, Any]:
        """The whole stored state, shaped exactly like ``InMemoryStore.snapshot()``."""
        uow = self.unit_of_work()
        uow.read_only = True  # a consistent snapshot that never waits for a writer
        with uow:
            conn = uow.conn
            return enc.snapshot_of(
                uow.slots.get_many(uow.slots.list_ids()),
                conn.execute("SELECT * FROM bookings ORDER BY seq"),
                conn.execute("SELECT id, data FROM series ORDER BY id"),
                (
                    (row["kind"], row["key"], json.loads(row["data"]))
                    for row in conn.execute(
                        "SELECT kind, key, data FROM records ORDER BY kind, key"
                    )
                ),
            )

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        # SQLite has one writer and positions are assigned under its lock, so every
        # committed row below the highest visible one is visible too.
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            rows = uow.conn.execute(enc.READ_FEED, (after, limit)).fetchall()
        return [(int(row["position"]), str(row["envelope"])) for row in rows]

    def feed_head(self) -> int:
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            row = uow.conn.execute("SELECT MAX(position) AS p FROM event_feed").fetchone()
        return int(row["p"] or 0)

    def stream_sequence(self, stream: str) -> int:
        """The last sequence number given to an event of ``stream`` (0: none yet), as
        committed; a live page reads it *before* the state it shows (see eduengine.live)."""
        uow = self.unit_of_work()
        uow.read_only = True
        with uow:
            row = uow.conn.execute(
                "SELECT last FROM event_streams WHERE stream = ?", (stream,)
            ).fetchone()
        return 0 if row is None else int(row["last"])

    def prune_feed(self, before_us: int, limit: int) -> int:
        with self.transaction() as conn:
            return int(conn.execute(enc.PRUNE_FEED, (before_us, limit)).rowcount)


def scrub_deleted(conn: sqlite3.Connection) -> None:
    """Zero what a write deletes or overwrites, so an erased value does not stay in the
    file's free space (measured cost: within noise for booking commands)."""
    conn.execute("PRAGMA secure_delete = ON")


def scrub_wal(conn: sqlite3.Connection, path: str) -> bool:
    """Copy the WAL into the database and truncate it to zero bytes, so the old versions
    of erased pages leave the ``-wal`` file; returns whether it completed (a reader in
    another connection can keep it from finishing: it is logged, and the next checkpoint
    finishes the job)."""
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.Error as exc:
        log.warning("could not checkpoint the WAL of %s after an erasure: %s", path, exc)
        return False
    if busy:
        log.warning("the WAL of %s is still in use by a reader: erased pages stay in it "
                    "until the next checkpoint", path)  # fmt: skip
    return not busy


def begin(conn: sqlite3.Connection, lock_timeout: float, *, read_only: bool = False) -> None:
    """Start a transaction: ``BEGIN IMMEDIATE`` (takes the write lock now, so a command
    never fails half-way for want of it), or a deferred ``BEGIN`` to read a snapshot."""
    try:
        conn.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise LockTimeout(
                f"SQLite write lock not available within {lock_timeout}s: {exc}"
            ) from exc
        raise PersistenceError(f"cannot begin a SQLite transaction: {exc}") from exc


def _too_new(path: str, found: int, outcome: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"SQLite database {path!r} was migrated to schema version {found} by a newer "
        f"eduengine, but this process runs eduengine {__version__} with schema version "
        f"{SCHEMA_VERSION}: upgrade eduengine in this process (and restart it) before it "
        f"writes again; {outcome}",
        found=found,
        supported=SCHEMA_VERSION,
    )


class SqliteSlotRepository:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def add(self, slot: Slot) -> None:
        self._uow.refuse_if_read_only(f"adding slot {slot.id!r}")
        exists = self._uow.conn.execute("SELECT 1 FROM slots WHERE id = ?", (slot.id,)).fetchone()
        if exists or slot.id in self._uow.staged:
            raise DuplicateId(f"slot {slot.id!r} already exists")
        slot.changed = True
        self._uow.staged[slot.id] = slot
        self._uow.new_slot_ids.add(slot.id)

    def get(self, slot_id: str) -> Slot:
        staged = self._uow.staged.get(slot_id)
        if staged is not None:
            return staged
        if not isinstance(slot_id, str):
            raise SlotNotFound(str(slot_id))
        conn = self._uow.conn
        row = conn.execute("SELECT * FROM slots WHERE id = ?", (slot_id,)).fetchone()
        if row is None:
            raise SlotNotFound(slot_id)
        slot = enc.slot_from_rows(
            row,
            self._seats(slot_id, row["booked"]),
            conn.execute(
                "SELECT * FROM waitlist WHERE slot_id = ? ORDER BY position", (slot_id,)
            ).fetchall(),
            conn.execute(
                "SELECT * FROM offers WHERE slot_id = ? ORDER BY id", (slot_id,)
            ).fetchall(),
        )
        self._uow.staged[slot_id] = slot
        self._uow.loaded_children[slot_id] = (tuple(slot.waitlist), tuple(slot.offers.values()))
        return slot

    def _seats(self, slot_id: str, count: int) -> enc.LazySeats:
        conn = self._uow.conn

        def one(student_id: str) -> Booking | None:
            row = conn.execute(
                "SELECT * FROM bookings WHERE slot_id = ? AND student_id = ? "
                "AND status <> 'cancelled'",
                (slot_id, student_id),
            ).fetchone()
            return None if row is None else enc.booking_from_row(row)

        def every() -> list[Booking]:
            rows = conn.execute(
                "SELECT * FROM bookings WHERE slot_id = ? AND status <> 'cancelled' ORDER BY seq",
                (slot_id,),
            )
            return [enc.booking_from_row(r) for r in rows]

        return enc.LazySeats(count, one, every)

    def get_many(self, slot_ids: Sequence[str]) -> list[Slot]:
        # The transaction already holds the database's write lock, so order is free here;
        # we still load in sorted order to mirror the row-locking adapters.
        loaded = {sid: self.get(sid) for sid in sorted(set(slot_ids))}
        return [loaded[sid] for sid in slot_ids]

    def ids_with_offers_due(self, now: datetime) -> list[str]:
        rows = self._uow.conn.execute(
            "SELECT DISTINCT slot_id FROM offers WHERE expires_us <= ? ORDER BY slot_id",
            (enc.micros(now),),
        )
        return [row[0] for row in rows]

    def list_ids(self) -> list[str]:
        rows = self._uow.conn.execute("SELECT id FROM slots")
        return sorted({row[0] for row in rows} | set(self._uow.staged))

    def ids_for_tutor(self, tutor_id: str) -> list[str]:
        rows = self._uow.conn.execute("SELECT id FROM slots WHERE tutor_id = ?", (tutor_id,))
        staged = {sid for sid, slot in self._uow.staged.items() if slot.tutor_id == tutor_id}
        return sorted({row[0] for row in rows} | staged)


class SqliteBookingRepository:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def get(self, booking_id: str) -> Booking:
        for slot in self._uow.staged.values():
            if booking_id in slot.changed_bookings:
                return slot.changed_bookings[booking_id]
        if not isinstance(booking_id, str):
            raise BookingNotFound(str(booking_id))
        row = self._uow.conn.execute(
            "SELECT * FROM bookings WHERE id = ?", (booking_id,)
        ).fetchone()
        if row is None:
            raise BookingNotFound(booking_id)
        return enc.booking_from_row(row)

    def for_student(self, student_id: str) -> list[Booking]:
        rows = self._uow.conn.execute(
            "SELECT * FROM bookings WHERE student_id = ? ORDER BY seq", (student_id,)
        )
        committed = [enc.booking_from_row(row) for row in rows]
        return with_staged(committed, self._uow.staged.values(), student_id)


class SqliteSeriesRepository:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def add(self, series: Series) -> None:
        self._uow.refuse_if_read_only(f"adding series {series.id!r}")
        try:
            self._uow.conn.execute(
                "INSERT INTO series (id, data) VALUES (?, ?)", (series.id, enc.series_out(series))
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateId(f"series {series.id!r} already exists") from exc

    def get(self, series_id: str) -> Series:
        row = self._uow.conn.execute(
            "SELECT data FROM series WHERE id = ?", (series_id,)
        ).fetchone()
        if row is None:
            raise SeriesNotFound(str(series_id))
        return enc.series_in(series_id, row["data"])


class SqliteRecordRepository:
    """JSON documents and their index rows, written through at once: the transaction
    holds the write lock."""

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self._uow.conn.execute(
            "SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else dict(json.loads(row["data"]))

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
        conn = self._uow.conn
        conn.execute(
            "INSERT INTO records (kind, key, data) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data",
            (kind, key, json.dumps(data, sort_keys=True)),
        )
        conn.execute(enc.DELETE_INDEX, (kind, key))
        if rows:
            conn.executemany(enc.INSERT_INDEX, rows)

    def delete(self, kind: str, key: str) -> None:
        self._uow.refuse_if_read_only(f"deleting record {kind}/{key}")
        self._uow.conn.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
        self._uow.conn.execute(enc.DELETE_INDEX, (kind, key))

    def list(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._uow.conn.execute(
            "SELECT key, data FROM records WHERE kind = ? ORDER BY key", (kind,)
        )
        return [(row["key"], dict(json.loads(row["data"]))) for row in rows]

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
        return [(row["key"], row["value"]) for row in self._uow.conn.execute(sql, params)]

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        sql, params = enc.scan_sql(kind, index, lo, hi, None, False, count=True)
        return int(self._uow.conn.execute(sql, params).fetchone()["n"])


class SqliteUnitOfWork:
    """One ``BEGIN IMMEDIATE`` transaction; rolls back unless :meth:`commit` is called.

    Set :attr:`read_only` before entering for a query: it then reads a snapshot without
    taking the write lock, and every write through it raises ``InvalidInput``.
    """

    def __init__(
        self, store: SqliteStore, joined: Joined[sqlite3.Connection] | None = None
    ) -> None:
        self.store = store
        #: the host's transaction this unit of work runs in (None: its own)
        self.joined = joined
        #: a query: deferred BEGIN (no write lock, no schema check); writes are refused
        self.read_only = False
        self.staged: dict[str, Slot] = {}
        self.new_slot_ids: set[str] = set()
        #: waitlist and offers as loaded, so unchanged ones are not rewritten
        self.loaded_children: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self._events: list[DomainEvent] = []
        self._envelopes: Sequence[Envelope] = ()
        self._dispatched = 0
        self._open = False
        self._scrub = False
        self._slots = SqliteSlotRepository(self)
        self._bookings = SqliteBookingRepository(self)
        self._series = SqliteSeriesRepository(self)
        self._records = SqliteRecordRepository(self)

    @property
    def slots(self) -> SqliteSlotRepository:
        return self._slots

    @property
    def bookings(self) -> SqliteBookingRepository:
        return self._bookings

    @property
    def series(self) -> SqliteSeriesRepository:
        return self._series

    @property
    def records(self) -> SqliteRecordRepository:
        return self._records

    def __enter__(self) -> Self:
        if self.joined is not None:
            return self._enter_joined(self.joined.conn)
        store = self.store
        store._check_schema()
        if store._memory and not store._shared_lock.acquire(timeout=store.lock_timeout):
            raise LockTimeout(f"SQLite store busy for more than {store.lock_timeout}s")
        try:
            self.conn = store.connection()
            begin(self.conn, store.lock_timeout, read_only=self.read_only)
            if not self.read_only:
                try:
                    store._check_write_version(self.conn)
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
        except BaseException:
            if store._memory:
                store._shared_lock.release()
            raise
        return self._opened()

    def _opened(self) -> Self:
        self._open = True
        self.staged = {}
        self.new_slot_ids = set()
        self.loaded_children = {}
        self._events = []
        self._envelopes = ()
        self._dispatched = 0
        return self

    def _enter_joined(self, conn: sqlite3.Connection) -> Self:
        # The host's connection: rows as sqlite3.Row while we use it (restored on exit),
        # a savepoint per write command so a refusal leaves the host's transaction as
        # it was. A write needs the host's transaction open: outside one, the savepoint
        # would commit on release, behind the host's back.
        if not self.read_only and not conn.in_transaction:
            raise InvalidInput(
                "store.joined(conn): the connection has no open transaction; begin one "
                "(BEGIN IMMEDIATE, or Django's transaction.atomic()) before a command"
            )
        assert self.joined is not None
        self.joined.acquire(self.store.lock_timeout)
        self.conn = conn
        self._host_row_factory = conn.row_factory
        conn.row_factory = sqlite3.Row
        if not self.read_only:
            try:
                conn.execute(f"SAVEPOINT {SAVEPOINT}")
                self.store._check_write_version(conn)
            except BaseException:
                self._end_savepoint(rollback=True)
                conn.row_factory = self._host_row_factory
                self.joined.in_use.release()
                raise
        return self._opened()

    def _end_savepoint(self, *, rollback: bool) -> None:
        if rollback:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        self.conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")

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
            if self.joined is not None:
                self.conn.row_factory = self._host_row_factory
                self.joined.in_use.release()
            elif self.store._memory:
                self.store._shared_lock.release()

    def refuse_if_read_only(self, what: str) -> None:
        """Raise ``InvalidInput`` naming ``what`` if this unit of work is read-only."""
        if self.read_only:
            raise InvalidInput(f"{what} in a read-only unit of work (set read_only = False)")

    def scrub_on_commit(self) -> None:
        """After this unit of work commits, take what it erased out of the WAL too (see
        :func:`scrub_wal`). Inside a host's transaction the host commits: its next
        checkpoint does it."""
        self._scrub = True

    def commit(self) -> None:
        conn = self.conn
        if self.read_only:
            # A deferred transaction would silently take the write lock on a first write,
            # so refuse here rather than let a query change anything.
            changed = sorted(sid for sid, slot in self.staged.items() if slot.changed)
            if changed or self._events:
                self.rollback()
                self.refuse_if_read_only(
                    f"committing changed slot(s) {', '.join(changed)}"
                    if changed
                    else f"committing {len(self._events)} event(s)"
                )
        try:
            for slot in self.staged.values():
                self._events.extend(slot.events)
                if slot.changed:
                    self._write_slot(conn, slot)
            if self.store.outbox and self._envelopes:
                # positions come from AUTOINCREMENT under the write lock: commit order
                conn.executemany(enc.INSERT_FEED, enc.feed_params(self._envelopes))
            if self.joined is None:
                conn.execute("COMMIT")
            elif not self.read_only:
                self._end_savepoint(rollback=False)
        except RetryableConflict:
            self.rollback()
            raise
        except sqlite3.IntegrityError as exc:
            self.rollback()
            raise PersistenceError(f"SQLite refused the write: {exc}") from exc
        except sqlite3.OperationalError as exc:
            self.rollback()
            if "locked" in str(exc) or "busy" in str(exc):
                raise LockTimeout(f"SQLite commit timed out: {exc}") from exc
            raise PersistenceError(f"SQLite commit failed: {exc}") from exc
        self._open = False
        for slot in self.staged.values():
            slot.events = []
            slot.changed_bookings = {}
            slot.changed = False
        self.staged = {}
        if self._scrub and self.joined is None and not self.store._memory:
            scrub_wal(conn, self.store.path)

    def _write_slot(self, conn: sqlite3.Connection, slot: Slot) -> None:
        writes = enc.slot_writes(
            slot,
            is_new=slot.id in self.new_slot_ids,
            loaded_children=self.loaded_children.get(slot.id),
        )
        for w in writes:
            if w.many:
                conn.executemany(w.sql, w.params)
                continue
            changed = conn.execute(w.sql, w.params).rowcount
            if w.expect_one and changed != 1:
                # the version check, a second line of defence behind the write lock
                raise RetryableConflict(f"slot {slot.id!r} changed under the lock")

    def rollback(self) -> None:
        if self._open:
            self._open = False
            if self.joined is None:
                self.conn.execute("ROLLBACK")
            elif not self.read_only:
                self._end_savepoint(rollback=True)
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
            row = self.conn.execute(enc.NEXT_SEQUENCE, (stream, n)).fetchone()
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
