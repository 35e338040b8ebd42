"""The base event, every event's stable type name, and the stream it is numbered in.

A type name (``booking.seat_booked``) is the public contract: it names the event in the
feed, in webhooks and in ``docs/events.schema.json``, and it never changes when a class
is renamed or moved. The aggregate names the stream the event is numbered in: every
event of slot ``s1`` carries the next number of the stream ``slot:s1``, so a client can
drop a stale or repeated event and notice a missing one.

Each library event class registers itself where it is defined, with :func:`event_type`;
:mod:`eduengine.events.catalog` imports every package's events, so a process knows every
library type before it reads the feed.

>>> from eduengine.booking.events import SeatBooked
>>> kind = event_kind(SeatBooked)
>>> kind.name, kind.aggregate_type, kind.aggregate_field
('booking.seat_booked', 'slot', 'slot_id')

A host that records events of its own (``uow.record_events([...])``) registers them with
:func:`event_type` (or :func:`register_event`) to have them numbered, stored in the feed
and serialised; an unregistered event still reaches the bus's publishers, but never the
feed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import attrs

from eduengine.errors import InvalidInput

__all__ = [
    "DomainEvent",
    "EventKind",
    "event_kind",
    "event_kinds",
    "event_type",
    "find_kind",
    "kind_named",
    "register_event",
]


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event; ``occurred_at`` comes from the service's clock."""

    occurred_at: datetime


E = TypeVar("E", bound=DomainEvent)

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@attrs.frozen
class EventKind:
    """How one event class appears in the contract."""

    #: the stable type name, ``<module>.<what_happened>``
    name: str
    cls: type[DomainEvent]
    #: the kind of aggregate whose stream numbers the event (``slot``, ``group`` ...)
    aggregate_type: str
    #: the event's field holding the aggregate's id
    aggregate_field: str

    def aggregate_id(self, event: DomainEvent) -> str:
        return str(getattr(event, self.aggregate_field))


_by_class: dict[type[DomainEvent], EventKind] = {}
_by_name: dict[str, EventKind] = {}
_lock = threading.Lock()


def register_event(
    cls: type[DomainEvent], name: str, *, aggregate_type: str, aggregate_field: str
) -> EventKind:
    """Give ``cls`` the stable type ``name`` in the stream ``<aggregate_type>:<id>``.

    Names are ``<module>.<what_happened>`` in lower snake case; a name or class is
    registered once (registering the same pair again is a no-op).
    """
    if not _NAME.match(name):
        raise InvalidInput(f"event type name {name!r} must look like 'module.what_happened'")
    if "__attrs_attrs__" not in vars(cls):
        # a subclass of an attrs class inherits its fields: the registry would read the
        # parent's, and the codec could not build the class
        raise InvalidInput(
            f"{cls.__name__} is not an attrs class: put @event_type above @attrs.frozen"
        )
    fields = {f.name for f in attrs.fields(cls)}
    if aggregate_field not in fields:
        raise InvalidInput(f"{cls.__name__} has no field {aggregate_field!r} for its aggregate")
    kind = EventKind(name, cls, aggregate_type, aggregate_field)
    with _lock:
        for known in (_by_class.get(cls), _by_name.get(name)):
            if known is not None and known != kind:
                raise InvalidInput(
                    f"cannot register {cls.__name__} as {name!r}: "
                    f"{known.cls.__name__} is already registered as {known.name!r}"
                )
        _by_class[cls] = kind
        _by_name[name] = kind
    return kind


def event_type(name: str, *, aggregate: str, field: str) -> Callable[[type[E]], type[E]]:
    """Register the decorated event class under ``name`` in the stream
    ``<aggregate>:<value of field>``, as it is defined. A host's own event::

        @event_type("homework.handed_in", aggregate="student", field="student_id")
        @attrs.frozen(kw_only=True)
        class HomeworkHandedIn(DomainEvent):
            student_id: str

    Put it ABOVE ``@attrs.frozen``: attrs builds a new (slotted) class, and the registry
    reads that class's fields. Registering the same class under the same name again
    changes nothing:

    >>> from eduengine.booking.events import SeatBooked
    >>> event_type("booking.seat_booked", aggregate="slot", field="slot_id")(SeatBooked)
    <class 'eduengine.booking.events.SeatBooked'>
    """

    def register(cls: type[E]) -> type[E]:
        register_event(cls, name, aggregate_type=aggregate, aggregate_field=field)
        return cls

    return register


def event_kind(cls: type[DomainEvent]) -> EventKind:
    """The registered kind of ``cls``; raises ``InvalidInput`` for an unregistered class."""
    kind = _by_class.get(cls)
    if kind is None:
        raise InvalidInput(f"event class {cls.__name__} has no registered type name")
    return kind


def find_kind(cls: type[DomainEvent]) -> EventKind | None:
    """The registered kind of ``cls``, or ``None``."""
    return _by_class.get(cls)


def kind_named(name: str) -> EventKind:
    """The kind registered under the type ``name``; raises ``InvalidInput`` if unknown."""
    kind = _by_name.get(name)
    if kind is None:
        raise InvalidInput(f"unknown event type {name!r}")
    return kind


def event_kinds() -> list[EventKind]:
    """Every registered kind, sorted by type name."""
    return sorted(_by_name.values(), key=lambda k: k.name)
