"""Referrals (老带新): a referrer is rewarded, once, when the student they brought pays a
first order.

- :mod:`eduengine.referrals.events`: ``ReferralRewarded``;
- :mod:`eduengine.referrals.records`: the records (``CUSTOMERS``, ``REFERRALS``), the
  school's :class:`ReferralReward`, :func:`register` and :func:`order_paid`.

Everything is re-exported here, so ``from eduengine import referrals`` then
``referrals.register(uow, ...)`` works:

>>> from eduengine import InMemoryStore
>>> store = InMemoryStore()
>>> with store.unit_of_work() as uow:
...     register(uow, "ann", "bob")
...     uow.records.get(REFERRALS, "bob")
{'referrer': 'ann', 'rewarded': False}
"""

from eduengine.referrals.events import ReferralRewarded
from eduengine.referrals.records import (
    CUSTOMERS,
    DEFAULT_REFERRAL_REWARD,
    REFERRALS,
    ReferralReward,
    order_paid,
    referral_reward,
    register,
)

__all__ = [
    "CUSTOMERS",
    "DEFAULT_REFERRAL_REWARD",
    "REFERRALS",
    "ReferralReward",
    "ReferralRewarded",
    "order_paid",
    "referral_reward",
    "register",
]
