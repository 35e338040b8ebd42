"""Seat guards: the school's rules that may refuse a student a seat.

A seat guard is called as ``guard(uow, student_id, slot, now, seats)`` and returns the
error to raise, or ``None``; ``seats`` is 1 for a seat, 0 for a waitlist place. Guards
run on every path a seat is taken (see :mod:`eduengine.booking.handlers`), and commands
that seat many students at once (rush admission) ask :func:`seat_refusal` first, to skip
a refused student instead of failing everyone. The bus keeps them under ``"seat"``.

>>> from datetime import datetime, timezone
>>> from eduengine.errors import BookingRestricted
>>> from eduengine.service_layer.messagebus import MessageBus
>>> bus = MessageBus()
>>> def no_mallory(uow, student_id, slot, now, seats):
...     if student_id == "mallory":
...         return BookingRestricted(student_id, "too many no-shows")
...     return None
>>> add_seat_guard(bus, no_mallory)
>>> now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> seat_refusal(bus, None, "ann", None, now) is None
True
>>> seat_refusal(bus, None, "mallory", None, now).reason
'too many no-shows'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eduengine.booking.model import Slot
from eduengine.errors import EduEngineError
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["SEAT", "SeatGuard", "add_seat_guard", "seat_refusal"]

#: the name the bus files seat guards under
SEAT = "seat"

SeatGuard = Callable[[UnitOfWork, str, Slot, datetime, int], EduEngineError | None]
"""``(uow, student_id, slot, now, seats)`` -> the error to raise, or ``None``."""


def add_seat_guard(bus: MessageBus, guard: SeatGuard) -> None:
    """Run ``guard`` on every seat and waitlist place taken, after the guards already added."""
    bus.add_guard(SEAT, guard)


def seat_refusal(
    bus: MessageBus,
    uow: UnitOfWork,
    student_id: str,
    slot: Slot,
    now: datetime,
    *,
    seats: int = 1,
) -> EduEngineError | None:
    """The first seat guard's reason to refuse ``student_id`` a seat in ``slot``, or ``None``."""
    for guard in bus.guards_for(SEAT):
        refused = guard(uow, student_id, slot, now, seats)
        if refused is not None:
            return refused
    return None
