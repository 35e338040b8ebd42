"""A loaded slot's row is written back with the columns that changed (issue #22): what
a command changed is stored, on every adapter, and nothing else is lost."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from eduengine import BookingService, FixedClock
from eduengine.booking.model import SlotStatus, WaitlistMode
from eduengine.errors import AlreadyBooked
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


def test_a_seat_read_with_its_slot_still_refuses_a_second_booking_and_allows_one_after_a_cancel(
    store: StoreHandle, clock: FixedClock
) -> None:
    # the SQL adapters read whether the student holds a seat along with the slot's row
    # (issue #22): a held seat, a cancelled one and one taken in the same unit of work
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + HOUR, 3, slot_id="s1")
    first = svc.book("s1", "ann")
    with pytest.raises(AlreadyBooked):
        svc.book("s1", "ann")
    svc.cancel(first.id)
    again = svc.book("s1", "ann")
    assert again.id != first.id
    with pytest.raises(AlreadyBooked):
        svc.book("s1", "ann")
    with store.unit_of_work() as uow:
        get_for = getattr(uow.slots, "get_for_student", None)
        slot = uow.slots.get("s1") if get_for is None else get_for("s1", "bob")
        slot.book("bob", now=clock.now(), new_id=lambda: "b-bob")
        with pytest.raises(AlreadyBooked):
            slot.book("bob", now=clock.now(), new_id=lambda: "b-bob-2")
        assert slot.holds_seat("bob") and slot.holds_seat("ann")
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 2  # rolled back: bob's is gone
