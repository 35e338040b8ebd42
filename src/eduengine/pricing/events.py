"""The events of checkout and of referral rewards (each registered under its public type
name as it is defined; a referral reward keeps its name ``referrals.referral_rewarded``,
and :mod:`eduengine.referrals.events` re-exports it).

>>> from datetime import datetime, timezone
>>> OrderCancelled(occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc), order_id="o1",
...                student_id="ann", refunded=None).order_id
'o1'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type
from eduengine.kernel.money import Money


@event_type("pricing.order_paid", aggregate="order", field="order_id")
@attrs.frozen(kw_only=True)
class OrderPaid(DomainEvent):
    order_id: str
    student_id: str
    total: Money
    coupons: tuple[str, ...]
    #: the courses bought (a student is enrolled in each)
    course_ids: tuple[str, ...] = ()
    #: the guardian who paid on the student's behalf (``None``: the student paid)
    payer_id: str | None = None


@event_type("pricing.order_cancelled", aggregate="order", field="order_id")
@attrs.frozen(kw_only=True)
class OrderCancelled(DomainEvent):
    order_id: str
    student_id: str
    refunded: Money | None


@event_type("referrals.referral_rewarded", aggregate="student", field="referrer_id")
@attrs.frozen(kw_only=True)
class ReferralRewarded(DomainEvent):
    referrer_id: str
    referred_id: str
    #: the code of the coupon issued to the referrer (single-use, theirs only)
    reward: str


@event_type("referrals.referral_clawed_back", aggregate="student", field="referrer_id")
@attrs.frozen(kw_only=True)
class ReferralClawedBack(DomainEvent):
    """The order that earned a referral reward was refunded within the reward's window:
    the coupon ``reward`` is revoked; if the referrer had redeemed it already
    (``used``), the claw-back is a debt of ``debt`` (the coupon's amount; ``None`` for a
    percentage coupon, whose worth depends on the order it was used on)."""

    referrer_id: str
    referred_id: str
    reward: str
    #: the refunded order: ``order:<order id>`` or ``deal:<group id>:<student id>``
    order: str
    used: bool
    debt: Money | None = None
