"""Pricing input is checked when it is built: every bad input of issue 11 is a typed error
and, where a store is involved, leaves the store exactly as it was (on every adapter)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.deals import DealService, GroupDealCampaign
from eduengine.errors import (
    CouponRefused,
    DuplicateCouponCode,
    DuplicateId,
    EduEngineError,
    InvalidInput,
    InvalidMoney,
    InvalidTimeRange,
    NaiveDatetime,
)
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.money import MAX_DIGITS, MINOR_UNITS
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
from eduengine.pricing.coupons import COUPONS
from eduengine.pricing.orders import ORDERS, Order
from eduengine.pricing.rules import canonical_code
from eduengine.pricing.service import PricingService
from tests.adapters import StoreHandle
from tests.till import checkout

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NAIVE = datetime(2026, 3, 1, 9, 0)
LATER = T + timedelta(days=30)
LINES = [OrderLine(course_id="py", price=Money("199", "CNY"))]
BIG = "9" * (MAX_DIGITS - 2)  # the largest whole CNY amount that fits


def spring(code: str = "SPRING", **kw: Any) -> Coupon:
    return Coupon(code=code, kind=DiscountKind.AMOUNT, value=Money("20", "CNY"), **kw)


def campaign(**kw: Any) -> GroupDealCampaign:
    fields: dict[str, Any] = {
        "id": "spring",
        "course_id": "py",
        "list_price": Money("199", "CNY"),
        "group_price": Money("99", "CNY"),
        "required_size": 2,
        "starts_at": T,
        "ends_at": LATER,
    }
    return GroupDealCampaign(**{**fields, **kw})


# --- currencies ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AED", "BRL", "MXN", "SAR", "ZAR", "TRY", "PLN", "SEK"])
def test_current_iso_4217_currencies_are_known_with_two_digits(code: str) -> None:
    assert Money("10.005", code).amount == Decimal("10.01")


def test_minor_units_come_from_the_shipped_iso_4217_table() -> None:
    table = [("JPY", 0, "1000.5", 1001), ("KWD", 3, "1.0015", 1002), ("BHD", 3, "1.0014", 1001)]
    for code, digits, amount, units in [*table, ("CLF", 4, "1.00015", 10002)]:
        assert MINOR_UNITS[code] == digits
        assert Money(amount, code).minor_units == units

    # no currency, testing, gold, SDR, a market code and lower case stay out
    unknown: list[object] = ["XXX", "XTS", "XAU", "XDR", "CNH", "cny", 5]
    for bad in unknown:
        with pytest.raises(InvalidMoney, match="unknown ISO 4217"):
            Money("1", bad)  # type: ignore[arg-type]
    # withdrawn ones are named as such
    for withdrawn in ["HRK", "VEF", "BGN", "SLL"]:
        with pytest.raises(InvalidMoney, match=f"{withdrawn} was withdrawn on 20"):
            Money("1", withdrawn)


def test_iso_4217_digits_where_cldr_differs_are_the_shipped_ones() -> None:
    # ISO 4217 is what payment providers count minor units in; CLDR (babel) gave 0 for
    # these "digits used in practice" and babel 2.19 moved COP, HUF, IDR the same way
    assert {code: MINOR_UNITS[code] for code in ["COP", "HUF", "IDR", "RSD", "IRR", "LAK"]} == (
        dict.fromkeys(["COP", "HUF", "IDR", "RSD", "IRR", "LAK"], 2)
    )
    assert MINOR_UNITS["IQD"] == 3
    assert Money("15000.505", "IDR").amount == Decimal("15000.51")


# --- amounts out of range: InvalidMoney, never a raw decimal or type error ----------------

OUT_OF_RANGE: list[tuple[str, Callable[[], object]]] = [
    ("30 digits", lambda: Money("1" * 30, "CNY")),
    ("27 whole digits", lambda: Money("1" + "0" * 26, "CNY")),
    ("rounds up past the range", lambda: Money(BIG + ".995", "CNY")),
    ("huge exponent", lambda: Money("1e999999999", "CNY")),
    ("huge Decimal", lambda: Money(Decimal("1E+40"), "USD")),
    ("huge int", lambda: Money(10**40, "JPY")),
    ("sum leaves the range", lambda: Money(BIG, "CNY") + Money(BIG, "CNY")),
    ("difference leaves it", lambda: Money(BIG, "CNY") - Money("-" + BIG, "CNY")),
    ("product leaves it", lambda: Money(BIG, "CNY") * 10),
    ("product overflows", lambda: Money("1", "CNY") * Decimal("1E+999999")),
    ("minor units", lambda: Money.from_minor(10**40, "CNY")),
    ("float minor units", lambda: Money.from_minor(1.5, "CNY")),  # type: ignore[arg-type]
    ("text ratio", lambda: Money("1", "CNY").allocate(["1"])),  # type: ignore[list-item]
    ("NaN ratio", lambda: Money("1", "CNY").allocate([Decimal("NaN")])),
    ("text parts", lambda: Money("1", "CNY").split("3")),  # type: ignore[arg-type]
    ("NaN percent", lambda: Money("1", "CNY").percent(Decimal("NaN"))),
]


@pytest.mark.parametrize(("why", "bad"), OUT_OF_RANGE, ids=[w for w, _ in OUT_OF_RANGE])
def test_amounts_out_of_range_are_invalid_money(why: str, bad: Callable[[], object]) -> None:
    with pytest.raises(InvalidMoney) as refused:
        bad()
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, EduEngineError)
    assert not isinstance(refused.value, InvalidOperation)


def test_the_range_is_28_significant_digits_at_the_minor_unit() -> None:
    top = Money(BIG + ".99", "CNY")
    assert Money.from_record(top.to_record()) == top and top - top == Money.zero("CNY")
    assert Money("9" * MAX_DIGITS, "JPY").minor_units == 10**MAX_DIGITS - 1
    for too_big in [(BIG + "9", "CNY"), ("1" + "0" * MAX_DIGITS, "JPY"), (BIG, "KWD")]:
        with pytest.raises(InvalidMoney, match="out of range"):
            Money(*too_big)


def _money_or_refused(compute: Callable[[], object]) -> None:
    try:
        result = compute()
    except InvalidMoney:
        return
    parts = result if isinstance(result, list) else [result]
    assert parts and all(isinstance(p, Money) for p in parts)


@given(
    amount=st.decimals() | st.integers() | st.text(max_size=40),
    factor=st.decimals() | st.integers(),
)
def test_any_amount_either_is_money_or_is_invalid_money(amount: Any, factor: Any) -> None:
    _money_or_refused(lambda: Money(amount, "KWD"))
    try:
        price = Money(amount, "KWD")
    except InvalidMoney:
        return
    _money_or_refused(lambda: price * factor)
    _money_or_refused(lambda: price + price + price)
    _money_or_refused(lambda: price - price * 3)
    _money_or_refused(lambda: price.split(7))
    _money_or_refused(lambda: price.allocate([factor, 1]))
    _money_or_refused(lambda: price.percent(Decimal(factor)))


# --- allocation mirrors for negative amounts -----------------------------------------


def test_a_refund_splits_as_the_mirror_of_the_charge() -> None:
    assert [str(p) for p in Money("-100.00", "CNY").split(3)] == [
        "-33.34 CNY",
        "-33.33 CNY",
        "-33.33 CNY",
    ]


@given(
    units=st.integers(0, 10**15),
    ratios=st.lists(st.integers(0, 1000) | st.decimals(0, 1000, places=3), min_size=1).filter(
        lambda rs: any(rs)
    ),
    currency=st.sampled_from(["CNY", "JPY", "KWD", "CLF"]),
)
def test_the_split_of_a_refund_is_the_refund_of_the_split(
    units: int, ratios: list[int | Decimal], currency: str
) -> None:
    charge = Money.from_minor(units, currency)
    refund_parts = (-charge).allocate(ratios)
    assert refund_parts == [-part for part in charge.allocate(ratios)]
    assert sum(p.minor_units for p in refund_parts) == -units


# --- naive datetimes, negative prices, bad values: refused when built ------------------

BAD_INPUT: list[tuple[str, type[Exception], Callable[[], object]]] = [
    ("coupon valid_from", NaiveDatetime, lambda: spring(valid_from=NAIVE)),
    ("coupon valid_until", NaiveDatetime, lambda: spring(valid_until=NAIVE)),
    ("coupon window empty", InvalidTimeRange, lambda: spring(valid_from=T, valid_until=T)),
    ("coupon min_spend < 0", InvalidMoney, lambda: spring(min_spend=Money("-1", "CNY"))),
    ("coupon limit text", InvalidInput, lambda: spring(max_redemptions="5")),
    ("coupon per-student < 0", InvalidInput, lambda: spring(max_per_student=-1)),
    ("coupon courses a list", InvalidInput, lambda: spring(course_ids=["py"])),
    ("coupon blank code", InvalidInput, lambda: spring(code="   ")),
    ("rule starts_at", NaiveDatetime, lambda: Conditions(starts_at=NAIVE)),
    ("rule ends_at", NaiveDatetime, lambda: Conditions(ends_at=NAIVE)),
    ("rule mixed window", NaiveDatetime, lambda: Conditions(starts_at=T, ends_at=NAIVE)),
    ("rule window empty", InvalidTimeRange, lambda: Conditions(starts_at=LATER, ends_at=T)),
    ("rule tags a set", InvalidInput, lambda: Conditions(student_tags={"vip"})),  # type: ignore[arg-type]
    (
        "rule NaN percent",
        InvalidInput,
        lambda: PriceRule(id="r", kind=DiscountKind.PERCENT, value=Decimal("NaN")),
    ),
    (
        "rule negative amount",
        InvalidMoney,
        lambda: PriceRule(id="r", kind=DiscountKind.AMOUNT, value=Money("-5", "CNY")),
    ),
    ("negative line", InvalidMoney, lambda: OrderLine(course_id="py", price=Money("-1", "CNY"))),
    ("line price a str", InvalidMoney, lambda: OrderLine(course_id="py", price="9")),  # type: ignore[arg-type]
    ("campaign starts_at", NaiveDatetime, lambda: campaign(starts_at=NAIVE)),
    ("campaign ends_at", NaiveDatetime, lambda: campaign(ends_at=NAIVE.replace(month=9))),
    ("campaign both naive", NaiveDatetime, lambda: campaign(starts_at=NAIVE, ends_at=NAIVE)),
    ("campaign free group", InvalidMoney, lambda: campaign(group_price=Money("0", "CNY"))),
    ("campaign NaN share", InvalidInput, lambda: campaign(force_share=Decimal("NaN"))),
]


@pytest.mark.parametrize(("why", "error", "build"), BAD_INPUT, ids=[w for w, _, _ in BAD_INPUT])
def test_bad_pricing_input_is_refused_when_built(
    why: str, error: type[Exception], build: Callable[[], object]
) -> None:
    with pytest.raises(error) as refused:
        build()
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, EduEngineError)


def test_a_naive_price_rule_stops_the_shop_being_built_not_every_quote() -> None:
    from eduengine import InMemoryStore

    with pytest.raises(NaiveDatetime):
        PricingService(
            InMemoryStore().unit_of_work,
            gateway=FakePaymentGateway(),
            rules=[
                PriceRule(
                    id="summer",
                    kind=DiscountKind.PERCENT,
                    value=Decimal("10"),
                    conditions=Conditions(starts_at=NAIVE),
                )
            ],
        )
    with pytest.raises(InvalidMoney):
        PricingService(
            InMemoryStore().unit_of_work,
            gateway=FakePaymentGateway(),
            max_discount=Money("-1", "CNY"),
        )


def test_a_naive_quote_time_is_refused() -> None:
    with pytest.raises(NaiveDatetime):
        quote(LINES, Customer(student_id="ann"), coupons=[spring(valid_from=T)], now=NAIVE)


# --- on every adapter: a typed error and nothing stored --------------------------------


def shop(store: StoreHandle, gateway: FakePaymentGateway, **kw: Any) -> PricingService:
    return PricingService(store.unit_of_work, gateway=gateway, clock=FixedClock(T), **kw)


def buy(service: PricingService, lines: list[OrderLine], coupons: list[str]) -> Order:
    return checkout(service, "o1", Customer(student_id="ann"), lines, coupons=coupons, account="a")


def buy_at_own_prices(service: PricingService, lines: list[OrderLine], coupons: list[str]) -> Order:
    """The deprecated checkout at the caller's prices: its input rules are the subject."""
    with pytest.warns(EduEngineDeprecationWarning):
        return service.checkout(
            "o1", Customer(student_id="ann"), lines, coupons=coupons, account="a"
        )


