"""What referrals announce: a referrer rewarded for the student they brought.

>>> from datetime import UTC, datetime
>>> ReferralRewarded(occurred_at=datetime(2026, 3, 2, tzinfo=UTC), referrer_id="ann",
...                  referred_id="bob", reward="REFERRAL-0123456789AB").referrer_id
'ann'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type


@event_type("referrals.referral_rewarded", aggregate="student", field="referrer_id")
@attrs.frozen(kw_only=True)
class ReferralRewarded(DomainEvent):
    referrer_id: str
    referred_id: str
    #: the code of the coupon issued to the referrer (single-use, theirs only)
    reward: str
