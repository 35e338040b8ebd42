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
>>> MINOR_UNITS["JPY"], MINOR_UNITS["KWD"], MINOR_UNITS["CLF"], MINOR_UNITS["IDR"]
(0, 3, 4, 2)

Currencies and minor units come from :mod:`eduengine.kernel.currencies`, a table
generated from a dated ISO 4217 publication and shipped in the package, so upgrading a
dependency never changes how money rounds. New money must be in a current currency;
money read back from storage (:meth:`Money.from_stored`) is kept exactly as written, also
in a currency ISO has withdrawn since:

>>> Money("10", "BGN")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eduengine.errors.InvalidMoney: BGN was withdrawn on 2026-01 (ISO 4217 ...): new amounts ...
>>> paid = Money.from_stored("99.90", "BGN")
>>> -paid, paid.split(2)[0]
(Money(amount=Decimal('-99.90'), currency='BGN'), Money(amount=Decimal('49.95'), currency='BGN'))
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, DecimalException
from types import MappingProxyType
from typing import Any

import attrs

from eduengine.errors import CurrencyMismatch, InvalidMoney
from eduengine.kernel import currencies as _iso

#: Significant digits an amount may have at its currency's minor unit (Decimal's default
#: precision): beyond it arithmetic would round whole units away without a word.
MAX_DIGITS = 28

#: Where intermediate results are computed: wide enough that the sum, difference or
#: product of two in-range amounts is exact before it is range-checked and rounded.
_WIDE = Context(prec=2 * MAX_DIGITS + 8, rounding=ROUND_HALF_UP)

_CODE = re.compile(r"[A-Z]{3}")


@attrs.frozen
class CurrencyTable:
    """Which currencies new money may be in, with their digits after the decimal point,
    and which were withdrawn (code -> when), named by where they come from.

    >>> SHIPPED.minor_units["EUR"], SHIPPED.withdrawn["HRK"]
    (2, '2023-01')
    """

    source: str
    minor_units: Mapping[str, int]
    withdrawn: Mapping[str, str]


#: The table this release ships: ISO 4217 List One and List Three as dated in
#: :data:`eduengine.kernel.currencies.SOURCE`.
SHIPPED = CurrencyTable(
    source=_iso.SOURCE,
    minor_units=MappingProxyType(dict(_iso.MINOR_UNITS)),
    withdrawn=MappingProxyType(dict(_iso.WITHDRAWN)),
)

_active = SHIPPED


def currency_table() -> CurrencyTable:
    """The table new money is checked and rounded against (:data:`SHIPPED` unless
    :func:`use_currency_table` put another in place)."""
    return _active


@contextmanager
def use_currency_table(table: CurrencyTable) -> Iterator[CurrencyTable]:
    """Check and round new money against ``table`` inside the ``with`` block: for trying
    a newer ISO publication against stored data before shipping it.

    >>> newer = CurrencyTable(source="test", minor_units={"EUR": 2}, withdrawn={"USD": "2099-01"})
    >>> with use_currency_table(newer):
    ...     Money.from_stored("1.50", "USD") + Money.from_stored("1.50", "USD")
    Money(amount=Decimal('3.00'), currency='USD')
    """
    global _active
    if not isinstance(table, CurrencyTable):
        raise TypeError(f"expected a CurrencyTable, got {table!r}")
    before, _active = _active, table
    try:
        yield table
    finally:
        _active = before


class _ActiveMinorUnits(Mapping[str, int]):
    """The current codes and digits of the table in use (a live view)."""

    def __getitem__(self, code: str) -> int:
        return _active.minor_units[code]

    def __iter__(self) -> Iterator[str]:
        return iter(_active.minor_units)

    def __len__(self) -> int:
        return len(_active.minor_units)

    def __repr__(self) -> str:
        return f"MINOR_UNITS({dict(_active.minor_units)!r})"


#: Digits after the decimal point of every current ISO 4217 currency, from the table in
#: use (ISO 4217 List One as shipped). Codes whose List One minor unit is "N.A." (gold,
#: SDR, bond-market units, XTS, XXX) are not money a school bills in and are left out.
MINOR_UNITS: Mapping[str, int] = _ActiveMinorUnits()


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
    """``value`` if new money may be in it under the table in use."""
    table = _active
    if isinstance(value, str) and value in table.minor_units:
        return value
    if isinstance(value, str) and value in table.withdrawn:
        raise InvalidMoney(
            f"{value} was withdrawn on {table.withdrawn[value]} ({table.source}): new "
            f"amounts in it are refused; stored ones stay readable and refundable"
        )
    raise InvalidMoney(f"unknown ISO 4217 currency {value!r}")


def _places(amount: Decimal, currency: str) -> int:
    """Digits after the point that arithmetic on ``amount`` keeps: the currency's minor
    unit, or more if a stored amount was written with more (under an earlier table)."""
    exponent = amount.as_tuple().exponent
    own = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return max(_active.minor_units.get(currency, 0), own)


def _make(amount: Decimal, currency: str) -> Money:
    # bypasses __init__ on purpose: the amount is already checked and rounded
    money = object.__new__(Money)
    object.__setattr__(money, "amount", amount)
    object.__setattr__(money, "currency", currency)
    return money


