"""Referral rewards (老带新), shared by every way a student pays: the records and the rules.

They live with pricing because the reward is a coupon issued in the paying unit of work,
and both checkout and group deals pay through here; :mod:`eduengine.referrals` re-exports
every name (its documented path).

A referral is recorded before the new student's first paid order; when that order
completes (a checkout or a group-deal payment), the referrer is rewarded exactly once.
Both the referral and the student's paid-order count are JSON documents locked by the
unit of work, so two orders completing at once still reward once.

The reward is a real coupon, issued in the paying unit of work by the school's
:class:`ReferralReward`: single-use, redeemable only by the referrer, under a code made
from the two students (so issuing it again finds it instead of making another).
``ReferralRewarded.reward`` is that code:

>>> from datetime import UTC, datetime
>>> reward = ReferralReward(kind=DiscountKind.AMOUNT, value=Money("50", "CNY"))
>>> coupon = reward.coupon_for("ann", "bob", datetime(2026, 3, 2, tzinfo=UTC))
>>> coupon.student_id, coupon.max_redemptions, coupon.code.startswith("REFERRAL-")
('ann', 1, True)
>>> coupon.code == reward.coupon_for("ann", "bob", datetime(2026, 4, 1, tzinfo=UTC)).code
True
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from eduengine.errors import CouponNotFound, DuplicateId, InvalidInput, InvalidTransition
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id
from eduengine.kernel.money import Money
from eduengine.pricing.coupons import COUPONS, _find_coupon, _redeemed, issue_coupon
from eduengine.pricing.events import ReferralClawedBack, ReferralRewarded
from eduengine.pricing.rules import Coupon, DiscountKind
from eduengine.service_layer.ports import UnitOfWork

CUSTOMERS = "customer"
REFERRALS = "referral"
#: a clawed-back reward the referrer had used already, keyed by the referred student
REFERRAL_DEBTS = "referral_debt"


@attrs.frozen(kw_only=True)
class ReferralReward:
    """What a referrer earns when the student they brought pays a first order: a coupon
    of ``kind`` and ``value`` (an amount, or a percentage in (0, 100]), valid for
    ``valid_for`` from the reward (``None``: no end), optionally with a ``min_spend`` or
    only for ``course_ids``. Each reward is single-use and only the referrer may redeem
    it. The default, 50 % off one order, is a placeholder: a school sets its own with
    ``School.build(referral_reward=...)``.
    """

    kind: DiscountKind = DiscountKind.PERCENT
    value: Decimal | Money = Decimal("50")
    valid_for: timedelta | None = timedelta(days=90)
    min_spend: Money | None = None
    course_ids: frozenset[str] | None = None
    #: codes read ``<prefix>-<12 hex digits>``
    prefix: str = "REFERRAL"
    #: the reward is clawed back if the order that earned it is refunded within this
    #: long of the reward (``None``: never)
    claw_back_within: timedelta | None = timedelta(days=30)

    def __attrs_post_init__(self) -> None:
        if self.valid_for is not None and (
            not isinstance(self.valid_for, timedelta) or self.valid_for <= timedelta(0)
        ):
            raise InvalidInput(f"valid_for must be a positive timedelta, got {self.valid_for!r}")
        if self.claw_back_within is not None and (
            not isinstance(self.claw_back_within, timedelta)
            or self.claw_back_within <= timedelta(0)
        ):
            raise InvalidInput(
                f"claw_back_within must be a positive timedelta, got {self.claw_back_within!r}"
            )
        if not isinstance(self.prefix, str) or not self.prefix.strip():
            raise InvalidInput(f"prefix must be a non-empty string, got {self.prefix!r}")
        # the coupon checks kind, value, min_spend and course ids: fail at configuration
        self.coupon_for("referrer", "referred", datetime(2000, 1, 1, tzinfo=UTC))

    def code_for(self, referrer_id: str, referred_id: str) -> str:
        """The coupon code of the reward for bringing ``referred_id``: the same every
        time, so the reward is issued once however often it is issued."""
        digest = hashlib.sha256(f"{referrer_id}\x00{referred_id}".encode()).hexdigest()
        return f"{self.prefix.strip()}-{digest[:12].upper()}"

    def coupon_for(self, referrer_id: str, referred_id: str, now: datetime) -> Coupon:
        return Coupon(
            code=self.code_for(referrer_id, referred_id),
            kind=self.kind,
            value=self.value,
            valid_from=now,
            valid_until=None if self.valid_for is None else now + self.valid_for,
            min_spend=self.min_spend,
            max_redemptions=1,
            max_per_student=1,
            course_ids=self.course_ids,
            student_id=referrer_id,
        )


#: the reward when a school configures none
DEFAULT_REFERRAL_REWARD = ReferralReward()


def referral_reward(value: object) -> ReferralReward:
    """``value`` if it is a :class:`ReferralReward`; a clear refusal otherwise (a bare
    coupon name, as earlier versions took, named a coupon nobody created)."""
    if not isinstance(value, ReferralReward):
        raise InvalidInput(
            f"referral_reward must be a ReferralReward (the coupon to issue), got {value!r}"
        )
    return value


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
    uow: UnitOfWork,
    student_id: str,
    now: datetime,
    reward: ReferralReward,
    *,
    order: str | None = None,
) -> tuple[bool, list[DomainEvent]]:
    """Count a paid order; returns whether it was the student's first, and any reward
    (its coupon issued in ``uow``). ``order`` names the order (``order:<id>`` or
    ``deal:<group>:<student>``): a refund of that order within the reward's
    ``claw_back_within`` claws the reward back (:func:`claw_back`)."""
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
    coupon = reward.coupon_for(referral["referrer"], student_id, now)
    issue_coupon(uow, coupon)
    referral["coupon"] = coupon.code
    referral["order"] = order
    referral["claw_back_until"] = (
        None
        if order is None or reward.claw_back_within is None
        else dt_out(now + reward.claw_back_within)
    )
    uow.records.put(REFERRALS, student_id, referral)
    return True, [
        ReferralRewarded(
            occurred_at=now,
            referrer_id=referral["referrer"],
            referred_id=student_id,
            reward=coupon.code,
        )
    ]


def debtor_index(referrer_id: str) -> str:
    """The index that files a referrer's claw-back debts by time."""
    return f"referrer:{referrer_id}"


