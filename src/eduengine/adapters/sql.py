"""The one implementation behind both SQL adapters, and the dialect each engine supplies.

:class:`SqlUnitOfWork` and its repositories hold everything SQLite and PostgreSQL do the
same way: the statements (written with ``?`` placeholders), the staging of loaded slots,
the write-back, the read-only refusals, the savepoint of a joined unit of work, and event
numbering. A :class:`Dialect` holds what an engine does its own way:

- connections and transactions: how a unit of work begins (taking the write lock or a
  pooled connection, checking the schema version), joins a host's transaction, ends;
- statements: placeholders, how driver errors become ours, the version-checked update;
- locks: how slots are loaded and locked, whether documents and the feed take locks;
- values: how a stored JSON document comes back.

The stores (:class:`~eduengine.adapters.sqlite.SqliteStore`,
:class:`~eduengine.adapters.postgres.PostgresStore`) keep their connection handling,
migrations and engine tools, and share the read paths of :class:`SqlStore`.

>>> from eduengine.adapters.sqlite import SqliteStore
>>> store = SqliteStore(":memory:")
>>> store.migrate()
>>> isinstance(store.unit_of_work(), SqlUnitOfWork)
True
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from eduengine.adapters import sql_common as enc
from eduengine.adapters.joined import SAVEPOINT, Joined, JoinsHostTransactions
from eduengine.adapters.memory import UnitOfWorkBase, with_staged
from eduengine.booking.model import Booking, Slot
from eduengine.booking.series import Series
from eduengine.booking.timetable import TIMETABLE, SlotSummary, summary_of, time_index
from eduengine.errors import (
    BookingNotFound,
    DuplicateId,
    SchemaError,
    SchemaTooNew,
    SeriesNotFound,
    SlotNotFound,
)
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.crypto import SealedRecords, Sealer
from eduengine.service_layer.ports import CommitMark, IndexEntries
from eduengine.version import __version__

#: ``(key, value, document)`` of a keyset page, as ``scan_documents`` returns
DocumentEntries = list[tuple[str, int, dict[str, Any]]]

C = TypeVar("C")

_NO_FLIGHT = nullcontext()
#: slot ids per summary query (below SQLite's smallest limit of bound parameters, 999)
_IDS_PER_QUERY = 500
#: documents a unit of work holds back before it writes them (see ``_hold``)
_HELD_WRITES = 1000

#: ``records.read_ahead``'s statements, by how many keys of each kind they read
_AHEAD: dict[tuple[int, ...], str] = {}

#: a document's JSON text, keys sorted: ``json.dumps(data, sort_keys=True)`` to the
#: character, with its encoder made once (``dumps`` with any argument makes one per call,
#: and a batch of reactions writes a document or two per event)
_document_text: Callable[[Any], str] = json.JSONEncoder(sort_keys=True).encode

#: a slot's row, waitlist rows and offer rows, as a dialect loads them
SlotRows = tuple[Any, list[Any], list[Any]]


class Dialect(Generic[C]):
    """What one SQL engine does its own way, for the units of work of one store.

    Subclasses: :class:`~eduengine.adapters.sqlite.SqliteDialect`,
    :class:`~eduengine.adapters.postgres.PostgresDialect`.
    """

    #: how a JSON document is bound in ``INSERT INTO records``
    json_param = "?"
    #: whether a document is locked before it is read for a write
    record_locks = False
    #: whether rows for one table go in one multi-row ``INSERT`` (where each statement
    #: costs; a driver that pipelines ``executemany`` gains nothing from it)
    multi_row_inserts = False
    #: whether a unit of work keeps the documents it read or wrote (as JSON text, parsed
    #: afresh on each read) so reading one again costs no statement
    remembers_documents = False
    #: whether ``records.read_ahead`` reads: where each statement is a round trip to a
    #: server, reading the documents a command reads next in one statement saves them
    reads_ahead = True
    #: ``record_index.key`` as ``records.key`` compares it, so a join of the two finds
    #: each document by its primary key (PostgreSQL: the index's "C" collation back to
    #: the default one; a mismatch scans every document of the kind)
    index_key_as_record_key = "i.key"
    #: a document's index entries as one JSON array of ``[name, value]`` pairs (NULL:
    #: none), in a query over ``records r``: ``records.get_many`` reads them along, so a
    #: ``put`` that keeps them rewrites none
    index_entries_sql = (
        "(SELECT json_group_array(json_array(i.name, i.value)) "
        # named: with no statistics the planner walks the primary key by kind alone
        "FROM record_index i INDEXED BY record_index_by_key "
        "WHERE i.kind = r.kind AND i.key = r.key)"
    )

    # --- connections and transactions ---------------------------------------------

    def begin(self, uow: SqlUnitOfWork[C]) -> C:
        """Begin ``uow``'s own transaction (read-only or not) and return its connection;
        refuse with ``SchemaError`` if the schema does not allow it."""
        raise NotImplementedError

    def release(self, uow: SqlUnitOfWork[C]) -> None:
        """Give back what :meth:`begin` took, once the transaction has ended."""
        raise NotImplementedError

    def join(self, uow: SqlUnitOfWork[C], conn: C) -> None:
        """Refuse a host connection ``uow`` cannot run on (before anything is taken)."""
        raise NotImplementedError

    def borrow_host(self, uow: SqlUnitOfWork[C]) -> None:
        """Make the host's connection (``uow.conn``) read as this adapter's rows."""

    def return_host(self, uow: SqlUnitOfWork[C]) -> None:
        """Undo :meth:`borrow_host`."""

    def check_joined_version(self, uow: SqlUnitOfWork[C]) -> None:
        """Refuse with ``SchemaError`` a joined unit of work the schema does not allow."""
        raise NotImplementedError

    def control(self, conn: C, statement: str) -> None:
        """Run ``COMMIT``, ``ROLLBACK`` or a savepoint statement."""
        raise NotImplementedError

    def flight(self, uow: SqlUnitOfWork[C]) -> AbstractContextManager[object]:
        """Where the commit's writes and its ``COMMIT`` run (a pipeline, or nothing)."""
        return _NO_FLIGHT

    def commit_failed(self, exc: BaseException) -> Exception | None:
        """Our error for a failed commit (``None``: raise ``exc`` as it is)."""
        return None

    def rollback_failed(self, uow: SqlUnitOfWork[C], exc: Exception) -> bool:
        """Deal with a failed ``ROLLBACK``; ``False``: raise it."""
        return False

    # --- statements -----------------------------------------------------------------

    def executors(self, uow: SqlUnitOfWork[C]) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """``execute(sql, params)`` and ``executemany(sql, rows)`` for ``uow``'s
        transaction: they run statements with ``?`` placeholders (``execute`` returns the
        cursor). Made once per transaction, so a statement costs no dispatch on its way
        to the driver."""
        raise NotImplementedError

    def update_checked(
        self, uow: SqlUnitOfWork[C], sql: str, params: Sequence[Any], slot_id: str
    ) -> None:
        """Run a slot's versioned ``UPDATE``; if it changes no row, the commit fails
        with ``RetryableConflict`` (the version check behind the locks)."""
        raise NotImplementedError

    # --- locks ------------------------------------------------------------------------

    def load_slots(
        self, uow: SqlUnitOfWork[C], slot_ids: list[str], seat_of: str | None = None
    ) -> dict[str, SlotRows]:
        """The rows of the slots ``slot_ids`` (sorted) that exist, locked for a write
        unless ``uow`` is read-only. With ``seat_of`` (a student id) each slot row also
        says, as ``seat_held``, whether that student holds an active seat in it."""
        raise NotImplementedError

    def lock_record(self, uow: SqlUnitOfWork[C], kind: str, key: str) -> None:
        """Lock a document to the end of the transaction (if :attr:`record_locks`)."""

    def lock_records(self, uow: SqlUnitOfWork[C], kind: str, keys: Sequence[str]) -> None:
        """:meth:`lock_record` for each of ``keys``, in their order."""
        for key in keys:
            self.lock_record(uow, kind, key)

    def lock_feed(self, uow: SqlUnitOfWork[C]) -> None:
        """Make feed positions visible in commit order (taken just before ``COMMIT``)."""

    def store_numbered(
        self, uow: SqlUnitOfWork[C], numbered: Mapping[str, int], envelopes: Sequence[Envelope]
    ) -> None:
        """Store the counters ``uow`` numbered from :attr:`SqlUnitOfWork.stream_lasts`
        (``numbered``: each one's last number given out), in its commit, after the feed
        rows ``envelopes``. Here: those no feed row moved on already (SQLite's trigger;
        numbers given out and not staged on the feed) are moved up to their last, so
        none is given twice."""
        appended = {e.stream: e.sequence for e in envelopes}  # in order: each one's last
        for stream, last in numbered.items():
            if appended.get(stream, 0) < last:
                uow.execute(_RAISE_SEQUENCE, (stream, last))

    def insert_feed(
        self, uow: SqlUnitOfWork[C], params: Sequence[Sequence[Any]]
    ) -> Callable[[], list[int]]:
        """Append the feed rows ``params`` (``INSERT_FEED``'s, in order), after
        :meth:`lock_feed`; returns what gives their positions once ``COMMIT`` ran (an
        empty list: not known, and a reader of the feed finds them)."""
        uow.insert_rows(enc.INSERT_FEED, params)
        return list

    def commit_mark(self, uow: SqlUnitOfWork[C]) -> CommitMark | None:
        """A mark of the committed state ``uow`` reads (see
        :meth:`SqlRecordRepository.commit_mark`); ``None``: the engine cannot tell
        cheaply, and a caller reads what it needs."""
        return None

    # --- values -------------------------------------------------------------------

    def json_in(self, value: Any) -> dict[str, Any]:
        """A stored JSON document as a dict."""
        return dict(json.loads(value))


