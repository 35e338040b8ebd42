"""Building availability tests: services on one bus, and the tutor's truth read back."""

from __future__ import annotations

from datetime import datetime

from eduengine import BookingService, FixedClock
from eduengine.availability import AvailabilityService
from eduengine.availability.handlers import subscribe
from eduengine.availability.model import Busy
from eduengine.availability.storage import LESSONS
from eduengine.booking.model import SlotStatus
from eduengine.kernel.codec import from_micros
from eduengine.kernel.ids import IdFactory
from eduengine.policies import CancellationPolicy, PolicyService
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import UnitOfWorkFactory


def school(
    uow: UnitOfWorkFactory, clock: FixedClock, new_id: IdFactory | None = None
) -> tuple[AvailabilityService, BookingService, PolicyService, MessageBus]:
    """Three services on one bus carrying the availability handlers, as a school wires
    them."""
    bus = MessageBus()
    subscribe(bus, new_id)
    desk = AvailabilityService(uow, clock=clock, bus=bus, new_id=new_id)
    slots = BookingService(uow, clock=clock, bus=bus, new_id=new_id)
    policy = policy_service(uow, clock, bus, new_id)
    return desk, slots, policy, bus


def policy_service(
    uow: UnitOfWorkFactory, clock: FixedClock, bus: MessageBus, new_id: IdFactory | None
) -> PolicyService:
    return PolicyService(uow, policy=CancellationPolicy(), clock=clock, new_id=new_id, bus=bus)


def lesson_rows(uow: UnitOfWorkFactory, tutor_id: str) -> list[Busy]:
    """Every lesson row of a tutor, by brute force (not through the index)."""
    with uow() as tx:
        rows = [
            Busy(
                start=from_micros(doc["start_us"]),
                end=from_micros(doc["end_us"]),
                slot_id=key,
                booking_id=doc["booking_id"],
            )
            for key, doc in tx.records.list(LESSONS)
            if doc["tutor_id"] == tutor_id
        ]
    return sorted(rows, key=lambda b: b.start)


def live_lessons(uow: UnitOfWorkFactory, tutor_id: str) -> list[tuple[datetime, datetime, str]]:
    """``(start, end, slot id)`` of the tutor's open slots; each must hold its student (a
    lesson slot whose seat was given up is cancelled, never left open for another)."""
    with uow() as tx:
        slots = [tx.slots.get(sid) for sid in tx.slots.ids_for_tutor(tutor_id)]
        found = [(s.start, s.end, s.id) for s in slots if s.status is SlotStatus.OPEN]
        assert all(s.seats_taken == 1 for s in slots if s.status is SlotStatus.OPEN)
    return sorted(found)