STORED_BAD_INPUT: list[tuple[str, type[Exception], Callable[[PricingService, DealService], object]]]
STORED_BAD_INPUT = [
    ("naive coupon", NaiveDatetime, lambda s, d: s.add_coupon(spring("NEW", valid_from=NAIVE))),
    ("same code, lower case", DuplicateCouponCode, lambda s, d: s.add_coupon(spring("spring"))),
    ("same code, blanks", DuplicateCouponCode, lambda s, d: s.add_coupon(spring(" Spring\t"))),
    ("same code, full width", DuplicateCouponCode, lambda s, d: s.add_coupon(
        spring("ＳＰＲＩＮＧ"))),
    ("same code, percent", DuplicateId, lambda s, d: s.add_coupon(
        Coupon(code="spRING", kind=DiscountKind.PERCENT, value=Decimal("50")))),
    ("a code twice by case", InvalidInput, lambda s, d: buy_at_own_prices(
        s, LINES, ["SPRING", "spring"])),
    ("negative line price", InvalidMoney, lambda s, d: buy_at_own_prices(
        s, [OrderLine(course_id="py", price=Money("-199", "CNY"))], [])),
    ("negative line beside one", InvalidMoney, lambda s, d: buy_at_own_prices(
        s, [*LINES, OrderLine(course_id="js", price=Money("-150", "CNY"))], ["SPRING"])),
    ("line beyond 28 digits", InvalidMoney, lambda s, d: buy_at_own_prices(
        s, [OrderLine(course_id="py", price=Money("1" * 30, "CNY"))], ["SPRING"])),
    ("lines whose sum is out of range", InvalidMoney, lambda s, d: buy_at_own_prices(
        s, [OrderLine(course_id=c, price=Money(BIG, "CNY")) for c in ("py", "js")], ["SPRING"])),
    ("coupons a bare string", InvalidInput, lambda s, d: buy_at_own_prices(s, LINES, "SPRING")),  # type: ignore[arg-type]
    ("naive campaign", NaiveDatetime, lambda s, d: d.create_campaign(
        campaign(id="naive", starts_at=NAIVE, ends_at=NAIVE + timedelta(days=9)))),
    ("negative-price campaign", InvalidMoney, lambda s, d: d.create_campaign(
        campaign(id="neg", group_price=Money("-1", "CNY")))),
]  # fmt: skip


