"""The message bus: a school's rules as handlers of the events its commands raise.

A command runs in one unit of work. Before that unit of work commits, the bus hands
every event raised so far (by slots, or recorded by feature modules) to the handlers
registered for its type, **in the same unit of work**; events those handlers raise are
handled in turn. A handler that raises refuses the whole command: the unit of work
rolls back and nothing is written. After commit the service publishes the events to the
school's publishers, and their numbered envelopes (:class:`eduengine.events.Envelope`)
to its listeners (:meth:`MessageBus.listen`).

Publishing cannot lie: a command reserves its place in the bus's publication order
while it still holds the locks of its aggregates, so the events of one aggregate reach
every publisher and listener in commit order, even when commands on several threads
commit at once. A failing publisher or listener is logged and skipped; the others are
still called and the caller, whose command did commit, gets its result.

This is the design of *Architecture Patterns with Python* (Cosmic Python), chapters 8
and 9, with one change: handlers run inside the triggering unit of work, so a rule and
the command that set it off commit or roll back together. What must survive a failed
handler (a payment provider call) is written as a due record and carried out after
commit by a sweep, never inside the transaction.

>>> from datetime import datetime, timezone
>>> from eduengine.booking.events import SeatBooked
>>> seen = []
>>> bus = MessageBus()
>>> bus.subscribe(SeatBooked, lambda event, uow: seen.append(event.student_id))
>>> [name for name, _ in bus.table()]
['SeatBooked']
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from eduengine.errors import EduEngineError
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.ports import EventPublisher, UnitOfWork

log = logging.getLogger("eduengine.messagebus")

Handler = Callable[[DomainEvent, UnitOfWork], None]
"""A rule: called with an event and the unit of work it was raised in."""

Guard = Callable[..., EduEngineError | None]
"""A rule that may refuse something: returns the error to raise, or ``None``. The bus only
keeps guards by name; the package that owns the thing guarded calls them with its own
arguments (the seat guards: :mod:`eduengine.booking.guards`)."""

Listener = Callable[[Envelope], None]
"""Receives each committed envelope, per aggregate in sequence order."""

#: A cascade longer than this is a loop between handlers, not a school's rule.
MAX_ROUNDS = 50


class MessageBus:
    """Handlers by event type, dispatched inside the unit of work; publishers after it.

    A handler subscribed to a base class (``SlotEvent``, ``DomainEvent``) also receives
    every subclass, after the handlers of the exact type.
    """

    def __init__(self, publishers: Iterable[EventPublisher] = ()) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler]] = {}
        self._resolved: dict[type[DomainEvent], tuple[Handler, ...]] = {}
        self.publishers: list[EventPublisher] = list(publishers)
        self.listeners: list[Listener] = []
        #: the school's guards by what they guard (``"seat"``: :mod:`eduengine.booking.guards`)
        self.guards: dict[str, list[Guard]] = {}
        self._order = PublicationOrder(self._deliver)
        #: run once the handlers raise nothing more, still inside the unit of work (e.g.
        #: writing buffered counters in one lock order)
        self.finishers: list[Callable[[UnitOfWork], None]] = []

    def subscribe(self, event_type: type[DomainEvent], handler: Handler) -> None:
        """Run ``handler`` for every ``event_type`` event, after those already registered."""
        self._handlers.setdefault(event_type, []).append(handler)
        self._resolved.clear()

    def subscribe_many(self, table: Mapping[type[DomainEvent], Sequence[Handler]]) -> None:
        for event_type, handlers in table.items():
            for handler in handlers:
                self.subscribe(event_type, handler)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every committed envelope, after the publishers.

        Envelopes of one aggregate arrive in ``sequence`` order, once each, on the thread
        of whichever command finishes publishing them (keep the listener short: hand the
        envelope to a queue or an event loop). A listener that raises is logged and
        skipped for that envelope.
        """
        self.listeners.append(listener)

    def add_guard(self, name: str, guard: Guard) -> None:
        """File ``guard`` under ``name``, after the guards already there."""
        self.guards.setdefault(name, []).append(guard)

    def guards_for(self, name: str) -> tuple[Guard, ...]:
        """The guards filed under ``name``, in the order they were added."""
        return tuple(self.guards.get(name, ()))

    @property
    def seat_guards(self) -> list[Guard]:
        """Deprecated (removed in 0.4): the list filed under ``"seat"``
        (``eduengine.booking.guards``)."""
        return self.guards.setdefault("seat", [])

    def add_seat_guard(self, guard: Guard) -> None:
        """Deprecated (removed in 0.4): use ``eduengine.booking.guards.add_seat_guard``."""
        self.add_guard("seat", guard)

    def add_finisher(self, finisher: Callable[[UnitOfWork], None]) -> None:
        """Run ``finisher(uow)`` at the end of every dispatch, before commit."""
        self.finishers.append(finisher)

    def refusal(
        self, uow: UnitOfWork, student_id: str, slot: Any, now: datetime, *, seats: int = 1
    ) -> EduEngineError | None:
        """Deprecated (removed in 0.4): use ``eduengine.booking.guards.seat_refusal``."""
        # the same loop as booking.guards.seat_refusal: the bus may not import booking
        for guard in self.guards_for("seat"):
            refused = guard(uow, student_id, slot, now, seats)
            if refused is not None:
                return refused
        return None

    def handlers_for(self, event_type: type[DomainEvent]) -> tuple[Handler, ...]:
        found = self._resolved.get(event_type)
        if found is None:
            found = tuple(
                handler for klass in event_type.__mro__ for handler in self._handlers.get(klass, ())
            )
            self._resolved[event_type] = found
        return found

    def dispatch(self, uow: UnitOfWork) -> list[DomainEvent]:
        """Hand every event raised in ``uow`` to its handlers until no new one is raised;
        returns every event handed out, in order."""
        seen: list[DomainEvent] = []
        for _ in range(MAX_ROUNDS):
            events = uow.raised_events()
            if not events:
                if not self.finishers:
                    return seen
                for finish in self.finishers:
                    finish(uow)
                events = uow.raised_events()
                if not events:
                    return seen
            seen.extend(events)
            for event in events:
                for handler in self.handlers_for(type(event)):
                    handler(event, uow)
        raise RuntimeError(f"handlers kept raising events for {MAX_ROUNDS} rounds: a loop")

    def reserve(self) -> int:
        """A place in the publication order, taken while the command still holds its
        aggregates' locks (see :class:`PublicationOrder`)."""
        return self._order.reserve()

    @property
    def heard(self) -> bool:
        """Whether anyone receives committed events (a publisher or a listener): a
        command of a bus nobody hears takes no place in the publication order.

        >>> bus = MessageBus()
        >>> bus.heard, (bus.listen(print) or bus.heard)
        (False, True)
        """
        return bool(self.publishers or self.listeners)

    def release(
        self,
        ticket: int,
        events: Sequence[DomainEvent] = (),
        envelopes: Sequence[Envelope] = (),
        *,
        committed: bool = True,
    ) -> None:
        """Publish a committed command's events in its reserved place (or, with
        ``committed=False``, give the place up)."""
        self._order.release(ticket, (events, envelopes) if committed else None)

    def publish(
        self, events: Sequence[DomainEvent], envelopes: Sequence[Envelope] = ()
    ) -> None:
        """Give committed events to every publisher (and ``envelopes`` to every listener)
        at once, outside the publication order; a failing one is logged."""
        self._deliver((events, envelopes))

    def _deliver(self, batch: tuple[Sequence[DomainEvent], Sequence[Envelope]]) -> None:
        events, envelopes = batch
        if events:
            for publisher in self.publishers:
                try:
                    # a publisher that wants the envelopes too (with their feed positions,
                    # when the store reported them) takes both
                    committed = getattr(publisher, "publish_committed", None)
                    if committed is not None:
                        committed(events, envelopes)
                    else:
                        publisher.publish(events)
                except Exception:
                    log.exception("publisher %r failed; the command had committed", publisher)
        for envelope in envelopes:
            for listener in self.listeners:
                try:
                    listener(envelope)
                except Exception:
                    log.exception(
                        "listener %r failed on %s %s#%d; the command had committed",
                        listener,
                        envelope.type,
                        envelope.stream,
                        envelope.sequence,
                    )

    def table(self) -> list[tuple[str, list[str]]]:
        """``(event type, handler names)`` in registration order: what a command sets off."""
        return [
            (event_type.__name__, [handler_name(h) for h in handlers])
            for event_type, handlers in self._handlers.items()
        ]


