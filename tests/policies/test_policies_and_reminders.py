"""Cancellation policy, violations, restrictions, reschedules and reminders, per adapter."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from eduengine import BookingService, BookingStatus, FixedClock, InMemoryEventBus, Slot
from eduengine.errors import (
    BookingRestricted,
    EduEngineError,
    InvalidInput,
    InvalidTimeRange,
    InvalidTransition,
    RescheduleRefused,
    SlotFull,
)
from eduengine.people import SYSTEM
from eduengine.policies import (
    BookingRescheduled,
    CancellationPolicy,
    PolicyService,
    StudentRestricted,
    ViolationKind,
    ViolationRecorded,
)
from eduengine.pricing import Money
from eduengine.reminders import Channel, Reminder, ReminderPlan, ReminderService
from eduengine.reminders import handlers as reminder_rules
from tests.adapters import StoreHandle

HOUR = timedelta(hours=1)
FEE = Money("30.00", "CNY")
POLICY = CancellationPolicy(
    free_until=timedelta(hours=24),
    late_fee=FEE,
    max_violations=2,
    period=timedelta(days=30),
    restrict_for=timedelta(days=7),
    max_reschedules=1,
)


class School:
    def __init__(self, store: StoreHandle, clock: FixedClock, policy: CancellationPolicy = POLICY):
        self.clock = clock
        self.bus = InMemoryEventBus()
        self.desk = PolicyService(
            store.unit_of_work, policy=policy, clock=clock, publisher=self.bus
        )
        # on the desk's bus: a seat booked here meets the policy's rules (restrictions,
        # reminders), as policies.book did before it was deprecated
        self.slots = BookingService(
            store.unit_of_work, clock=clock, publisher=self.bus, bus=self.desk.bus
        )
        # built alone, the service plans no reminders: the reminder rules go on its bus
        reminder_rules.subscribe(self.desk.bus, ReminderPlan())
        self.reminders = ReminderService(store.unit_of_work, clock=clock)

    def slot(self, in_hours: float, capacity: int = 5) -> Slot:
        start = self.clock.now() + timedelta(hours=in_hours)
        return self.slots.create_slot("math", start, start + HOUR, capacity)


@pytest.fixture
def school(store: StoreHandle, clock: FixedClock) -> School:
    return School(store, clock)


def test_a_cancellation_inside_the_free_window_costs_nothing(school: School) -> None:
    slot = school.slot(in_hours=48)
    outcome = school.desk.cancel(school.slots.book(slot.id, "ann").id)
    assert not outcome.late and outcome.fee is None
    assert outcome.booking.status is BookingStatus.CANCELLED
    assert school.desk.violations("ann", actor=SYSTEM) == []


def test_a_late_cancellation_is_a_violation_with_the_fee(school: School) -> None:
    slot = school.slot(in_hours=5)
    booking = school.slots.book(slot.id, "ann")
    outcome = school.desk.cancel(booking.id)
    assert outcome.late and outcome.fee == FEE
    [violation] = school.desk.violations("ann", actor=SYSTEM)
    assert violation.kind is ViolationKind.LATE_CANCELLATION
    assert violation.booking_id == booking.id and violation.fee == FEE
    recorded = [e for e in school.bus.events if isinstance(e, ViolationRecorded)]
    assert [(e.student_id, e.kind, e.fee) for e in recorded] == [("ann", "late_cancellation", FEE)]


def test_too_many_violations_restrict_booking_rights_for_a_while(school: School) -> None:
    first, second, later = school.slot(5), school.slot(6), school.slot(24 * 20)
    school.desk.cancel(school.slots.book(first.id, "ann").id)
    assert school.desk.restriction("ann", actor=SYSTEM) is None
    booking = school.slots.book(second.id, "ann")
    school.clock.set(second.start + timedelta(minutes=10))
    school.desk.mark_no_show(booking.id)
    restriction = school.desk.restriction("ann", actor=SYSTEM)
    assert restriction is not None
    assert restriction.until == school.clock.now() + timedelta(days=7)
    assert any(isinstance(e, StudentRestricted) for e in school.bus.events)
    with pytest.raises(BookingRestricted, match="ann"):
        school.slots.book(later.id, "ann")
    school.clock.advance(timedelta(days=7))
    assert school.slots.book(later.id, "ann").student_id == "ann"


def test_a_restriction_may_cap_open_bookings_instead(store: StoreHandle, clock: FixedClock) -> None:
    policy = CancellationPolicy(max_violations=1, max_open_bookings=1)
    school = School(store, clock, policy)
    a, b, c = school.slot(5), school.slot(48), school.slot(72)
    school.desk.cancel(school.slots.book(a.id, "ann").id)
    school.slots.book(b.id, "ann")
    with pytest.raises(BookingRestricted, match="at most 1"):
        school.slots.book(c.id, "ann")


def test_rescheduling_moves_the_seat_atomically(school: School) -> None:
    old, new = school.slot(48, capacity=1), school.slot(72, capacity=1)
    booking = school.slots.book(old.id, "ann")
    school.slots.join_waitlist(old.id, "bob")
    moved = school.desk.reschedule(booking.id, new.id)
    assert moved.slot_id == new.id and moved.student_id == "ann"
    assert school.slots.get_booking(booking.id, actor=SYSTEM).status is BookingStatus.CANCELLED
    assert school.slots.get_slot(old.id, actor=SYSTEM).holds_seat("bob"), (
        "the freed seat went to the waitlist"
    )
    assert [e.new_booking_id for e in school.bus.events if isinstance(e, BookingRescheduled)] == [
        moved.id
    ]
    assert school.desk.reschedules_of(moved.id) == 1


def test_rescheduling_into_a_full_slot_keeps_the_old_seat(
    store: StoreHandle, school: School
) -> None:
    old, full = school.slot(48), school.slot(72, capacity=1)
    booking = school.slots.book(old.id, "ann")
    school.slots.book(full.id, "bob")
    before = store.snapshot()
    with pytest.raises(SlotFull):
        school.desk.reschedule(booking.id, full.id)
    assert store.snapshot() == before


def test_rescheduling_is_limited_and_only_inside_the_free_window(school: School) -> None:
    a, b, c, soon = school.slot(48), school.slot(72), school.slot(96), school.slot(5)
    moved = school.desk.reschedule(school.slots.book(a.id, "ann").id, b.id)
    with pytest.raises(RescheduleRefused, match="limit"):
        school.desk.reschedule(moved.id, c.id)
    late = school.slots.book(soon.id, "bob")
    with pytest.raises(RescheduleRefused, match="free window"):
        school.desk.reschedule(late.id, c.id)


def test_reminders_are_due_once_each_at_their_time(school: School) -> None:
    slot = school.slot(in_hours=48)
    booking = school.slots.book(slot.id, "ann")
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == ["confirmation"]
    assert school.reminders.due_reminders(actor=SYSTEM) == []
    school.clock.set(slot.start - timedelta(days=1))
    [day_before] = school.reminders.due_reminders(actor=SYSTEM)
    assert day_before.kind == "before:1d" and day_before.booking_id == booking.id
    school.clock.set(slot.start - timedelta(minutes=15))
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == [
        "before:1h",
        "before:15m",
    ]
    assert school.reminders.due_reminders(actor=SYSTEM) == []


def test_a_reminder_is_never_sent_after_the_class_started(school: School) -> None:
    slot = school.slot(in_hours=48)
    booking = school.slots.book(slot.id, "ann")
    school.clock.set(slot.start + timedelta(minutes=1))  # the worker was down for two days
    assert school.reminders.due_reminders(actor=SYSTEM) == []
    assert school.reminders.pending(booking.id, actor=SYSTEM) == []


def test_cancelling_voids_and_rescheduling_moves_pending_reminders(school: School) -> None:
    a, b = school.slot(48), school.slot(96)
    first = school.slots.book(a.id, "ann")
    school.reminders.due_reminders(actor=SYSTEM)  # confirmations
    moved = school.desk.reschedule(first.id, b.id)
    assert school.reminders.pending(first.id, actor=SYSTEM) == []
    assert {r.start for r in school.reminders.pending(moved.id, actor=SYSTEM)} == {b.start}
    school.desk.cancel(moved.id)
    assert school.reminders.pending(moved.id, actor=SYSTEM) == []
    school.clock.set(b.start)
    assert school.reminders.due_reminders(actor=SYSTEM) == []


def test_a_reminder_uses_the_students_channel(school: School) -> None:
    school.reminders.set_channel("ann", "sms")
    slot = school.slot(in_hours=48)
    school.slots.book(slot.id, "ann")
    sent: list[Reminder] = []

    class Outbox:
        def send(self, reminder: Reminder) -> None:
            sent.append(reminder)

    assert school.reminders.send_due(Outbox()) == 1
    assert sent[0].channel is Channel.SMS
    with pytest.raises(InvalidInput):
        school.reminders.set_channel("ann", "pigeon")


def test_concurrent_workers_never_hand_out_a_reminder_twice(school: School) -> None:
    slots = [school.slot(in_hours=48) for _ in range(5)]
    for n in range(20):
        school.slots.book(slots[n % 5].id, f"s{n}")
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            got = school.reminders.due_reminders(actor=SYSTEM)
            with lock:
                taken.extend((r.booking_id, r.kind) for r in got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == len(set(taken)) == 20


def test_bad_policy_settings_and_bad_commands_are_typed_errors(
    store: StoreHandle, school: School
) -> None:
    with pytest.raises(InvalidTimeRange):
        CancellationPolicy(free_until=-HOUR)
    with pytest.raises(InvalidInput):
        CancellationPolicy(max_violations=-1)
    with pytest.raises(InvalidTimeRange):
        ReminderPlan(offsets=(timedelta(0),))
    slot = school.slot(48)
    booking = school.slots.book(slot.id, "ann")
    school.desk.cancel(booking.id)
    before = store.snapshot()
    for bad in (
        lambda: school.desk.cancel(booking.id),
        lambda: school.desk.reschedule(booking.id, slot.id),
        lambda: school.desk.mark_no_show("nope"),
        lambda: school.slots.book("nope", "ann"),
    ):
        with pytest.raises(EduEngineError):
            bad()
    assert store.snapshot() == before
    with pytest.raises(InvalidTransition):
        school.desk.cancel(booking.id)


def test_a_policy_service_built_alone_says_it_plans_no_reminders_any_more(
    store: StoreHandle, clock: FixedClock
) -> None:
    # reminders are notices, planned by the school's projections: the old keyword warns
    # rather than planning nothing in silence
    with pytest.warns(DeprecationWarning, match=r"reminders\.handlers\.subscribe"):
        PolicyService(store.unit_of_work, policy=POLICY, reminders=ReminderPlan(), clock=clock)
