"""Two requests cancelling one booking at once: one wins, the other gets the same refusal
as a second cancel made after the first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import time, timedelta

from eduengine import BookingService, FixedClock, School
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.errors import EduEngineError, InvalidTransition
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle

ROUNDS = 5


def test_the_loser_of_two_concurrent_cancels_is_told_the_booking_is_already_cancelled(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("race", start, start + timedelta(hours=1), ROUNDS)
    bookings = [svc.book(slot.id, f"s{n}").id for n in range(ROUNDS)]
    _race_each(bookings, svc.cancel)
    assert svc.get_slot(slot.id, actor=SYSTEM).seats_left == ROUNDS


def test_the_loser_of_two_concurrent_cancels_of_a_lesson_is_told_it_is_already_cancelled(
    store: StoreHandle, clock: FixedClock
) -> None:
    # the 1-on-1 cancel read the booking before locking its slot, like the booking
    # service did: a racing cancel could commit in between
    school = School.build(store, clock=clock)
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="UTC",
            weekly={d: (TimeRange(time(9), time(17)),) for d in range(7)},
        )
    )
    window = (clock.now() + timedelta(days=1), clock.now() + timedelta(days=3))
    lessons = []
    for n in range(ROUNDS):
        first_open = school.availability.open_times("lin", *window)[0]
        lessons.append(school.availability.book("lin", f"s{n}", first_open).booking.id)
    _race_each(lessons, school.availability.cancel)


def _race_each(booking_ids: list[str], cancel_one: Callable[[str], object]) -> None:
    """Cancel each booking from two threads at once; compare with a third, later cancel."""
    lock = threading.Lock()
    for booking_id in booking_ids:
        gate = threading.Barrier(2)
        outcomes: list[str] = []

        def cancel(
            booking_id: str = booking_id,
            gate: threading.Barrier = gate,
            outcomes: list[str] = outcomes,
        ) -> None:
            gate.wait()
            try:
                cancel_one(booking_id)
                outcome = "cancelled"
            except EduEngineError as refused:
                outcome = f"{type(refused).__name__}: {refused}"
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=cancel) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            cancel_one(booking_id)
            sequential = "cancelled"
        except InvalidTransition as refused:
            sequential = f"{type(refused).__name__}: {refused}"
        assert sorted(outcomes) == sorted(["cancelled", sequential])
