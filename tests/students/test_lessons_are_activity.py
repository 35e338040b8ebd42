"""Booking and attending lessons is activity: a student who bought once and then comes to
a lesson every week is not churned for inactivity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import FixedClock, School
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from tests.adapters import StoreHandle
from tests.till import checkout

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_student_attending_every_week_for_ten_weeks_after_one_purchase_is_not_churned(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)

    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    school = School.build(Store(), clock=clock, gateway=FakePaymentGateway(), risk_rules=())
    school.students.register("ann", name="安")
    checkout(
        school.pricing,
        "o1",
        Customer(student_id="ann"),
        [OrderLine(course_id="math", price=Money("300", "CNY"))],
        account="acct-ann",
    )
    for week in range(10):
        start = T0 + timedelta(weeks=week, days=1)
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=4)
        seat = school.booking.book(slot.id, "ann")
        clock.set(start + timedelta(minutes=5))
        school.booking.mark_attended(seat.id)
        clock.set(T0 + timedelta(weeks=week + 1))
    assert clock.now() - T0 > timedelta(days=60)  # more than the churn window since the purchase
    _, stage = school.students.refresh_tags("ann")
    assert stage == "first_purchase"
    assert [s for s, _, _ in school.students.stage_history("ann", actor=SYSTEM)] == [
        "registered",
        "first_purchase",
    ]
    # and inactivity still churns: sixty-one days after the last lesson
    clock.set(T0 + timedelta(weeks=9, days=1, minutes=5) + timedelta(days=61))
    assert school.students.refresh_tags("ann")[1] == "churned"
