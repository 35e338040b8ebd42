@attrs.frozen(kw_only=True)
class ReferralRewarded(DomainEvent):
    referrer_id: str
    referred_id: str
    #: the code of the coupon issued to the referrer (single-use, theirs only)
    reward: str
