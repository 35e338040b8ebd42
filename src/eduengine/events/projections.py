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
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.streams import stamp

__all__ = [
    "CHECKPOINTS",
    "CatchUp",
    "Projection",
    "ProjectionFailure",
    "ProjectionRunner",
    "Reactions",
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
    each event goes to the handlers of its type (and of its base classes), in feed order,
    then each ``finisher(uow)`` runs once for the batch."""

    def __init__(
        self,
        table: Mapping[type[DomainEvent], Sequence[Handler]],
        finishers: Sequence[Callable[[UnitOfWork], None]] = (),
    ) -> None:
        self.handlers = {event: list(handlers) for event, handlers in table.items() if handlers}
        self.finishers = list(finishers)
        self._resolved: dict[type[DomainEvent], list[Handler]] = {}

    def handlers_for(self, event_type: type[DomainEvent]) -> list[Handler]:
        found = self._resolved.get(event_type)
        if found is None:
            found = [h for klass in event_type.__mro__ for h in self.handlers.get(klass, ())]
            self._resolved[event_type] = found
        return found

    def __call__(self, uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
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
) -> Projection:
    """A projection that runs bus handlers (``handler(event, uow)``) after commit: the
    events of ``table`` are read from the feed and handed to their handlers in the
    projection's unit of work, each event once (a handler takes its time from
    ``event.occurred_at``, never from a clock, so a late run plans what an inline one
    would have). Events the handlers raise go to the feed in that unit of work.

    >>> from eduengine.booking.events import SeatBooked
    >>> seen = []
    >>> p = reaction_projection("seen", {SeatBooked: [lambda e, uow: seen.append(e)]})
    >>> p.name, sorted(p.events or ()), p.apply.table()[0][0]
    ('seen', ['booking.seat_booked'], 'SeatBooked')
    """
    reactions = Reactions(table, finishers)
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
            for name in sorted(missing):
                # re-read under the record's lock: another process may have started it
                if uow.records.get(CHECKPOINTS, name) is None:
                    uow.records.put(
                        CHECKPOINTS, name, {"position": head, "at": self.clock.now().isoformat()}
                    )
                    started.append(name)
            uow.commit()
        for name in started:
            self._remember(name, _Known(head, head), force=True)
        return started

    def _stored(self) -> dict[str, int | None]:
        uow = self._uow()
        uow.read_only = True
        with uow:
            found = {name: uow.records.get(CHECKPOINTS, name) for name in self.projections}
        return {name: None if doc is None else _checkpoint(doc) for name, doc in found.items()}

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
        them: one query), those nearest the head first, and those with an event they
        want apply it in one unit of work together (each alone if that fails). Events
        they raise are read and applied in the same call. At most ``inline_batches`` feed reads of
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
                if len(rows) < self.inline_batch:
                    done.update(p.name for p in group)  # at the head of the feed after this
                if not rows:
                    continue
                outcomes, raised = self._inline_batch(group, known, rows, report)
                done.update(report.failures)
                for name, (outcome, applied) in outcomes.items():
                    report[name] = report.get(name, 0) + applied
                    known[name] = self._remember(name, outcome)
                if any(p.wants(name) for p in self.projections.values() for name in raised):
                    # the reactions appended events that one of them wants: read on
                    done.difference_update(outcomes)
        except Exception as exc:  # the feed or the checkpoints could not be read
            log.exception("projections could not run after a commit; catch_up will")
            report.failures["*"] = ProjectionFailure(
                "*", rows[0][0] if rows else 0, rows[-1][0] if rows else 0, exc
            )
        return report

    # --- one batch ---------------------------------------------------------------------

    def _inline_batch(
        self,
        group: Sequence[Projection],
        known: dict[str, _Known],
        rows: list[tuple[int, str]],
        report: CatchUp,
    ) -> tuple[dict[str, tuple[_Known | _Moved, int]], frozenset[str]]:
        """``rows`` applied to ``group`` in one unit of work; if that fails, to each
        projection alone, so one that raises holds back only itself (it then rests for
        ``inline_backoff`` seconds)."""
        try:
            return self._advance_together(group, known, rows, persist_idle=False)
        except Exception as exc:
            if len(group) == 1:
                self._rest_after(group[0], rows, exc, report)
                return {}, frozenset()
        outcomes: dict[str, tuple[_Known | _Moved, int]] = {}
        raised: frozenset[str] = frozenset()
        for p in group:
            try:
                one, more = self._advance_together([p], known, rows, persist_idle=False)
            except Exception as exc:
                self._rest_after(p, rows, exc, report)
                continue
            outcomes.update(one)
            raised |= more
        return outcomes, raised

    def _rest_after(
        self, projection: Projection, rows: list[tuple[int, str]], exc: Exception, report: CatchUp
    ) -> None:
        report.failures[projection.name] = self._failed(projection, rows, exc)
        with self._lock:
            self._resting[projection.name] = time.monotonic() + self.inline_backoff


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
        done, _ = self._advance_together(
            [projection], {projection.name: known}, rows, persist_idle=persist_idle
        )
        return done[projection.name]

    def _advance_together(
        self,
        group: Sequence[Projection],
        known: dict[str, _Known],
        rows: list[tuple[int, str]],
        *,
        persist_idle: bool,
    ) -> tuple[dict[str, tuple[_Known | _Moved, int]], frozenset[str]]:
        """:meth:`_advance` for projections that have all seen the feed up to the same
        position, in ONE unit of work (a command's reactions cost one transaction, not
        one each). Returns each one's outcome, and the types of the events they raised
        (appended to the feed in the same transaction, so a reaction to a reaction
        follows)."""
        last = rows[-1][0] if rows else max(known[p.name].seen for p in group)
        decoded = [(position, json.loads(text)) for position, text in rows]
        wanted = {
            p.name: [(pos, value) for pos, value in decoded if p.wants(value["type"])]
            for p in group
        }
        out: dict[str, tuple[_Known | _Moved, int]] = {}
        busy = [p for p in group if wanted[p.name] or persist_idle]
        for p in group:
            if p not in busy:
                # nothing to apply: move on in memory only, the stored checkpoint can lag
                out[p.name] = (_Known(known[p.name].stored, last), 0)
        if not busy:
            return out, frozenset()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._uow() as uow:
                    # get() locks the record to the end of this unit of work (PostgreSQL
                    # advisory lock, SQLite write lock, the memory store's lock): no
                    # other worker can move the checkpoint until this batch commits. All
                    # of them are taken first, in one order, before any projection's own
                    # locks, so two runners never wait for each other in a circle.
                    current = {
                        p.name: _checkpoint(uow.records.get(CHECKPOINTS, p.name))
                        for p in sorted(busy, key=lambda p: p.name)
                    }
                    done: dict[str, tuple[_Known | _Moved, int]] = {}
                    for p in busy:
                        at = current[p.name]
                        if not known[p.name].stored <= at <= last:
                            # someone else got past this batch, or it was rewound
                            done[p.name] = (_Moved(at), 0)
                            continue
                        # everything in (stored, seen] was unwanted and rows hold all of
                        # (seen, last]: what lies beyond the checkpoint is what is left
                        envelopes = [
                            envelope_from_dict({**value, "position": position})
                            for position, value in wanted[p.name]
                            if position > at
                        ]
                        if envelopes:
                            p.apply(uow, envelopes)
                        if at < last:
                            uow.records.put(
                                CHECKPOINTS,
                                p.name,
                                {"position": last, "at": self.clock.now().isoformat()},
                            )
                        done[p.name] = (_Known(last, last), len(envelopes))
                    # events a projection raised (a stage moved, reminders planned) join
                    # the feed with its changes, like a command's: other projections,
                    # and this one, apply them from there, each once
                    raised = uow.raised_events()
                    envelopes = stamp(uow, raised) if raised else []
                    if envelopes:
                        uow.stage_feed(envelopes)
                    uow.commit()
                out.update(done)
                return out, frozenset(e.type for e in envelopes)
            except RetryableConflict:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.warning("projections %s: conflict at %d, trying again", _names(busy), last)
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
