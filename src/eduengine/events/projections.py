"""Projections: reactions to committed events, each event applied exactly once.

A *rule* may refuse a command, or must be seen by the very next one: it runs inside the
command's unit of work (:mod:`eduengine.service_layer.messagebus`). A *reaction* only
follows from what committed (a notice, a counter, XP, a webhook): it is a
:class:`Projection` of the store's event feed (:class:`eduengine.events.EventFeed`).

Each projection keeps a **checkpoint**, the feed position of the last event it handled,
as a record (kind :data:`CHECKPOINTS`, key the projection's name). The runner writes
it in the same unit of work as the projection's own changes, after re-reading it under
that record's lock, so the changes and the checkpoint commit or roll back together:
across crashes, restarts and any number of workers, every event is applied once (the
tracking records of eventsourcing's process applications).

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.booking.events import SeatBooked
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> store = InMemoryStore(outbox=True)
>>> school = School.build(store, clock=clock)
>>> def count(uow, envelopes):
...     doc = uow.records.get("counter", "seats") or {"n": 0}
...     uow.records.put("counter", "seats", {"n": doc["n"] + len(envelopes)})
>>> runner = ProjectionRunner(store.unit_of_work, school.feed,
...                           [Projection("seat_counter", count, events=[SeatBooked])])
>>> start = clock.now() + timedelta(days=1)
>>> slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=3)
>>> _ = school.booking.book(slot.id, "ann")
>>> _ = school.booking.book(slot.id, "bob")
>>> dict(runner.catch_up()), dict(runner.catch_up())
({'seat_counter': 2}, {'seat_counter': 0})
>>> with store.unit_of_work() as uow:
...     uow.records.get("counter", "seats")
{'n': 2}
>>> runner.checkpoints() == {"seat_counter": school.feed.head()}
True
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from eduengine.errors import InvalidInput, OutOfRange, RetryableConflict, WrongType
from eduengine.events.codec import envelope_from_dict
from eduengine.events.feed import MAX_LIMIT, EventFeed
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent, event_kinds, find_kind
from eduengine.kernel.inputs import check_id, check_int
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "CHECKPOINTS",
    "CatchUp",
    "Projection",
    "ProjectionFailure",
    "ProjectionRunner",
]

log = logging.getLogger("eduengine.projections")

#: The record kind holding each projection's checkpoint (``{"position": int, "at": iso}``).
CHECKPOINTS = "projection_checkpoint"

Apply = Callable[[UnitOfWork, Sequence[Envelope]], None]
"""Applies a batch of envelopes (in feed order) within the unit of work it is given."""

#: How often a batch is tried again when storage reports a transient conflict.
MAX_ATTEMPTS = 3


def _type_names(events: Iterable[type[DomainEvent] | str] | None) -> frozenset[str] | None:
    if events is None:
        return None
    if isinstance(events, str | type):
        raise InvalidInput(f"events must be a list of event types, got {events!r}")
    names: set[str] = set()
    for wanted in events:
        if isinstance(wanted, str):
            names.add(wanted)
        elif isinstance(wanted, type) and issubclass(wanted, DomainEvent):
            kind = find_kind(wanted)
            # a base class (SlotEvent) stands for every registered event deriving from it
            found = (
                [kind.name]
                if kind is not None
                else [k.name for k in event_kinds() if issubclass(k.cls, wanted)]
            )
            if not found:
                raise InvalidInput(f"no registered event type is a {wanted.__name__}")
            names.update(found)
        else:
            raise InvalidInput(f"an event type is a DomainEvent class or a name, got {wanted!r}")
    return frozenset(names)


@attrs.frozen
class Projection:
    """A reaction: ``apply(uow, envelopes)`` for the committed events it cares about.

    ``events`` lists the event classes (a base class stands for its registered
    subclasses) or type names (``"booking.seat_booked"``) it applies; ``None`` means
    every event. Other events are skipped, and its checkpoint still moves past them.
    ``apply`` runs in a unit of work of its own, which also advances the checkpoint; if
    it raises, the batch rolls back and is tried again on the next run. ``reset(uow)``,
    if given, drops what the projection wrote, for :meth:`ProjectionRunner.rebuild`.

    >>> from eduengine.booking.events import SeatBooked
    >>> p = Projection("seat_counter", lambda uow, envelopes: None, events=[SeatBooked])
    >>> p.events, p.wants("booking.seat_booked"), p.wants("booking.slot_created")
    (frozenset({'booking.seat_booked'}), True, False)
    """

    name: str = attrs.field(validator=lambda _, __, value: check_id(value, "name"))
    apply: Apply
    events: frozenset[str] | None = attrs.field(default=None, converter=_type_names)
    reset: Callable[[UnitOfWork], None] | None = attrs.field(default=None, kw_only=True)

    def wants(self, type_name: str) -> bool:
        """Whether events of type ``type_name`` are handed to :attr:`apply`."""
        return self.events is None or type_name in self.events


@attrs.frozen
class ProjectionFailure:
    """A batch that raised and was rolled back: the projection stays where it was."""

    projection: str
    #: the positions of the batch's first and last events
    first: int
    last: int
    error: BaseException


class CatchUp(dict[str, int]):
    """How many events each projection applied in one run, by name, and
    :attr:`failures`: the projections whose batch raised (the others went on)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, ProjectionFailure] = {}

    @property
    def ok(self) -> bool:
        return not self.failures