def test_bad_input_is_refused_and_nothing_is_stored(store: StoreHandle) -> None:
    # one store per adapter for the whole table: a fresh PostgreSQL schema per row
    # would cost half a second each
    gateway = FakePaymentGateway()
    service = shop(store, gateway)
    deals = DealService(store.unit_of_work, gateway=gateway, clock=FixedClock(T))
    service.add_coupon(spring(max_redemptions=1))
    deals.create_campaign(campaign())
    before = store.snapshot()
    for why, error, command in STORED_BAD_INPUT:
        with pytest.raises(error):
            command(service, deals)
        assert store.snapshot() == before, why
        assert gateway.charges == {}, why
        assert service.redemptions("SPRING") == 0, why


def test_a_code_is_found_however_the_student_types_it(store: StoreHandle) -> None:
    gateway = FakePaymentGateway()
    service = shop(store, gateway)
    service.add_coupon(spring("Back2School", max_per_student=None))
    assert canonical_code("  ＢＡＣＫ２school ") == "back2school"
    customer = Customer(student_id="ann")
    for n, typed in enumerate(["back2school", " BACK2SCHOOL ", "ｂａｃｋ２ｓｃｈｏｏｌ"]):
        assert service.quote(customer, LINES, [typed]).coupons == ("Back2School",)
        order = checkout(service, f"o{n}", customer, LINES, coupons=[typed], account="a")
        assert str(order.quote.total) == "179.00 CNY"
    assert service.redemptions("BACK2SCHOOL") == 3
    service.cancel_order("o0")
    assert service.redemptions("back2school") == 2
    with pytest.raises(CouponRefused, match="unknown code"):
        service.quote(customer, LINES, ["back2schoo1"])