@contextmanager
def committing(dialect: Dialect[C], conn: C) -> Iterator[C]:
    """``conn`` for a ``with`` block whose transaction commits if the block succeeds and
    rolls back if it raises."""
    try:
        yield conn
    except BaseException:
        dialect.control(conn, "ROLLBACK")
        raise
    else:
        dialect.control(conn, "COMMIT")


def check_version(database: str, found: int, supported: int, *, write: bool) -> None:
    """Raise :class:`SchemaError` unless a transaction may run on ``database`` (a name
    for messages) at schema ``found`` when this library's is ``supported``.

    Reads go on against a newer schema (a migration only adds), writes need the exact
    version, so a process left on an older library cannot write rows the newer schema
    does not expect.

    >>> check_version("db", 5, 4, write=False)  # a read goes on against a newer schema
    >>> try:
    ...     check_version("db", 3, 4, write=True)
    ... except SchemaError as refused:
    ...     print(refused)
    db is at schema version 3, this library needs 4: call migrate(); nothing was written
    """
    if found == supported or (found > supported and not write):
        return
    if found > supported:
        raise too_new(database, found, supported, "nothing was written")
    raise SchemaError(
        f"{database} is at schema version {found}, this library needs {supported}: "
        "call migrate(); nothing was written"
    )


def too_new(database: str, found: int, supported: int, outcome: str) -> SchemaTooNew:
    """The refusal of a process whose library is older than ``database``'s schema."""
    return SchemaTooNew(
        f"{database} was migrated to schema version {found} by a newer eduengine, but this "
        f"process runs eduengine {__version__} with schema version {supported}: upgrade "
        f"eduengine in this process (and restart it) before it writes again; {outcome}",
        found=found,
        supported=supported,
    )


class SqlStore(enc.OutboxRelay, JoinsHostTransactions[C]):
    """What both SQL stores read the same way: snapshot, feed and stream counters."""

    dialect: Dialect[C]
    lock_timeout: float
    #: the schema version this library migrates the store to (each SQL adapter numbers
    #: its own migrations: SQLite's version 6 is a trigger PostgreSQL has no need of)
    library_schema_version: ClassVar[int]
    #: seals contact fields and keeps students to one region (see
    #: :mod:`eduengine.service_layer.crypto`); ``None``: neither
    sealer: Sealer | None = None

    def unit_of_work(self, *, read_only: bool = False) -> SqlUnitOfWork[C]:
        raise NotImplementedError

    def transaction(self, *, check_schema: bool = True) -> AbstractContextManager[C]:
        raise NotImplementedError

    @contextmanager
    def _query(self) -> Iterator[SqlUnitOfWork[C]]:
        # read-only: a consistent snapshot that never waits for (or blocks) a writer
        with self.unit_of_work(read_only=True) as uow:
            yield uow

    def snapshot(self) -> dict[str, Any]:
        """The whole stored state, shaped exactly like ``InMemoryStore.snapshot()``."""
        with self._query() as uow:
            return enc.snapshot_of(
                uow.slots.get_many(uow.slots.list_ids()),
                uow.execute("SELECT * FROM bookings ORDER BY seq").fetchall(),
                uow.execute("SELECT id, data FROM series ORDER BY id").fetchall(),
                (
                    (row["kind"], row["key"], self.dialect.json_in(row["data"]))
                    for row in uow.execute(
                        "SELECT kind, key, data FROM records ORDER BY kind, key"
                    ).fetchall()
                ),
            )

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        # A row becomes visible only after every row with a lower position did, so a
        # reader past position p never misses a row below p: SQLite has one writer and
        # numbers rows under its lock; PostgreSQL writers append under one advisory lock
        # held to their COMMIT (see PostgresDialect.lock_feed).
        with self._query() as uow:
            rows = uow.execute(enc.READ_FEED, (after, limit)).fetchall()
        return [(int(row["position"]), str(row["envelope"])) for row in rows]

    def feed_head(self) -> int:
        with self._query() as uow:
            row = uow.execute("SELECT MAX(position) AS p FROM event_feed").fetchone()
        return int(row["p"] or 0)

    def stream_sequence(self, stream: str) -> int:
        """The last sequence number given to an event of ``stream`` (0: none yet), as
        committed; a live page reads it *before* the state it shows (see eduengine.live)."""
        with self._query() as uow:
            row = uow.execute(
                "SELECT last FROM event_streams WHERE stream = ?", (stream,)
            ).fetchone()
        return 0 if row is None else int(row["last"])


