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

Schema guard: :meth:`SqliteStore.migrate` records the schema version (in the
``schema_version`` table and in the database header, ``PRAGMA user_version``), and every
write transaction checks it after taking the write lock, with its first statement (a
slot load reads it as one more column; any other first statement is preceded by the
header read), so a process whose library is older (or newer) than the database refuses
to read or write with :class:`~eduengine.errors.SchemaError` instead of writing rows the
other schema does not expect.

The unit of work and repositories are :mod:`eduengine.adapters.sql`'s, shared with
PostgreSQL; :class:`SqliteDialect` is what SQLite does its own way.

>>> store = SqliteStore(":memory:")
>>> store.migrate()
>>> with store.unit_of_work() as uow:
...     uow.slots.list_ids()
[]
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eduengine.adapters import settings
from eduengine.adapters import sql_common as enc
from eduengine.adapters.sql import (
    Dialect,
    SlotRows,
    SqlStore,
    SqlUnitOfWork,
    check_version,
    committing,
    too_new,
)
from eduengine.errors import (
    InvalidInput,
    InvalidSetting,
    LockTimeout,
    PersistenceError,
    RetryableConflict,
    SchemaError,
    StoreClosed,
    StoreNotFound,
)
from eduengine.service_layer.crypto import DATA_KEYS, KeyFile, KeyProvider
from eduengine.service_layer.ports import CommitMark

log = logging.getLogger("eduengine.adapters")

