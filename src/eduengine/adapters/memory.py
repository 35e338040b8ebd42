"""The in-memory adapter: the reference semantics every other adapter must match.

It behaves like a real store: a unit of work takes the store's lock (so commands are
serialisable across threads), works on private copies, and writes them back only on
``commit()``; a unit of work left without a commit changes nothing.

>>> store = InMemoryStore()
>>> with store.unit_of_work() as uow:
...     uow.slots.list_ids()
[]
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import attrs
from sortedcontainers import SortedList

from eduengine.adapters import settings
from eduengine.adapters.seats import CountedSeats
from eduengine.booking.model import Booking, Slot
from eduengine.booking.series import Series
from eduengine.booking.timetable import TIMETABLE, SlotSummary, summary_of, time_index
from eduengine.errors import (
    BookingNotFound,
    DuplicateId,
    InvalidInput,
    LockTimeout,
    SeriesNotFound,
    SlotNotFound,
    StoreClosed,
)
from eduengine.events.feed import feed_rows
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.crypto import KeyProvider, SealedRecords
from eduengine.service_layer.ports import IndexEntries

#: ``(key, value, document)`` of a keyset page, as ``scan_documents`` returns
DocumentEntries = list[tuple[str, int, dict[str, Any]]]

log = logging.getLogger("eduengine.events")


class InMemoryStore:
    """Committed state shared by every unit of work made from it (thread-safe)."""

    def __init__(
        self,
        *,
        lock_timeout: float = 10.0,
        outbox: bool | None = None,
        keys: KeyProvider | None = None,
        region: str | None = None,
    ) -> None:
        self.lock_timeout = settings.lock_timeout(lock_timeout)
        #: seals contact fields (``keys``) and keeps students to one region (``region``);
        #: ``None``: neither (see :mod:`eduengine.service_layer.crypto`)
        self.sealer = settings.sealer(keys, region)
        #: always True: every commit writes its envelopes to the feed (``outbox=`` is a
        #: deprecated no-op, see :func:`eduengine.adapters.settings.outbox`)
        self.outbox = settings.outbox(outbox)
        #: run before the store closes (a school's deferred reactions, its audit rows)
        self.before_close = settings.BeforeClose()
        self._closed = False
        self._lock = threading.Lock()
        #: the feed: (position, occurred micros, envelope JSON) in commit order
        self.feed: list[tuple[int, int, str]] = []
        self._feed_head = 0
        self._feed_lock = threading.Lock()
        #: each event stream's last sequence number
        self.streams: dict[str, int] = {}
        self.slots: dict[str, Slot] = {}
        self.bookings: dict[str, Booking] = {}
        self.bookings_by_student: dict[str, list[str]] = {}
        self.series: dict[str, Series] = {}
        #: feature-module documents: kind -> key -> JSON text (text, so no copy is shared)
        self.records: dict[str, dict[str, str]] = {}
        self.record_index = InMemoryRecordIndex()

    def unit_of_work(self, *, read_only: bool = False) -> InMemoryUnitOfWork:
        """A unit of work; ``read_only=True`` for a query (every write refused)."""
        return InMemoryUnitOfWork(self, read_only=read_only)

    def close(self) -> None:
        """Refuse every later unit of work with :class:`StoreClosed`, like the SQL stores
        (the data stays in this object until it is garbage)."""
        if not self._closed:
            self.before_close.run()
        self._closed = True

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self._feed_lock:
            start = bisect.bisect_right(self.feed, after, key=lambda row: row[0])
            return [(pos, text) for pos, _, text in self.feed[start : start + limit]]

    def feed_head(self) -> int:
        with self._feed_lock:
            return self._feed_head

    def stream_sequence(self, stream: str) -> int:
        """The last sequence number given to an event of ``stream`` (0: none yet), as
        committed; a live page reads it *before* the state it shows (see eduengine.live)."""
        return int(self.streams.get(stream, 0))

    def prune_feed(self, before_us: int, limit: int) -> int:
        with self._feed_lock:
            doomed = {pos for pos, us, _ in self.feed if us < before_us}
            doomed = set(sorted(doomed)[:limit])
            self.feed = [row for row in self.feed if row[0] not in doomed]
            return len(doomed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "slots": {sid: slot_state(s) for sid, s in self.slots.items()},
                "bookings": {bid: attrs.asdict(b) for bid, b in self.bookings.items()},
                "series": {sid: attrs.asdict(s) for sid, s in self.series.items()},
                "records": {
                    kind: {key: json.loads(text) for key, text in docs.items()}
                    for kind, docs in self.records.items()
                    if docs
                },
            }


def slot_state(slot: Slot) -> dict[str, Any]:
    """A slot's persistent state as plain data (shared by every adapter's snapshot)."""
    return {
        "course_id": slot.course_id,
        "tutor_id": slot.tutor_id,
        "series_id": slot.series_id,
        "start": slot.start,
        "end": slot.end,
        "capacity": slot.capacity,
        "status": slot.status.value,
        "waitlist_mode": slot.waitlist_mode.value,
        "offer_ttl": slot.offer_ttl,
        "opens_at": slot.opens_at,
        "seats": sorted(b.id for b in slot.bookings.values()),
        "waitlist": [(e.student_id, e.joined_at) for e in slot.waitlist],
        "offers": sorted(
            (o.student_id, o.id, o.offered_at, o.expires_at) for o in slot.offers.values()
        ),
    }


class SeatOverlay(CountedSeats):
    """A unit of work's view of a committed slot's seats that copies nothing up front.

    Reads fall through to the committed mapping; writes land in this dict (new or
    replaced seats) and in ``_removed`` (committed seats given up), so loading a slot for
    a command costs O(1) in its number of seats instead of a copy of every seat. Iteration
    yields exactly what a copied dict would, in the same order. :meth:`apply` writes the
    changes into the committed mapping in place on commit; a rollback just drops the
    overlay. Only valid while the store lock is held: nothing else may change the
    committed mapping underneath it.
    """

    def __init__(self, committed: dict[str, Booking]) -> None:
        super().__init__()
        self._committed = committed
        self._removed: set[str] = set()
        self._count = len(committed)

    def _lookup(self, student_id: object) -> Booking | None:
        if not isinstance(student_id, str):
            return None
        if dict.__contains__(self, student_id):
            own: Booking = dict.__getitem__(self, student_id)
            return own
        if student_id in self._removed:
            return None
        return self._committed.get(student_id)

    def pop(self, key: str, default: Any = None) -> Any:
        found = self._lookup(key)
        if found is None:
            return default
        if dict.__contains__(self, key):
            dict.__delitem__(self, key)
        if key in self._committed:
            self._removed.add(key)
        self._count -= 1
        return found

    def __delitem__(self, key: str) -> None:
        if self._lookup(key) is None:
            raise KeyError(key)
        self.pop(key)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._pairs())

    def _pairs(self) -> Iterator[tuple[str, Booking]]:
        # committed seats first, in their order (replaced ones keep their place, as a
        # dict assignment would), then seats new to this unit of work in insertion order
        own = dict.items(self)
        for key, booking in self._committed.items():
            if key in self._removed:
                continue
            yield key, dict.get(self, key, booking)
        for key, booking in own:
            if key in self._removed or key not in self._committed:
                yield key, booking

    def keys(self) -> Any:
        return [key for key, _ in self._pairs()]

    def values(self) -> Any:
        return [booking for _, booking in self._pairs()]

    def items(self) -> Any:
        return list(self._pairs())

    def copy(self) -> dict[str, Booking]:
        return dict(self._pairs())

    def __eq__(self, other: object) -> bool:
        return dict(self._pairs()) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return repr(dict(self._pairs()))

    def apply(self) -> dict[str, Booking]:
        """Write this unit of work's changes into the committed mapping and return it."""
        committed = self._committed
        for key in self._removed:
            committed.pop(key, None)
        committed.update(dict.items(self))
        return committed