class SqlSlotRepository(Generic[C]):
    def __init__(self, uow: SqlUnitOfWork[C]) -> None:
        self._uow = uow

    def add(self, slot: Slot) -> None:
        self._uow.refuse_if_read_only(f"adding slot {slot.id!r}")
        exists = self._uow.execute("SELECT 1 FROM slots WHERE id = ?", (slot.id,)).fetchone()
        if exists or slot.id in self._uow.staged:
            raise DuplicateId(f"slot {slot.id!r} already exists")
        slot.changed = True
        self._uow.staged[slot.id] = slot
        self._uow.new_slot_ids.add(slot.id)

    def get(self, slot_id: str) -> Slot:
        staged = self._uow.staged.get(slot_id) if isinstance(slot_id, str) else None
        return staged if staged is not None else self.get_many([slot_id])[0]

    def get_for_student(self, slot_id: str, student_id: str) -> Slot:
        """:meth:`get`, for a command about ``student_id``'s seat: whether she holds one
        is read with the slot's row, so booking her needs no query of its own."""
        staged = self._uow.staged.get(slot_id) if isinstance(slot_id, str) else None
        return staged if staged is not None else self.get_many([slot_id], student_id)[0]

    def get_many(self, slot_ids: Sequence[str], seat_of: str | None = None) -> list[Slot]:
        staged = self._uow.staged
        for sid in slot_ids:
            if not isinstance(sid, str):
                raise SlotNotFound(str(sid))
        # sorted: the dialect locks rows in id order, so concurrent series bookings
        # cannot deadlock
        missing = sorted({sid for sid in slot_ids if sid not in staged})
        if missing:
            found = self._uow.dialect.load_slots(self._uow, missing, seat_of)
            for sid in missing:
                if sid not in found:
                    raise SlotNotFound(sid)
            for sid in missing:
                row, queue, held = found[sid]
                seats = self._seats(sid, row["booked"])
                if seat_of is not None and not row["seat_held"]:
                    seats.known_absent(seat_of)
                slot = enc.slot_from_rows(row, seats, queue, held)
                staged[sid] = slot
                self._uow.loaded_children[sid] = (
                    tuple(slot.waitlist),
                    tuple(slot.offers.values()),
                )
                self._uow.loaded_fields[sid] = enc.slot_fields(slot)
        return [staged[sid] for sid in slot_ids]

    def read_seats(self, seats: Iterable[tuple[str, str]]) -> None:
        """Load the slots of ``seats`` (``(slot_id, student_id)`` pairs) and each
        student's active seat in hers, in one query for the slots (SQLite) and one for
        the seats: a batch of reactions reads every seat its events name here, not one
        by one (``slot.bookings.get(student_id)`` then asks nothing). Slots loaded
        already keep what they hold; a missing slot raises ``SlotNotFound`` as ``get``."""
        pairs = sorted(set(seats))
        if not pairs:
            return
        self.get_many(sorted({sid for sid, _ in pairs}))
        staged = self._uow.staged
        wanted: list[tuple[str, str]] = []
        for sid, student_id in pairs:
            seats_of = staged[sid].bookings
            if isinstance(seats_of, enc.LazySeats) and seats_of.unknown(student_id):
                wanted.append((sid, student_id))
        step = _IDS_PER_QUERY // 2
        for at in range(0, len(wanted), step):
            chunk = wanted[at : at + step]
            slot_ids = sorted({sid for sid, _ in chunk})
            students = sorted({student for _, student in chunk})
            rows = self._uow.execute(
                f"SELECT * FROM bookings WHERE slot_id IN ({', '.join('?' * len(slot_ids))}) "
                f"AND student_id IN ({', '.join('?' * len(students))}) "
                "AND status <> 'cancelled'",
                [*slot_ids, *students],
            ).fetchall()
            found = {(row["slot_id"], row["student_id"]): row for row in rows}
            for sid, student_id in chunk:
                row = found.get((sid, student_id))
                seats_of = staged[sid].bookings
                assert isinstance(seats_of, enc.LazySeats)
                seats_of.known_seat(student_id, None if row is None else enc.booking_from_row(row))

    def _seats(self, slot_id: str, count: int) -> enc.LazySeats:
        execute = self._uow.execute

        def one(student_id: str) -> Booking | None:
            row = execute(
                "SELECT * FROM bookings WHERE slot_id = ? AND student_id = ? "
                "AND status <> 'cancelled'",
                (slot_id, student_id),
            ).fetchone()
            return None if row is None else enc.booking_from_row(row)

        def every() -> list[Booking]:
            rows = execute(
                "SELECT * FROM bookings WHERE slot_id = ? AND status <> 'cancelled' ORDER BY seq",
                (slot_id,),
            )
            return [enc.booking_from_row(r) for r in rows]

        return enc.LazySeats(count, one, every)

    def ids_with_offers_due(self, now: datetime) -> list[str]:
        rows = self._uow.execute(
            "SELECT DISTINCT slot_id FROM offers WHERE expires_us <= ? ORDER BY slot_id",
            (enc.micros(now),),
        )
        return [row["slot_id"] for row in rows]

    def list_ids(self) -> list[str]:
        rows = self._uow.execute("SELECT id FROM slots")
        return sorted({row["id"] for row in rows} | set(self._uow.staged))

    def summaries(self, slot_ids: Sequence[str]) -> list[SlotSummary]:
        """What a timetable shows of each of ``slot_ids`` that exists, in the order
        asked: one query over the slot rows and the waitlist and offer counts, never a
        roster, no row locks."""
        staged = self._uow.staged
        wanted = sorted({sid for sid in slot_ids if sid not in staged})
        found: dict[str, SlotSummary] = {}
        for at in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[at : at + _IDS_PER_QUERY]
            rows = self._uow.execute(
                enc.SUMMARY_SQL.format(marks=", ".join("?" * len(chunk))), chunk
            )
            for row in rows:
                found[row["id"]] = enc.summary_from_row(row)
        out = []
        for sid in slot_ids:
            slot = staged.get(sid)
            summary = summary_of(slot) if slot is not None else found.get(sid)
            if summary is not None:
                out.append(summary)
        return out

    def ids_for_tutor(self, tutor_id: str) -> list[str]:
        rows = self._uow.execute("SELECT id FROM slots WHERE tutor_id = ?", (tutor_id,))
        staged = {sid for sid, slot in self._uow.staged.items() if slot.tutor_id == tutor_id}
        return sorted({row["id"] for row in rows} | staged)


class SqlBookingRepository(Generic[C]):
    def __init__(self, uow: SqlUnitOfWork[C]) -> None:
        self._uow = uow

    def get(self, booking_id: str) -> Booking:
        for slot in self._uow.staged.values():
            if booking_id in slot.changed_bookings:
                return slot.changed_bookings[booking_id]
        if not isinstance(booking_id, str):
            raise BookingNotFound(str(booking_id))
        row = self._uow.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
        if row is None:
            raise BookingNotFound(booking_id)
        return enc.booking_from_row(row)

    def for_student(self, student_id: str) -> list[Booking]:
        rows = self._uow.execute(
            "SELECT * FROM bookings WHERE student_id = ? ORDER BY seq", (student_id,)
        )
        committed = [enc.booking_from_row(row) for row in rows]
        return with_staged(committed, self._uow.staged.values(), student_id)


