"""A stampede on a full slot is refused from a snapshot, without waiting for writers."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import SlotFull
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0


def test_a_slot_seen_full_is_refused_again_and_booked_again_once_a_seat_frees(
    store: StoreHandle,
) -> None:
    svc = BookingService(store.unit_of_work, clock=FixedClock(T0))
    slot = svc.create_slot("math", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), 1)
    seat = svc.book(slot.id, "ann")
    for student in ("bob", "cat"):  # the first refusal teaches the service; the next reads
        with pytest.raises(SlotFull):
            svc.book(slot.id, student)
    svc.cancel(seat.id)
    assert svc.book(slot.id, "bob").student_id == "bob"  # the hint never hides a free seat
    assert svc.get_slot(slot.id, actor=SYSTEM).seats_taken == 1


def test_a_refusal_of_a_full_slot_does_not_wait_for_the_sqlite_write_lock(tmp_path: object) -> None:
    path = f"{tmp_path}/school.sqlite3"
    store = SqliteStore(path, lock_timeout=0.2)
    store.migrate()
    svc = BookingService(store.unit_of_work, clock=FixedClock(T0))
    slot = svc.create_slot("math", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), 1)
    svc.book(slot.id, "ann")
    with pytest.raises(SlotFull):
        svc.book(slot.id, "bob")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is in the middle of a write
    try:
        with pytest.raises(SlotFull):  # not LockTimeout: read from the snapshot
            svc.book(slot.id, "cat")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()
