"""What referrals announce: a referrer rewarded for the student they brought. The class is
defined with the reward, in :mod:`eduengine.pricing.events`; this documented path
re-exports it.

>>> from datetime import UTC, datetime
>>> ReferralRewarded(occurred_at=datetime(2026, 3, 2, tzinfo=UTC), referrer_id="ann",
...                  referred_id="bob", reward="REFERRAL-0123456789AB").referrer_id
'ann'
"""

from eduengine.pricing.events import ReferralClawedBack, ReferralRewarded

__all__ = ["ReferralClawedBack", "ReferralRewarded"]
