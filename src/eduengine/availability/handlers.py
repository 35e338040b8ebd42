"""The tutor's calendar follows its lessons, whichever service changes them.

A 1-on-1 lesson is an ordinary slot, so any service can release its seat
(``BookingService.cancel``, ``PolicyService.cancel`` or ``reschedule``, a package's
``cancel_with_credit``, ``cancel_slot`` ...). These handlers run inside that command's
unit of work and keep the lesson rows equal to the live lessons:

=================  =========================================================
``SeatReleased``   :func:`free_tutor_time`: delete the lesson row and cancel the
                   lesson's slot, so its seat cannot go to another student
``SlotCancelled``  :func:`drop_cancelled_lesson`: delete the lesson row
=================  =========================================================

A slot is a lesson when it has a lesson row; other slots are left alone.

>>> from eduengine.service_layer.messagebus import MessageBus
>>> bus = MessageBus()
>>> subscribe(bus)
>>> subscribe(bus)  # a second call adds nothing
>>> bus.table()  # doctest: +NORMALIZE_WHITESPACE
[('SeatReleased', ['availability.handlers.free_tutor_time']),
 ('SlotCancelled', ['availability.handlers.drop_cancelled_lesson'])]
"""

from __future__ import annotations

from eduengine.availability.storage import LESSONS
from eduengine.booking.events import SeatReleased, SlotCancelled
from eduengine.booking.model import SlotStatus
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.ids import IdFactory
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["HANDLERS", "drop_cancelled_lesson", "free_tutor_time", "subscribe"]


def free_tutor_time(event: DomainEvent, uow: UnitOfWork) -> None:
    """A lesson's student gave up the seat: the tutor is free again, and the lesson's
    slot is cancelled (a 1-on-1 slot must not be booked by whoever comes next)."""
    if not isinstance(event, SeatReleased) or not _drop_row(uow, event.slot_id):
        return
    slot = uow.slots.get(event.slot_id)
    # a lesson that already started stays as it was (and no path releases one today)
    if slot.status is SlotStatus.OPEN and not slot.has_started(event.occurred_at):
        # releases any seat left (none: the one seat was just given up, and a waiting
        # student promoted into it loses it again) and raises SlotCancelled
        slot.cancel_slot(now=event.occurred_at)


def drop_cancelled_lesson(event: DomainEvent, uow: UnitOfWork) -> None:
    """A lesson's slot was cancelled: its time is the tutor's again."""
    if isinstance(event, SlotCancelled):
        _drop_row(uow, event.slot_id)


HANDLERS: dict[type[DomainEvent], list[Handler]] = {
    SeatReleased: [free_tutor_time],
    SlotCancelled: [drop_cancelled_lesson],
}


def subscribe(bus: MessageBus, new_id: IdFactory | None = None) -> None:
    """Register the availability handlers on ``bus`` (once: calling again adds nothing).

    ``new_id`` is accepted so a bootstrap can wire every module alike; freeing a tutor's
    time makes no new ids.
    """
    del new_id
    for event_type, handlers in HANDLERS.items():
        for handler in handlers:
            if handler not in bus.handlers_for(event_type):
                bus.subscribe(event_type, handler)


def _drop_row(uow: UnitOfWork, slot_id: str) -> bool:
    """Delete the lesson row of ``slot_id``; False when the slot is no lesson (or its
    row is gone already)."""
    if uow.records.get(LESSONS, slot_id) is None:  # get locks the row before the delete
        return False
    uow.records.delete(LESSONS, slot_id)
    return True
