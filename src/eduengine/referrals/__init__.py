"""Referrals (老带新): a referrer is rewarded, once, when the student they brought pays a
first order.

- :mod:`eduengine.pricing.referrals`: the records (``CUSTOMERS``, ``REFERRALS``), the
  school's :class:`ReferralReward`, :func:`register` and :func:`order_paid` (with pricing:
  the reward is a coupon, issued by the payment that earns it);
- :mod:`eduengine.pricing.events`: ``ReferralRewarded`` (type name
  ``referrals.referral_rewarded``).

Everything is re-exported here, so ``from eduengine import referrals`` then
``referrals.register(uow, ...)`` works:

>>> from eduengine import InMemoryStore
>>> store = InMemoryStore()
>>> with store.unit_of_work() as uow:
...     register(uow, "ann", "bob")
...     uow.records.get(REFERRALS, "bob")
{'referrer': 'ann', 'rewarded': False}
"""

from eduengine.pricing.events import ReferralClawedBack, ReferralRewarded
from eduengine.pricing.referrals import (
    CUSTOMERS,
    DEFAULT_REFERRAL_REWARD,
    REFERRAL_DEBTS,
    REFERRALS,
    ReferralReward,
    claw_back,
    order_paid,
    referral_reward,
    register,
)

__all__ = [
    "CUSTOMERS",
    "DEFAULT_REFERRAL_REWARD",
    "REFERRALS",
    "REFERRAL_DEBTS",
    "ReferralClawedBack",
    "ReferralReward",
    "ReferralRewarded",
    "claw_back",
    "order_paid",
    "referral_reward",
    "register",
]