class SqlSeriesRepository(Generic[C]):
    def __init__(self, uow: SqlUnitOfWork[C]) -> None:
        self._uow = uow

    def add(self, series: Series) -> None:
        self._uow.refuse_if_read_only(f"adding series {series.id!r}")
        # asked first: on PostgreSQL a refused INSERT would abort the whole transaction
        if self._uow.execute("SELECT 1 FROM series WHERE id = ?", (series.id,)).fetchone():
            raise DuplicateId(f"series {series.id!r} already exists")
        self._uow.execute(
            "INSERT INTO series (id, data) VALUES (?, ?)", (series.id, enc.series_out(series))
        )

    def get(self, series_id: str) -> Series:
        row = self._uow.execute("SELECT data FROM series WHERE id = ?", (series_id,)).fetchone()
        if row is None:
            raise SeriesNotFound(str(series_id))
        return enc.series_in(series_id, row["data"])


class SqlRecordRepository(Generic[C]):
    """JSON documents and their index rows; a write command holds the database's write
    lock (SQLite) or the document's lock (PostgreSQL). A ``put`` whose document's index
    entries the transaction knows is held back and written with the others in multi-row
    statements before any statement that could read it, and at commit (``_hold``)."""

    def __init__(self, uow: SqlUnitOfWork[C]) -> None:
        self._uow = uow
        self._locked: set[tuple[str, str]] = set()
        #: documents as this transaction last read or wrote them (JSON text; None:
        #: absent), when the dialect remembers them
        self._known: dict[tuple[str, str], str | None] = {}
        #: documents read ahead (``read_ahead``) where nothing is remembered: each is
        #: handed to the first ``get`` or ``peek`` of it, then forgotten
        self._ahead: dict[tuple[str, str], Any] = {}
        #: documents this transaction knows to have no index entries (absent, written
        #: without, or read with none): their next ``put`` has no entries to clear
        self._unindexed: set[tuple[str, str]] = set()
        #: documents this transaction knows to exist (read, or written by it)
        self._present: set[tuple[str, str]] = set()
        #: the index entries ``(name, value)`` of documents this transaction read (by
        #: ``get_many``) or wrote: a ``put`` with the same entries leaves them alone
        self._entries: dict[tuple[str, str], frozenset[tuple[str, int]]] = {}
        #: writes held back (write-behind): each document's JSON text, in the order first
        #: written, and the index rows of the documents written with entries where they
        #: had none; :meth:`flush_writes` writes them in multi-row statements, before
        #: any other statement of the unit of work and at commit
        self._behind: dict[tuple[str, str], str] = {}
        self._behind_index: list[tuple[Any, ...]] = []
        self._held_kinds: set[str] = set()
        #: index entries read ahead (``scan_ahead``), by ``(kind, index)``: the answer to
        #: a whole ``scan`` of it until this transaction writes a document of the kind
        self._scans: dict[tuple[str, str], list[tuple[str, int]]] = {}
        #: the unit of work's own ``execute`` and ``executemany`` while writes are held
        self._raw: tuple[Callable[..., Any], Callable[..., Any]] | None = None
        dialect = uow.dialect
        self._remember = dialect.remembers_documents
        self._json_in = dialect.json_in
        # made once per dialect: a repository is made afresh in every unit of work
        (
            self._put,
            self._add,
            self._update,
            self._get_for_write,
            self._beside_write,
            self._beside_read,
        ) = _record_statements(dialect.json_param, dialect.index_entries_sql)

    def _lock(self, kind: str, key: str) -> None:
        uow = self._uow
        # a read-only unit of work reads without locks (it never writes back)
        if uow.dialect.record_locks and not uow.read_only and (kind, key) not in self._locked:
            uow.dialect.lock_record(uow, kind, key)
            self._locked.add((kind, key))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        if self._remember and (kind, key) in self._known:
            # read or written earlier in this transaction, which holds the write lock
            # (or reads one snapshot): the stored text cannot have changed since
            text = self._known[kind, key]
            return None if text is None else self._json_in(text)
        if self._ahead and (kind, key) in self._ahead:
            data = self._ahead.pop((kind, key))
            return None if data is None else self._json_in(data)
        self._lock(kind, key)
        execute = self._reader(kind)
        if self._uow.read_only:
            row = execute(
                "SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        else:
            # locked (or under the write lock) from here on: its index entries come
            # along, so a put that keeps them rewrites none
            row = execute(self._get_for_write, (kind, key)).fetchone()
            self._note_entries(kind, key, row)
        if self._remember:
            self._known[kind, key] = None if row is None else row["data"]
        return None if row is None else self._json_in(row["data"])

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """``get`` of each of ``keys`` (locked like ``get``, in sorted order), by key, in
        one query."""
        wanted = sorted(set(keys))
        uow = self._uow
        if uow.dialect.record_locks and not uow.read_only:
            fresh = [key for key in wanted if (kind, key) not in self._locked]
            if fresh:
                uow.dialect.lock_records(uow, kind, fresh)
                self._locked.update((kind, key) for key in fresh)
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(wanted)
        if not wanted:
            return found
        rows = self._reader(kind)(
            f"SELECT r.key, r.data, {uow.dialect.index_entries_sql} AS entries "
            f"FROM records r WHERE r.kind = ? AND r.key IN ({', '.join('?' * len(wanted))})",
            (kind, *wanted),
        ).fetchall()
        texts = {row["key"]: row for row in rows}
        for key in wanted:
            row = texts.get(key)
            if self._remember:
                self._known[kind, key] = None if row is None else row["data"]
            if not uow.read_only:
                self._note_entries(kind, key, row)
            found[key] = None if row is None else self._json_in(row["data"])
        return found

    def _note_entries(self, kind: str, key: str, row: Any) -> None:
        """Remember what a read for a write found of a document: whether it exists and
        the index entries it has (its row's ``entries``), so a ``put`` that keeps them
        rewrites none."""
        doc = (kind, key)
        if row is None:
            self._unindexed.add(doc)
            self._entries[doc] = frozenset()
        else:
            self._present.add(doc)
            self._entries[doc] = entries = _entries_in(row["entries"])
            if not entries:
                self._unindexed.add(doc)

    def get_beside(
        self, kind: str, key: str, other: str, other_key: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``get(kind, key)`` and, in the same statement, ``peek(other, other_key)``
        (unlocked: the sealer's data key, read along with the document it opens, issue
        #24)."""
        remember = self._remember
        if (remember and ((kind, key) in self._known or (other, other_key) in self._known)) or (
            self._ahead and (kind, key) in self._ahead
        ):
            # read already, or read ahead (with its key: ``SealedRecords.read_ahead``)
            return self.get(kind, key), self.peek(other, other_key)
        self._lock(kind, key)
        uow = self._uow
        sql = self._beside_read if uow.read_only else self._beside_write
        row = found = None
        for got in self._reader(kind, other)(sql, (kind, key, other, other_key)):
            if got["side"]:
                found = got
            else:
                row = got
        if not uow.read_only:
            self._note_entries(kind, key, row)
        if remember:
            self._known[kind, key] = None if row is None else row["data"]
        json_in = self._json_in
        return (
            None if row is None else json_in(row["data"]),
            None if found is None else json_in(found["data"]),
        )

    def get_many_beside(
        self, kind: str, keys: Sequence[str], other: str, others: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any] | None], dict[str, dict[str, Any] | None]]:
        """``get_many(kind, keys)`` and, in the same statement, ``peek`` of each of
        ``others`` of kind ``other`` (see :meth:`get_beside`); documents this transaction
        remembers are answered from memory."""
        uow = self._uow
        remember = self._remember
        known = self._known
        wanted = sorted(set(keys))
        reads = [key for key in wanted if not (remember and (kind, key) in known)]
        beside = [key for key in sorted(set(others)) if not (remember and (other, key) in known)]
        if uow.dialect.record_locks and not uow.read_only:
            fresh = [key for key in reads if (kind, key) not in self._locked]
            if fresh:
                uow.dialect.lock_records(uow, kind, fresh)
                self._locked.update((kind, key) for key in fresh)
        rows: dict[tuple[str, str], Any] = {}
        if reads or beside:
            entries = "NULL" if uow.read_only else uow.dialect.index_entries_sql
            parts: list[str] = []
            params: list[str] = []
            for which, names, with_entries in ((kind, reads, entries), (other, beside, "NULL")):
                if names:
                    parts.append(
                        f"SELECT r.kind, r.key, r.data, {with_entries} AS entries FROM records r "
                        f"WHERE r.kind = ? AND r.key IN ({', '.join('?' * len(names))})"
                    )
                    params += [which, *names]
            for row in self._reader(kind, other)(" UNION ALL ".join(parts), params):
                rows[row["kind"], row["key"]] = row
        found: dict[str, dict[str, Any] | None] = {}
        for key in wanted:
            doc = (kind, key)
            if doc not in rows and remember and doc in known:
                text = known[doc]
                found[key] = None if text is None else self._json_in(text)
                continue
            row = rows.get(doc)
            if remember:
                known[doc] = None if row is None else row["data"]
            if not uow.read_only:
                self._note_entries(*doc, row)
            found[key] = None if row is None else self._json_in(row["data"])
        peeked: dict[str, dict[str, Any] | None] = {}
        for key in sorted(set(others)):
            row = rows.get((other, key))
            if row is None and remember and (other, key) in known:
                text = known[other, key]
                peeked[key] = None if text is None else self._json_in(text)
            else:
                peeked[key] = None if row is None else self._json_in(row["data"])
        return found, peeked

    @property
    def remembers(self) -> bool:
        """Whether a document read here is answered from memory when read again in this
        unit of work (SQLite): reading a handler's documents ahead then saves statements."""
        return self._remember

    def commit_mark(self) -> CommitMark | None:
        """A mark of the committed state this unit of work reads, ``(place, sight)``: two
        units of work whose marks are equal (and not ``None``) read the same committed
        documents, so what a caller read in one still holds in the other (the access
        gate keeps what it read of a person under it instead of reading their access
        revision again, issue #24); ``place`` is the connection, so a caller keeps one
        mark per connection. ``None`` where the engine cannot tell without reading
        (PostgreSQL, a write, a host's transaction): the caller reads."""
        return self._uow.dialect.commit_mark(self._uow)

    def get_across(
        self, wanted: Mapping[str, Iterable[str]]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """``get_many`` of several kinds at once (``wanted``: kind -> keys), in one query
        per :data:`_IDS_PER_QUERY` documents, locked like ``get`` (kinds, then keys, in
        sorted order); by ``(kind, key)``."""
        return self._across(wanted, self._json_in)

    def hold_across(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """``get_across`` for a read-ahead that drops what it gets: the same statements
        and locks, the documents remembered as read (SQLite), none of them parsed (the
        command's own ``get`` parses the one it reads)."""
        self._across(wanted, None)

    def _across(
        self, wanted: Mapping[str, Iterable[str]], json_in: Callable[[Any], Any] | None
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        uow = self._uow
        read_only = uow.read_only
        pairs = [(kind, key) for kind in sorted(wanted) for key in sorted(set(wanted[kind]))]
        found: dict[tuple[str, str], dict[str, Any] | None] = {}
        reads = pairs
        if self._remember:
            # what this transaction read (its index entries noted) or wrote is answered
            # from memory, as ``get`` would: two reactions of a batch reading ahead the
            # same documents (a student's profile) read them once
            known, entries = self._known, self._entries
            reads = []
            for doc in pairs:
                if doc in known and (read_only or doc in entries):
                    if json_in is not None:
                        text = known[doc]
                        found[doc] = None if text is None else json_in(text)
                else:
                    reads.append(doc)
        if uow.dialect.record_locks and not read_only:
            for kind in sorted(wanted):
                fresh = [k for c, k in reads if c == kind and (c, k) not in self._locked]
                if fresh:
                    uow.dialect.lock_records(uow, kind, fresh)
                    self._locked.update((kind, key) for key in fresh)
        rows: dict[tuple[str, str], Any] = {}
        select = (
            f"SELECT r.kind, r.key, r.data, {uow.dialect.index_entries_sql} AS entries "
            "FROM records r WHERE r.kind = ? AND r.key IN ({marks})"
        )
        for at in range(0, len(reads), _IDS_PER_QUERY):
            chunk = reads[at : at + _IDS_PER_QUERY]
            # one SELECT per kind (each a search of the primary key), in one statement
            kinds: dict[str, list[str]] = {}
            for kind, key in chunk:
                kinds.setdefault(kind, []).append(key)
            cursor = self._reader(*kinds)(
                " UNION ALL ".join(
                    select.format(marks=", ".join("?" * len(keys))) for keys in kinds.values()
                ),
                [v for kind, keys in kinds.items() for v in (kind, *keys)],
            )
            rows.update(((row["kind"], row["key"]), row) for row in cursor)
        remember, known = self._remember, self._known
        note = None if read_only else self._note_entries
        for doc in reads:
            row = rows.get(doc)
            if remember:
                known[doc] = None if row is None else row["data"]
            if note is not None:
                note(*doc, row)
            if json_in is not None:
                found[doc] = None if row is None else json_in(row["data"])
        if json_in is None:
            return found
        # in the order asked (kinds, then keys, sorted), as before
        return found if reads is pairs or len(reads) == len(pairs) else {d: found[d] for d in pairs}

    @property
    def reads_ahead(self) -> bool:
        """Whether :meth:`read_ahead` reads here (a round trip saved per document a
        command reads next); it does not where a ``get`` locks first or a statement costs
        no round trip."""
        uow = self._uow
        dialect = uow.dialect
        return dialect.reads_ahead and (uow.read_only or not dialect.record_locks)

    def read_ahead(self, wanted: Mapping[str, Iterable[str]]) -> bool:
        """Read the documents ``wanted`` (kind -> keys) in one statement and hold them,
        unparsed, for the ``get`` or ``peek`` that reads each next (SQLite remembers
        them for the whole unit of work, as any document it read; elsewhere each is
        handed out once). Where a ``get`` locks the document first (a PostgreSQL write
        unit of work), or a statement costs no round trip (SQLite: see
        ``Dialect.reads_ahead``), it reads nothing and returns ``False``: the reads stay
        as they were."""
        if not self.reads_ahead:
            return False
        held = self._known if self._remember else self._ahead
        params: list[str] = []
        shape: list[int] = []
        for kind, keys in wanted.items():
            fresh = [key for key in keys if (kind, key) not in held]
            if fresh:
                params.append(kind)
                params.extend(fresh)
                shape.append(len(fresh))
        if not shape:
            return True
        sql = _AHEAD.get(tuple(shape))
        if sql is None:
            # no index entries along (``get_across`` reads them for a later ``put``): a
            # read ahead is for reads, and a ``put`` of a document it read finds them
            sql = " UNION ALL ".join(
                "SELECT kind, key, data FROM records WHERE kind = ? AND "
                + ("key = ?" if n == 1 else f"key IN ({', '.join('?' * n)})")
                for n in shape
            )
            if len(_AHEAD) < 64:
                _AHEAD[tuple(shape)] = sql
        rows = self._reader(*wanted)(sql, params).fetchall()
        at = 0
        for n in shape:
            for key in params[at + 1 : at + 1 + n]:
                held[params[at], key] = None
            at += 1 + n
        for row in rows:
            held[row["kind"], row["key"]] = row["data"]
        return True

    def put_many(self, kind: str, docs: Mapping[str, dict[str, Any]]) -> None:
        """``put`` of each document of ``docs`` without index entries: those this
        transaction knows to have none (read by ``get_many``, say) held back with the
        other writes (see :meth:`flush_writes`), the others one by one."""
        self._uow.refuse_if_read_only(f"writing records {kind}/{', '.join(docs)}")
        self._drop_scans(kind)
        plain: list[tuple[str, str, str]] = []
        for key in sorted(docs):
            if (kind, key) not in self._unindexed:
                self.put(kind, key, docs[key])
                continue
            self._lock(kind, key)
            plain.append((kind, key, _document_text(docs[key])))
        for _, key, text in plain:
            self._hold(kind, key, text, ())
            self._present.add((kind, key))
            self._ahead.pop((kind, key), None)
            if self._remember:
                self._known[kind, key] = text

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        self._uow.refuse_if_read_only(f"writing record {kind}/{key}")
        self._drop_scans(kind)
        rows = enc.index_rows(kind, key, index)
        text = _document_text(data)
        self._lock(kind, key)
        self._known.pop((kind, key), None)  # until the write is done
        self._ahead.pop((kind, key), None)
        doc = (kind, key)
        entries = frozenset((row[1], row[2]) for row in rows)
        held = False
        if self._entries.get(doc) == entries:
            # it has these very entries (read or written so): the document alone changes
            rows = []
            held = self._hold(kind, key, text, rows)
        elif doc in self._unindexed:
            # known to have no entries: an upsert and new entries, held back with others
            held = self._hold(kind, key, text, rows)
        elif doc in self._present:
            # its kind's held writes go first (this document's may be among them)
            execute = self._reader(kind)
            execute(self._put, (kind, key, text))
            execute(enc.DELETE_INDEX, (kind, key))
        elif (execute := self._reader(kind))(self._add, (kind, key, text)).rowcount != 1:
            # it was there (this transaction did not know): replace it and its entries; a
            # document that was not there has none
            execute(self._update, (text, kind, key))
            execute(enc.DELETE_INDEX, (kind, key))
        self._present.add(doc)
        self._entries[doc] = entries
        if rows:
            self._unindexed.discard((kind, key))
            if not held:
                self._uow.insert_rows(enc.INSERT_INDEX, rows)
        elif not entries:
            self._unindexed.add((kind, key))
        if self._remember:
            self._known[kind, key] = text

    def _hold(self, kind: str, key: str, text: str, rows: Sequence[tuple[Any, ...]]) -> bool:
        """Hold back the upsert of a document (and the index ``rows`` it gains): a
        batch's writes then cost a multi-row statement per hundred documents, not one or
        two each. Until :meth:`flush_writes`, every statement of the unit of work writes
        them first, so nothing reads around them. Returns True."""
        uow = self._uow
        if self._raw is None:
            raw = self._raw = (uow.execute, uow.executemany)
            flush = self.flush_writes

            def execute(*args: Any, **kwargs: Any) -> Any:
                flush()
                return raw[0](*args, **kwargs)

            def executemany(*args: Any, **kwargs: Any) -> Any:
                flush()
                return raw[1](*args, **kwargs)

            uow.execute, uow.executemany = execute, executemany
        self._behind.pop((kind, key), None)  # written again: in the order last written
        self._behind[kind, key] = text
        self._behind_index.extend(rows)
        self._held_kinds.add(kind)
        if len(self._behind) >= _HELD_WRITES:
            self.flush_writes()
        return True

    def _reader(self, *kinds: str) -> Callable[..., Any]:
        """The ``execute`` for a statement of this repository on ``kinds``: the writes
        held back of those kinds are written first, those of other kinds stay held (the
        statement cannot see them)."""
        raw = self._raw
        if raw is None:
            return self._uow.execute
        if self._held_kinds.isdisjoint(kinds):
            return raw[0]
        self.flush_writes()
        return self._uow.execute

    def flush_writes(self) -> None:
        """Write the documents held back (:meth:`_hold`), in multi-row upserts where the
        dialect gains by it, then their new index rows."""
        if self._raw is None:
            return
        uow = self._uow
        uow.execute, uow.executemany = self._raw
        self._raw = None
        docs = [(kind, key, text) for (kind, key), text in self._behind.items()]
        index, self._behind, self._behind_index = self._behind_index, {}, []
        self._held_kinds = set()
        if docs:
            uow.insert_rows(self._put, docs)
        if index:
            uow.insert_rows(enc.INSERT_INDEX, index)

    def drop_writes(self) -> None:
        """Forget the writes held back (the unit of work rolls back)."""
        if self._raw is not None:
            uow = self._uow
            uow.execute, uow.executemany = self._raw
            self._raw = None
        self._behind, self._behind_index = {}, []
        self._held_kinds = set()

    def rewrite(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Replace a document's data and keep its index entries (sealing values written
        before the store had keys, see :func:`eduengine.service_layer.crypto.seal_existing`)."""
        self._uow.refuse_if_read_only(f"writing record {kind}/{key}")
        self._drop_scans(kind)
        self._lock(kind, key)
        self._known.pop((kind, key), None)
        self._ahead.pop((kind, key), None)
        self._reader(kind)(self._update, (_document_text(data), kind, key))

    def delete(self, kind: str, key: str) -> None:
        self._uow.refuse_if_read_only(f"deleting record {kind}/{key}")
        self._drop_scans(kind)
        self._lock(kind, key)
        self._known.pop((kind, key), None)  # until the delete is done
        self._ahead.pop((kind, key), None)
        execute = self._reader(kind)
        execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
        if (kind, key) not in self._unindexed:
            execute(enc.DELETE_INDEX, (kind, key))
            self._unindexed.add((kind, key))
        self._entries[kind, key] = frozenset()
        self._present.discard((kind, key))
        if self._remember:
            self._known[kind, key] = None

    def peek(self, kind: str, key: str) -> dict[str, Any] | None:
        """``get`` without the document's lock (the sealer's look-up of a data key,
        which is written once and rarely changes)."""
        if self._remember and (kind, key) in self._known:
            text = self._known[kind, key]
            return None if text is None else self._json_in(text)
        if self._ahead and (kind, key) in self._ahead:
            data = self._ahead.pop((kind, key))
            return None if data is None else self._json_in(data)
        row = self._reader(kind)(
            "SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else self._json_in(row["data"])

    def list(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._reader(kind)(
            "SELECT key, data FROM records WHERE kind = ? ORDER BY key", (kind,)
        )
        return [(row["key"], self._json_in(row["data"])) for row in rows]

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
        if self._scans and lo is None and hi is None and limit is None and not descending:
            ahead = self._scans.get((kind, index))
            if ahead is not None:
                return list(ahead)
        sql, params = enc.scan_sql(kind, index, lo, hi, limit, descending)
        return [(row["key"], int(row["value"])) for row in self._reader(kind)(sql, params)]

    def scan_ahead(self, kind: str, indexes: Iterable[str]) -> None:
        """Read the entries of each of ``indexes`` of ``kind`` in one query, and answer
        the next whole ``scan`` of each (no bounds, no limit, ascending) from them until
        this transaction writes a document of ``kind`` (a batch of reactions looks up
        each student's guardian accounts by index: one query for the batch)."""
        names = sorted({name for name in indexes if (kind, name) not in self._scans})
        found: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
        for at in range(0, len(names), _IDS_PER_QUERY):
            chunk = names[at : at + _IDS_PER_QUERY]
            rows = self._reader(kind)(
                "SELECT name, key, value FROM record_index WHERE kind = ? AND name IN "
                f"({', '.join('?' * len(chunk))}) ORDER BY name, value, key",
                (kind, *chunk),
            )
            for row in rows:
                found[row["name"]].append((row["key"], int(row["value"])))
        for name, entries in found.items():
            self._scans[kind, name] = entries

    def _drop_scans(self, kind: str) -> None:
        """Forget the entries of ``kind`` read ahead: a document of it is written."""
        if self._scans:
            for seen in [seen for seen in self._scans if seen[0] == kind]:
                del self._scans[seen]

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        sql, params = enc.scan_sql(kind, index, lo, hi, None, False, count=True)
        return int(self._reader(kind)(sql, params).fetchone()["n"])

    def scan_documents(
        self,
        kind: str,
        index: str,
        *,
        limit: int,
        after: tuple[int, str] | None = None,
        descending: bool = False,
    ) -> DocumentEntries:
        """``(key, value, document)`` of the next ``limit`` entries of ``index`` after
        the keyset cursor ``after`` (a ``(value, key)`` already read), in one query;
        read without locking, as ``scan``."""
        sql, params = enc.scan_documents_sql(
            kind, index, after, limit, descending, self._uow.dialect.index_key_as_record_key
        )
        json_in = self._json_in
        return [
            (row["key"], int(row["value"]), json_in(row["data"]))
            for row in self._reader(kind)(sql, params)
        ]


@functools.cache
def _record_statements(json_param: str, entries: str) -> tuple[str, str, str, str, str, str]:
    """:class:`SqlRecordRepository`'s statements for a dialect binding JSON as
    ``json_param`` and reading index entries as ``entries``: its put, add, update, get
    for a write, and a document beside another for a write and for a read."""
    insert = f"INSERT INTO records (kind, key, data) VALUES (?, ?, {json_param}) "
    # a document and (side 1) another one, unlocked, in one statement
    beside = (
        "SELECT 0 AS side, r.data, {entries} AS entries FROM records r "
        "WHERE r.kind = ? AND r.key = ? UNION ALL "
        "SELECT 1, r.data, NULL FROM records r WHERE r.kind = ? AND r.key = ?"
    )
    return (
        f"{insert}ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data",
        f"{insert}ON CONFLICT (kind, key) DO NOTHING",
        f"UPDATE records SET data = {json_param} WHERE kind = ? AND key = ?",
        f"SELECT r.data, {entries} AS entries FROM records r WHERE r.kind = ? AND r.key = ?",
        beside.format(entries=entries),
        beside.format(entries="NULL"),
    )


def _entries_in(value: Any) -> frozenset[tuple[str, int]]:
    """Index entries as :attr:`Dialect.index_entries_sql` reads them (JSON text, or
    already parsed; NULL or ``[]``: none)."""
    if value is None or value == "[]":  # most documents: not worth a parse
        return frozenset()
    pairs = json.loads(value) if isinstance(value, str | bytes) else value
    return frozenset((str(name), int(number)) for name, number in pairs)


#: the counter of one stream, bumped
_NEXT_SEQUENCE = enc.next_sequences_sql(1)
#: the counter of one stream, moved up to a number (never down)
_RAISE_SEQUENCE = (
    "INSERT INTO event_streams (stream, last) VALUES (?, ?) ON CONFLICT (stream) "
    "DO UPDATE SET last = excluded.last WHERE excluded.last > event_streams.last"
)


class SqlUnitOfWork(UnitOfWorkBase, Generic[C]):
    """One transaction of a SQL store; rolls back unless :meth:`commit` is called.

    Set :attr:`read_only` before entering for a query: it then reads one snapshot
    without taking write locks, and every write through it raises ``InvalidInput``.
    Inside ``store.joined(conn)`` it runs in a savepoint of the host's transaction.
    """

    conn: C
    #: ``execute(sql, params)`` runs a statement (``?`` placeholders) in this transaction
    #: and returns its cursor, ``executemany(sql, rows)`` runs one for every row (both
    #: set on entering)
    execute: Callable[..., Any]
    executemany: Callable[..., Any]

    def __init__(
        self, store: SqlStore[C], joined: Joined[C] | None = None, *, read_only: bool = False
    ) -> None:
        self.store = store
        self.dialect = store.dialect
        #: the host's transaction this unit of work runs in (None: its own)
        self.joined = joined
        #: a query: a snapshot without write locks (and, on SQLite, no schema check);
        #: writes are refused
        self._read_only = read_only
        self.staged: dict[str, Slot] = {}
        self.new_slot_ids: set[str] = set()
        #: waitlist and offers as loaded, so unchanged ones are not rewritten
        self.loaded_children: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        #: each loaded slot's attributes as loaded, so its update sets only what changed
        self.loaded_fields: dict[str, tuple[Any, ...]] = {}
        #: what the dialect keeps of a host connection's own settings while joined
        self.host_state: Any = None
        #: the schema version is still to be checked, with the transaction's first
        #: statement (a dialect that folds the check into it sets this in ``begin``)
        self.version_due = False
        #: stream counters a dialect read under this transaction's locks with the rows
        #: of their aggregates (a slot's, with the slot): :meth:`next_sequences` numbers
        #: those streams from them without a statement of its own, and the commit stores
        #: what it gave out (:meth:`Dialect.store_numbered`)
        self.stream_lasts: dict[str, int] = {}
        #: the last number given out of each of those
        self._numbered: dict[str, int] = {}
        self._events: list[DomainEvent] = []
        self._envelopes: Sequence[Envelope] = ()
        #: ``(position, envelope JSON)`` of the feed rows the last commit appended (empty
        #: when it appended none, ran in a host's transaction, or the dialect cannot tell)
        self.committed_feed: list[tuple[int, str]] = []
        self._dispatched = 0
        self._open = False
        self._slots = SqlSlotRepository(self)
        self._bookings = SqlBookingRepository(self)
        self._series = SqlSeriesRepository(self)
        #: the documents' repositories, made on first use in each transaction: most
        #: commands (a booking) touch no document, and each is fresh per transaction
        self._records_now: tuple[SqlRecordRepository[C], SealedRecords | None] | None = None

    @property
    def slots(self) -> SqlSlotRepository[C]:
        return self._slots

    @property
    def bookings(self) -> SqlBookingRepository[C]:
        return self._bookings

    @property
    def series(self) -> SqlSeriesRepository[C]:
        return self._series

    @property
    def _records(self) -> SqlRecordRepository[C]:
        return self._documents()[0]

    def commit_mark(self) -> CommitMark | None:
        """:meth:`SqlRecordRepository.commit_mark`, asked of the unit of work itself: a
        read that touches no document (a student's bookings) then makes no document
        repository just to ask for it."""
        return self.dialect.commit_mark(self)

    @property
    def records(self) -> SqlRecordRepository[C] | SealedRecords:
        plain, sealed = self._documents()
        return plain if sealed is None else sealed

    def _documents(self) -> tuple[SqlRecordRepository[C], SealedRecords | None]:
        made = self._records_now
        if made is None:
            plain = SqlRecordRepository(self)
            sealer = self.store.sealer
            made = self._records_now = (plain, None if sealer is None else sealer.records(plain))
        return made

    def __enter__(self) -> Self:
        if self.joined is not None:
            self._enter_joined(self.joined)
        else:
            self.conn = self.dialect.begin(self)
            self.execute, self.executemany = self.dialect.executors(self)
        self._open = True
        self.staged = {}
        self.new_slot_ids = set()
        self.loaded_children = {}
        self.loaded_fields = {}
        self.stream_lasts = {}
        self._numbered = {}
        self._events = []
        self._envelopes = ()
        self.committed_feed = []
        self._dispatched = 0
        # what the documents' repositories know (locks, texts read, sealed values,
        # writes held back) lasts one transaction: fresh ones are made when first used
        self._records_now = None
        return self

    def _enter_joined(self, joined: Joined[C]) -> None:
        # A savepoint per write command, so a refusal (or a deadlock, which ROLLBACK TO
        # clears) leaves the host's transaction as it was and usable. The host's
        # transaction keeps the host's timeouts: nothing is SET here that would outlive
        # the command.
        self.dialect.join(self, joined.conn)
        self.version_due = False  # checked below, at once
        joined.acquire(self.store.lock_timeout)
        self.conn = joined.conn
        self.execute, self.executemany = self.dialect.executors(self)
        self.dialect.borrow_host(self)
        try:
            if not self.read_only:
                self.execute(f"SAVEPOINT {SAVEPOINT}")
            self.dialect.check_joined_version(self)
        except BaseException:
            try:
                if not self.read_only:
                    self._end_savepoint(rollback=True)
            finally:
                self.dialect.return_host(self)
                joined.in_use.release()
            raise

    def _end_savepoint(self, *, rollback: bool) -> None:
        if rollback:
            self.dialect.control(self.conn, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        self.dialect.control(self.conn, f"RELEASE SAVEPOINT {SAVEPOINT}")

    def _end(self, *, rollback: bool) -> None:
        if self.joined is None:
            self.dialect.control(self.conn, "ROLLBACK" if rollback else "COMMIT")
        elif not self.read_only:
            self._end_savepoint(rollback=rollback)

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
                self.dialect.return_host(self)
                self.joined.in_use.release()
            else:
                self.dialect.release(self)

    def commit(self) -> None:
        self._refuse_changes_if_read_only()
        params: list[tuple[Any, ...]] = []
        positions: Callable[[], list[int]] = list
        try:
            made = self._records_now
            if made is not None:  # a booking touches no document: nothing to make
                made[0].flush_writes()
            with self.dialect.flight(self):
                for slot in self.staged.values():
                    self._events.extend(slot.events)
                    if slot.changed:
                        self._write_slot(slot)
                if self._envelopes:
                    params = enc.feed_params(self._envelopes)
                    self.dialect.lock_feed(self)
                    positions = self.dialect.insert_feed(self, params)
                if self._numbered:
                    self.dialect.store_numbered(self, self._numbered, self._envelopes)
                self._end(rollback=False)
        except BaseException as exc:
            self.rollback()
            ours = self.dialect.commit_failed(exc)
            if ours is None:
                raise
            raise ours from exc
        self._open = False
        if self._envelopes and self.joined is None:
            # the host's COMMIT, not this one, makes a joined unit of work's rows count
            found = positions()
            if len(found) == len(params):
                self.committed_feed = [(p, row[-1]) for p, row in zip(found, params, strict=True)]
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
            loaded_fields=self.loaded_fields.get(slot.id),
        )
        if slot.id in self.new_slot_ids:
            entries = time_index(course_id=slot.course_id, tutor_id=slot.tutor_id, start=slot.start)
            self.insert_rows(enc.INSERT_INDEX, enc.index_rows(TIMETABLE, slot.id, entries))
        for w in writes:
            if w.many:
                self.insert_rows(w.sql, w.params)
            elif w.expect_one:
                self.dialect.update_checked(self, w.sql, w.params, slot.id)
            else:
                self.execute(w.sql, w.params)

    def rollback(self) -> None:
        made = self._records_now
        if made is not None:
            records = made[0]
            records.drop_writes()
            records._scans = {}
            records._known = {}
            records._ahead = {}
            records._unindexed = set()
            records._present = set()
            records._entries = {}
        if self._open:
            self._open = False
            try:
                self._end(rollback=True)
            except Exception as exc:
                if not self.dialect.rollback_failed(self, exc):
                    raise
        self.staged = {}
        self.new_slot_ids = set()
        self.stream_lasts = {}
        self._numbered = {}
        self._events = []
        self._envelopes = ()
        self._dispatched = 0

    #: rows per multi-row ``INSERT`` (6 columns at most: far below SQLite's smallest
    #: limit of bound parameters, 999)
    ROWS_PER_INSERT = 100

    def insert_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql``, a one-row ``INSERT``, for every row of ``rows``, in order: in
        multi-row statements where the dialect gains by it, else with ``executemany``."""
        if not self.dialect.multi_row_inserts or len(rows) == 1:
            if len(rows) == 1:
                self.execute(sql, rows[0])
            elif rows:
                self.executemany(sql, rows)
            return
        step = self.ROWS_PER_INSERT
        for n in range(0, len(rows), step):
            chunk = rows[n : n + step]
            self.execute(enc.multi_row(sql, len(chunk)), [v for row in chunk for v in row])

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        self.refuse_if_read_only("numbering events")
        known = self.stream_lasts
        if known:
            # counters read under this transaction's locks: numbered here, and stored at
            # commit (Dialect.store_numbered)
            numbered = self._numbered
            first = {s: numbered.get(s, known[s]) for s in counts if s in known}
            for stream, last in first.items():
                numbered[stream] = last + counts[stream]
            if len(first) == len(counts):
                return first
            counts = {s: n for s, n in counts.items() if s not in first}
        else:
            first = {}
        if len(counts) == 1:  # most commands: one aggregate's events
            ((stream, count),) = counts.items()
            row = self.execute(_NEXT_SEQUENCE, (stream, count)).fetchone()
            first[stream] = int(row["last"]) - count
            return first
        streams = sorted(counts)  # the counters' row locks, in sorted order
        cursor = self.execute(
            enc.next_sequences_sql(len(streams)), [v for s in streams for v in (s, counts[s])]
        )
        first.update((row["stream"], int(row["last"]) - counts[row["stream"]]) for row in cursor)
        return first

    def stage_feed(self, envelopes: Sequence[Envelope]) -> None:
        """Append ``envelopes`` to the feed in this transaction, at commit."""
        self._envelopes = envelopes

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
