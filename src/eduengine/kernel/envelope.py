"""The envelope every published event travels in.

An :class:`Envelope` wraps one domain event with what a consumer outside the process
needs: a unique ``id`` (to deduplicate at-least-once deliveries), the stable ``type``
name, the ``aggregate_type`` and ``aggregate_id`` of the stream it belongs to, and
``sequence``, its 1-based number in that stream, without gaps. ``position`` is its place
in the store's feed (``None`` for one not yet committed, or committed inside a host's
transaction, whose position the store does not know until the host commits).

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
from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_kind

__all__ = ["Envelope"]


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
    #: the feed position (the cursor to pass on): set once read from a feed, or when the
    #: store reported where its commit put the envelope
    position: int | None = None

    def at(self, position: int) -> Envelope:
        """This envelope at feed ``position`` (``attrs.evolve``'s result, without its
        per-call look at the fields: every committed event passes here).

        >>> from eduengine.booking.events import SeatBooked
        >>> t = datetime(2026, 3, 2, 9, 0).astimezone()
        >>> Envelope.wrap(SeatBooked(occurred_at=t, slot_id="s1", capacity=2, seats_left=1,
        ...                          booking_id="b1", student_id="ann"), sequence=3).at(7).position
        7
        """
        return Envelope(
            id=self.id,
            type=self.type,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            sequence=self.sequence,
            occurred_at=self.occurred_at,
            event=self.event,
            position=position,
        )

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