@attrs.frozen
class _Known:
    """What this process knows of one projection: the stored checkpoint was ``stored``
    once, and the feed holds nothing it wants in ``(stored, seen]``."""

    stored: int
    seen: int


@attrs.frozen
class _Moved:
    """The stored checkpoint was not where this batch expected it."""

    current: int


def _checkpoint(doc: dict[str, Any] | None) -> int:
    return 0 if doc is None else int(doc["position"])


class ProjectionRunner:
    """Runs projections over a store's feed, each event once per projection.

    :meth:`catch_up` is the worker's (or ``run-due``'s) entry: it brings projections
    up to the head of the feed from their stored checkpoints. :meth:`after_commit` is
    the inline one, called right after a command committed: cheap when there is
    nothing new, and it never raises. Any number of runners, threads and processes may
    run the same projections at once: a batch re-reads its projection's checkpoint under
    that record's lock and applies only what lies beyond it.
    """

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        feed: EventFeed,
        projections: Iterable[Projection],
        *,
        clock: Clock | None = None,
        inline_batch: int = 200,
        inline_batches: int = 5,
        inline_backoff: float = 10.0,
    ) -> None:
        self._uow = unit_of_work
        self.feed = feed
        self.clock: Clock = clock or SystemClock()
        self.projections: dict[str, Projection] = {}
        for projection in projections:
            if not isinstance(projection, Projection):
                raise InvalidInput(f"expected a Projection, got {projection!r}")
            if projection.name in self.projections:
                raise InvalidInput(f"two projections are named {projection.name!r}")
            self.projections[projection.name] = projection
        #: events read per feed query by :meth:`after_commit`, and how many queries at most
        self.inline_batch = check_int(inline_batch, "inline_batch", low=1, high=MAX_LIMIT)
        self.inline_batches = check_int(inline_batches, "inline_batches", low=1)
        if isinstance(inline_backoff, bool) or not isinstance(inline_backoff, int | float):
            raise WrongType(
                f"inline_backoff must be seconds, got {inline_backoff!r}", field="inline_backoff"
            )
        if not 0 <= inline_backoff <= 3600:
            raise OutOfRange(
                f"inline_backoff must be from 0 to 3600 seconds, got {inline_backoff!r}",
                field="inline_backoff",
            )
        #: seconds an inline run leaves a projection that failed to catch_up
        self.inline_backoff = float(inline_backoff)
        #: projection name -> time.monotonic() until which inline runs leave it alone
        self._resting: dict[str, float] = {}
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}

    # --- what is there -----------------------------------------------------------------

    def table(self) -> list[tuple[str, list[str]]]:
        """``(projection, event types)`` in registration order (``["*"]``: every event)."""
        return [
            (name, sorted(p.events) if p.events is not None else ["*"])
            for name, p in self.projections.items()
        ]

    def checkpoints(self) -> dict[str, int]:
        """Each projection's stored checkpoint (0: it has handled nothing yet)."""
        uow = self._uow()
        uow.read_only = True
        with uow:
            return {
                name: _checkpoint(uow.records.get(CHECKPOINTS, name)) for name in self.projections
            }

    # --- running -------------------------------------------------------------------------

    def catch_up(
        self, projection: str | None = None, *, batch: int = 500, max_batches: int | None = None
    ) -> CatchUp:
        """Apply every event after each projection's checkpoint (only ``projection``'s, if
        named), ``batch`` events per unit of work, at most ``max_batches`` feed reads per
        projection; returns the events applied by name, with the failures.

        A projection whose batch raises is logged with the positions, rolled back and left
        there for the next run; the others go on. A batch without an event the projection
        wants still advances its checkpoint.
        """
        check_int(batch, "batch", low=1, high=MAX_LIMIT)
        if max_batches is not None:
            check_int(max_batches, "max_batches", low=1)
        if projection is None:
            chosen = list(self.projections.values())
        elif projection in self.projections:
            chosen = [self.projections[projection]]
        else:
            raise InvalidInput(
                f"no projection named {projection!r} (known: {sorted(self.projections)})"
            )
        known = self._known_for(chosen, refresh=True)
        report = CatchUp()
        for p in chosen:
            mine = known[p.name]
            report[p.name] = 0
            reads = 0
            rows: list[tuple[int, str]] = []
            try:
                while max_batches is None or reads < max_batches:
                    rows = self.feed.rows_since(mine.seen, batch)
                    reads += 1
                    if not rows:
                        if mine.seen == mine.stored:
                            break
                        # store how far an inline run got past events it did not want
                        outcome, _ = self._advance(p, mine, [], persist_idle=True)
                        mine = self._remember(p.name, outcome)
                        if isinstance(outcome, _Known):
                            break
                        continue
                    outcome, applied = self._advance(p, mine, rows, persist_idle=True)
                    report[p.name] += applied
                    mine = self._remember(p.name, outcome)
                    if isinstance(outcome, _Known) and len(rows) < batch:
                        break  # that was the head of the feed
            except Exception as exc:
                report.failures[p.name] = self._failed(p, rows, exc)
            else:
                with self._lock:
                    self._resting.pop(p.name, None)  # inline runs may try it again
        return report

    def rebuild(self, projection: str, *, batch: int = 500) -> CatchUp:
        """Drop what ``projection`` wrote (its ``reset``) and rewind its checkpoint, in one
        unit of work, then apply the whole feed to it again (:meth:`catch_up`).

        Workers running it meanwhile follow the rewound checkpoint: nothing they apply
        is lost or applied twice. Events pruned from the feed are not replayed.
        """
        check_int(batch, "batch", low=1, high=MAX_LIMIT)
        chosen = self.projections.get(projection) if isinstance(projection, str) else None
        if chosen is None:
            raise InvalidInput(
                f"no projection named {projection!r} (known: {sorted(self.projections)})"
            )
        if chosen.reset is None:
            raise InvalidInput(f"projection {projection!r} has no reset: it cannot be rebuilt")
        with self._uow() as uow:
            uow.records.get(CHECKPOINTS, projection)  # waits for a batch under way
            chosen.reset(uow)
            uow.records.delete(CHECKPOINTS, projection)
            uow.commit()
        self._remember(projection, _Known(0, 0), force=True)
        log.info("projection %s rewound for a rebuild", projection)
        return self.catch_up(projection, batch=batch)

    def after_commit(self, position: int | None = None) -> CatchUp:
        """Run the projections right after a command committed, in its process.

        ``position`` is the feed position of the command's last event, if known: when
        every projection already handled it (here, or another worker did and this
        process heard of it), nothing is read at all. Otherwise projections that have
        seen the feed up to the same position share one feed query (usually all of
        them: one query), those nearest the head first, and each projection with an
        event it wants takes one unit of work. At most ``inline_batches`` feed reads of
        ``inline_batch`` events each: a projection further behind is left to
        :meth:`catch_up`, and so is one that failed inline in the last
        ``inline_backoff`` seconds. Never raises: a failure is logged and reported, the
        command had committed.
        """
        report = CatchUp()
        if not self.projections:
            return report
        rows: list[tuple[int, str]] = []
        try:
            with self._lock:
                known = dict(self._known)
                resting = {n for n, until in self._resting.items() if until > time.monotonic()}
            if (
                position is not None
                and len(known) == len(self.projections)
                and all(k.seen >= position for n, k in known.items() if n not in resting)
            ):
                return report
            known = self._known_for(list(self.projections.values()))
            done = set(resting)
            for _ in range(self.inline_batches):
                active = [p for p in self.projections.values() if p.name not in done]
                if not active:
                    break
                start = max(known[p.name].seen for p in active)
                group = [p for p in active if known[p.name].seen == start]
                rows = self.feed.rows_since(start, self.inline_batch)
                for p in group:
                    if len(rows) < self.inline_batch:
                        done.add(p.name)  # at the head of the feed after this
                    if not rows:
                        continue
                    try:
                        outcome, applied = self._advance(p, known[p.name], rows, persist_idle=False)
                    except Exception as exc:
                        report.failures[p.name] = self._failed(p, rows, exc)
                        done.add(p.name)
                        with self._lock:
                            self._resting[p.name] = time.monotonic() + self.inline_backoff
                        continue
                    report[p.name] = report.get(p.name, 0) + applied
                    known[p.name] = self._remember(p.name, outcome)
        except Exception as exc:  # the feed or the checkpoints could not be read
            log.exception("projections could not run after a commit; catch_up will")
            report.failures["*"] = ProjectionFailure(
                "*", rows[0][0] if rows else 0, rows[-1][0] if rows else 0, exc
            )
        return report

    # --- one batch ---------------------------------------------------------------------

    def _advance(
        self,
        projection: Projection,
        known: _Known,
        rows: list[tuple[int, str]],
        *,
        persist_idle: bool,
    ) -> tuple[_Known | _Moved, int]:
        """Apply ``rows`` (every feed row in ``(known.seen, last]``, in order) that the
        projection wants and lie beyond its stored checkpoint, in one unit of work."""
        last = rows[-1][0] if rows else known.seen
        wanted: list[tuple[int, dict[str, Any]]] = []
        for position, text in rows:
            value = json.loads(text)
            if projection.wants(value["type"]):
                wanted.append((position, value))
        if not wanted and not persist_idle:
            # nothing to apply: move on in memory only, the stored checkpoint can lag
            return _Known(known.stored, last), 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._uow() as uow:
                    # get() locks the record to the end of this unit of work (PostgreSQL
                    # advisory lock, SQLite write lock, the memory store's lock): no
                    # other worker can move the checkpoint until this batch commits
                    current = _checkpoint(uow.records.get(CHECKPOINTS, projection.name))
                    if not known.stored <= current <= last:
                        # someone else got past this batch, or the checkpoint was rewound
                        return _Moved(current), 0
                    # everything in (stored, seen] was unwanted and rows hold all of
                    # (seen, last]: what lies beyond current is exactly what is left
                    envelopes = [
                        envelope_from_dict({**value, "position": position})
                        for position, value in wanted
                        if position > current
                    ]
                    if envelopes:
                        projection.apply(uow, envelopes)
                    if current < last:
                        uow.records.put(
                            CHECKPOINTS,
                            projection.name,
                            {"position": last, "at": self.clock.now().isoformat()},
                        )
                    uow.commit()
                return _Known(last, last), len(envelopes)
            except RetryableConflict:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.warning("projection %s: conflict at %d, trying again", projection.name, last)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(
        self, projection: Projection, rows: list[tuple[int, str]], exc: Exception
    ) -> ProjectionFailure:
        first, last = (rows[0][0], rows[-1][0]) if rows else (0, 0)
        log.error(
            "projection %s failed on feed positions %d..%d; rolled back, it stays behind",
            projection.name,
            first,
            last,
            exc_info=exc,
            extra={"projection": projection.name, "first": first, "last": last},
        )
        return ProjectionFailure(projection.name, first, last, exc)

    # --- what this process knows -------------------------------------------------------

    def _known_for(
        self, chosen: Sequence[Projection], *, refresh: bool = False
    ) -> dict[str, _Known]:
        """What this process knows of ``chosen``, reading the stored checkpoints of those
        it knows nothing of yet (of all, with ``refresh``: a checkpoint another process
        moved, or rewound for a rebuild)."""
        with self._lock:
            known = {p.name: self._known[p.name] for p in chosen if p.name in self._known}
        wanted = [p.name for p in chosen if refresh or p.name not in known]
        if wanted:
            uow = self._uow()
            uow.read_only = True
            with uow:
                stored = {n: _checkpoint(uow.records.get(CHECKPOINTS, n)) for n in wanted}
            for name, position in stored.items():
                old = known.get(name)
                if old is None or position < old.stored:
                    fresh = _Known(position, position)  # first read, or rewound
                else:
                    # nothing wanted in (old.stored, old.seen], so neither past position
                    fresh = _Known(position, max(position, old.seen))
                known[name] = self._remember(name, fresh, force=True)
        return known

    def _remember(self, name: str, outcome: _Known | _Moved, *, force: bool = False) -> _Known:
        with self._lock:
            old = self._known.get(name)
            if force and isinstance(outcome, _Known):
                new = outcome
            elif isinstance(outcome, _Moved):
                # what storage says wins, even backwards (a rewound checkpoint)
                new = _Known(outcome.current, outcome.current)
            elif old is not None and old.seen > outcome.seen:
                # another thread of this process got further meanwhile
                return old
            else:
                new = outcome
            self._known[name] = new
            return new
