"""Typed, immutable domain events of the booking core.

Every event about a slot carries the slot's ``capacity`` and ``seats_left`` after the
change, so a host can push live seat counts (WebSocket, SSE) straight from the event.
:class:`SeatCounter` rebuilds seat counts from a stream of events.

>>> from datetime import datetime, timezone
>>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> counter = SeatCounter()
>>> counter.apply(SlotCreated(occurred_at=t, slot_id="s1", capacity=2, seats_left=2,
...                           course_id="c1", start=t, end=t))
>>> counter.apply(SeatBooked(occurred_at=t, slot_id="s1", capacity=2, seats_left=1,
...                          booking_id="b1", student_id="ann"))
>>> counter.taken["s1"]
1
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent as DomainEvent
from eduengine.kernel.events import event_type


@attrs.frozen(kw_only=True)
class SlotEvent(DomainEvent):
    slot_id: str
    capacity: int
    seats_left: int


@event_type("booking.slot_created", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class SlotCreated(SlotEvent):
    course_id: str
    start: datetime
    end: datetime
    series_id: str | None = None
    #: the slot's tutor (``None``: none, or a feed row written before 0.4 carried it)
    tutor_id: str | None = None


@event_type("booking.slot_cancelled", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class SlotCancelled(SlotEvent):
    reason_code: str | None = None


@event_type("booking.series_created", aggregate="series", field="series_id")
@attrs.frozen(kw_only=True)
class SeriesCreated(DomainEvent):
    series_id: str
    course_id: str
    slot_ids: tuple[str, ...]


@event_type("booking.seat_booked", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class SeatBooked(SlotEvent):
    booking_id: str
    student_id: str
    series_id: str | None = None


@event_type("booking.seat_released", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class SeatReleased(SlotEvent):
    """A seat was given up. ``reason`` is how (``cancelled``, ``rescheduled``,
    ``slot_cancelled``, ``refused``); ``reason_code`` is why, from the school's own open set
    of codes (``"sick"``, ``"schedule_conflict"`` ...), when the command gave one."""

    booking_id: str
    student_id: str
    reason: str = "cancelled"
    reason_code: str | None = None


@event_type("booking.waitlist_joined", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class WaitlistJoined(SlotEvent):
    student_id: str
    position: int


@event_type("booking.waitlist_left", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class WaitlistLeft(SlotEvent):
    student_id: str


@event_type("booking.waitlist_promoted", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class WaitlistPromoted(SlotEvent):
    """Auto mode: the first waiting student got the freed seat."""

    student_id: str
    booking_id: str


@event_type("booking.seat_offered", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class SeatOffered(SlotEvent):
    """Offer mode: a freed seat is held for the first waiting student until ``expires_at``."""

    student_id: str
    offer_id: str
    expires_at: datetime


@event_type("booking.offer_accepted", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class OfferAccepted(SlotEvent):
    student_id: str
    offer_id: str
    booking_id: str


@event_type("booking.offer_declined", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class OfferDeclined(SlotEvent):
    student_id: str
    offer_id: str


@event_type("booking.offer_expired", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class OfferExpired(SlotEvent):
    student_id: str
    offer_id: str


@event_type("booking.capacity_changed", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class CapacityChanged(SlotEvent):
    old_capacity: int


@event_type("booking.attendance_marked", aggregate="slot", field="slot_id")
@attrs.frozen(kw_only=True)
class AttendanceMarked(SlotEvent):
    booking_id: str
    student_id: str
    status: str
    #: the status before (``confirmed``, or the other mark when attendance is corrected)
    previous: str = "confirmed"


# How each event moves the number of seats taken (bookings plus held offers).
_SEAT_DELTA: dict[type[SlotEvent], int] = {
    SeatBooked: 1,
    SeatReleased: -1,
    WaitlistPromoted: 1,
    SeatOffered: 1,
    OfferAccepted: 0,
    OfferDeclined: -1,
    OfferExpired: -1,
}


class SeatCounter:
    """A projection of seats taken per slot, rebuilt from events alone.

    Hosts use it to keep a live seat count without reading the store; the test suite uses
    it to prove the published events tell the whole story.
    """

    def __init__(self) -> None:
        self.capacity: dict[str, int] = {}
        self.taken: dict[str, int] = {}

    def apply(self, event: DomainEvent) -> None:
        if not isinstance(event, SlotEvent):
            return
        if isinstance(event, SlotCreated):
            self.capacity[event.slot_id] = event.capacity
            self.taken[event.slot_id] = 0
        elif isinstance(event, CapacityChanged):
            self.capacity[event.slot_id] = event.capacity
        else:
            self.taken[event.slot_id] = self.taken.get(event.slot_id, 0) + _SEAT_DELTA.get(
                type(event), 0
            )

    def seats_left(self, slot_id: str) -> int:
        return max(0, self.capacity[slot_id] - self.taken[slot_id])
