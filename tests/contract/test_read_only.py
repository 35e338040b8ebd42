"""A read-only unit of work reads everything and refuses every write, on every adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock
from eduengine.booking.model import Slot
from eduengine.booking.series import Series
from eduengine.errors import InvalidInput
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork, open_read_only
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
    uow: UnitOfWork = store.store.unit_of_work(read_only=True)
    return uow


def test_a_query_is_opened_with_read_only_true(store: StoreHandle, clock: FixedClock) -> None:
    _school(store, clock)
    with store.store.unit_of_work(read_only=True) as uow:
        assert uow.read_only and uow.slots.get("s1").seats_left == 1
        with pytest.raises(InvalidInput, match="read-only"):
            uow.records.put("notes", "n2", {"text": "no"})
    # a host's own factory without the parameter: the flag, the old way
    with pytest.deprecated_call(), open_read_only(lambda: store.unit_of_work()) as uow:
        assert uow.read_only
    assert store.unit_of_work().read_only is False


def test_the_flag_set_the_old_way_works_with_a_deprecation_warning(
    store: StoreHandle, clock: FixedClock
) -> None:
    _school(store, clock)
    uow = store.unit_of_work()
    with pytest.deprecated_call(match=r"unit_of_work\(read_only=True\)"):
        uow.read_only = True
    with uow, pytest.raises(InvalidInput):
        uow.records.put("notes", "n2", {"text": "no"})


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
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 0