def _in_range(amount: Decimal, currency: str, shown: object, digits: int) -> Decimal:
    """``amount`` rounded half-up to ``digits`` places, if it fits :data:`MAX_DIGITS`."""
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
    else (floats, NaN, infinities, larger amounts, unknown or withdrawn currencies) is
    :class:`~eduengine.errors.InvalidMoney`, also when arithmetic leaves the range.
    Stored amounts come back through :meth:`from_stored`, exactly as written.

    >>> Money("1" + "0" * 30, "CNY")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eduengine.errors.InvalidMoney: '1000000000000000000000000000000' CNY is out of range: ...
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        cur = _currency(currency)
        digits = _active.minor_units[cur]
        object.__setattr__(self, "amount", _in_range(_amount(amount), cur, amount, digits))
        object.__setattr__(self, "currency", cur)

    @classmethod
    def from_stored(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Money as it was stored: the exact amount, never rounded again, in any
        well-formed code, also one withdrawn (or unknown to the table) since it was
        written. Only for reading back what :meth:`to_record` or a store wrote.

        >>> Money.from_stored("15000.50", "IDR").amount
        Decimal('15000.50')
        >>> Money.from_stored("7.25", "HRK") - Money.from_stored("0.25", "HRK")
        Money(amount=Decimal('7.00'), currency='HRK')
        """
        value = _amount(amount)
        if not isinstance(currency, str) or not _CODE.fullmatch(currency):
            raise InvalidMoney(f"a stored currency is three capital letters, got {currency!r}")
        if len(value.as_tuple().digits) > MAX_DIGITS:
            raise InvalidMoney(f"stored amount {amount!r} {currency} is out of range")
        return _make(value, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in ``currency``: also in a withdrawn one, as the start of a sum of
        stored amounts (a refund total, a report)."""
        if isinstance(currency, str) and currency in _active.withdrawn:
            return _make(Decimal(0), currency)
        return cls(0, currency)

    @property
    def places(self) -> int:
        """Digits after the point this amount keeps in arithmetic: its currency's minor
        unit, or more for a stored amount written when the currency had more.

        >>> Money("5", "JPY").places, Money.from_stored("5.50", "JPY").places
        (0, 2)
        """
        return _places(self.amount, self.currency)

    @property
    def minor_units(self) -> int:
        """The amount in its smallest unit (fen, cents ...): ``amount * 10**places``."""
        return int(self.amount.scaleb(self.places, _WIDE))

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidMoney(f"minor units must be an int, got {units!r}")
        digits = _active.minor_units[_currency(currency)]
        return cls(Decimal(units).scaleb(-digits, _WIDE), currency)

    def _derived(self, amount: Decimal, places: int, shown: object) -> Money:
        """The result of arithmetic on this (new or stored) money, rounded to ``places``:
        withdrawn currencies and digits a stored amount has stay."""
        return _make(_in_range(amount, self.currency, shown, places), self.currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise InvalidMoney(f"cannot combine money with {other!r}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        places = max(self.places, self._same(other).places)
        total = _WIDE.add(self.amount, other.amount)
        return self._derived(total, places, total)

    def __sub__(self, other: Money) -> Money:
        places = max(self.places, self._same(other).places)
        difference = _WIDE.subtract(self.amount, other.amount)
        return self._derived(difference, places, difference)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            raise InvalidMoney(f"money can be multiplied by int or Decimal, not {factor!r}")
        try:
            product = _WIDE.multiply(self.amount, Decimal(factor))
        except DecimalException as exc:
            raise InvalidMoney(f"{self} times {factor!r} is out of range") from exc
        if not product.is_finite():
            raise InvalidMoney(f"{self} times {factor!r} is not a finite amount")
        return self._derived(product, self.places, product)

    def percent(self, pct: Decimal) -> Money:
        """``pct`` percent of this amount, rounded once, half-up, to the minor unit.

        >>> str(Money("199.00", "CNY").percent(Decimal("12.5")))
        '24.88 CNY'
        """
        if not isinstance(pct, Decimal) or not pct.is_finite():
            raise InvalidMoney(f"a percentage is a finite Decimal, not {pct!r}")
        part = _WIDE.divide(_WIDE.multiply(self.amount, pct), Decimal(100))
        return self._derived(part, self.places, part)

    def average(self, count: int) -> Money:
        """This amount over ``count`` (orders, students), rounded half-up: a figure for a
        report, not parts to pay (:meth:`split` gives parts that add up).

        >>> Money("100.00", "CNY").average(3)
        Money(amount=Decimal('33.33'), currency='CNY')
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidMoney(f"an average is over a positive int, not {count!r}")
        mean = _WIDE.divide(self.amount, Decimal(count))
        return self._derived(mean, self.places, mean)

    def __neg__(self) -> Money:
        return _make(-self.amount, self.currency)

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
        places = self.places
        return [self._derived(Decimal(p).scaleb(-places, _WIDE), places, p) for p in parts]

    def split(self, n: int) -> list[Money]:
        """``n`` parts as equal as possible, adding up exactly."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidMoney(f"money splits into a positive int of parts, not {n!r}")
        return self.allocate([1] * n)

    def to_record(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Money:
        """Read back what :meth:`to_record` wrote: see :meth:`from_stored`."""
        return cls.from_stored(str(data["amount"]), str(data["currency"]))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def _ratio_ok(ratio: object) -> bool:
    if isinstance(ratio, int) and not isinstance(ratio, bool):
        return ratio >= 0
    return isinstance(ratio, Decimal) and ratio.is_finite() and ratio >= 0
