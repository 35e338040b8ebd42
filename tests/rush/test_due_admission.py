"""admit_due reads only the queues that are due, through the "opens" index."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import micros
from eduengine.rush import RushService
from eduengine.rush.service import KIND, OPENS
from tests.adapters import StoreHandle
from tests.conftest import T0

WINDOW = timedelta(seconds=2)


def _queues(
    store: StoreHandle, opening_hours: list[int]
) -> tuple[FixedClock, RushService, list[str]]:
    clock = FixedClock(T0)
    slots = BookingService(store.unit_of_work, clock=clock)
    rush = RushService(store.unit_of_work, clock=clock)
    start = T0 + timedelta(days=2)
    ids = []
    for n, hours in enumerate(opening_hours):
        slot = slots.create_slot(
            "hot",
            start,
            start + timedelta(hours=1),
            1,
            slot_id=f"slot-{n:02d}",
            opens_at=T0 + timedelta(hours=hours),
        )
        rush.open_queue(slot.id, seed="s", window=WINDOW)
        rush.enter(slot.id, "ann")
        ids.append(slot.id)
    return clock, rush, ids


def _waiting(store: StoreHandle) -> list[tuple[str, int]]:
    with store.unit_of_work() as uow:
        return uow.records.scan(KIND, OPENS)


def test_a_queue_waits_in_the_index_until_it_is_admitted(store: StoreHandle) -> None:
    clock, rush, ids = _queues(store, [3, 1, 2])
    assert [key for key, _ in _waiting(store)] == [ids[1], ids[2], ids[0]]
    assert dict(_waiting(store))[ids[1]] == micros(T0 + timedelta(hours=1) + WINDOW)
    clock.set(T0 + timedelta(hours=2) + WINDOW)
    assert [r.slot_id for r in rush.admit_due()] == [ids[1], ids[2]]
    assert [key for key, _ in _waiting(store)] == [ids[0]], "admitted queues leave it"
    assert rush.admit_due() == []
    clock.set(T0 + timedelta(hours=3) + WINDOW)
    assert [r.slot_id for r in rush.admit_due()] == [ids[0]]
    assert _waiting(store) == []


def test_due_queues_are_admitted_in_batches_until_none_is_left(store: StoreHandle) -> None:
    clock, rush, ids = _queues(store, [1] * 12)
    clock.set(T0 + timedelta(hours=1) + WINDOW)
    admitted = rush.admit_due(batch=5)
    assert sorted(r.slot_id for r in admitted) == ids
    assert all(r.admitted == ("ann",) for r in admitted)
    assert _waiting(store) == []
    with pytest.raises(InvalidInput):
        rush.admit_due(batch=0)


def test_queues_opened_before_the_index_are_filed_by_a_reindex(store: StoreHandle) -> None:
    clock, rush, ids = _queues(store, [1, 2])
    clock.set(T0 + timedelta(hours=1) + WINDOW)
    rush.admit(ids[0])
    with store.unit_of_work() as uow:  # as they were stored before the index
        for slot_id in ids:
            doc = uow.records.get(KIND, slot_id)
            assert doc is not None
            uow.records.put(KIND, slot_id, doc)
        uow.commit()
    clock.set(T0 + timedelta(hours=2) + WINDOW)
    assert rush.admit_due() == []
    assert rush.reindex_queues() == 1
    assert [r.slot_id for r in rush.admit_due()] == [ids[1]]