def working_copy(committed: Slot) -> Slot:
    """A unit of work's copy of a committed slot, in O(1) of its seats.

    Unlike :meth:`Slot.clone` it shares the committed seat mapping behind a
    :class:`SeatOverlay`; the waitlist and offers (short) are copied. Only for use under
    the store lock, and never handed to callers (queries return ``clone()``s).
    """
    twin = object.__new__(Slot)
    twin.__dict__.update(committed.__dict__)
    twin.bookings = SeatOverlay(committed.bookings)
    twin.waitlist = list(committed.waitlist)
    twin.offers = dict(committed.offers)
    twin.events = []
    twin.changed_bookings = {}
    twin.changed = False
    return twin


class InMemorySlotRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def add(self, slot: Slot) -> None:
        self._uow.refuse_if_read_only(f"adding slot {slot.id!r}")
        if slot.id in self._store.slots or slot.id in self._uow.staged:
            raise DuplicateId(f"slot {slot.id!r} already exists")
        slot.changed = True
        self._uow.staged[slot.id] = slot

    def get(self, slot_id: str) -> Slot:
        staged = self._uow.staged.get(slot_id)
        if staged is not None:
            return staged
        committed = self._store.slots.get(slot_id) if isinstance(slot_id, str) else None
        if committed is None:
            raise SlotNotFound(str(slot_id))
        slot = working_copy(committed)
        self._uow.staged[slot_id] = slot
        return slot

    def get_many(self, slot_ids: Sequence[str]) -> list[Slot]:
        return [self.get(sid) for sid in slot_ids]

    def ids_with_offers_due(self, now: datetime) -> list[str]:
        return sorted(
            sid
            for sid, slot in self._store.slots.items()
            if any(o.expires_at <= now for o in slot.offers.values())
        )

    def list_ids(self) -> list[str]:
        return sorted(set(self._store.slots) | set(self._uow.staged))

    def summaries(self, slot_ids: Sequence[str]) -> list[SlotSummary]:
        """What a timetable shows of each of ``slot_ids`` that exists, in the order
        asked, without loading a roster or locking anything."""
        out = []
        for sid in slot_ids:
            slot = self._uow.staged.get(sid) or self._store.slots.get(sid)
            if slot is not None:
                out.append(summary_of(slot))
        return out

    def ids_for_tutor(self, tutor_id: str) -> list[str]:
        return sorted(
            sid
            for sid in set(self._store.slots) | set(self._uow.staged)
            if (self._uow.staged.get(sid) or self._store.slots[sid]).tutor_id == tutor_id
        )


class InMemoryBookingRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def _staged(self, booking_id: str) -> Booking | None:
        for slot in self._uow.staged.values():
            if booking_id in slot.changed_bookings:
                return slot.changed_bookings[booking_id]
        return None

    def get(self, booking_id: str) -> Booking:
        booking = self._staged(booking_id) or self._store.bookings.get(booking_id)
        if booking is None:
            raise BookingNotFound(str(booking_id))
        return booking

    def for_student(self, student_id: str) -> list[Booking]:
        """The student's bookings, with this unit of work's own changes."""
        ids = self._store.bookings_by_student.get(student_id, [])
        return with_staged([self.get(bid) for bid in ids], self._uow.staged.values(), student_id)


class InMemorySeriesRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def add(self, series: Series) -> None:
        self._uow.refuse_if_read_only(f"adding series {series.id!r}")
        if series.id in self._store.series or series.id in self._uow.new_series:
            raise DuplicateId(f"series {series.id!r} already exists")
        self._uow.new_series[series.id] = series

    def get(self, series_id: str) -> Series:
        series = self._uow.new_series.get(series_id) or self._store.series.get(series_id)
        if series is None:
            raise SeriesNotFound(str(series_id))
        return series


class InMemoryRecordIndex:
    """Every document's index entries, and one sorted list of ``(value, key)`` per
    ``(kind, index)``: the in-memory twin of a B-tree index."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, int]] = {}
        self.sorted: dict[tuple[str, str], SortedList[tuple[int, str]]] = {}

    def replace(self, kind: str, key: str, index: Mapping[str, int] | None) -> None:
        old = self.entries.pop((kind, key), None)
        if old:
            for name, value in old.items():
                self.sorted[(kind, name)].remove((value, key))
        if index:
            self.entries[(kind, key)] = dict(index)
            for name, value in index.items():
                self.sorted.setdefault((kind, name), SortedList()).add((value, key))

    def scan(
        self,
        kind: str,
        index: str,
        lo: int | None,
        hi: int | None,
        limit: int | None,
        descending: bool,
    ) -> IndexEntries:
        values = self.sorted.get((kind, index))
        if not values:
            return []
        # keys are strings, so ("",) sorts before and (chr(0x10FFFF),) after every key
        start = 0 if lo is None else values.bisect_left((lo, ""))
        stop = len(values) if hi is None else values.bisect_right((hi, _TOP))
        if descending:
            first = stop - 1
            last = start if limit is None else max(start, stop - limit)
            return [(values[i][1], values[i][0]) for i in range(first, last - 1, -1)]
        end = stop if limit is None else min(stop, start + limit)
        return [(key, value) for value, key in values.islice(start, end)]

    def page(
        self,
        kind: str,
        index: str,
        after: tuple[int, str] | None,
        limit: int,
        descending: bool,
    ) -> IndexEntries:
        """The next ``limit`` entries after the keyset cursor ``after``: one bisection
        of the sorted list, then the page."""
        values = self.sorted.get((kind, index))
        if not values or limit <= 0:
            return []
        if descending:
            stop = len(values) if after is None else values.bisect_left(after)
            first = max(0, stop - limit)
            return [(values[i][1], values[i][0]) for i in range(stop - 1, first - 1, -1)]
        start = 0 if after is None else values.bisect_right(after)
        return [(key, value) for value, key in values.islice(start, start + limit)]

    def count(self, kind: str, index: str, lo: int | None, hi: int | None) -> int:
        values = self.sorted.get((kind, index))
        if not values:
            return 0
        start = 0 if lo is None else values.bisect_left((lo, ""))
        stop = len(values) if hi is None else values.bisect_right((hi, _TOP))
        return max(0, stop - start)


_TOP = chr(0x10FFFF)


def check_index(index: Mapping[str, int] | None) -> None:
    """Index values are integers (they become SQL BIGINTs): refuse anything else."""
    if index is None:
        return
    for name, value in index.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"index names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise InvalidInput(f"index {name!r} needs a 64-bit integer value, got {value!r}")


class InMemoryRecordRepository:
    """Documents written through to the store at once, with an undo log: the unit of
    work holds the store lock until it ends, so nobody else sees them before commit,
    and a rollback replays the undo log."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        text = self._store.records.get(kind, {}).get(key)
        return None if text is None else dict(json.loads(text))

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """``get`` of each of ``keys`` (locked like ``get``), by key."""
        return {key: self.get(kind, key) for key in sorted(set(keys))}

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        check_index(index)
        # Serialising at once rejects non-JSON values inside the command (so it rolls back)
        # and keeps the caller's dict from aliasing stored state.
        text = json.dumps(data, sort_keys=True)
        self._remember(kind, key, "writing")
        self._store.records.setdefault(kind, {})[key] = text
        self._store.record_index.replace(kind, key, index)

    def put_many(self, kind: str, docs: Mapping[str, dict[str, Any]]) -> None:
        """``put`` of each document of ``docs``, without index entries, in key order."""
        for key in sorted(docs):
            self.put(kind, key, docs[key])

    def delete(self, kind: str, key: str) -> None:
        self._uow.refuse_if_read_only(f"deleting record {kind}/{key}")
        if key not in self._store.records.get(kind, {}):
            return
        self._remember(kind, key, "deleting")
        del self._store.records[kind][key]
        self._store.record_index.replace(kind, key, None)

    def rewrite(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Replace a document's data and keep its index entries (sealing values written
        before the store had keys, see :func:`eduengine.service_layer.crypto.seal_existing`)."""
        text = json.dumps(data, sort_keys=True)
        self._remember(kind, key, "writing")
        self._store.records.setdefault(kind, {})[key] = text

    def _remember(self, kind: str, key: str, what: str) -> None:
        self._uow.refuse_if_read_only(f"{what} record {kind}/{key}")
        self._uow.undo.append(
            (
                kind,
                key,
                self._store.records.get(kind, {}).get(key),
                self._store.record_index.entries.get((kind, key)),
            )
        )

    def list(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        docs = self._store.records.get(kind, {})
        return [(k, dict(json.loads(docs[k]))) for k in sorted(docs)]

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
        return self._store.record_index.scan(kind, index, lo, hi, limit, descending)

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        return self._store.record_index.count(kind, index, lo, hi)

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
        the keyset cursor ``after`` (a ``(value, key)`` already read)."""
        docs = self._store.records.get(kind, {})
        return [
            (key, value, dict(json.loads(docs[key])))
            for key, value in self._store.record_index.page(kind, index, after, limit, descending)
        ]


