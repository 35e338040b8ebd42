"""Exact money: a ``Decimal`` amount with an ISO 4217 currency, never a float.

>>> from decimal import Decimal
>>> price = Money("99.90", "CNY")
>>> price * 3
Money(amount=Decimal('299.70'), currency='CNY')
>>> [str(p.amount) for p in Money("100.00", "CNY").allocate([1, 1, 1])]
['33.34', '33.33', '33.33']
>>> [str(p.amount) for p in Money("-100.00", "CNY").allocate([1, 1, 1])]
['-33.34', '-33.33', '-33.33']
>>> Money("1.005", "USD").amount   # rounds half-up to the minor unit
Decimal('1.01')
>>> MINOR_UNITS["JPY"], MINOR_UNITS["KWD"], MINOR_UNITS["CLF"]
(0, 3, 4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, DecimalException
from types import MappingProxyType
from typing import Any

import attrs
from babel.core import get_global
from babel.numbers import get_currency_precision

from eduengine.errors import CurrencyMismatch, InvalidMoney

#: Significant digits an amount may have at its currency's minor unit (Decimal's default
#: precision): beyond it arithmetic would round whole units away without a word.
MAX_DIGITS = 28

#: Where intermediate results are computed: wide enough that the sum, difference or
#: product of two in-range amounts is exact before it is range-checked and rounded.
_WIDE = Context(prec=2 * MAX_DIGITS + 8, rounding=ROUND_HALF_UP)

#: Codes CLDR lists as in use without an end date whose "territory" is no country:
#: ``ZZ`` (unknown region) holds gold, silver, platinum, palladium, the bond-market units,
#: SDR, SUCRE, the ADB unit and the testing code, and ``XXX`` means "no currency". ISO
#: 4217 gives none of them a minor unit, and no school bills in them. ``CNH`` is a market
#: code for offshore yuan that ISO 4217 does not assign (bill in CNY).
_NOT_BILLABLE = frozenset({"ZZ"})
_NOT_ISO = frozenset({"CNH", "XXX"})


def _current_currencies() -> dict[str, int]:
    """Every currency CLDR (the Unicode Common Locale Data Repository, shipped in
    :mod:`babel`) records as in use by some territory with no end date, with its number
    of decimal digits."""
    codes = {
        code
        for territory, uses in get_global("territory_currencies").items()
        if territory not in _NOT_BILLABLE
        for code, _start, end, _tender in uses
        if end is None and code not in _NOT_ISO
    }
    return {code: get_currency_precision(code) for code in sorted(codes)}


#: Digits after the decimal point of every current ISO 4217 currency, from CLDR (through
#: babel), read once at import. CLDR's digits are those used in practice: for a few codes
#: whose minor unit has no coins or notes left (IQD, IRR, LAK, RSD, YER ...) it gives 0
#: where ISO 4217 still lists 2 or 3; tests/pricing/test_money.py pins them, so a babel
#: upgrade that changes one is noticed.
MINOR_UNITS: Mapping[str, int] = MappingProxyType(_current_currencies())


def _amount(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise InvalidMoney(f"money amounts must be Decimal, int or str, never {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int | str):
        try:
            amount = Decimal(value)
        except (DecimalException, ValueError) as exc:
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


def _in_range(amount: Decimal, currency: str, shown: object) -> Decimal:
    """``amount`` rounded half-up to the minor unit, if it fits :data:`MAX_DIGITS`."""
    digits = MINOR_UNITS[currency]
    if amount and amount.adjusted() + 1 + digits > MAX_DIGITS:
        raise InvalidMoney(
            f"{shown!r} {currency} is out of range: at most {MAX_DIGITS} significant digits "
            f"({MAX_DIGITS - digits} before the decimal point)"
        )
    rounded = amount.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP, _WIDE)
    if rounded.adjusted() + 1 + digits > MAX_DIGITS:  # 99.995 rounds up to 100.00
        raise InvalidMoney(f"{shown!r} {currency} is out of range")
    return rounded


@attrs.frozen(init=False, order=False)
class Money:
    """An amount in one currency, always rounded (half-up) to its minor unit.

    Amounts have at most :data:`MAX_DIGITS` significant digits at that unit; anything
    else (floats, NaN, infinities, larger amounts, unknown currencies) is
    :class:`~eduengine.errors.InvalidMoney`, also when arithmetic leaves the range.

    >>> Money("1" + "0" * 30, "CNY")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eduengine.errors.InvalidMoney: '1000000000000000000000000000000' CNY is out of range: ...
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        cur = _currency(currency)
        object.__setattr__(self, "amount", _in_range(_amount(amount), cur, amount))
        object.__setattr__(self, "currency", cur)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def minor_units(self) -> int:
        """The amount in the currency's smallest unit (fen, cents ...)."""
        return int(self.amount.scaleb(MINOR_UNITS[self.currency], _WIDE))

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidMoney(f"minor units must be an int, got {units!r}")
        return cls(Decimal(units).scaleb(-MINOR_UNITS[_currency(currency)], _WIDE), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise InvalidMoney(f"cannot combine money with {other!r}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(_WIDE.add(self.amount, self._same(other).amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(_WIDE.subtract(self.amount, self._same(other).amount), self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise InvalidMoney(f"money can be multiplied by int or Decimal, not {factor!r}")
        try:
            product = _WIDE.multiply(self.amount, Decimal(factor))
        except DecimalException as exc:
            raise InvalidMoney(f"{self} times {factor!r} is out of range") from exc
        if not product.is_finite():
            raise InvalidMoney(f"{self} times {factor!r} is not a finite amount")
        return Money(product, self.currency)

    def percent(self, pct: Decimal) -> Money:
        """``pct`` percent of this amount, rounded once, half-up, to the minor unit.

        >>> str(Money("199.00", "CNY").percent(Decimal("12.5")))
        '24.88 CNY'
        """
        if not isinstance(pct, Decimal) or not pct.is_finite():
            raise InvalidMoney(f"a percentage is a finite Decimal, not {pct!r}")
        return Money(_WIDE.divide(_WIDE.multiply(self.amount, pct), Decimal(100)), self.currency)

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
        unit (largest remainder; ties go to the earlier part).

        A negative amount splits as the mirror of its positive: the split of a refund is
        the refund of the split, to the minor unit.
        """
        if (
            isinstance(ratios, str | bytes)
            or not isinstance(ratios, Sequence)
            or not ratios
            or not all(_ratio_ok(r) for r in ratios)
        ):
            raise InvalidMoney(
                f"ratios must be finite non-negative ints or Decimals, got {ratios!r}"
            )
        if self.amount < 0:
            return [-part for part in (-self).allocate(ratios)]
        weights = [_WIDE.plus(Decimal(r)) for r in ratios]
        total = _WIDE.plus(sum(weights, Decimal(0)))
        if total == 0:
            raise InvalidMoney("ratios must not all be zero")
        units = self.minor_units
        exact = [_WIDE.divide(_WIDE.multiply(Decimal(units), w), total) for w in weights]
        parts = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
        leftover = units - sum(parts)
        by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in by_remainder[:leftover]:
            parts[i] += 1
        return [Money.from_minor(p, self.currency) for p in parts]

    def split(self, n: int) -> list[Money]:
        """``n`` parts as equal as possible, adding up exactly."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidMoney(f"money splits into a positive int of parts, not {n!r}")
        return self.allocate([1] * n)

    def to_record(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Money:
        return cls(str(data["amount"]), str(data["currency"]))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def _ratio_ok(ratio: object) -> bool:
    if isinstance(ratio, int) and not isinstance(ratio, bool):
        return ratio >= 0
    return isinstance(ratio, Decimal) and ratio.is_finite() and ratio >= 0
