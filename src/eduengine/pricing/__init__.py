"""Pricing: exact money (more to come: price rules, coupons)."""

from eduengine.pricing.money import Money

__all__ = ["Money"]