Batch = tuple[Sequence[DomainEvent], Sequence[Envelope]]


class PublicationOrder:
    """Releases committed batches in the order their commands reserved a place.

    A command reserves its ticket after numbering its events and before committing,
    while it holds the locks of every aggregate it changed: a later command on the same
    aggregate can reserve only after this one committed or rolled back, so per aggregate,
    ticket order is commit order. Batches are delivered strictly in ticket order; a
    command that rolled back gives its ticket up, so nothing waits for it. Whichever
    thread completes the next ticket delivers every ready batch, one thread at a time
    (a command run by a listener on that thread is delivered by the same loop).
    """

    def __init__(self, deliver: Callable[[Batch], None]) -> None:
        self._deliver = deliver
        self._lock = threading.Lock()
        self._delivering = threading.Lock()
        self._next = 0
        self._head = 0
        self._ready: dict[int, Batch | None] = {}

    def reserve(self) -> int:
        with self._lock:
            ticket = self._next
            self._next += 1
            return ticket

    def release(self, ticket: int, batch: Batch | None) -> None:
        with self._lock:
            self._ready[ticket] = batch
        while self._delivering.acquire(blocking=False):
            try:
                while True:
                    with self._lock:
                        if self._head not in self._ready:
                            break
                        ready = self._ready.pop(self._head)
                        self._head += 1
                    if ready is not None:
                        self._deliver(ready)
            finally:
                self._delivering.release()
            # a batch released while we were finishing finds the lock taken and leaves
            # it to us: look once more after letting go
            with self._lock:
                if self._head not in self._ready:
                    return


def handler_name(handler: Handler) -> str:
    """How a rule is named in a table: ``module.function`` (a factory's name for a rule it
    made)."""
    inner = getattr(handler, "func", handler)  # functools.partial
    module = getattr(inner, "__module__", "") or ""
    # a rule made by a factory is named after the factory
    qualname = str(getattr(inner, "__qualname__", repr(inner))).split(".<locals>")[0]
    return f"{module.removeprefix('eduengine.')}.{qualname}"
