"""A school week across modules, predicted then asserted, on every adapter.

Students book through three services (timetable, policy desk, lesson credits), join
waitlists, cancel early and late, miss classes and watch slots being cancelled while the
clock moves. A plain model predicts every outcome, including each refusal, and after
every step the invariants of one school flow are checked:

- no restricted student gains a seat (a waitlist skips them);
- every live future seat has exactly its plan's reminders pending, a freed one none;
- credits balance: each seat spent at most one, returned or forfeited as the policy says;
- violations are exactly the late cancellations and no-shows;
- every lifecycle stage change is explained by a purchase or by (in)activity.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from eduengine import FixedClock, School
from eduengine.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingClosed,
    BookingRestricted,
    EduEngineError,
    InvalidTransition,
    NoCredit,
    SeatsAvailable,
    SlotFull,
)
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.reminders import ReminderPlan
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

STUDENTS = ["ann", "bob", "cat", "dan"]
CREDITS = 3
POLICY = CancellationPolicy(
    free_until=timedelta(hours=24),
    max_violations=1,  # restricted after one violation: the machine meets it often
    period=timedelta(days=30),
    restrict_for=timedelta(days=7),
)
PLAN = ReminderPlan()


@dataclass
class Seat:
    booking_id: str
    booked_at: datetime
    credit: bool


@dataclass
class ModelSlot:
    capacity: int
    start: datetime
    cancelled: bool = False
    seats: dict[str, Seat] = field(default_factory=dict)
    waitlist: list[str] = field(default_factory=list)
    #: seats marked no-show (they keep the seat; it can no longer be cancelled)
    marked: set[str] = field(default_factory=set)


class SchoolWeek(RuleBasedStateMachine):
    adapter = "memory"
    slots = Bundle("slots")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.handle: StoreHandle = make_store(self.adapter, Path(self.tmp.name))
        self.clock = FixedClock(T0)

        class Store:
            unit_of_work = staticmethod(self.handle.unit_of_work)

        self.school = School.build(Store(), clock=self.clock, policy=POLICY, reminders=PLAN)
        self.model: dict[str, ModelSlot] = {}
        self.violations: dict[str, list[datetime]] = {s: [] for s in STUDENTS}
        self.credits: dict[str, int] = dict.fromkeys(STUDENTS, CREDITS)
        self.freed: list[str] = []  # booking ids of seats released

    def teardown(self) -> None:
        self.handle.close()
        self.tmp.cleanup()

    @initialize(target=slots)
    def open_the_week(self) -> MultipleResults[str]:
        """Students with course credits, and a class soon, tomorrow and in three days
        (so every rule is enabled from the first step)."""
        self.enrol_students()
        return multiple(*(self.new_slot(hours, 2) for hours in (3, 30, 80)))

    def enrol_students(self) -> None:
        for student in STUDENTS:
            self.school.students.register(student, name=student.title())
            self.school.students.buy_package(
                student,
                credits=CREDITS,
                valid_for=timedelta(days=90),
                activate=True,
                course_id="math",
            )

    # --- the model's rules ----------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def restricted(self, student: str) -> bool:
        now = self.now()
        recent = [v for v in self.violations[student] if now - POLICY.period < v <= now]
        return len(recent) >= 1 and max(recent) + timedelta(days=7) > now

    def seat(self, slot: ModelSlot, student: str, booking_id: str) -> None:
        credit = self.credits[student] > 0
        if credit:
            self.credits[student] -= 1
        slot.seats[student] = Seat(booking_id, self.now(), credit)

    def release(self, slot: ModelSlot, student: str, *, late: bool) -> None:
        seat = slot.seats.pop(student)
        self.freed.append(seat.booking_id)
        if seat.credit and not late:
            self.credits[student] += 1
        if late:
            self.violations[student].append(self.now())

    def refill(self, slot_id: str) -> None:
        slot = self.model[slot_id]
        if slot.cancelled or self.now() >= slot.start:
            return
        real = self.school.booking.get_slot(slot_id, actor=SYSTEM)
        while slot.waitlist and len(slot.seats) < slot.capacity:
            student = slot.waitlist.pop(0)
            if self.restricted(student):
                continue  # withdrawn: the seat goes to the next student
            self.seat(slot, student, real.bookings[student].id)

    def expect(self, predicted: type[EduEngineError] | None, act: object) -> object:
        assert callable(act)
        try:
            result = act()
        except EduEngineError as exc:
            assert predicted is not None and isinstance(exc, predicted), (predicted, exc)
            return None
        assert predicted is None, f"expected {predicted.__name__}, the command succeeded"
        return result

    # --- rules ----------------------------------------------------------------------

    @rule(
        target=slots,
        hours=st.sampled_from([3, 30, 80]),
        capacity=st.integers(min_value=1, max_value=3),
    )
    def create_slot(self, hours: int, capacity: int) -> str:
        return self.new_slot(hours, capacity)

    def new_slot(self, hours: int, capacity: int) -> str:
        start = self.now() + timedelta(hours=hours)
        made = self.school.booking.create_slot("math", start, start + timedelta(hours=1), capacity)
        self.model[made.id] = ModelSlot(capacity=capacity, start=start)
        return made.id

    @rule(
        slot_id=slots,
        student=st.sampled_from(STUDENTS),
        via=st.sampled_from(["booking", "school", "credit"]),
    )
    def book(self, slot_id: str, student: str, via: str) -> None:
        slot = self.model[slot_id]
        predicted: type[EduEngineError] | None = None
        if via == "credit" and self.credits[student] == 0:
            predicted = NoCredit
        elif slot.cancelled or self.now() >= slot.start:
            predicted = BookingClosed
        elif student in slot.seats:
            predicted = AlreadyBooked
        elif len(slot.seats) >= slot.capacity:
            predicted = SlotFull
        elif self.restricted(student):
            predicted = BookingRestricted
        s = self.school
        act = {
            "booking": lambda: s.booking.book(slot_id, student),
            "school": lambda: s.book(slot_id, student),
            "credit": lambda: s.book(slot_id, student, require_credit=True),
        }[via]
        booked = self.expect(predicted, act)
        if booked is not None:
            if student in slot.waitlist:
                slot.waitlist.remove(student)
            self.seat(slot, student, booked.id)  # type: ignore[attr-defined]

    @rule(slot_id=slots, student=st.sampled_from(STUDENTS))
    def join_waitlist(self, slot_id: str, student: str) -> None:
        slot = self.model[slot_id]
        predicted: type[EduEngineError] | None = None
        if slot.cancelled or self.now() >= slot.start:
            predicted = BookingClosed
        elif student in slot.seats:
            predicted = AlreadyBooked
        elif student in slot.waitlist:
            predicted = AlreadyWaiting
        elif len(slot.seats) < slot.capacity:
            predicted = SeatsAvailable
        elif self.restricted(student):
            predicted = BookingRestricted
        if self.expect(predicted, lambda: self.school.booking.join_waitlist(slot_id, student)):
            slot.waitlist.append(student)

    @rule(
        slot_id=slots,
        pick=st.integers(min_value=0, max_value=3),
        via=st.sampled_from(["booking", "policies", "credit"]),
    )
    def cancel(self, slot_id: str, pick: int, via: str) -> None:
        slot = self.model[slot_id]
        if not slot.seats:
            return
        student = sorted(slot.seats)[pick % len(slot.seats)]
        seat = slot.seats[student]
        predicted: type[EduEngineError] | None = None
        if student in slot.marked or (via == "credit" and not seat.credit):
            predicted = InvalidTransition
        elif self.now() >= slot.start:
            predicted = BookingClosed
        s = self.school
        act = {
            "booking": lambda: s.booking.cancel(seat.booking_id),
            "policies": lambda: s.policies.cancel(seat.booking_id),
            "credit": lambda: s.cancel(seat.booking_id),
        }[via]
        if self.expect(predicted, act) is not None:
            late = not POLICY.is_free_cancellation(self.now(), slot.start)
            self.release(slot, student, late=late)
            self.refill(slot_id)

    @rule(slot_id=slots, pick=st.integers(min_value=0, max_value=3))
    def miss_class(self, slot_id: str, pick: int) -> None:
        slot = self.model[slot_id]
        live = sorted(s for s in slot.seats if s not in slot.marked)
        if not live or self.now() < slot.start:
            return
        student = live[pick % len(live)]
        self.school.booking.mark_no_show(slot.seats[student].booking_id)
        slot.marked.add(student)
        self.violations[student].append(self.now())
        # a no-show keeps its seat (and forfeits its credit: it stays spent)

    @rule(slot_id=slots)
    def cancel_slot(self, slot_id: str) -> None:
        slot = self.model[slot_id]
        predicted = BookingClosed if slot.cancelled or self.now() >= slot.start else None
        if self.expect(predicted, lambda: self.school.booking.cancel_slot(slot_id)) is not None:
            for student in sorted(slot.seats):
                self.release(slot, student, late=False)
            slot.waitlist.clear()
            slot.cancelled = True

    @rule(hours=st.sampled_from([1, 6, 24]))
    def advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def seats_and_waitlists_match_the_model(self) -> None:
        for slot_id, slot in self.model.items():
            real = self.school.booking.get_slot(slot_id, actor=SYSTEM)
            assert {s: b.id for s, b in real.bookings.items()} == {
                s: seat.booking_id for s, seat in slot.seats.items()
            }
            assert [e.student_id for e in real.waitlist] == slot.waitlist
            assert real.seats_taken <= real.capacity

    @invariant()
    def live_future_seats_have_their_reminders_and_freed_ones_none(self) -> None:
        now = self.now()
        for slot in self.model.values():
            if now >= slot.start:
                continue
            for seat in slot.seats.values():
                planned = [k for k, _ in PLAN.schedule(booked_at=seat.booked_at, start=slot.start)]
                pending = [
                    r.kind for r in self.school.reminders.pending(seat.booking_id, actor=SYSTEM)
                ]
                assert pending == planned
        for booking_id in self.freed:
            assert self.school.reminders.pending(booking_id, actor=SYSTEM) == []

    @invariant()
    def credits_and_violations_balance(self) -> None:
        for student in STUDENTS:
            [package] = self.school.students.packages_of(student, actor=SYSTEM)
            assert package.credits_left == self.credits[student], student
            real = self.school.policies.violations(student, actor=SYSTEM)
            assert sorted(v.at for v in real) == sorted(self.violations[student]), student

    @invariant()
    def every_stage_change_is_explained(self) -> None:
        for student in STUDENTS:
            history = self.school.students.stage_history(student, actor=SYSTEM)
            assert history[0][0] == "registered"
            for _stage, _at, reason in history[1:]:
                assert reason.startswith("purchase ") or reason in ("activity", "inactivity")


def _machine_for(adapter: str) -> type[SchoolWeek]:
    return type(f"SchoolWeek_{adapter}", (SchoolWeek,), {"adapter": adapter})


def _case_for(adapter: str) -> type:
    case = _machine_for(adapter).TestCase
    # every step checks every invariant over a dozen queries: on a server a quarter of
    # the examples keeps the default run short (HYPOTHESIS_PROFILE=deep runs them all)
    examples = case.settings.max_examples
    if adapter == "postgres" and examples <= 100:
        examples = max(10, examples // 4)
    case.settings = settings(case.settings, stateful_step_count=25, max_examples=examples)
    return case


for _adapter in ADAPTERS:
    globals()[f"TestSchoolWeek_{_adapter}"] = _case_for(_adapter)
