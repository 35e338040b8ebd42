"""Stored coupons: the record kind checkout reads, and issuing a coupon from inside
another command's unit of work (a referral reward is issued by the payment that earned
it, so the reward exists exactly when the payment does).

>>> from eduengine import InMemoryStore
>>> from eduengine.pricing import Coupon, DiscountKind, Money
>>> store = InMemoryStore()
>>> gift = Coupon(code="GIFT-ANN", kind=DiscountKind.AMOUNT, value=Money("20", "CNY"),
...               max_redemptions=1, student_id="ann")
>>> with store.unit_of_work() as uow:
...     first, again = issue_coupon(uow, gift), issue_coupon(uow, gift)
...     uow.commit()
>>> first, again
(True, False)
"""

from __future__ import annotations

from eduengine.ports import UnitOfWork
from eduengine.pricing.rules import Coupon

#: the record kind of coupons, keyed by canonical code
COUPONS = "coupon"


def issue_coupon(uow: UnitOfWork, coupon: Coupon) -> bool:
    """Store ``coupon`` unless one is stored under its code already; returns whether it
    was stored. Issuing the same coupon twice (an event handled again, a retried command)
    leaves the first one, with its redemptions, as it is."""
    if uow.records.get(COUPONS, coupon.key) is not None:
        return False
    uow.records.put(COUPONS, coupon.key, {"coupon": coupon.to_record(), "redeemed": 0})
    return True


__all__ = ["COUPONS", "issue_coupon"]