def test_a_coupon_stored_before_canonical_codes_is_found_by_its_exact_code(
    store: StoreHandle,
) -> None:
    service = shop(store, FakePaymentGateway())
    legacy = spring("OLD", max_redemptions=5)
    with store.unit_of_work() as uow:  # as add_coupon stored it: under the code as given
        uow.records.put(COUPONS, "OLD", {"coupon": legacy.to_record(), "redeemed": 0})
        uow.commit()
    # at the caller's prices (deprecated): a catalogue quote keeps the canonical code
    # ("old"), which does not find a coupon stored under "OLD" at checkout
    buy_at_own_prices(service, LINES, ["OLD"])
    assert service.redemptions("OLD") == 1
    service.cancel_order("o1")
    assert service.redemptions("OLD") == 0
    with pytest.raises(DuplicateCouponCode):
        service.add_coupon(spring("OLD"))


def test_a_coupon_stored_before_canonical_codes_is_redeemed_by_a_quote_checkout(
    store: StoreHandle,
) -> None:
    service = shop(store, FakePaymentGateway())
    legacy = spring("OLD", max_redemptions=5)
    with store.unit_of_work() as uow:  # as add_coupon stored it: under the code as given
        uow.records.put(COUPONS, "OLD", {"coupon": legacy.to_record(), "redeemed": 0})
        uow.commit()
    order = checkout(service, "o1", Customer(student_id="ann"), LINES, coupons=["OLD"], account="a")
    assert order.quote.coupons == ("OLD",)
    assert service.redemptions("OLD") == 1
    service.cancel_order("o1")
    assert service.redemptions("OLD") == 0