#: Versioned migrations, each a sequence of statements run one by one (no splitting).
MIGRATIONS: list[Sequence[str]] = [
    enc.filled(enc.SCHEMA_V1, serial="INTEGER PRIMARY KEY AUTOINCREMENT", json="TEXT", blob="BLOB"),
    enc.SCHEMA_V2,
    enc.filled(enc.SCHEMA_V3, binary=""),
    enc.filled(enc.SCHEMA_V4, position="INTEGER PRIMARY KEY AUTOINCREMENT"),
    enc.SCHEMA_V5,
    enc.SQLITE_SCHEMA_V6,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore(SqlStore[sqlite3.Connection]):
    """A SQLite database holding every aggregate of the library.

    ``path`` is a file (created if missing) or ``":memory:"``. Call :meth:`migrate` once
    (it is idempotent) before the first unit of work. Every committed event is also
    written to the event feed (:class:`eduengine.events.EventFeed`) in the same
    transaction, so no event is lost if the process dies between commit and publish
    (``outbox=`` is a deprecated no-op: the feed is always on).

    Inside ``with store.joined(conn):`` its units of work run in the transaction the
    host opened on its own ``sqlite3`` connection ``conn`` (see
    :mod:`eduengine.adapters.joined`).

    A file in a directory that does not exist raises :class:`StoreNotFound` at once, a
    ``lock_timeout`` that is not a number of seconds above zero :class:`InvalidSetting`.
    After :meth:`close` every use raises :class:`StoreClosed`.

    Contact fields are sealed by default (docs/privacy.md): ``keys="local"`` keeps the
    master keys in the key file ``<path>.keys`` beside the database, created (mode 0600)
    by the first :meth:`migrate`; ``":memory:"`` keeps them in the process. ``keys=`` a
    :class:`~eduengine.service_layer.crypto.KeyProvider` (a KMS) seals with it;
    ``keys="off"`` (or ``None``) seals nothing. Losing the key file loses the contacts.
    """

    library_schema_version = SCHEMA_VERSION

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float = 10.0,
        outbox: bool | None = None,
        keys: KeyProvider | str | None = settings.LOCAL_KEYS,
        region: str | None = None,
    ) -> None:
        if not isinstance(path, str | Path) or str(path) == "":
            raise InvalidSetting(f"path must be a file path or ':memory:', got {path!r}")
        self.path = str(path)
        self.lock_timeout = settings.lock_timeout(lock_timeout)
        self.outbox = settings.outbox(outbox)
        provider = settings.local_keys(keys, self.path, self._holds_no_sealed_value)
        self.sealer = settings.sealer(provider, region)
        self._memory = self.path == ":memory:"
        self._database = f"SQLite database {self.path!r}"  # as messages name it
        if not self._memory:
            folder = Path(self.path).absolute().parent
            if not folder.is_dir():
                # sqlite3 would only say "unable to open database file", and only once
                # the first connection tries (after the WAL switch's retries)
                raise StoreNotFound(
                    f"SQLite database {self.path!r}: directory {str(folder)!r} does not "
                    "exist (create it first; the database file itself is created on migrate)"
                )
        #: run before the store closes (a school's deferred reactions, its audit rows)
        self.before_close = settings.BeforeClose()
        self._closed = False
        self._local = threading.local()
        self._shared_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._schema_checked = False
        self._shared: sqlite3.Connection | None = None
        self.dialect = SqliteDialect(self)

    # --- connections --------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.lock_timeout,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,
                factory=_Connection,
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
            with committing(self.dialect, conn):
                if check_schema:
                    self._check_write_version(conn)
                yield conn
        finally:
            if self._memory:
                self._shared_lock.release()

    @property
    def audit_journals(self) -> Path | None:
        """Where schools built on this database keep their audit journals (the default
        of ``School.build(audit="journal")``): ``<database>.audit`` beside the file;
        ``None`` in memory."""
        return None if self._memory else Path(f"{Path(self.path).absolute()}.audit")

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards (each use raises
        :class:`StoreClosed`). Calling it again does nothing."""
        if not self._closed:
            self.before_close.run()
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
                raise too_new(
                    self._database,
                    current,
                    SCHEMA_VERSION,
                    "migrate() cannot go back; nothing changed",
                )
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
        keys = None if self.sealer is None else self.sealer.keys
        if isinstance(keys, KeyFile):
            keys.open()  # the key file beside the database, created at the first migrate
        self._refuse_sealed_without_keys()

    def _refuse_sealed_without_keys(self) -> None:
        # keys="off" on a database that holds sealed values would hand the domain
        # {"$sealed": ...} where it expects a phone: refused once, when first used
        if (self.sealer is None or self.sealer.keys is None) and not self._holds_no_sealed_value():
            raise InvalidSetting(
                f"SQLite database {self.path!r} holds sealed contact values but its store "
                "has no keys (keys='off'): open it with its key file (keys='local', the "
                "default, or keys=local:/path/to/key/file)"
            )

    def _holds_no_sealed_value(self) -> bool:
        """Whether the database holds no data key, so its missing key file may be made
        afresh (a new database, or one written before its store sealed)."""
        if self._memory or not Path(self.path).exists():
            return True
        try:
            conn = sqlite3.connect(f"{Path(self.path).absolute().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute(
                    "SELECT 1 FROM records WHERE kind = ? LIMIT 1", (DATA_KEYS,)
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return True  # no records table yet: nothing was sealed
        return row is None

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
        self._refuse_sealed_without_keys()
        # a newer schema: reads go on (a migration only adds); writes are refused, with
        # the reason, by _check_write_version
        self._schema_checked = True

    def _check_write_version(self, conn: sqlite3.Connection, found: int | None = None) -> None:
        """Refuse to write unless the database is at this library's schema version.

        Runs after ``BEGIN IMMEDIATE``, before the transaction's first read or write:
        holding the write lock, nobody can migrate until this transaction ends, so the
        version read is the one the writes land in. ``PRAGMA user_version`` is read from
        the database header, which SQLite already has in its page cache; a unit of work
        whose first statement loads a slot passes the version that statement read from
        ``schema_version`` (``found``), so the check costs no statement of its own.
        """
        if found is None:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found == 0:
            # Migrated before the version was stamped in the header (or not at all):
            # ask the table. Only migrate() writes the header, so this stays the slow
            # path until someone calls it.
            found = self.schema_version()
        check_version(self._database, found, SCHEMA_VERSION, write=True)

    # --- units of work, feed ------------------------------------------------------

    def unit_of_work(self, *, read_only: bool = False) -> SqliteUnitOfWork:
        """A unit of work; ``read_only=True`` for a query (a WAL snapshot, no write lock)."""
        return SqliteUnitOfWork(self, self._joined(), read_only=read_only)

    def prune_feed(self, before_us: int, limit: int) -> int:
        with self.transaction() as conn:
            return int(conn.execute(enc.PRUNE_FEED, (before_us, limit)).rowcount)


#: how many read-only units of work on a connection go without a commit mark after one
#: found that another connection had committed since the last (see
#: :meth:`SqliteDialect.commit_mark`)
UNMARKED_AFTER_A_COMMIT = 7
#: serial numbers of the connections this process opens (see :class:`_Connection`)
_SERIALS = itertools.count()


class _Connection(sqlite3.Connection):
    """A connection a store opened, with a serial number no other connection of the
    process ever has (an ``id()`` may be reused), so a commit mark taken on one is never
    mistaken for another's (:meth:`SqliteDialect.commit_mark`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.serial = next(_SERIALS)
        #: ``PRAGMA data_version`` as this connection last read it
        self.data_version: int | None = None
        #: the cursor it is read with (a fresh cursor and a row object per read cost
        #: about as much as the statement)
        self.version_cursor: sqlite3.Cursor | None = None
        #: how many more read-only units of work go unmarked (another connection
        #: committed between the last two marks: where others commit that often, a mark
        #: would rarely match, and asking would only add a statement)
        self.unmarked = 0


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


