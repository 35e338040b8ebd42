"""Money is exact: Decimal with a currency, never float, never a lost or created cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine.errors import CurrencyMismatch, EduEngineError, InvalidMoney
from eduengine.pricing import Money

currencies = st.sampled_from(["CNY", "USD", "JPY", "KWD"])


def test_floats_are_refused() -> None:
    with pytest.raises(InvalidMoney, match="never"):
        Money(9.99, "CNY")  # type: ignore[arg-type]


def test_unknown_currencies_and_mixed_currencies_are_refused() -> None:
    with pytest.raises(InvalidMoney, match="XXX"):
        Money("1", "XXX")
    with pytest.raises(CurrencyMismatch):
        Money("1", "CNY") + Money("1", "USD")
    assert issubclass(CurrencyMismatch, EduEngineError) and issubclass(CurrencyMismatch, ValueError)


def test_amounts_round_half_up_to_the_minor_unit() -> None:
    assert Money("0.125", "CNY").amount == Decimal("0.13")
    assert Money("0.5", "JPY").amount == Decimal("1")
    assert Money("1.0005", "KWD").amount == Decimal("1.001")


@given(
    units=st.integers(0, 10**9),
    ratios=st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(any),
    currency=currencies,
)
def test_allocation_never_loses_or_creates_a_minor_unit(
    units: int, ratios: list[int], currency: str
) -> None:
    total = Money.from_minor(units, currency)
    parts = total.allocate(ratios)
    assert sum(p.minor_units for p in parts) == units
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Decimal(units) * ratio / sum(ratios)
        assert abs(part.minor_units - exact) < 1
        if ratio == 0:
            assert part.minor_units == 0


@given(units=st.integers(-(10**9), 10**9), n=st.integers(1, 50), currency=currencies)
def test_split_parts_differ_by_at_most_one_minor_unit(units: int, n: int, currency: str) -> None:
    parts = Money.from_minor(abs(units), currency).split(n)
    assert sum(p.minor_units for p in parts) == abs(units)
    assert max(p.minor_units for p in parts) - min(p.minor_units for p in parts) <= 1


def test_money_round_trips_through_a_record() -> None:
    price = Money("1299.50", "CNY")
    assert Money.from_record(price.to_record()) == price
