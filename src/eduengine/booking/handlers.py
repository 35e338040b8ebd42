"""The booking core's rules on the bus: the school's seat guards hold on every path.

:func:`enforce_seat_guards` runs the bus's seat guards for every seat or waitlist place a
command takes (timetable, series, offers, 1-on-1, credits, rush, reschedule): a refusal
rolls the command back. :func:`withdraw_refused` handles the one path where the student
did not ask at that moment: a seat the waitlist hands to someone a guard now refuses
(restricted since joining) goes to the next student instead.
"""

from __future__ import annotations

from eduengine.booking import events as ev
from eduengine.booking.guards import seat_refusal
from eduengine.kernel.ids import IdFactory
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork


def enforce_seat_guards(bus: MessageBus) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatBooked | ev.OfferAccepted | ev.WaitlistJoined)
        slot = uow.slots.get(event.slot_id)
        seats = 0 if isinstance(event, ev.WaitlistJoined) else 1
        refused = seat_refusal(bus, uow, event.student_id, slot, event.occurred_at, seats=seats)
        if refused is not None:
            raise refused

    return handle


def withdraw_refused(bus: MessageBus, new_id: IdFactory) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.WaitlistPromoted | ev.SeatOffered)
        slot = uow.slots.get(event.slot_id)
        seats = 1 if isinstance(event, ev.WaitlistPromoted) else 0
        if seat_refusal(bus, uow, event.student_id, slot, event.occurred_at, seats=seats) is None:
            return
        now = event.occurred_at
        if isinstance(event, ev.WaitlistPromoted):
            slot.cancel(
                event.booking_id,
                now=now,
                new_id=new_id,
                student_id=event.student_id,
                reason="refused",
            )
        else:
            slot.decline_offer(event.student_id, now=now, new_id=new_id)

    return handle


def subscribe(bus: MessageBus, new_id: IdFactory) -> None:
    """Run the bus's seat guards on every path a seat or waitlist place is taken."""
    guard = enforce_seat_guards(bus)
    for taken in (ev.SeatBooked, ev.OfferAccepted, ev.WaitlistJoined):
        bus.subscribe(taken, guard)
    withdraw = withdraw_refused(bus, new_id)
    for given in (ev.WaitlistPromoted, ev.SeatOffered):
        bus.subscribe(given, withdraw)