def test_a_coupon_that_takes_nothing_off_under_the_cap_is_not_redeemed(
    store: StoreHandle,
) -> None:
    half = PriceRule(id="half", kind=DiscountKind.PERCENT, value=Decimal("50"))
    gateway = FakePaymentGateway()
    service = shop(store, gateway, rules=[half], max_discount=Money("50", "CNY"))
    service.add_coupon(spring(max_redemptions=1))
    order = checkout(
        service, "o1", Customer(student_id="ann"), LINES, coupons=["spring"], account="a"
    )
    assert order.quote.coupons == () and order.quote.unused_coupons == ("SPRING",)
    assert str(order.quote.total) == "149.00 CNY"
    assert "coupon SPRING: nothing off, not redeemed" in order.quote.explain()
    assert service.redemptions("SPRING") == 0, "its one use is still there"
    service.cancel_order("o1")  # releases nothing it did not take
    assert service.redemptions("SPRING") == 0
    cheap = [OrderLine(course_id="py", price=Money("60", "CNY"))]  # rules take 30 of 50
    paid = checkout(
        service, "o2", Customer(student_id="bob"), cheap, coupons=["SPRING"], account="b"
    )
    assert paid.quote.coupons == ("SPRING",) and str(paid.quote.total) == "10.00 CNY"
    assert service.redemptions("SPRING") == 1


def test_a_coupon_for_other_courses_is_not_redeemed(store: StoreHandle) -> None:
    service = shop(store, FakePaymentGateway())
    service.add_coupon(spring(course_ids=frozenset({"js"}), max_redemptions=1))
    order = buy(service, LINES, ["SPRING"])
    assert order.status == "paid" and order.quote.unused_coupons == ("SPRING",)
    assert service.redemptions("SPRING") == 0


def test_an_order_that_lists_only_coupon_codes_releases_the_canonical_coupon(
    store: StoreHandle,
) -> None:
    service = shop(store, FakePaymentGateway())
    service.add_coupon(spring(max_redemptions=1))
    buy(service, LINES, ["spring"])
    with store.unit_of_work() as uow:  # as an order is written without the stored keys
        doc = uow.records.get(ORDERS, "o1")
        assert doc is not None and doc.pop("coupon_keys") == ["spring"]
        assert doc["coupons"] == ["SPRING"]
        uow.records.put(ORDERS, "o1", doc)
        uow.commit()
    service.cancel_order("o1")
    assert service.redemptions("SPRING") == 0
