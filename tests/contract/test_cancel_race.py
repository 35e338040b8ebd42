"""Two requests cancelling one booking at once: one wins, the other gets the same refusal
as a second cancel made after the first."""

from __future__ import annotations

import threading
from datetime import timedelta

from eduengine import BookingService, FixedClock
from eduengine.errors import EduEngineError, InvalidTransition
from tests.adapters import StoreHandle

ROUNDS = 5


def test_the_loser_of_two_concurrent_cancels_is_told_the_booking_is_already_cancelled(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=1)
    slot = svc.create_slot("race", start, start + timedelta(hours=1), ROUNDS)
    lock = threading.Lock()
    for n in range(ROUNDS):
        booking = svc.book(slot.id, f"s{n}")
        gate = threading.Barrier(2)
        outcomes: list[str] = []

        def cancel(
            booking_id: str = booking.id,
            gate: threading.Barrier = gate,
            outcomes: list[str] = outcomes,
        ) -> None:
            gate.wait()
            try:
                svc.cancel(booking_id)
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
            svc.cancel(booking.id)
            sequential = "cancelled"
        except InvalidTransition as refused:
            sequential = f"{type(refused).__name__}: {refused}"
        assert sorted(outcomes) == sorted(["cancelled", sequential])
    assert svc.get_slot(slot.id).seats_left == ROUNDS
