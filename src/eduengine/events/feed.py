"""The cross-process event feed: committed envelopes in commit order, read by cursor.

Every store writes every envelope a command publishes to its feed in the command's own
transaction (the feed is part of the schema ``migrate`` builds, not an option), so the
feed holds exactly the committed events, in commit order, and no event is lost if the
process dies right after commit. Every process on the store
(web workers, a relay, a CLI) reads the same feed:

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock)
>>> slot = school.booking.create_slot("math", clock.now() + timedelta(days=1),
...                                   clock.now() + timedelta(days=1, hours=1), capacity=2)
>>> _ = school.booking.book(slot.id, "ann")
>>> page = school.feed.events_since(0, limit=100)
>>> [(e.position, e.type, e.sequence) for e in page][:2]
[(1, 'booking.slot_created', 1), (2, 'booking.seat_booked', 2)]
>>> school.feed.events_since(page[-1].position) == []
True

``position`` increases strictly in commit order, across processes; pass the last one
read as the next ``cursor``. Positions may skip numbers (a rolled-back write, pruning),
``sequence`` within one aggregate's stream does not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from eduengine.errors import FeedUnavailable, OutOfRange, WrongType
from eduengine.events.codec import envelope_from_json, envelope_to_json
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.codec import micros
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.inputs import check_duration, check_id, check_instant, check_int
from eduengine.service_layer.ports import UnitOfWork, open_read_only

__all__ = ["CURSORS", "EventFeed", "FeedRow", "FeedStore", "feed_rows"]

#: The record kind holding named consumers' cursors (see :meth:`EventFeed.save_cursor`).
CURSORS = "feed_cursor"

#: The most envelopes one :meth:`EventFeed.events_since` call returns.
MAX_LIMIT = 10_000
#: The highest feed position a cursor may name (positions are 64-bit signed integers).
MAX_POSITION = 2**63 - 1


@attrs.frozen
class FeedRow:
    """One envelope as a store's feed table holds it (the position is the store's)."""

    event_id: str
    type: str
    stream: str
    sequence: int
    occurred_us: int
    #: the envelope's JSON text, without its position
    envelope: str


def feed_rows(envelopes: Sequence[Envelope]) -> list[FeedRow]:
    """The rows an adapter appends to its feed for ``envelopes``, in order."""
    return [
        FeedRow(
            event_id=e.id,
            type=e.type,
            stream=e.stream,
            sequence=e.sequence,
            occurred_us=micros(e.occurred_at),
            envelope=envelope_to_json(e),
        )
        for e in envelopes
    ]


class FeedStore(Protocol):
    """What an adapter offers the feed (every adapter of the library has it). Its units
    of work write each commit's envelopes to the feed, whatever the store was built with."""

    def unit_of_work(self) -> UnitOfWork: ...

    def read_feed(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` ``(position, envelope JSON)`` with ``position > after``, in
        position order; only committed rows, and never a row that a later read could
        find before one already returned."""
        ...

    def feed_head(self) -> int:
        """The highest position written so far (0 for an empty feed)."""
        ...

    def prune_feed(self, before_us: int, limit: int) -> int:
        """Delete up to ``limit`` of the oldest rows whose event occurred before
        ``before_us``; returns how many were deleted."""
        ...


class EventFeed:
    """Read, follow and prune a store's feed; keep named consumers' cursors.

    ``school.feed`` is one; build your own as ``EventFeed(store, clock=clock)``.
    """

    def __init__(
        self,
        store: FeedStore,
        *,
        clock: Clock | None = None,
        settle: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        #: called before each read: a school's applies the reactions its process defers,
        #: so the events they raise are in the feed it reads (``ProjectionRunner.flush``)
        self.settle = settle

    def _check(self) -> None:
        # Every store of the library keeps a feed; only a host's own adapter that never
        # implemented one gets here.
        if not callable(getattr(self.store, "read_feed", None)):
            raise FeedUnavailable(
                f"{type(self.store).__name__} keeps no event feed: it has no read_feed()"
            )

    def events_since(self, cursor: int = 0, limit: int = 100) -> list[Envelope]:
        """Up to ``limit`` committed envelopes after position ``cursor``, in commit order.

        Each carries its ``position``; pass the last one as the next ``cursor`` (0 reads
        from the oldest envelope kept).
        """
        return [
            attrs.evolve(envelope_from_json(text), position=position)
            for position, text in self.rows_since(cursor, limit)
        ]

    def rows_since(self, cursor: int = 0, limit: int = 100) -> list[tuple[int, str]]:
        """Like :meth:`events_since`, as ``(position, envelope JSON)`` without parsing
        (the JSON has no ``position`` key): what a relay or an SSE stream forwards."""
        check_int(cursor, "cursor", high=MAX_POSITION)
        check_int(limit, "limit", low=1, high=MAX_LIMIT)
        self._check()
        if self.settle is not None:
            self.settle()
        return self.store.read_feed(cursor, limit)

    def head(self) -> int:
        """The highest position in the feed (0 if empty): start here to see only news."""
        self._check()
        if self.settle is not None:
            self.settle()
        return self.store.feed_head()

    def follow(
        self,
        cursor: int = 0,
        *,
        poll: float = 0.2,
        limit: int = 100,
        stop: threading.Event | None = None,
    ) -> Iterator[Envelope]:
        """Every envelope after ``cursor``, then each new one as it commits (polling every
        ``poll`` seconds) until ``stop`` is set; for a worker thread, not an event loop."""
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 <= poll <= 3600:
            raise OutOfRange(f"poll must be from 0 to 3600 seconds, got {poll!r}", field="poll")
        stop = stop or threading.Event()
        while not stop.is_set():
            page = self.events_since(cursor, limit)
            for envelope in page:
                yield envelope
                cursor = envelope.position or cursor
            if len(page) < limit:
                stop.wait(poll)

    def prune(self, older_than: datetime | timedelta, *, batch: int = 1000) -> int:
        """Delete the envelopes of events that occurred before ``older_than`` (a time,
        or an age counted back from the clock's now); returns how many.

        Deletes in batches of ``batch`` rows, each its own short transaction. Consumers
        whose cursor points into the pruned range simply continue at the oldest kept
        envelope: prune no sooner than every consumer has read past it.
        """
        if isinstance(older_than, timedelta):
            cutoff = self.clock.now() - check_duration(older_than, "older_than")
        elif isinstance(older_than, datetime):
            cutoff = check_instant(older_than, "older_than")
        else:
            raise WrongType(
                f"older_than must be a datetime or a timedelta, got {older_than!r}",
                field="older_than",
            )
        check_int(batch, "batch", low=1)
        self._check()
        total = 0
        while True:
            deleted = self.store.prune_feed(micros(cutoff), batch)
            total += deleted
            if deleted < batch:
                return total
            time.sleep(0)  # let a waiting writer in between batches

    # --- named cursors -----------------------------------------------------------------

    def cursor(self, name: str) -> int:
        """The position consumer ``name`` last saved (0 if it never did)."""
        check_id(name, "name")
        uow = open_read_only(self.store.unit_of_work)
        with uow:
            doc = uow.records.get(CURSORS, name)
        return int(doc["position"]) if doc else 0

    def save_cursor(self, name: str, position: int) -> int:
        """Record that consumer ``name`` has handled everything up to ``position``; a
        cursor never moves back. Returns the saved position."""
        check_id(name, "name")
        check_int(position, "position", high=MAX_POSITION)
        with self.store.unit_of_work() as uow:
            doc = uow.records.get(CURSORS, name)
            saved = max(position, int(doc["position"]) if doc else 0)
            if doc is None or saved != doc["position"]:
                uow.records.put(CURSORS, name, {"position": saved})
            uow.commit()
        return saved
