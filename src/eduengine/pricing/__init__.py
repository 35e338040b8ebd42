"""Pricing: exact money, price rules, coupons, quotes and checkout."""

from eduengine.kernel.money import Money
from eduengine.pricing.rules import (
    Conditions,
    Coupon,
    Customer,
    DiscountKind,
    OrderLine,
    PriceRule,
    Quote,
    QuoteLine,
    canonical_code,
    quote,
)

__all__ = [
    "Conditions",
    "Coupon",
    "Customer",
    "DiscountKind",
    "Money",
    "OrderLine",
    "PriceRule",
    "Quote",
    "QuoteLine",
    "canonical_code",
    "quote",
]
