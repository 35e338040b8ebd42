"""Exact money: a ``Decimal`` amount with an ISO 4217 currency, never a float.

>>> from decimal import Decimal
>>> price = Money("99.90", "CNY")
>>> price * 3
Money(amount=Decimal('299.70'), currency='CNY')
>>> [str(p.amount) for p in Money("100.00", "CNY").allocate([1, 1, 1])]
['33.34', '33.33', '33.33']
>>> Money("1.005", "USD").amount   # rounds half-up to the minor unit
Decimal('1.01')
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import attrs

from eduengine.errors import CurrencyMismatch, InvalidMoney

#: Digits after the decimal point per ISO 4217 currency (the ones schools bill in).
MINOR_UNITS: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "TWD": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "INR": 2,
    "MYR": 2,
    "THB": 2,
    "NZD": 2,
    "MOP": 2,
    "PHP": 2,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "IDR": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
}


def _amount(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise InvalidMoney(f"money amounts must be Decimal, int or str, never {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int | str):
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise InvalidMoney(f"not a decimal amount: {value!r}") from exc
    else:
        raise InvalidMoney(f"money amounts must be Decimal, int or str, got {value!r}")
    if not amount.is_finite():
        raise InvalidMoney(f"money amounts must be finite, got {value!r}")
    return amount


def _currency(value: object) -> str:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise InvalidMoney(f"unknown ISO 4217 currency {value!r}")
    return value


@attrs.frozen(init=False, order=False)
class Money:
    """An amount in one currency, always rounded (half-up) to its minor unit."""

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        cur = _currency(currency)
        exponent = Decimal(1).scaleb(-MINOR_UNITS[cur])
        object.__setattr__(self, "amount", _amount(amount).quantize(exponent, ROUND_HALF_UP))
        object.__setattr__(self, "currency", cur)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def minor_units(self) -> int:
        """The amount in the currency's smallest unit (fen, cents ...)."""
        return int(self.amount.scaleb(MINOR_UNITS[self.currency]))

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-MINOR_UNITS[_currency(currency)]), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise InvalidMoney(f"cannot combine money with {other!r}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise InvalidMoney(f"money can be multiplied by int or Decimal, not {factor!r}")
        return Money(self.amount * factor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def allocate(self, ratios: Sequence[int | Decimal]) -> list[Money]:
        """Split into parts proportional to ``ratios`` without losing or creating a minor
        unit (largest remainder; ties go to the earlier part)."""
        if not ratios or any(isinstance(r, bool | float) or r < 0 for r in ratios):
            raise InvalidMoney(f"ratios must be non-negative ints or Decimals, got {ratios!r}")
        total = sum(Decimal(r) for r in ratios)
        if total == 0:
            raise InvalidMoney("ratios must not all be zero")
        units = self.minor_units
        exact = [Decimal(units) * Decimal(r) / total for r in ratios]
        parts = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
        leftover = units - sum(parts)
        by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in by_remainder[: abs(leftover)]:
            parts[i] += 1 if leftover > 0 else -1
        return [Money.from_minor(p, self.currency) for p in parts]

    def split(self, n: int) -> list[Money]:
        """``n`` parts as equal as possible, adding up exactly."""
        return self.allocate([1] * n)

    def to_record(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Money:
        return cls(str(data["amount"]), str(data["currency"]))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