class SqliteUnitOfWork(SqlUnitOfWork[sqlite3.Connection]):
    """One ``BEGIN IMMEDIATE`` transaction; rolls back unless :meth:`commit` is called.

    Opened with ``store.unit_of_work(read_only=True)`` for a query: it reads a snapshot
    without taking the write lock, and every write through it raises ``InvalidInput``.
    """

    #: set by :meth:`scrub_on_commit`: checkpoint the WAL after the commit
    scrub = False

    def scrub_on_commit(self) -> None:
        """After this unit of work commits, take what it erased out of the WAL too (see
        :func:`scrub_wal`). Inside a host's transaction the host commits: its next
        checkpoint does it."""
        self.scrub = True

    def commit(self) -> None:
        super().commit()
        store = self.store
        erased = self.scrub and self.joined is None
        if erased and isinstance(store, SqliteStore) and not store._memory:
            scrub_wal(self.conn, store.path)


class SqliteDialect(Dialect[sqlite3.Connection]):
    """SQLite's ways: ``?`` placeholders as they are, one connection per thread (one
    shared for ``:memory:``), ``BEGIN IMMEDIATE`` whose database-wide write lock makes
    row, document and feed locks needless, and the schema check riding on a write
    transaction's first statement."""

    #: every statement is a call through sqlite3: one for a table's rows, not one each
    multi_row_inserts = True
    #: a document is read in-process, no round trip: two point reads cost about what one
    #: statement reading both does, and the read ahead's own work would be a loss
    #: (docs/benchmarks.md, the access check)
    reads_ahead = False
    #: documents are stored as text, so a remembered one is parsed afresh on each read
    remembers_documents = True

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def begin(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> sqlite3.Connection:
        store = self.store
        store._check_schema()
        if store._memory and not store._shared_lock.acquire(timeout=store.lock_timeout):
            raise LockTimeout(f"SQLite store busy for more than {store.lock_timeout}s")
        try:
            conn = store.connection()
            begin(conn, store.lock_timeout, read_only=uow.read_only)
            # The schema check a write owes rides on the transaction's first statement
            # (see executors and load_slots): it still runs under the write lock and
            # before anything is read or written, without a statement of its own.
            uow.version_due = not uow.read_only
        except BaseException:
            self.release(uow)
            raise
        return conn

    def release(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> None:
        if self.store._memory:
            self.store._shared_lock.release()

    def join(self, uow: SqlUnitOfWork[sqlite3.Connection], conn: sqlite3.Connection) -> None:
        # A write needs the host's transaction open: outside one, the savepoint would
        # commit on release, behind the host's back.
        if not uow.read_only and not conn.in_transaction:
            raise InvalidInput(
                "store.joined(conn): the connection has no open transaction; begin one "
                "(BEGIN IMMEDIATE, or Django's transaction.atomic()) before a command"
            )

    def borrow_host(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> None:
        uow.host_state = uow.conn.row_factory
        uow.conn.row_factory = sqlite3.Row

    def return_host(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> None:
        uow.conn.row_factory = uow.host_state

    def check_joined_version(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> None:
        if not uow.read_only:
            self.store._check_write_version(uow.conn)

    def control(self, conn: sqlite3.Connection, statement: str) -> None:
        conn.execute(statement)

    def commit_mark(self, uow: SqlUnitOfWork[sqlite3.Connection]) -> CommitMark | None:
        """``(connection, (data_version, total_changes))`` in a read-only unit of work on a
        connection of this store. ``PRAGMA data_version`` changes when any other
        connection (another thread's, another process's) committed since this one's last
        transaction, and is read in this one's snapshot; ``total_changes`` counts every
        row this connection itself wrote, committed or rolled back. Equal marks: nothing
        committed in between. ``None`` in a write (it may have written already, and roll
        back) or a host's transaction, and for the next :data:`UNMARKED_AFTER_A_COMMIT`
        read-only ones after a mark found another connection's commit (where others
        commit between most reads, a caller would read anyway: asking costs a
        statement)."""
        conn = uow.conn
        if not uow.read_only or uow.joined is not None or not isinstance(conn, _Connection):
            return None
        if conn.unmarked:
            conn.unmarked -= 1
            return None
        cursor = conn.version_cursor
        if cursor is None:
            cursor = conn.version_cursor = conn.cursor()
            cursor.row_factory = None
        version: int = cursor.execute("PRAGMA data_version").fetchone()[0]
        if conn.data_version is not None and version != conn.data_version:
            conn.unmarked = UNMARKED_AFTER_A_COMMIT
        conn.data_version = version
        return conn.serial, (version, conn.total_changes)

    def commit_failed(self, exc: BaseException) -> Exception | None:
        if isinstance(exc, sqlite3.IntegrityError):
            return PersistenceError(f"SQLite refused the write: {exc}")
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in str(exc) or "busy" in str(exc):
                return LockTimeout(f"SQLite commit timed out: {exc}")
            return PersistenceError(f"SQLite commit failed: {exc}")
        return None

    def executors(
        self, uow: SqlUnitOfWork[sqlite3.Connection]
    ) -> tuple[Callable[..., Any], Callable[..., Any]]:
        conn = uow.conn
        if not uow.version_due:
            return conn.execute, conn.executemany  # the statements are SQLite's as written

        # the first statement of a write transaction checks the schema version first;
        # after that the unit of work runs its statements on the connection directly
        def execute(sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
            self._check_version(uow, None)
            return conn.execute(sql, params)

        def executemany(sql: str, rows: Any) -> sqlite3.Cursor:
            self._check_version(uow, None)
            return conn.executemany(sql, rows)

        return execute, executemany

    def _check_version(self, uow: SqlUnitOfWork[sqlite3.Connection], found: int | None) -> None:
        """The schema check a write transaction owes (``found``: the version read along
        with its first statement; None: read it now)."""
        # stays due while it fails, so a caller that catches the refusal cannot write
        self.store._check_write_version(uow.conn, found)
        uow.version_due = False
        uow.execute, uow.executemany = uow.conn.execute, uow.conn.executemany

    def insert_feed(
        self, uow: SqlUnitOfWork[sqlite3.Connection], params: Sequence[Sequence[Any]]
    ) -> Callable[[], list[int]]:
        # One writer at a time numbers the rows of one INSERT one after the other
        # (AUTOINCREMENT), so the last rowid of each statement gives all of its rows'.
        positions: list[int] = []
        step = uow.ROWS_PER_INSERT
        for n in range(0, len(params), step):
            chunk = params[n : n + step]
            sql = enc.INSERT_FEED if len(chunk) == 1 else enc.multi_row(enc.INSERT_FEED, len(chunk))
            last = uow.execute(sql, [v for row in chunk for v in row]).lastrowid
            positions.extend(range(last - len(chunk) + 1, last + 1))
        return lambda: positions

    def update_checked(
        self,
        uow: SqlUnitOfWork[sqlite3.Connection],
        sql: str,
        params: Sequence[Any],
        slot_id: str,
    ) -> None:
        if uow.execute(sql, params).rowcount != 1:
            # the version check, a second line of defence behind the write lock
            raise RetryableConflict(f"slot {slot_id!r} changed under the lock")

    def load_slots(
        self,
        uow: SqlUnitOfWork[sqlite3.Connection],
        slot_ids: list[str],
        seat_of: str | None = None,
    ) -> dict[str, SlotRows]:
        # The transaction already holds the database's write lock, so there is nothing
        # to lock; several slots load in one statement, in id order like the row-locking
        # adapter (one by one while the schema check is owed).
        # The slot row says whether it has a waitlist or offers (most slots have
        # neither), so a booking reads them only when there is something to read; the
        # first slot read also carries the schema check a write transaction still owes.
        conn = uow.conn
        found: dict[str, SlotRows] = {}
        load, checked = (_LOAD_SLOT, _LOAD_SLOT_CHECKED) if seat_of is None else _LOAD_SEAT
        head = () if seat_of is None else (seat_of,)
        rows: dict[str, sqlite3.Row] = {}
        batched = seat_of is None and len(slot_ids) > 1 and not uow.version_due
        # in a host's transaction the host appends the feed rows, later: the counters
        # read here could be behind by then
        counted = None if uow.read_only or uow.joined is not None else uow.stream_lasts
        if batched:
            # several slots (a batch of reactions, a series): their rows in one statement
            for at in range(0, len(slot_ids), _SLOTS_PER_LOAD):
                chunk = slot_ids[at : at + _SLOTS_PER_LOAD]
                many = _LOAD_SLOT.replace("s.id = ?", f"s.id IN ({', '.join('?' * len(chunk))})")
                rows.update((row["id"], row) for row in conn.execute(many, chunk))
        for sid in slot_ids:
            if batched:
                row = rows.get(sid)
            elif uow.version_due:
                row = conn.execute(checked, (*head, sid)).fetchone()
                if row is not None:
                    self._check_version(uow, int(row["schema_v"]))
            else:
                row = conn.execute(load, (*head, sid)).fetchone()
            if row is None:
                break  # the first missing slot is refused: no need to read on
            if counted is not None:
                # a counter is told once: what this transaction numbered since is ahead
                counted.setdefault(enc.SLOT_STREAM + sid, row["stream_last"] or 0)
            found[sid] = (
                row,
                conn.execute(
                    "SELECT * FROM waitlist WHERE slot_id = ? ORDER BY position", (sid,)
                ).fetchall()
                if row["queued"]
                else [],
                conn.execute(
                    "SELECT * FROM offers WHERE slot_id = ? ORDER BY id", (sid,)
                ).fetchall()
                if row["held"]
                else [],
            )
        return found


#: slot ids per statement of a load of several slots (SQLite binds at most 999)
_SLOTS_PER_LOAD = 500

#: The slot's stream counter comes with its row: read under the write lock, it numbers
#: the events this transaction appends, and the feed rows' trigger (schema version 6)
#: moves it on at commit, so numbering them costs no statement of its own.
_LOAD_SLOT = (
    "SELECT s.*, EXISTS (SELECT 1 FROM waitlist w WHERE w.slot_id = s.id) AS queued, "
    "EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = s.id) AS held, "
    f"(SELECT e.last FROM event_streams e WHERE e.stream = '{enc.SLOT_STREAM}' || s.id) "
    "AS stream_last FROM slots s WHERE s.id = ?"
)
#: the slot load of a write transaction that has not checked the schema version yet:
#: the version comes from the table migrate() writes along with the header copy (a
#: subquery on its primary key; the header's ``pragma_user_version`` would run as a
#: statement of its own inside this one)
_LOAD_SLOT_CHECKED = _LOAD_SLOT.replace(
    " FROM slots s", ", (SELECT MAX(version) FROM schema_version) AS schema_v FROM slots s"
)
#: the slot loads of a command about one student's seat: whether she holds one comes
#: with the row (the first ``?``), from the index that keeps a seat per student and slot
_SEAT_HELD = (
    ", EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id AND b.student_id = ? "
    "AND b.status <> 'cancelled') AS seat_held FROM slots s"
)
_LOAD_SEAT = (
    _LOAD_SLOT.replace(" FROM slots s", _SEAT_HELD),
    _LOAD_SLOT_CHECKED.replace(" FROM slots s", _SEAT_HELD),
)