def is_revoked(doc: dict[str, Any]) -> bool:
    """Whether a stored coupon document was revoked (a clawed-back reward)."""
    return bool(doc.get("revoked"))


def claw_back(uow: UnitOfWork, student_id: str, order: str, at: datetime) -> list[DomainEvent]:
    """``order`` of ``student_id`` was refunded at ``at``: if it is the order that earned
    a referral reward, within the reward's window, revoke the reward's coupon (nobody
    can redeem it any more) and, if the referrer redeemed it already, record a debt
    (kind :data:`REFERRAL_DEBTS`, keyed by the referred student). Once per reward: the
    referral document, read under its lock, remembers it was clawed back."""
    referral = uow.records.get(REFERRALS, student_id)
    if (
        referral is None
        or not referral.get("rewarded")
        or referral.get("order") != order
        or referral.get("clawed_back")
        or referral.get("claw_back_until") is None
        or at > dt_in(referral["claw_back_until"])
    ):
        return []
    code: str = referral["coupon"]
    used, debt = False, None
    try:
        key, found = _find_coupon(uow, code)
    except CouponNotFound:  # deleted by the host: nothing left to revoke
        pass
    else:
        coupon = Coupon.from_record(found["coupon"])
        used = _redeemed(found) > 0
        if used and isinstance(coupon.value, Money) and coupon.kind is DiscountKind.AMOUNT:
            debt = coupon.value
        uow.records.put(COUPONS, key, {**found, "revoked": dt_out(at)})
    referral["clawed_back"] = dt_out(at)
    uow.records.put(REFERRALS, student_id, referral)
    if used:
        uow.records.put(
            REFERRAL_DEBTS,
            student_id,
            {
                "referrer": referral["referrer"],
                "referred": student_id,
                "coupon": code,
                "order": order,
                "amount": None if debt is None else debt.to_record(),
                "at": dt_out(at),
            },
            index={debtor_index(referral["referrer"]): micros(at)},
        )
    return [
        ReferralClawedBack(
            occurred_at=at,
            referrer_id=referral["referrer"],
            referred_id=student_id,
            reward=code,
            order=order,
            used=used,
            debt=debt,
        )
    ]
