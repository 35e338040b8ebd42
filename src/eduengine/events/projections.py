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

import atexit
import itertools
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from eduengine.errors import InvalidInput, OutOfRange, RetryableConflict, WrongType
from eduengine.events.codec import envelope_from_dict
from eduengine.events.feed import MAX_LIMIT, EventFeed
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent, event_kinds, find_kind
from eduengine.kernel.inputs import check_id, check_int
from eduengine.service_layer.messagebus import Handler, handler_name
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory, open_read_only
from eduengine.service_layer.streams import stamp

__all__ = [
    "CHECKPOINTS",
    "CatchUp",
    "Projection",
    "ProjectionFailure",
    "ProjectionRunner",
    "Reactions",
    "ReactionsFirst",
    "flush_deferred",
    "reaction_projection",
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


class Reactions:
    """The ``apply`` of a projection made of bus handlers (see :func:`reaction_projection`):
    each ``prepare(uow, envelopes)`` runs first, once for the batch (it may read the
    documents the handlers will read, in one query per kind: a SQLite unit of work then
    answers their reads from memory); then each event goes to the handlers of its type
    (and of its base classes), in feed order; then each ``finisher(uow)`` runs once."""

    def __init__(
        self,
        table: Mapping[type[DomainEvent], Sequence[Handler]],
        finishers: Sequence[Callable[[UnitOfWork], None]] = (),
        prepare: Sequence[Apply] = (),
    ) -> None:
        self.handlers = {event: list(handlers) for event, handlers in table.items() if handlers}
        self.finishers = list(finishers)
        self.prepare = list(prepare)
        self._resolved: dict[type[DomainEvent], list[Handler]] = {}

    def handlers_for(self, event_type: type[DomainEvent]) -> list[Handler]:
        found = self._resolved.get(event_type)
        if found is None:
            found = [h for klass in event_type.__mro__ for h in self.handlers.get(klass, ())]
            self._resolved[event_type] = found
        return found

    def __call__(self, uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        for read_ahead in self.prepare:
            read_ahead(uow, envelopes)
        for envelope in envelopes:
            event = envelope.event
            for handler in self.handlers_for(type(event)):
                handler(event, uow)
        for finish in self.finishers:
            finish(uow)

    def table(self) -> list[tuple[str, list[str]]]:
        """``(event type, handler names)``, like :meth:`MessageBus.table`."""
        return [
            (event.__name__, [handler_name(h) for h in handlers])
            for event, handlers in self.handlers.items()
        ]


def reaction_projection(
    name: str,
    table: Mapping[type[DomainEvent], Sequence[Handler]],
    *,
    finishers: Sequence[Callable[[UnitOfWork], None]] = (),
    reset: Callable[[UnitOfWork], None] | None = None,
    prepare: Sequence[Apply] = (),
) -> Projection:
    """A projection that runs bus handlers (``handler(event, uow)``) after commit: the
    events of ``table`` are read from the feed and handed to their handlers in the
    projection's unit of work, each event once (a handler takes its time from
    ``event.occurred_at``, never from a clock, so a late run plans what an inline one
    would have). Events the handlers raise go to the feed in that unit of work.
    ``prepare`` runs once per batch before the handlers (see :class:`Reactions`).

    >>> from eduengine.booking.events import SeatBooked
    >>> seen = []
    >>> p = reaction_projection("seen", {SeatBooked: [lambda e, uow: seen.append(e)]})
    >>> p.name, sorted(p.events or ()), p.apply.table()[0][0]
    ('seen', ['booking.seat_booked'], 'SeatBooked')
    """
    reactions = Reactions(table, finishers, prepare)
    return Projection(name, reactions, events=list(reactions.handlers), reset=reset)


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


def _names(projections: Iterable[Projection]) -> str:
    return ", ".join(p.name for p in projections)


class _Row:
    """One feed row of a batch, parsed once for every projection the batch goes to
    (and its envelope built once, for the first that wants it). A row whose type is
    known (one a batch's reactions raised and appended) is parsed only once a
    projection wants it."""

    __slots__ = ("_envelope", "_text", "_value", "position", "type")

    def __init__(self, position: int, text: str, type_name: str | None = None) -> None:
        self.position = position
        self._text = text
        self._value: dict[str, Any] | None = None
        if type_name is None:
            self._value = json.loads(text)
            type_name = str(self._value["type"])
        self.type = type_name
        self._envelope: Envelope | None = None

    def envelope(self) -> Envelope:
        if self._envelope is None:
            value = json.loads(self._text) if self._value is None else self._value
            self._envelope = envelope_from_dict({**value, "position": self.position})
        return self._envelope


def _parse(rows: Iterable[tuple[int, str]]) -> list[_Row]:
    return [_Row(position, text) for position, text in rows]


def _read_checkpoints(uow: UnitOfWork, names: Iterable[str]) -> dict[str, int | None]:
    """The stored checkpoints of ``names`` (None: none yet), locked like ``get`` (in
    sorted order), in one query where the store can (``records.get_many``)."""
    get_many = getattr(uow.records, "get_many", None)
    if get_many is not None:
        docs: dict[str, dict[str, Any] | None] = get_many(CHECKPOINTS, names)
    else:  # a host's own adapter without it
        docs = {name: uow.records.get(CHECKPOINTS, name) for name in sorted(set(names))}
    return {name: None if doc is None else _checkpoint(doc) for name, doc in docs.items()}


def _write_checkpoints(uow: UnitOfWork, moved: Mapping[str, dict[str, Any]]) -> None:
    """Store the checkpoints ``moved`` (already locked by :func:`_read_checkpoints`), in
    one statement where the store can (``records.put_many``)."""
    if not moved:
        return
    put_many = getattr(uow.records, "put_many", None)
    if put_many is not None and len(moved) > 1:
        put_many(CHECKPOINTS, moved)
        return
    for name, doc in moved.items():
        uow.records.put(CHECKPOINTS, name, doc)


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
        idle_lag: int = 1000,
        defer_events: int = 1,
        defer_wait: float = 0.0,
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
        #: feed positions an inline run lets the stored checkpoint of a projection with
        #: nothing to apply lag behind; it is written in the next unit of work opened for
        #: the others (so a restart re-reads at most this much for it, never more)
        self.idle_lag = check_int(idle_lag, "idle_lag", low=1)
        #: projection name -> time.monotonic() until which inline runs leave it alone
        self._resting: dict[str, float] = {}
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        #: :meth:`defer` applies the deferred commits' events once ``defer_events`` of
        #: them wait, or at the first commit after the oldest waited ``defer_wait``
        #: seconds (1: :meth:`after_commit` at once, as before deferral)
        self.defer_events = check_int(defer_events, "defer_events", low=1, high=MAX_LIMIT)
        if isinstance(defer_wait, bool) or not isinstance(defer_wait, int | float):
            raise WrongType(f"defer_wait must be seconds, got {defer_wait!r}", field="defer_wait")
        if not 0 <= defer_wait <= 3600:
            raise OutOfRange(
                f"defer_wait must be from 0 to 3600 seconds, got {defer_wait!r}",
                field="defer_wait",
            )
        self.defer_wait = float(defer_wait)
        self._deferred = _Deferred()
        self._defer_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        # one deferred batch applied at a time: a flush returns only once every commit
        # deferred before it is applied, by this thread or another
        self._flush_lock = threading.Lock()
        self._local = threading.local()
        _RUNNERS.add(self)

    # --- what is there -----------------------------------------------------------------

    def table(self) -> list[tuple[str, list[str]]]:
        """``(projection, event types)`` in registration order (``["*"]``: every event)."""
        return [
            (name, sorted(p.events) if p.events is not None else ["*"])
            for name, p in self.projections.items()
        ]

    def checkpoints(self) -> dict[str, int]:
        """Each projection's stored checkpoint (0: it has handled nothing yet)."""
        return {name: at or 0 for name, at in self._stored().items()}

    def start_at_head(self) -> list[str]:
        """Give each projection that has no checkpoint yet the feed's head as one: it
        applies what commits from now on, not the store's past. Returns their names.

        :class:`eduengine.School` calls it when it is built, so a store written before
        its reactions were projections (they ran in each command's unit of work, so the
        past is applied already) and a reaction a school turns on later (``analytics``)
        do not replay the old feed; ``rebuild`` replays it on purpose.
        """
        missing = [name for name, at in self._stored().items() if at is None]
        if not missing:
            return []
        head = self.feed.head()
        started: list[str] = []
        with self._uow() as uow:
            # re-read under the records' locks: another process may have started one
            current = _read_checkpoints(uow, missing)
            for name in sorted(missing):
                if current[name] is None:
                    uow.records.put(
                        CHECKPOINTS, name, {"position": head, "at": self.clock.now().isoformat()}
                    )
                    started.append(name)
            uow.commit()
        for name in started:
            self._remember(name, _Known(head, head), force=True)
        return started

    def _stored(self) -> dict[str, int | None]:
        uow = open_read_only(self._uow)
        with uow:
            found = _read_checkpoints(uow, self.projections)
        return {name: found[name] for name in self.projections}

    # --- running -------------------------------------------------------------------------

    def catch_up(
        self, projection: str | None = None, *, batch: int = 500, max_batches: int | None = None
    ) -> CatchUp:
        """Apply every event after each projection's checkpoint (only ``projection``'s, if
        named), ``batch`` events per unit of work, at most ``max_batches`` feed reads per
        projection; returns the events applied by name, with the failures.

        Projections that stand at the same position share each feed read, its parsing
        and one unit of work; if that batch raises, each tries it alone. A projection
        whose batch raises is logged with the positions, rolled back and left there for
        the next run; the others go on. A batch without an event the projection wants
        still advances its checkpoint.
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
        reads = dict.fromkeys((p.name for p in chosen), 0)
        report.update(reads)
        active = list(chosen)
        while active:
            # the furthest behind first: once they reach the others, they read together
            start = min(known[p.name].seen for p in active)
            group = [p for p in active if known[p.name].seen == start]
            try:
                rows = _parse(self.feed.rows_since(start, batch))
            except Exception as exc:
                for p in group:
                    report.failures[p.name] = self._failed(p, [], exc)
                active = [p for p in active if p not in group]
                continue
            for p in group:
                reads[p.name] += 1
            # an empty read: store how far an inline run got past events they did not want
            going = group if rows else [p for p in group if known[p.name].stored < start]
            outcomes: dict[str, tuple[_Known | _Moved, int]] = {}
            if going:
                outcomes, _, _ = self._batch(going, known, rows, report, persist_idle=True)
            for name, (outcome, applied) in outcomes.items():
                report[name] += applied
                known[name] = self._remember(name, outcome)
            left: list[Projection] = []
            for p in active:
                if p.name in report.failures:
                    continue
                if p in group:
                    done = outcomes.get(p.name)
                    if done is None or (isinstance(done[0], _Known) and len(rows) < batch):
                        continue  # at the head of the feed
                    if max_batches is not None and reads[p.name] >= max_batches:
                        continue
                left.append(p)
            active = left
        with self._lock:
            for p in chosen:
                if p.name not in report.failures:
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

    def after_commit(
        self, position: int | None = None, *, committed: Sequence[tuple[int, str]] = ()
    ) -> CatchUp:
        """Run the projections right after a command committed, in its process.

        ``position`` is the feed position of the command's last event, if known: when
        every projection already handled it (here, or another worker did and this
        process heard of it), nothing is read at all. ``committed`` are the feed rows
        the command's commit appended, ``(position, envelope JSON)`` as the store
        reported them (``uow.committed_feed``): a commit appends its rows under the
        feed's lock, so nothing else lies between its first and last position, and a
        projection that had seen the feed up to just before them takes them from here,
        without a feed query (the rows its own unit of work appends too). Otherwise
        projections that have seen the feed up to the same position share one feed
        query (usually all of them: one query), those nearest the head first, and those
        with an event they want apply it in one unit of work together (each alone if
        that fails); one that wants none of the events costs no checkpoint read or write
        (its stored checkpoint lags, and is written with the others' once it is
        ``idle_lag`` positions behind). Events they raise are applied in the same call. At most
        ``inline_batches`` batches of ``inline_batch`` events each: a projection
        further behind is left to :meth:`catch_up`, and so is one that failed inline in
        the last ``inline_backoff`` seconds. Never raises: a failure is logged and
        reported, the command had committed.
        """
        report = CatchUp()
        if not self.projections:
            return report
        rows: list[_Row] = []
        try:
            # the feed holds exactly ``pending`` in (floor, pending[-1].position]
            pending = _parse(committed)
            floor = pending[0].position - 1 if pending else 0
            if pending:
                position = max(position or 0, pending[-1].position)
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
                active = [
                    p
                    for p in self.projections.values()
                    if p.name not in done and (position is None or known[p.name].seen < position)
                ]
                if not active:
                    break
                start = max(known[p.name].seen for p in active)
                group = [p for p in active if known[p.name].seen == start]
                if pending and floor <= start < pending[-1].position:
                    rows = [r for r in pending if r.position > start]
                    at_head = True  # as far as this call goes
                else:
                    rows = _parse(self.feed.rows_since(start, self.inline_batch))
                    at_head = len(rows) < self.inline_batch
                if at_head:
                    done.update(p.name for p in group)
                if not rows:
                    continue
                outcomes, raised, written = self._batch(
                    group, known, rows, report, persist_idle=False, rest=True
                )
                done.update(report.failures)
                for name, (outcome, applied) in outcomes.items():
                    report[name] = report.get(name, 0) + applied
                    known[name] = self._remember(name, outcome)
                if written:
                    # the rows the reactions appended, where the store put them: those
                    # that saw the feed up to them move past them with no query (and
                    # apply those they want)
                    more = written
                    if pending and more[0].position == pending[-1].position + 1:
                        pending.extend(more)
                    else:
                        pending, floor = more, more[0].position - 1
                    position = max(position or 0, more[-1].position)
                    done.difference_update(outcomes)
                elif any(p.wants(name) for p in self.projections.values() for name in raised):
                    # the reactions appended events that one of them wants: read on
                    done.difference_update(outcomes)
        except Exception as exc:  # the feed or the checkpoints could not be read
            log.exception("projections could not run after a commit; catch_up will")
            report.failures["*"] = ProjectionFailure(
                "*", rows[0].position if rows else 0, rows[-1].position if rows else 0, exc
            )
        return report

    # --- deferred: a batch of commands' reactions at once ------------------------------

    def defer(
        self, position: int | None = None, *, committed: Sequence[tuple[int, str]] = ()
    ) -> CatchUp | None:
        """:meth:`after_commit`, for several commits at once: the commit's feed rows (or
        its last position) wait in this process until ``defer_events`` events wait or
        the oldest waited ``defer_wait`` seconds (at the next commit, or on a timer
        thread if none comes), then they are applied together (one unit of work for the
        batch instead of one per command). Every read of what the
        reactions write goes through :class:`ReactionsFirst`, which applies what waits
        first; :meth:`flush` applies it now. Returns the run's report when it ran.
        Rows still waiting when the process dies are in the feed already: the next
        :meth:`catch_up` (``run-due``, a worker, a restart) applies them, once.
        """
        if self.defer_events <= 1:
            return self.after_commit(position, committed=committed)
        with self._defer_lock:
            # read under the lock: a flush swaps the batch for a new one
            waiting = self._deferred
            if waiting.empty():
                waiting.since = time.monotonic()
            waiting.add(position, committed)
            due = (
                waiting.count >= self.defer_events
                or time.monotonic() - waiting.since >= self.defer_wait
            )
            if not due and self._timer is None:
                # nothing may wait longer than defer_wait for want of a next command
                self._start_timer(self.defer_wait)
        return self.flush() if due else None

    def _start_timer(self, delay: float) -> None:
        """(Under ``_defer_lock``.) Look at the batch again in ``delay`` seconds."""
        self._timer = threading.Timer(delay, self._flush_in_background)
        self._timer.daemon = True
        self._timer.start()

    def _flush_in_background(self) -> None:
        with self._defer_lock:
            waiting = self._deferred
            left = waiting.since + self.defer_wait - time.monotonic()
            if not waiting.empty() and left > 0:
                # a command flushed meanwhile and a younger batch waits: commands still
                # come, and the next one applies it when due; look again when it is
                self._start_timer(left)
                return
            self._timer = None
        self.flush()  # never raises

    @property
    def deferred(self) -> int:
        """How many committed events wait for :meth:`flush` in this process."""
        return self._deferred.count

    def flush(self) -> CatchUp:
        """Apply now the reactions of every commit :meth:`defer` holds (never raises,
        like :meth:`after_commit`). :class:`ReactionsFirst` calls it before each unit of
        work a read opens, ``School.close()`` and the interpreter's exit too."""
        if self.flushing():
            return CatchUp()  # a reaction's own read, within this thread's flush
        with self._flush_lock:
            with self._defer_lock:
                waiting, self._deferred = self._deferred, _Deferred()
            if waiting.empty():
                return CatchUp()
            return self._apply_deferred(waiting)

    def _apply_deferred(self, waiting: _Deferred) -> CatchUp:
        self._local.flushing = True
        try:
            rows = sorted(waiting.rows)
            # a run of consecutive positions holds every event between them (a commit
            # appends its rows under the feed's lock); anything else is read from the feed
            whole = not waiting.blind and all(b[0] == a[0] + 1 for a, b in itertools.pairwise(rows))
            if whole:
                return self.after_commit(waiting.position, committed=rows)
            return self.after_commit(waiting.position)
        finally:
            self._local.flushing = False

    def flushing(self) -> bool:
        """Whether this thread is applying deferred reactions (:class:`ReactionsFirst`
        then opens units of work as they are: the reactions' own reads)."""
        return bool(getattr(self._local, "flushing", False))

    def settled(self) -> bool:
        """Whether nothing waits: no deferred commit, no batch being applied."""
        return self._deferred.empty() and not self._flush_lock.locked()

    # --- one batch ---------------------------------------------------------------------

    def _batch(
        self,
        group: Sequence[Projection],
        known: dict[str, _Known],
        rows: Sequence[_Row],
        report: CatchUp,
        *,
        persist_idle: bool,
        rest: bool = False,
    ) -> tuple[dict[str, tuple[_Known | _Moved, int]], frozenset[str], list[_Row]]:
        """``rows`` applied to ``group`` in one unit of work; if that fails, to each
        projection alone, so one that raises holds back only itself (reported; with
        ``rest``, it then rests for ``inline_backoff`` seconds)."""
        try:
            return self._advance_together(group, known, rows, persist_idle=persist_idle)
        except Exception as exc:
            if len(group) == 1:
                self._report_failure(group[0], rows, exc, report, rest=rest)
                return {}, frozenset(), []
        outcomes: dict[str, tuple[_Known | _Moved, int]] = {}
        raised: frozenset[str] = frozenset()
        for p in group:
            try:
                one, more, _ = self._advance_together([p], known, rows, persist_idle=persist_idle)
            except Exception as exc:
                self._report_failure(p, rows, exc, report, rest=rest)
                continue
            outcomes.update(one)
            raised |= more
        # the rows each appended alone are left to a feed read (this path is rare)
        return outcomes, raised, []

    def _report_failure(
        self,
        projection: Projection,
        rows: Sequence[_Row],
        exc: Exception,
        report: CatchUp,
        *,
        rest: bool,
    ) -> None:
        report.failures[projection.name] = self._failed(projection, rows, exc)
        if rest:
            with self._lock:
                self._resting[projection.name] = time.monotonic() + self.inline_backoff

    def _advance_together(
        self,
        group: Sequence[Projection],
        known: dict[str, _Known],
        rows: Sequence[_Row],
        *,
        persist_idle: bool,
    ) -> tuple[dict[str, tuple[_Known | _Moved, int]], frozenset[str], list[_Row]]:
        """Apply ``rows`` (every feed row in ``(seen, last]``, in order) that each
        projection of ``group`` wants and lie beyond its stored checkpoint, for
        projections that have all seen the feed up to the same position, in ONE unit of
        work (a command's reactions cost one transaction, not one each). Returns each
        one's outcome, the types of the events they raised (appended to the feed in the
        same transaction, so a reaction to a reaction follows) and, when the store
        reported them, the feed rows that appended."""
        last = rows[-1].position if rows else max(known[p.name].seen for p in group)
        wanted = {p.name: [r for r in rows if p.wants(r.type)] for p in group}
        out: dict[str, tuple[_Known | _Moved, int]] = {}
        busy = [p for p in group if wanted[p.name] or persist_idle]
        if busy and not persist_idle:
            # a unit of work opens anyway: take along the checkpoints lagging far behind
            busy += [
                p for p in group if p not in busy and last - known[p.name].stored >= self.idle_lag
            ]
        for p in group:
            if p not in busy:
                # nothing to apply: move on in memory only, the stored checkpoint can lag
                out[p.name] = (_Known(known[p.name].stored, last), 0)
        if not busy:
            return out, frozenset(), []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._uow() as uow:
                    # Reading a checkpoint locks it to the end of this unit of work
                    # (PostgreSQL advisory lock, SQLite write lock, the memory store's
                    # lock): no other worker can move it until this batch commits. All
                    # of them are taken first, in one (sorted) order, before any
                    # projection's own locks, so two runners never wait for each other
                    # in a circle.
                    current = _read_checkpoints(uow, [p.name for p in busy])
                    done: dict[str, tuple[_Known | _Moved, int]] = {}
                    moved: dict[str, dict[str, Any]] = {}
                    for p in busy:
                        at = current[p.name] or 0
                        if not known[p.name].stored <= at <= last:
                            # someone else got past this batch, or it was rewound
                            done[p.name] = (_Moved(at), 0)
                            continue
                        # everything in (stored, seen] was unwanted and rows hold all of
                        # (seen, last]: what lies beyond the checkpoint is what is left
                        envelopes = [r.envelope() for r in wanted[p.name] if r.position > at]
                        if envelopes:
                            p.apply(uow, envelopes)
                        if at < last:
                            moved[p.name] = {"position": last, "at": self.clock.now().isoformat()}
                        done[p.name] = (_Known(last, last), len(envelopes))
                    _write_checkpoints(uow, moved)
                    # events a projection raised (a stage moved, reminders planned) join
                    # the feed with its changes, like a command's: other projections,
                    # and this one, apply them from there, each once
                    raised = uow.raised_events()
                    stamped = stamp(uow, raised) if raised else []
                    if stamped:
                        uow.stage_feed(stamped)
                    uow.commit()
                written: list[tuple[int, str]] = list(getattr(uow, "committed_feed", ()))
                out.update(done)
                return (
                    out,
                    frozenset(e.type for e in stamped),
                    # each appended row's type is its envelope's: a row no projection
                    # wants is never parsed
                    [
                        _Row(position, text, envelope.type)
                        for (position, text), envelope in zip(written, stamped, strict=True)
                    ]
                    if stamped and len(written) == len(stamped)
                    else [],
                )
            except RetryableConflict:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.warning("projections %s: conflict at %d, trying again", _names(busy), last)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(
        self, projection: Projection, rows: Sequence[_Row], exc: Exception
    ) -> ProjectionFailure:
        first, last = (rows[0].position, rows[-1].position) if rows else (0, 0)
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
            uow = open_read_only(self._uow)
            with uow:
                stored = _read_checkpoints(uow, wanted)
            for name, at in stored.items():
                position = at or 0
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


class _Deferred:
    """The commits a :class:`ProjectionRunner` defers: their feed rows, the highest
    position known, and whether a commit came without its rows (``blind``)."""

    __slots__ = ("blind", "count", "position", "rows", "since")

    def __init__(self) -> None:
        self.rows: list[tuple[int, str]] = []
        self.position: int | None = None
        self.blind = False
        self.count = 0
        self.since = 0.0

    def empty(self) -> bool:
        return self.count == 0

    def add(self, position: int | None, committed: Sequence[tuple[int, str]]) -> None:
        if committed:
            self.rows.extend(committed)
            last = max(p for p, _ in committed)
            position = last if position is None else max(position, last)
            self.count += len(committed)
        else:
            self.blind = True
            self.count += 1
        if position is not None:
            self.position = position if self.position is None else max(self.position, position)


class ReactionsFirst:
    """A unit-of-work factory that first applies the reactions its runner defers
    (:meth:`ProjectionRunner.defer`): a school's services read through it, so what a
    command's reactions write (its notices, counters, XP, a student's last activity)
    is there for the next read in the process, however many commands the runner
    batches. The seat's commands open theirs directly: no rule reads a reaction's
    output (docs/architecture.md), so they never wait for the batch.

    >>> from eduengine import InMemoryStore
    >>> store = InMemoryStore()
    >>> factory = ReactionsFirst(store.unit_of_work)
    >>> with factory(read_only=True) as uow:
    ...     uow.read_only
    True
    """

    def __init__(self, factory: UnitOfWorkFactory, runner: ProjectionRunner | None = None):
        self.factory = factory
        self.runner = runner

    def __call__(self, **options: Any) -> UnitOfWork:
        runner = self.runner
        if runner is not None and not runner.settled():
            runner.flush()
        return self.factory(**options)


_RUNNERS: weakref.WeakSet[ProjectionRunner] = weakref.WeakSet()


def flush_deferred() -> int:
    """Apply the reactions every runner of this process defers (each school's
    :meth:`ProjectionRunner.flush`); returns how many events they applied. The
    interpreter's exit runs it; a host calls it where it reads the store other than
    through a school (a test's raw snapshot) or before it forks.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore, School
    >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    >>> school = School.build(InMemoryStore(), clock=clock)
    >>> start = clock.now() + timedelta(days=1)
    >>> _ = school.booking.create_slot("math", start, start + timedelta(hours=1), 3)
    >>> school.projections.deferred
    1
    >>> flush_deferred() > 0, school.projections.deferred
    (True, 0)
    """
    applied = 0
    for runner in list(_RUNNERS):
        applied += sum(runner.flush().values())
    return applied


def _forked() -> None:
    # a forked child has none of its parent's threads: no timer runs for it, and a lock
    # another thread held at the fork would never be released
    for runner in list(_RUNNERS):
        runner._timer = None
        runner._defer_lock = threading.Lock()
        runner._flush_lock = threading.Lock()


os.register_at_fork(after_in_child=_forked)


@atexit.register
def _flush_at_exit() -> None:
    for runner in list(_RUNNERS):
        try:
            report = runner.flush()
        except Exception:  # the store may be closed by now: catch_up applies them
            log.warning("deferred reactions were left to catch_up at exit", exc_info=True)
            continue
        if not report.ok:
            log.warning(
                "the reactions deferred in this process could not all be applied at exit; "
                "catch_up applies them from the feed"
            )