class UnitOfWorkBase:
    """What every adapter's unit of work does alike: refusing writes when it is
    read-only, and queueing the events its commands raise (published after commit)."""

    #: a query (set by ``store.unit_of_work(read_only=True)``)
    _read_only: bool = False
    staged: dict[str, Slot]
    _events: list[DomainEvent]
    _dispatched: int

    @property
    def read_only(self) -> bool:
        """A query: reads a snapshot without write locks; every write is refused."""
        return self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        warnings.warn(
            "setting uow.read_only is deprecated: open a query with "
            "store.unit_of_work(read_only=True)",
            EduEngineDeprecationWarning,
            stacklevel=2,
        )
        self._read_only = value

    def rollback(self) -> None:
        raise NotImplementedError

    def refuse_if_read_only(self, what: str) -> None:
        """Raise ``InvalidInput`` naming ``what`` if this unit of work is read-only."""
        if self.read_only:
            raise InvalidInput(f"{what} in a read-only unit of work (open it with read_only=False)")

    def _refuse_changes_if_read_only(self) -> None:
        # Refused here, before anything is written: a SQL read-only transaction would
        # refuse the writes only at the server (and SQLite's deferred BEGIN would
        # silently take the write lock), and the message names what changed.
        if not self.read_only:
            return
        changed = sorted(sid for sid, slot in self.staged.items() if slot.changed)
        if changed or self._events:
            self.rollback()
            self.refuse_if_read_only(
                f"committing changed slot(s) {', '.join(changed)}"
                if changed
                else f"committing {len(self._events)} event(s)"
            )

    def record_events(self, events: Sequence[DomainEvent]) -> None:
        """Queue events raised outside a slot (feature modules) for publication."""
        self._events.extend(events)

    def raised_events(self) -> list[DomainEvent]:
        new, self._dispatched = take_raised(self.staged.values(), self._events, self._dispatched)
        return new


