"""Price rules, coupons, quotes and checkout with exact money."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.errors import CouponRefused, EduEngineError, InvalidInput, PaymentFailed
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import (
    Conditions,
    Coupon,
    Customer,
    DiscountKind,
    Money,
    OrderLine,
    PriceRule,
    quote,
)
from eduengine.pricing.service import PricingService
from tests.adapters import StoreHandle
from tests.till import checkout

ANN = Customer(student_id="ann", tags=frozenset({"vip"}), level=3, first_purchase=True)


def cny(value: str) -> Money:
    return Money(value, "CNY")


def line(course: str, price: str) -> OrderLine:
    return OrderLine(course_id=course, price=cny(price))


def pct(value: str, **kw: object) -> PriceRule:
    return PriceRule(kind=DiscountKind.PERCENT, value=Decimal(value), **kw)  # type: ignore[arg-type]


def test_rules_stack_in_priority_order_and_explain_themselves() -> None:
    rules = [
        pct("10", id="vip", priority=2, conditions=Conditions(student_tags=frozenset({"vip"}))),
        PriceRule(id="summer", kind=DiscountKind.AMOUNT, value=cny("5"), priority=1),
        pct("50", id="level9", conditions=Conditions(min_level=9)),
    ]
    q = quote([line("py", "199.99")], ANN, rules=rules)
    # 199.99 - 20.00 (10 %, half-up) = 179.99; - 5 = 174.99; level 9 rule does not apply
    assert q.total == cny("174.99")
    assert [label for label, _ in q.lines[0].adjustments] == ["rule vip", "rule summer"]
    assert q.explain()[0] == "py: list price 199.99 CNY"


def test_an_exclusive_rule_stands_alone_and_a_fixed_price_caps() -> None:
    rules = [
        pct("10", id="a", priority=5),
        PriceRule(
            id="trial",
            kind=DiscountKind.FIXED_PRICE,
            value=cny("9.90"),
            exclusive=True,
            conditions=Conditions(first_purchase_only=True),
        ),
    ]
    q = quote([line("py", "199")], ANN, rules=rules)
    assert q.total == cny("9.90") and len(q.lines[0].adjustments) == 1


def test_discounts_never_go_below_zero_and_can_be_capped() -> None:
    big = PriceRule(id="big", kind=DiscountKind.AMOUNT, value=cny("500"))
    assert quote([line("py", "199")], ANN, rules=[big]).total == cny("0.00")
    coupon = Coupon(code="HALF", kind=DiscountKind.PERCENT, value=Decimal("50"))
    capped = quote(
        [line("py", "100"), line("go", "100")],
        ANN,
        rules=[pct("10", id="r")],
        coupons=[coupon],
        max_discount=cny("30"),
    )
    assert capped.discount == cny("30.00") and capped.total == cny("170.00")
    rules_only = quote(
        [line("py", "100"), line("go", "300")],
        ANN,
        rules=[pct("50", id="h")],
        max_discount=cny("100"),
    )
    assert rules_only.discount == cny("100.00") and rules_only.total == cny("300.00")
    assert sum((ln.total for ln in rules_only.lines), cny("0")) == rules_only.total


def test_an_order_discount_is_spread_in_whole_cents_with_the_remainder_last() -> None:
    coupon = Coupon(code="TEN", kind=DiscountKind.AMOUNT, value=cny("10"))
    q = quote([line("a", "33.33"), line("b", "33.33"), line("c", "33.34")], ANN, coupons=[coupon])
    shares = [adj[0][1] for adj in (ln.adjustments for ln in q.lines)]
    assert shares == [cny("3.33"), cny("3.33"), cny("3.34")]
    assert sum((ln.total for ln in q.lines), cny("0")) == q.total == cny("90.00")


@given(
    prices=st.lists(st.integers(1, 100_000), min_size=1, max_size=8),
    off=st.integers(0, 500_000),
    percent=st.integers(1, 100),
    use_percent=st.booleans(),
)
def test_lines_always_add_up_to_the_total_and_nothing_goes_negative(
    prices: list[int], off: int, percent: int, use_percent: bool
) -> None:
    lines = [
        OrderLine(course_id=f"c{i}", price=Money.from_minor(p, "CNY")) for i, p in enumerate(prices)
    ]
    coupon = (
        Coupon(code="X", kind=DiscountKind.PERCENT, value=Decimal(percent))
        if use_percent
        else Coupon(code="X", kind=DiscountKind.AMOUNT, value=Money.from_minor(off, "CNY"))
    )
    q = quote(lines, ANN, coupons=[coupon])
    assert sum(ln.total.minor_units for ln in q.lines) == q.total.minor_units
    assert all(ln.total.minor_units >= 0 for ln in q.lines)
    assert q.subtotal - q.discount == q.total


def test_coupon_windows_and_minimum_spend(clock: FixedClock) -> None:
    later = Coupon(
        code="SOON",
        kind=DiscountKind.PERCENT,
        value=Decimal("5"),
        valid_from=clock.now() + timedelta(days=1),
    )
    with pytest.raises(CouponRefused, match="valid from"):
        quote([line("py", "10")], ANN, coupons=[later], now=clock.now())
    big = Coupon(code="BIG", kind=DiscountKind.AMOUNT, value=cny("50"), min_spend=cny("300"))
    with pytest.raises(CouponRefused, match="minimum spend"):
        quote([line("py", "199")], ANN, coupons=[big])
    with pytest.raises(InvalidInput):
        Coupon(code="BAD", kind=DiscountKind.PERCENT, value=Decimal("150"))


def test_a_coupon_in_another_currency_is_refused_by_name() -> None:
    usd = [OrderLine(course_id="py", price=Money("199", "USD"))]
    fixed = Coupon(code="TEN", kind=DiscountKind.AMOUNT, value=cny("10"))
    with pytest.raises(CouponRefused, match=r"TEN.*in CNY, the order in USD"):
        quote(usd, ANN, coupons=[fixed])
    spend = Coupon(code="PCT", kind=DiscountKind.PERCENT, value=Decimal("5"), min_spend=cny("9"))
    with pytest.raises(CouponRefused, match=r"PCT.*in CNY, the order in USD"):
        quote(usd, ANN, coupons=[spend])
    # in the order's own currency both apply as ever
    assert quote([line("py", "199")], ANN, coupons=[fixed, spend]).coupons == ("TEN", "PCT")


@pytest.fixture
def shop(store: StoreHandle, clock: FixedClock) -> tuple[PricingService, FakePaymentGateway]:
    gateway = FakePaymentGateway()
    service = PricingService(
        store.unit_of_work, gateway=gateway, clock=clock, rules=[pct("10", id="all")]
    )
    service.add_coupon(
        Coupon(
            code="SPRING",
            kind=DiscountKind.AMOUNT,
            value=cny("20"),
            max_redemptions=5,
            max_per_student=1,
        )
    )
    return service, gateway


def test_checkout_charges_exactly_the_quoted_total(
    shop: tuple[PricingService, FakePaymentGateway],
) -> None:
    service, gateway = shop
    lines = [line("py", "199"), line("go", "99")]
    quoted = service.quote(ANN, lines, ["SPRING"])
    order = checkout(service, "o1", ANN, lines, coupons=["SPRING"], account="acct-ann")
    assert order.quote == quoted and order.status == "paid"
    assert gateway.charges["order:o1"].amount == quoted.total == cny("248.20")
    with pytest.raises(CouponRefused, match="already used"):
        checkout(service, "o2", ANN, lines, coupons=["SPRING"], account="acct-ann")
    service.cancel_order("o1")
    assert service.redemptions("SPRING") == 0, "a cancelled order releases its coupon"
    assert gateway.balance("acct-ann") == cny("0.00")


def test_a_failed_payment_releases_the_coupon(
    shop: tuple[PricingService, FakePaymentGateway],
) -> None:
    service, gateway = shop
    gateway.fail_next_charges(1)
    with pytest.raises(PaymentFailed):
        checkout(service, "o1", ANN, [line("py", "199")], coupons=["SPRING"], account="a")
    assert service.redemptions("SPRING") == 0
    checkout(service, "o2", ANN, [line("py", "199")], coupons=["SPRING"], account="a")
    assert service.redemptions("SPRING") == 1


def test_a_coupon_is_never_redeemed_beyond_its_limit_under_concurrency(
    store: StoreHandle,
    shop: tuple[PricingService, FakePaymentGateway],
) -> None:
    service, _ = shop
    won: list[str] = []
    gate = threading.Barrier(10)

    def buyer(n: int) -> None:
        gate.wait()
        try:
            checkout(
                service,
                f"o{n}",
                Customer(student_id=f"s{n}"),
                [line("py", "199")],
                coupons=["SPRING"],
                account=f"a{n}",
            )
            won.append(f"s{n}")
        except CouponRefused:
            pass
        except Exception as exc:  # anything else is a failure of the test, not a loss
            failed.append(exc)

    failed: list[Exception] = []
    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == []
    assert len(won) == 5 and service.redemptions("SPRING") == 5


def test_a_refused_checkout_changes_nothing(
    store: StoreHandle,
    shop: tuple[PricingService, FakePaymentGateway],
) -> None:
    service, _ = shop
    before = store.snapshot()
    attempts: list[Callable[[], object]] = [
        lambda: service.checkout("o1", ANN, [line("py", "1")], coupons=["NOPE"], account="a"),
        lambda: service.checkout("o1", ANN, [], account="a"),
        lambda: service.checkout(
            "o1",
            ANN,
            [line("py", "1"), OrderLine(course_id="x", price=Money("1", "USD"))],
            account="a",
        ),
        lambda: service.checkout(
            "o1", ANN, [line("py", "1")], coupons=["SPRING", "SPRING"], account="a"
        ),
    ]
    for bad in attempts:  # the caller's prices, deprecated: their input rules are the subject
        with pytest.raises(EduEngineError), pytest.warns(EduEngineDeprecationWarning):
            bad()
    assert store.snapshot() == before


def test_a_referred_students_first_checkout_rewards_the_referrer_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    from eduengine import InMemoryEventBus
    from eduengine.deals import DealService
    from eduengine.referrals import ReferralRewarded

    bus = InMemoryEventBus()
    gateway = FakePaymentGateway()
    DealService(store.unit_of_work, gateway=gateway, clock=clock).register_referral("ann", "bob")
    shop = PricingService(store.unit_of_work, gateway=gateway, clock=clock, publisher=bus)
    bob = Customer(student_id="bob")
    checkout(shop, "o1", bob, [line("py", "99")], account="acct-bob")
    checkout(shop, "o2", bob, [line("go", "99")], account="acct-bob")
    rewards = [e for e in bus.events if isinstance(e, ReferralRewarded)]
    assert [(e.referrer_id, e.referred_id) for e in rewards] == [("ann", "bob")]
