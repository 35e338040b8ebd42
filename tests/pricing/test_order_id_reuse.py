"""An order id is the checkout's idempotency key: the same request again returns the same
order, another request under the same key is refused and changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from eduengine import FixedClock
from eduengine.errors import IdempotencyKeyReused, InvalidInput
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Coupon, Customer, DiscountKind, Money, OrderLine
from eduengine.pricing.service import PricingService
from tests.adapters import StoreHandle
from tests.till import checkout, till

ANN = Customer(student_id="ann")
BOB = Customer(student_id="bob")


def line(course: str, price: str, currency: str = "CNY") -> OrderLine:
    return OrderLine(course_id=course, price=Money(price, currency))


@pytest.fixture
def shop(store: StoreHandle, clock: FixedClock) -> tuple[PricingService, FakePaymentGateway]:
    gateway = FakePaymentGateway()
    service = PricingService(store.unit_of_work, gateway=gateway, clock=clock)
    service.add_coupon(Coupon(code="TEN", kind=DiscountKind.AMOUNT, value=Money("10", "CNY")))
    return service, gateway


def test_the_same_checkout_again_returns_the_same_paid_order(
    shop: tuple[PricingService, FakePaymentGateway],
) -> None:
    service, gateway = shop
    lines = [line("py", "199"), line("go", "99")]
    first = checkout(service, "o1", ANN, lines, coupons=["TEN"], account="acct-ann")
    # the same coupon typed in another case is the same request
    again = checkout(service, "o1", ANN, lines, coupons=["ten"], account="acct-ann")
    assert again == first and again.status == "paid"
    assert gateway.balance("acct-ann") == Money("-288.00", "CNY")


@pytest.mark.parametrize(
    ("what", "customer", "lines", "coupons"),
    [
        ("other lines", ANN, [line("py", "199")], ["TEN"]),
        ("another price", ANN, [line("py", "199"), line("go", "9")], ["TEN"]),
        # no coupon: TEN takes CNY off, so a USD quote cannot hold it
        ("another currency", ANN, [line("py", "199", "USD"), line("go", "99", "USD")], []),
        ("another student", BOB, [line("py", "199"), line("go", "99")], ["TEN"]),
        ("no coupon", ANN, [line("py", "199"), line("go", "99")], []),
    ],
)
def test_an_order_id_reused_for_another_checkout_is_refused_and_charges_nothing(
    shop: tuple[PricingService, FakePaymentGateway],
    what: str,
    customer: Customer,
    lines: list[OrderLine],
    coupons: list[str],
) -> None:
    service, gateway = shop
    desk = till(service)
    other = desk.quote(customer, lines, coupons)  # quoted while the coupon is unused
    mine = desk.quote(ANN, [line("py", "199"), line("go", "99")], ["TEN"])
    first = desk.pay("o1", mine, "ann", account="acct-ann")
    with pytest.raises(IdempotencyKeyReused) as refused:
        desk.pay("o1", other, customer.student_id, account="acct-x")
    assert isinstance(refused.value, InvalidInput)
    assert (refused.value.code, refused.value.http_status) == ("idempotency_key_reused", 409)
    assert refused.value.order_id == "o1"
    assert service.get_order("o1", actor=SYSTEM) == first
    assert gateway.balance("acct-x") is None
    assert service.redemptions("TEN") == 1
    assert first.quote.total.amount == Decimal("288.00")
