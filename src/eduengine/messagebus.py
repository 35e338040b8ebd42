"""The message bus: a school's rules as handlers of the events its commands raise.

A command runs in one unit of work. Before that unit of work commits, the bus hands
every event raised so far (by slots, or recorded by feature modules) to the handlers
registered for its type, **in the same unit of work**; events those handlers raise are
handled in turn. A handler that raises refuses the whole command: the unit of work
rolls back and nothing is written. After commit the service publishes every event to
the school's publishers (a publisher's failure is logged, never raised to the caller,
whose command did commit).

This is the design of *Architecture Patterns with Python* (Cosmic Python), chapters 8
and 9, with one change: handlers run inside the triggering unit of work, so a rule and
the command that set it off commit or roll back together. What must survive a failed
handler (a payment provider call) is written as a due record and carried out after
commit by a sweep, never inside the transaction.

>>> from datetime import datetime, timezone
>>> from eduengine.booking.events import DomainEvent, SeatBooked
>>> seen = []
>>> bus = MessageBus()
>>> bus.subscribe(SeatBooked, lambda event, uow: seen.append(event.student_id))
>>> [name for name, _ in bus.table()]
['SeatBooked']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Slot
from eduengine.errors import EduEngineError
from eduengine.ports import EventPublisher, UnitOfWork

log = logging.getLogger("eduengine.messagebus")

Handler = Callable[[DomainEvent, UnitOfWork], None]
"""A rule: called with an event and the unit of work it was raised in."""

SeatGuard = Callable[[UnitOfWork, str, Slot, datetime, int], EduEngineError | None]
"""A rule that may refuse a seat: ``(uow, student_id, slot, now, seats)`` returns the error
to raise, or ``None``. ``seats`` is 1 for a seat, 0 for a waitlist place. Guards run on
every path a seat is taken (see :mod:`eduengine.booking.handlers`), and commands that
seat many students at once (rush admission) ask :meth:`MessageBus.refusal` first, to
skip a refused student instead of failing everyone."""

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
        self.seat_guards: list[SeatGuard] = []
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

    def add_seat_guard(self, guard: SeatGuard) -> None:
        self.seat_guards.append(guard)

    def add_finisher(self, finisher: Callable[[UnitOfWork], None]) -> None:
        """Run ``finisher(uow)`` at the end of every dispatch, before commit."""
        self.finishers.append(finisher)

    def refusal(
        self, uow: UnitOfWork, student_id: str, slot: Slot, now: datetime, *, seats: int = 1
    ) -> EduEngineError | None:
        """The first seat guard's reason to refuse ``student_id`` a seat in ``slot``."""
        for guard in self.seat_guards:
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

    def dispatch(self, uow: UnitOfWork) -> None:
        """Hand every event raised in ``uow`` to its handlers until no new one is raised."""
        for _ in range(MAX_ROUNDS):
            events = uow.raised_events()
            if not events:
                for finish in self.finishers:
                    finish(uow)
                events = uow.raised_events()
                if not events:
                    return
            for event in events:
                for handler in self.handlers_for(type(event)):
                    handler(event, uow)
        raise RuntimeError(f"handlers kept raising events for {MAX_ROUNDS} rounds: a loop")

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Give committed events to every publisher; a failing publisher is logged."""
        for publisher in self.publishers:
            try:
                publisher.publish(events)
            except Exception:
                log.exception("publisher %r failed; the command had committed", publisher)

    def table(self) -> list[tuple[str, list[str]]]:
        """``(event type, handler names)`` in registration order: what a command sets off."""
        return [
            (event_type.__name__, [_name(h) for h in handlers])
            for event_type, handlers in self._handlers.items()
        ]


def _name(handler: Handler) -> str:
    inner = getattr(handler, "func", handler)  # functools.partial
    module = getattr(inner, "__module__", "") or ""
    # a rule made by a factory is named after the factory
    qualname = str(getattr(inner, "__qualname__", repr(inner))).split(".<locals>")[0]
    return f"{module.removeprefix('eduengine.')}.{qualname}"
