"""A valid but huge order is paid, and one bad payment intent never jams the others.

Before these fixes a 10^17 CNY checkout charged the student, then its confirmation was
refused (the analytics spend index overflowed 64 bits), and every later
``reconcile()`` raised the same error, so no lost answer was ever settled again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from eduengine import FixedClock, School
from eduengine.analytics import projection as pj
from eduengine.errors import InvalidMoney, PaymentOutcomeUnknown
from eduengine.payments import Charge, FakePaymentGateway, Fault
from eduengine.payments.intents import PaymentIntent
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.till import checkout

SETTLE = timedelta(minutes=15)
HUGE = Money(10**17, "CNY")
LARGEST = Money("9" * 26, "CNY")  # the most docs/pricing.md allows in CNY


@pytest.fixture
def school(store: StoreHandle) -> Iterator[tuple[School, FakePaymentGateway, FixedClock]]:
    clock = FixedClock(T0)
    gateway = FakePaymentGateway()
    school = School.build(store, clock=clock, gateway=gateway, reminders=None, risk_rules=())
    for student in ("ann", "bob"):
        school.students.register(student, name=student.title())
    yield school, gateway, clock


def _buy(school: School, order_id: str, student: str, price: Money) -> str:
    lines = [OrderLine(course_id="py", price=price)]
    order = checkout(
        school.pricing, order_id, Customer(student_id=student), lines, account=f"acct-{student}"
    )
    return order.status


@pytest.mark.parametrize("price", [HUGE, LARGEST], ids=["1e17", "26-digits"])
def test_a_valid_huge_order_is_paid_and_counted(
    school: tuple[School, FakePaymentGateway, FixedClock], price: Money
) -> None:
    s, gateway, _ = school
    assert _buy(s, "o1", "ann", price) == "paid"
    assert gateway.balance("acct-ann") == -price
    assert s.payments.count_open() == 0
    # the spend is filed in the top band, not refused
    rows = {r.key: r.students for r in s.analytics.segments() if r.dimension == "spend:CNY"}
    assert rows == {"0-500": 1, "500-2000": 0, "2000+": 1}
    huge_bands = s.analytics.segments(spend_bands=(0, 10**17))  # beyond what an index holds
    assert {r.key: r.students for r in huge_bands if r.dimension == "spend:CNY"} == {
        "0-100000000000000000": 1,
        "100000000000000000+": 1,
    }
    assert _buy(s, "o2", "bob", Money("10", "CNY")) == "paid"  # nothing is jammed


def test_an_amount_beyond_the_range_is_refused_before_anything_is_charged(
    school: tuple[School, FakePaymentGateway, FixedClock],
) -> None:
    s, gateway, _ = school
    lines = [OrderLine(course_id="py", price=LARGEST), OrderLine(course_id="go", price=LARGEST)]
    with pytest.raises(InvalidMoney):
        s.pricing.quote(Customer(student_id="ann"), lines)
    with pytest.raises(InvalidMoney):
        checkout(s.pricing, "o1", Customer(student_id="ann"), lines, account="acct-ann")
    assert not gateway.charges and gateway.balance("acct-ann") is None
    assert s.payments.count_open() == 0


def test_a_failing_counter_never_refuses_a_payment(
    school: tuple[School, FakePaymentGateway, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, _, _ = school

    def broken(*args: Any) -> None:
        raise ValueError("a counter bug")

    monkeypatch.setattr(pj, "_spend", broken)
    monkeypatch.setattr(pj, "_write_counter", broken)
    assert _buy(s, "o1", "ann", Money("99", "CNY")) == "paid"
    assert s.pricing.get_order("o1", actor=SYSTEM).status == "paid"
    assert s.payments.count_open() == 0


def test_one_intent_that_cannot_be_settled_never_blocks_the_rest(
    school: tuple[School, FakePaymentGateway, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, gateway, clock = school
    for order_id, student in (("o1", "ann"), ("o2", "bob")):
        gateway.script(Fault.TIMEOUT_AFTER)
        with pytest.raises(PaymentOutcomeUnknown):
            _buy(s, order_id, student, Money("99", "CNY"))
    confirm = s.pricing.payment_charged

    def jammed(intent: PaymentIntent, charge: Charge) -> None:
        if intent.key == "order:o1":
            raise RuntimeError("o1 cannot be confirmed")
        confirm(intent, charge)

    monkeypatch.setattr(s.pricing, "payment_charged", jammed)
    clock.advance(SETTLE + timedelta(seconds=1))
    done = s.payments.reconcile()
    assert done == 1 and done.failed == ("order:o1",)
    assert s.pricing.get_order("o2", actor=SYSTEM).status == "paid"
    assert (
        s.pricing.get_order("o1", actor=SYSTEM).status == "payment_unknown"
    )  # left for the next run
    monkeypatch.undo()
    again = s.payments.reconcile()
    assert again == 1 and again.failed == ()
    assert s.pricing.get_order("o1", actor=SYSTEM).status == "paid"
