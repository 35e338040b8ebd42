"""Referral rewards (老带新), shared by every way a student pays.

A referral is recorded before the new student's first paid order; when that order
completes (a checkout or a group-deal payment), the referrer is rewarded exactly once.
Both the referral and the student's paid-order count are JSON documents locked by the
unit of work, so two orders completing at once still reward once.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.errors import DuplicateId, InvalidInput, InvalidTransition
from eduengine.inputs import check_id
from eduengine.ports import UnitOfWork

CUSTOMERS = "customer"
REFERRALS = "referral"


@attrs.frozen(kw_only=True)
class ReferralRewarded(DomainEvent):
    referrer_id: str
    referred_id: str
    reward: str


def register(uow: UnitOfWork, referrer_id: str, referred_id: str) -> None:
    check_id(referrer_id, "referrer_id")
    check_id(referred_id, "referred_id")
    if referrer_id == referred_id:
        raise InvalidInput("a student cannot refer themselves")
    if uow.records.get(REFERRALS, referred_id) is not None:
        raise DuplicateId(f"student {referred_id!r} was already referred")
    customer = uow.records.get(CUSTOMERS, referred_id)
    if customer and customer["paid_orders"] > 0:
        raise InvalidTransition(f"student {referred_id!r} is not a new student")
    uow.records.put(REFERRALS, referred_id, {"referrer": referrer_id, "rewarded": False})


def order_paid(
    uow: UnitOfWork, student_id: str, now: datetime, reward: str
) -> tuple[bool, list[DomainEvent]]:
    """Count a paid order; returns whether it was the student's first, and any reward."""
    customer = uow.records.get(CUSTOMERS, student_id) or {"paid_orders": 0}
    first = customer["paid_orders"] == 0
    customer["paid_orders"] += 1
    uow.records.put(CUSTOMERS, student_id, customer)
    if not first:
        return False, []
    referral = uow.records.get(REFERRALS, student_id)
    if referral is None or referral["rewarded"]:
        return True, []
    referral["rewarded"] = True
    uow.records.put(REFERRALS, student_id, referral)
    return True, [
        ReferralRewarded(
            occurred_at=now, referrer_id=referral["referrer"], referred_id=student_id, reward=reward
        )
    ]
