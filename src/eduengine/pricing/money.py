"""Money moved to :mod:`eduengine.kernel.money` (every layer counts money); this documented
path re-exports it.

>>> from eduengine.pricing.money import Money
>>> Money("99.90", "CNY") * 3
Money(amount=Decimal('299.70'), currency='CNY')
"""

from eduengine.kernel.money import (
    MAX_DIGITS,
    MINOR_UNITS,
    SHIPPED,
    CurrencyTable,
    Money,
    currency_table,
    use_currency_table,
)

__all__ = [
    "MAX_DIGITS",
    "MINOR_UNITS",
    "SHIPPED",
    "CurrencyTable",
    "Money",
    "currency_table",
    "use_currency_table",
]
