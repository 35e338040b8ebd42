"""A loaded slot's row is written back with the columns that changed (issue #22): what
a command changed is stored, on every adapter, and nothing else is lost."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from eduengine import BookingService, FixedClock
from eduengine.booking.model import SlotStatus, WaitlistMode
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)


def test_each_changed_attribute_of_a_loaded_slot_is_stored(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + HOUR, 3, slot_id="s1")
    svc.book("s1", "ann")
    tokyo = ZoneInfo("Asia/Tokyo")
    with store.unit_of_work() as uow:
        slot = uow.slots.get("s1")
        # the same instants in another zone: equal datetimes, but the zone must stay
        slot.start = start.astimezone(tokyo)
        slot.end = (start + HOUR).astimezone(tokyo)
        slot.tutor_id = "tom"
        slot.capacity = 5
        slot.waitlist_mode = WaitlistMode.OFFER
        slot.offer_ttl = timedelta(minutes=30)
        slot.changed = True
        uow.commit()
    slot = svc.get_slot("s1", actor=SYSTEM)
    assert slot.start == start and slot.start.tzinfo == tokyo
    assert slot.end.tzinfo == tokyo
    assert (slot.tutor_id, slot.capacity, slot.seats_left) == ("tom", 5, 4)
    assert slot.waitlist_mode is WaitlistMode.OFFER
    assert slot.offer_ttl == timedelta(minutes=30)
    assert (slot.course_id, slot.status) == ("math", SlotStatus.OPEN)
    svc.book("s1", "bob")  # the version moved on with the write: the next one is accepted
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 3


def test_a_booking_leaves_the_rest_of_the_slot_as_it_was(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = (clock.now() + timedelta(days=1)).astimezone(ZoneInfo("Europe/Berlin"))
    created = svc.create_slot(
        "math", start, start + HOUR, 2, slot_id="s1", tutor_id="tom", opens_at=clock.now()
    )
    svc.book("s1", "ann")
    slot = svc.get_slot("s1", actor=SYSTEM)
    assert (slot.start, slot.start.tzinfo, slot.end, slot.opens_at) == (
        created.start, created.start.tzinfo, created.end, created.opens_at
    )  # fmt: skip
    assert (slot.tutor_id, slot.capacity, slot.seats_left) == ("tom", 2, 1)
