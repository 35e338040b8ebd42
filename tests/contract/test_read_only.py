"""A read-only unit of work reads everything and refuses every write, on every adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock
from eduengine.booking.model import Slot
from eduengine.booking.series import Series
from eduengine.errors import InvalidInput
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)


def _school(store: StoreHandle, clock: FixedClock) -> BookingService:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    svc.create_slot("math", start, start + HOUR, 2, slot_id="s1")
    svc.book("s1", "ann")
    with store.unit_of_work() as uow:
        uow.records.put("notes", "n1", {"text": "hello"})
        uow.commit()
    return svc


def _read_only(store: StoreHandle) -> UnitOfWork:
    uow = store.unit_of_work()
    uow.read_only = True
    return uow


def test_a_read_only_unit_of_work_sees_committed_state(
    store: StoreHandle, clock: FixedClock
) -> None:
    _school(store, clock)
    with _read_only(store) as uow:
        slot = uow.slots.get("s1")
        assert slot.holds_seat("ann") and slot.seats_left == 1
        assert [b.student_id for b in uow.bookings.for_student("ann")] == ["ann"]
        assert uow.records.get("notes", "n1") == {"text": "hello"}
        assert uow.slots.list_ids() == ["s1"]
        uow.commit()  # ends the transaction, writes nothing


def _add_slot(uow: UnitOfWork, clock: FixedClock) -> None:
    start = clock.now() + timedelta(days=2)
    uow.slots.add(
        Slot.create(slot_id="s2", course_id="art", start=start, end=start + HOUR, capacity=1)
    )


def _add_series(uow: UnitOfWork, clock: FixedClock) -> None:
    uow.series.add(
        Series(
            id="x1",
            course_id="art",
            rrule="FREQ=DAILY;COUNT=1",
            dtstart=clock.now() + timedelta(days=2),
            duration=HOUR,
            capacity=1,
        )
    )


def _put_record(uow: UnitOfWork, clock: FixedClock) -> None:
    uow.records.put("notes", "n2", {"text": "no"})


def _delete_record(uow: UnitOfWork, clock: FixedClock) -> None:
    uow.records.delete("notes", "n1")


def _commit_a_booking(uow: UnitOfWork, clock: FixedClock) -> None:
    uow.slots.get("s1").book("bob", now=clock.now(), new_id=lambda: "b-bob")
    uow.commit()


@pytest.mark.parametrize(
    ("write", "named"),
    [
        (_add_slot, "adding slot 's2'"),
        (_add_series, "adding series 'x1'"),
        (_put_record, "writing record notes/n2"),
        (_delete_record, "deleting record notes/n1"),
        (_commit_a_booking, "committing changed slot"),
    ],
    ids=["slots.add", "series.add", "records.put", "records.delete", "commit"],
)
def test_a_read_only_unit_of_work_refuses_each_write_naming_it_and_changes_nothing(
    store: StoreHandle,
    clock: FixedClock,
    write: Callable[[UnitOfWork, FixedClock], None],
    named: str,
) -> None:
    _school(store, clock)
    before = store.snapshot()
    with pytest.raises(InvalidInput, match=f"{named}.*read-only"), _read_only(store) as uow:
        write(uow, clock)
        uow.commit()
    assert store.snapshot() == before


def test_the_store_takes_writes_again_after_a_read_only_unit_of_work(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = _school(store, clock)
    with _read_only(store) as uow:
        uow.slots.get("s1")
    assert svc.book("s1", "bob").student_id == "bob"
    assert svc.get_slot("s1").seats_left == 0