class InMemoryUnitOfWork(UnitOfWorkBase):
    """One serialisable transaction over an :class:`InMemoryStore`.

    Opened with ``store.unit_of_work(read_only=True)`` it still takes the store lock (reads
    must not see a commit half-applied) but refuses every write with ``InvalidInput``,
    like the SQL adapters.
    """

    def __init__(self, store: InMemoryStore, *, read_only: bool = False) -> None:
        self.store = store
        #: a query: every write through this unit of work is refused
        self._read_only = read_only
        self.staged: dict[str, Slot] = {}
        self.new_series: dict[str, Series] = {}
        #: how to restore the documents this unit of work wrote, oldest first
        self.undo: list[tuple[str, str, str | None, dict[str, int] | None]] = []
        self._events: list[DomainEvent] = []
        self._envelopes: list[Envelope] = []
        #: ``(position, envelope JSON)`` of the feed rows the last commit appended
        self.committed_feed: list[tuple[int, str]] = []
        #: event stream counters as they were before this unit of work moved them
        self.stream_undo: dict[str, int | None] = {}
        self._dispatched = 0
        self._committed = False
        self._plain = plain = InMemoryRecordRepository(self)
        self.records: InMemoryRecordRepository | SealedRecords = (
            plain if store.sealer is None else store.sealer.records(plain)
        )
        self.slots = InMemorySlotRepository(self)
        self.bookings = InMemoryBookingRepository(self)
        self.series = InMemorySeriesRepository(self)

    def __enter__(self) -> Self:
        if self.store._closed:
            raise StoreClosed("this InMemoryStore is closed")
        if not self.store._lock.acquire(timeout=self.store.lock_timeout):
            raise LockTimeout(f"in-memory store busy for more than {self.store.lock_timeout}s")
        if self.store.sealer is not None:  # what it caches lasts one transaction
            self.records = self.store.sealer.records(self._plain)
        self.staged = {}
        self.new_series = {}
        self.undo = []
        self._events = []
        self._envelopes = []
        self.committed_feed = []
        self.stream_undo = {}
        self._dispatched = 0
        self._committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.rollback()
        finally:
            self.store._lock.release()

    def commit(self) -> None:
        store = self.store
        self._refuse_changes_if_read_only()
        for sid, slot in self.staged.items():
            self._events.extend(slot.events)
            if not slot.changed:
                continue
            for booking in slot.changed_bookings.values():
                if booking.id not in store.bookings:
                    store.bookings_by_student.setdefault(booking.student_id, []).append(booking.id)
                store.bookings[booking.id] = booking
            # The unit of work is finished with its copy, so it becomes the committed
            # state as is (callers only ever receive clones or immutable values); its
            # seat changes go into the committed seat mapping in place.
            if isinstance(slot.bookings, SeatOverlay):
                slot.bookings = slot.bookings.apply()
            slot.events = []
            slot.changed_bookings = {}
            slot.changed = False
            slot.version += 1
            if sid not in store.slots:
                store.record_index.replace(
                    TIMETABLE,
                    sid,
                    time_index(course_id=slot.course_id, tutor_id=slot.tutor_id, start=slot.start),
                )
            store.slots[sid] = slot
        store.series.update(self.new_series)
        if self._envelopes:
            # appended under the store lock, so positions follow commit order
            written = self.committed_feed
            with store._feed_lock:
                for row in feed_rows(self._envelopes):
                    store._feed_head += 1
                    store.feed.append((store._feed_head, row.occurred_us, row.envelope))
                    written.append((store._feed_head, row.envelope))
        self._envelopes = []
        self.stream_undo = {}
        self.staged = {}
        self.new_series = {}
        self.undo = []
        self._committed = True

    def rollback(self) -> None:
        records, index = self.store.records, self.store.record_index
        for kind, key, text, entries in reversed(self.undo):
            if text is None:
                records.get(kind, {}).pop(key, None)
            else:
                records.setdefault(kind, {})[key] = text
            index.replace(kind, key, entries)
        self.undo = []
        for stream, last in self.stream_undo.items():
            if last is None:
                self.store.streams.pop(stream, None)
            else:
                self.store.streams[stream] = last
        self.stream_undo = {}
        self.staged = {}
        self.new_series = {}
        self._events = []
        self._envelopes = []
        self._dispatched = 0

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        self.refuse_if_read_only("numbering events")
        streams = self.store.streams
        out: dict[str, int] = {}
        for stream in sorted(counts):
            out[stream] = streams.get(stream, 0)
            self.stream_undo.setdefault(stream, streams.get(stream))
            streams[stream] = out[stream] + counts[stream]
        return out

    def stage_feed(self, envelopes: Sequence[Envelope]) -> None:
        """Append ``envelopes`` to the store's feed when this unit of work commits."""
        self._envelopes = list(envelopes)

    def collect_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        self._dispatched = 0
        return events


