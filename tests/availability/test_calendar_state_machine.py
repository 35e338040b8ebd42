"""Any sequence of 1-on-1 bookings and cancellations through any service: the tutor's
busy times always equal their live lessons, on every adapter.

The machine predicts each command's outcome from a plain model (working hours, buffers,
daily cap, who may cancel when) and asserts the service agrees, refusals included.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.errors import (
    BookingClosed,
    EduEngineError,
    InvalidTransition,
    RescheduleRefused,
    TimeNotAvailable,
)
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.availability.helpers import lesson_rows, live_lessons, school

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # London is on UTC until 29 March
SESSION, AFTER, CAP = timedelta(hours=1), timedelta(minutes=15), 2
PATHS = ["availability", "booking", "policy", "cancel_slot", "reschedule"]


@attrs.define
class Lesson:
    booking_id: str
    slot_id: str
    start: datetime
    live: bool = True

    @property
    def end(self) -> datetime:
        return self.start + SESSION


class CalendarMachine(RuleBasedStateMachine):
    adapter = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.handle: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(MONDAY - timedelta(days=1))
        self.desk, self.slots, self.policy, _ = school(self.handle.unit_of_work, self.clock)
        self.desk.set_schedule(
            TutorSchedule(
                tutor_id="lin",
                timezone="Europe/London",
                weekly={d: (TimeRange(time(9), time(13)),) for d in range(7)},
                session=SESSION,
                step=timedelta(minutes=30),
                buffer_after=AFTER,
                max_per_day=CAP,
            )
        )
        far = MONDAY + timedelta(days=20)
        self.group = self.slots.create_slot("maths", far, far + SESSION, capacity=500).id
        self.lessons: list[Lesson] = []
        self.students = 0

    def teardown(self) -> None:
        self.handle.close()

    # --- the model ----------------------------------------------------------------

    def predict_book(self, start: datetime) -> Exception | None:
        now = self.clock.now()
        hours_ok = time(9) <= start.time() and (start + SESSION).time() <= time(13)
        live = [x for x in self.lessons if x.live]
        clash = any(x.start < start + SESSION + AFTER and x.end + AFTER > start for x in live)
        capped = sum(x.start.date() == start.date() for x in live) >= CAP
        if start <= now or not hours_ok or clash or capped:
            return TimeNotAvailable("lin", [start])
        return None

    def predict_cancel(self, lesson: Lesson, path: str) -> Exception | None:
        now = self.clock.now()
        if not lesson.live:
            return (
                BookingClosed(lesson.slot_id, "")
                if path == "cancel_slot"
                else (InvalidTransition(""))
            )
        if path == "reschedule" and not self.policy.policy.is_free_cancellation(now, lesson.start):
            return RescheduleRefused(lesson.booking_id, "")
        if now >= lesson.start:
            return BookingClosed(lesson.slot_id, "")
        return None

    def expect(self, predicted: Exception | None, action: Callable[[], object]) -> bool:
        try:
            action()
        except EduEngineError as refused:
            assert predicted is not None, f"refused unexpectedly: {refused!r}"
            assert type(refused) is type(predicted), (refused, predicted)
            return False
        assert predicted is None, f"expected {predicted!r}, but it succeeded"
        return True

    # --- rules --------------------------------------------------------------------

    @rule(day=st.integers(0, 3), half_hours=st.integers(16, 27))
    def book(self, day: int, half_hours: int) -> None:
        start = MONDAY + timedelta(days=day, minutes=30 * half_hours)
        self.students += 1
        student = f"s{self.students}"  # one student per lesson: no AlreadyBooked moves
        booked: list[Lesson] = []

        def action() -> None:
            lesson = self.desk.book("lin", student, start)
            booked.append(Lesson(lesson.booking.id, lesson.slot_id, lesson.start))

        if self.expect(self.predict_book(start), action):
            self.lessons += booked

    @rule(data=st.data(), path=st.sampled_from(PATHS))
    def cancel(self, data: st.DataObject, path: str) -> None:
        if not self.lessons:
            return
        lesson = data.draw(st.sampled_from(self.lessons))
        actions: dict[str, Callable[[], object]] = {
            "availability": lambda: self.desk.cancel(lesson.booking_id),
            "booking": lambda: self.slots.cancel(lesson.booking_id),
            "policy": lambda: self.policy.cancel(lesson.booking_id),
            "cancel_slot": lambda: self.slots.cancel_slot(lesson.slot_id),
            "reschedule": lambda: self.policy.reschedule(lesson.booking_id, self.group),
        }
        if self.expect(self.predict_cancel(lesson, path), actions[path]):
            lesson.live = False

    @rule(hours=st.integers(1, 20))
    def time_passes(self, hours: int) -> None:
        if self.clock.now() < MONDAY + timedelta(days=4):
            self.clock.advance(timedelta(hours=hours))

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def the_tutors_busy_times_equal_their_live_lessons(self) -> None:
        uow = self.handle.unit_of_work
        model = sorted((x.start, x.end, x.slot_id) for x in self.lessons if x.live)
        rows = [(b.start, b.end, b.slot_id) for b in lesson_rows(uow, "lin")]
        assert rows == model
        assert live_lessons(uow, "lin") == model
        indexed = self.desk.booked_times(
            "lin", MONDAY - timedelta(days=7), MONDAY + timedelta(days=30)
        )
        assert [(b.start, b.end, b.slot_id) for b in indexed] == model


def _machine_for(adapter: str) -> type[CalendarMachine]:
    return type(f"CalendarMachine_{adapter}", (CalendarMachine,), {"adapter": adapter})


for _adapter in ADAPTERS:
    globals()[f"TestCalendarMachine_{_adapter}"] = _machine_for(_adapter).TestCase
