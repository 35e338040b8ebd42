"""Reminders as rules on the bus: every seat taken, on any path (timetable, series,
waitlist promotion, offer acceptance, 1-on-1 lesson, credit booking, rush admission,
reschedule), gets its plan's reminders; every seat freed has its pending ones voided."""

from __future__ import annotations

from eduengine.booking import events as ev
from eduengine.reminders.model import ReminderPlan
from eduengine.reminders.service import schedule, void
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork


def plan_reminders(plan: ReminderPlan) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
        slot = uow.slots.get(event.slot_id)
        booking = slot.bookings.get(event.student_id)
        if booking is None or booking.id != event.booking_id:
            return  # already released again in this unit of work (e.g. restricted)
        schedule(uow, plan, event.booking_id, event.student_id, slot, event.occurred_at)

    return handle


def void_reminders(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A freed seat, or one whose attendance is marked (the class has begun), keeps no
    pending reminder."""
    assert isinstance(event, ev.SeatReleased | ev.AttendanceMarked)
    void(uow, event.booking_id, event.occurred_at)


def subscribe(bus: MessageBus, plan: ReminderPlan) -> None:
    """Put the reminder plan on ``bus``."""
    planner = plan_reminders(plan)
    for taken in (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted):
        bus.subscribe(taken, planner)
    bus.subscribe(ev.SeatReleased, void_reminders)
    bus.subscribe(ev.AttendanceMarked, void_reminders)
