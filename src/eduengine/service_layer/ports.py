"""The protocols between the domain/service layer and the outside world.

Adapters (``eduengine.adapters.*``) implement them; nothing in the domain imports an
adapter. A unit of work is a context manager that rolls back unless :meth:`commit` was
called; every repository it hands out sees and writes one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, cast

from eduengine.booking.model import Booking, Slot
from eduengine.booking.series import Series
from eduengine.kernel.clock import Clock
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent

__all__ = [
    "BookingRepository",
    "Clock",
    "EventPublisher",
    "IndexEntries",
    "IndexEntry",
    "JsonValue",
    "ReadOnlyFactory",
    "RecordRepository",
    "SeriesRepository",
    "SlotRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "open_read_only",
]


class SlotRepository(Protocol):
    """Slot aggregates. ``get`` locks the slot for the rest of the unit of work.

    **The timetable index.** When an adapter inserts a new slot it files it in the
    record index of kind ``"slot_time"`` (``eduengine.booking.timetable.time_index``:
    ``"all"``, ``"course:<id>"``, ``"tutor:<id>"``, valued by the start in microseconds),
    so ``school.queries`` finds a day's slots with one ``records.scan``. The library's
    adapters also offer ``summaries(slot_ids)``: each existing slot's
    :class:`~eduengine.booking.timetable.SlotSummary` (seats, waitlist length, no roster)
    without locking; the queries fall back to ``get`` for an adapter without it.
    """

    def add(self, slot: Slot) -> None:
        """Stage a new slot; raises ``DuplicateId`` if the id is taken."""

    def get(self, slot_id: str) -> Slot:
        """Load (and lock) one slot with its seats, waitlist and offers, or raise
        ``SlotNotFound``."""
        ...

    def get_many(self, slot_ids: Sequence[str]) -> list[Slot]:
        """Load (and lock) several slots, locking in sorted id order so that concurrent
        multi-slot commands cannot deadlock. Returned in the order asked."""
        ...

    def ids_with_offers_due(self, now: datetime) -> list[str]:
        """Ids of slots holding an offer that expires at or before ``now``."""
        ...

    def list_ids(self) -> list[str]: ...

    def ids_for_tutor(self, tutor_id: str) -> list[str]:
        """Ids of the slots a tutor teaches, sorted."""
        ...


class BookingRepository(Protocol):
    """Read access to bookings of any status (seats are written through their slot)."""

    def get(self, booking_id: str) -> Booking:
        """The booking, or raise ``BookingNotFound``."""
        ...

    def for_student(self, student_id: str) -> list[Booking]: ...


class SeriesRepository(Protocol):
    def add(self, series: Series) -> None: ...

    def get(self, series_id: str) -> Series:
        """The series, or raise ``SeriesNotFound``."""
        ...


JsonValue = Any
"""A JSON-compatible value: str, int, bool, None, lists and dicts of them."""


IndexEntry = tuple[str, int]
"""``(key, value)`` of one document in an index, as :meth:`RecordRepository.scan` returns."""
IndexEntries = list[IndexEntry]
#: a mark of the committed state a unit of work reads (``records.commit_mark()``, where
#: a store has one; the SQL stores' units of work answer ``uow.commit_mark()`` too):
#: where it was taken (a connection) and what it saw there; two marks with the same
#: place and the same sight: nothing was committed between them
CommitMark = tuple[Hashable, Hashable]


class RecordRepository(Protocol):
    """Versioned JSON documents by ``(kind, key)``, for the feature modules, with indexes.

    The booking core has dedicated tables for its hot path; the other modules (deals,
    pricing, levels, students, availability ...) persist each aggregate as one JSON
    document, so every adapter supports every module through this one port. ``get``
    locks the document for the rest of the unit of work (``SELECT ... FOR UPDATE`` in
    PostgreSQL, the write lock in SQLite, the store lock in memory). Documents must be
    JSON-compatible: encode datetimes as ISO strings and money as decimal strings.

    **Indexes.** ``put`` may file the document under named integer values
    (``index={"due": micros, "xp:class:c1": 420}``): a name is an index of its own kind
    (put the partition in the name, as ``"lessons:tutor:t1"``), and the value orders it.
    Each ``put`` replaces every index entry of the document, and ``delete`` drops them, so
    a sweep that scans ``"due"`` up to ``now`` reads only the documents still due, never
    finished ones. ``scan`` and ``count`` cost O(log N + rows returned or counted) on every
    adapter (a B-tree index in SQL, a sorted list in memory). They read without locking;
    a command re-reads each document it changes with ``get``.

    The library's adapters also offer ``get_many(kind, keys)``: ``get`` of each key
    (locked in key order) in one query, as ``{key: document or None}`` in key order; code
    that uses it falls back to ``get`` for an adapter without it. Likewise
    ``scan_documents(kind, index, *, limit, after=None, descending=False)``: a keyset
    page, ``(key, value, document)`` of the next ``limit`` entries strictly after the
    ``(value, key)`` cursor ``after``, in one query (the index walk joined to the
    documents; unlocked, as ``scan``).
    """

    def get(self, kind: str, key: str) -> dict[str, JsonValue] | None:
        """The stored document (a private copy), or ``None``."""
        ...

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, JsonValue],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        """Insert or replace a document (and all its index entries); visible to later
        reads in this unit of work."""

    def delete(self, kind: str, key: str) -> None:
        """Remove a document and its index entries (nothing happens if it is absent)."""

    def list(self, kind: str) -> list[tuple[str, dict[str, JsonValue]]]:
        """Every ``(key, document)`` of a kind, sorted by key (for small kinds only)."""
        ...

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
        """``(key, value)`` of the documents filed under ``index`` with ``lo <= value <=
        hi`` (either bound optional), ordered by ``(value, key)``, or the reverse with
        ``descending``; at most ``limit`` of them."""
        ...

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        """How many documents are filed under ``index`` with ``lo <= value <= hi``."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository.

    Open it with ``store.unit_of_work(read_only=True)`` for a query: SQLite then reads a
    WAL snapshot without taking the write lock, PostgreSQL takes no row locks, so a report
    never blocks a booking. Writing in a read-only unit of work raises ``InvalidInput``.
    (Setting ``uow.read_only = True`` before entering still works, with a
    ``DeprecationWarning``; :func:`open_read_only` opens one from any factory.)

    The library's units of work also say, after :meth:`commit`, where it put the
    envelopes it staged: ``committed_feed``, their ``(position, envelope JSON)`` feed
    rows in order (empty if it staged none, or inside a host's transaction). The service
    layer gives those positions to the envelopes it publishes, and the school's inline
    projections take the command's events from them instead of reading the feed; an
    adapter without it costs them one feed read.
    """

    read_only: bool

    @property
    def slots(self) -> SlotRepository: ...

    @property
    def bookings(self) -> BookingRepository: ...

    @property
    def series(self) -> SeriesRepository: ...

    @property
    def records(self) -> RecordRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def record_events(self, events: Sequence[DomainEvent]) -> None:
        """Queue events raised outside a slot (feature modules); published after commit."""

    def raised_events(self) -> list[DomainEvent]:
        """Events raised since the last call (by staged slots and ``record_events``).

        The message bus calls it to dispatch events to handlers inside the unit of work;
        the events stay queued for publication after commit.
        """
        ...

    def collect_events(self) -> list[DomainEvent]:
        """Events raised by the aggregates this unit of work committed, in order."""
        ...

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Advance each event stream's counter by its count and return the number each
        had before; the counters stay locked until the unit of work ends, so commits on
        one stream number its events in commit order (call it last, just before commit,
        with the streams in sorted order)."""
        ...

    def stage_feed(self, envelopes: Sequence[Envelope]) -> None:
        """Write ``envelopes`` to the store's event feed in this transaction, at commit,
        if the store keeps one (``outbox=True``); the service layer calls it just before
        :meth:`commit` with the command's numbered events."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


class ReadOnlyFactory(Protocol):
    """A unit-of-work factory that opens queries too (every store of the library)."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


def open_read_only(factory: UnitOfWorkFactory) -> UnitOfWork:
    """A read-only unit of work from ``factory``: ``factory(read_only=True)`` (the
    library's stores), or, for a host's factory without the parameter, one with its
    ``read_only`` flag set the old way.

    >>> from eduengine import InMemoryStore
    >>> open_read_only(InMemoryStore().unit_of_work).read_only
    True
    """
    try:
        return cast(ReadOnlyFactory, factory)(read_only=True)
    except TypeError:
        uow = factory()
        uow.read_only = True
        return uow


class EventPublisher(Protocol):
    """Receives events after their transaction committed (e.g. to push seat counts)."""

    def publish(self, events: Sequence[DomainEvent]) -> None: ...


class Store(Protocol):
    """What an adapter offers the service layer and the contract suite."""

    def unit_of_work(self) -> UnitOfWork: ...

    def snapshot(self) -> dict[str, Any]:
        """A full, comparable dump of the stored state (for tests and audits)."""
        ...
