"""Numbering events in their aggregates' streams, inside the unit of work that commits them.

:func:`stamp` gives each event of a registered type its envelope
(:class:`~eduengine.kernel.envelope.Envelope`) with the next number of its stream.

>>> from datetime import datetime, timezone
>>> from eduengine import InMemoryStore
>>> from eduengine.booking.events import SeatBooked
>>> t = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> booked = SeatBooked(occurred_at=t, slot_id="s1", capacity=2, seats_left=1,
...                     booking_id="b1", student_id="ann")
>>> with InMemoryStore().unit_of_work() as uow:
...     [(e.stream, e.sequence) for e in stamp(uow, [booked, booked])]
[('slot:s1', 1), ('slot:s1', 2)]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent, EventKind, find_kind
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["stamp"]


def stamp(uow: UnitOfWork, events: Sequence[DomainEvent]) -> list[Envelope]:
    """Number ``events`` in their streams inside ``uow``, just before it commits.

    Each stream's counter is advanced with :meth:`UnitOfWork.next_sequences`, which locks
    it until the unit of work ends, so two commits touching one stream number its events
    in the order they commit, without gaps (a rolled-back unit of work rolls its numbers
    back too). The counters are locked in sorted order, and last, after every other lock
    the command took, so numbering cannot deadlock two commands. Events of unregistered
    classes get no envelope.
    """
    # (kind, aggregate id, stream) of each event of a registered type, found once
    known: list[tuple[EventKind, str, str, DomainEvent]] = []
    counts: dict[str, int] = {}
    for event in events:
        kind = find_kind(type(event))
        if kind is not None:
            aggregate_id = kind.aggregate_id(event)
            stream = f"{kind.aggregate_type}:{aggregate_id}"
            counts[stream] = counts.get(stream, 0) + 1
            known.append((kind, aggregate_id, stream, event))
    if not counts:
        return []
    last = uow.next_sequences(counts)
    out: list[Envelope] = []
    for kind, aggregate_id, stream, event in known:
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
    return out
