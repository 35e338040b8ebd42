"""The envelope every published event travels in, and how a unit of work numbers them.

An :class:`Envelope` wraps one domain event with what a consumer outside the process
needs: a unique ``id`` (to deduplicate at-least-once deliveries), the stable ``type``
name, the ``aggregate_type`` and ``aggregate_id`` of the stream it belongs to, and
``sequence``, its 1-based number in that stream, without gaps. ``position`` is its place
in the store's feed (``None`` for an envelope handed to an in-process listener before
the feed was read).

>>> from datetime import datetime, timezone
>>> from eduengine.booking.events import SeatBooked
>>> t = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> env = Envelope.wrap(SeatBooked(occurred_at=t, slot_id="s1", capacity=2, seats_left=1,
...                                booking_id="b1", student_id="ann"), sequence=3, id="e1")
>>> env.type, env.stream, env.sequence
('booking.seat_booked', 'slot:s1', 3)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.events.registry import event_kind, find_kind
from eduengine.ports import UnitOfWork

__all__ = ["SEQUENCES", "Envelope", "stamp"]

#: The record kind holding each stream's last sequence number (key ``<type>:<id>``).
SEQUENCES = "event_sequence"


@attrs.frozen(kw_only=True)
class Envelope:
    """One committed event, numbered in its aggregate's stream."""

    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    event: DomainEvent
    #: the feed position (the cursor to pass on), once read from a feed
    position: int | None = None

    @property
    def stream(self) -> str:
        """``<aggregate_type>:<aggregate_id>``, the unit :attr:`sequence` counts in."""
        return f"{self.aggregate_type}:{self.aggregate_id}"

    @classmethod
    def wrap(cls, event: DomainEvent, *, sequence: int, id: str | None = None) -> Envelope:
        """An envelope for ``event`` (a registered event class) with the given number."""
        kind = event_kind(type(event))
        return cls(
            id=id if id is not None else os.urandom(16).hex(),
            type=kind.name,
            aggregate_type=kind.aggregate_type,
            aggregate_id=kind.aggregate_id(event),
            sequence=sequence,
            occurred_at=event.occurred_at,
            event=event,
        )


def stamp(uow: UnitOfWork, events: Sequence[DomainEvent]) -> list[Envelope]:
    """Number ``events`` in their streams inside ``uow``, just before it commits.

    Each stream's counter is a record read with ``records.get``, which locks it until the
    unit of work ends, so two commits touching one stream number its events in the order
    they commit, without gaps (a rolled-back unit of work rolls its numbers back too).
    The counters are locked in sorted order, and last, after every other lock the
    command took, so numbering cannot deadlock two commands. Events of unregistered
    classes get no envelope.
    """
    kinds = [find_kind(type(e)) for e in events]
    streams = sorted(
        {f"{k.aggregate_type}:{k.aggregate_id(e)}" for k, e in zip(kinds, events, strict=True) if k}
    )
    if not streams:
        return []
    last: dict[str, int] = {}
    for stream in streams:
        doc = uow.records.get(SEQUENCES, stream)
        last[stream] = int(doc["last"]) if doc else 0
    out: list[Envelope] = []
    for kind, event in zip(kinds, events, strict=True):
        if kind is None:
            continue
        aggregate_id = kind.aggregate_id(event)
        stream = f"{kind.aggregate_type}:{aggregate_id}"
        last[stream] += 1
        out.append(
            Envelope(
                id=os.urandom(16).hex(),
                type=kind.name,
                aggregate_type=kind.aggregate_type,
                aggregate_id=aggregate_id,
                sequence=last[stream],
                occurred_at=event.occurred_at,
                event=event,
            )
        )
    for stream in streams:
        uow.records.put(SEQUENCES, stream, {"last": last[stream]})
    return out