def with_staged(committed: list[Booking], slots: Iterable[Slot], student_id: str) -> list[Booking]:
    """``committed`` bookings of a student overlaid with staged slots' changes (new
    bookings last), so a unit of work reads its own writes."""
    changed = {
        b.id: b
        for slot in slots
        for b in slot.changed_bookings.values()
        if b.student_id == student_id
    }
    if not changed:
        return committed
    out = [changed.pop(b.id, b) for b in committed]
    return out + list(changed.values())


def take_raised(
    slots: Iterable[Slot], queued: list[DomainEvent], dispatched: int
) -> tuple[list[DomainEvent], int]:
    """Move the events staged slots raised into ``queued`` (the unit of work's events,
    published after commit) and return those not handed out yet, with the new mark."""
    for slot in slots:
        if slot.events:
            queued.extend(slot.events)
            slot.events = []
    return queued[dispatched:], len(queued)


class InMemoryEventBus:
    """An :class:`~eduengine.ports.EventPublisher` that keeps every event and calls
    subscribers synchronously (after commit); a subscriber that raises is logged and the
    others are still called."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._subscribers: list[Callable[[DomainEvent], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Callable[[DomainEvent], None]) -> None:
        self._subscribers.append(handler)

    def publish(self, events: Sequence[DomainEvent]) -> None:
        with self._lock:
            self.events.extend(events)
        for event in events:
            for handler in list(self._subscribers):
                try:
                    handler(event)
                except Exception:
                    # the command committed: one broken subscriber (a hub that is down)
                    # must not keep the event from the others, nor fail the caller
                    log.exception("subscriber %r failed on %r", handler, event)
