"""Group deals (拼团): campaigns, groups, payments, refunds, anti-abuse, referrals."""

from eduengine.deals.events import (
    AccessGranted,
    GroupFailed,
    GroupFormed,
    GroupOpened,
    MemberJoined,
    MemberLeft,
    RefundIssued,
    RiskDecisionRecorded,
)
from eduengine.deals.metrics import DealMetrics
from eduengine.deals.model import GroupDeal, GroupDealCampaign, GroupState, Member
from eduengine.deals.risk import (
    JoinAttempt,
    RiskDecision,
    RiskRule,
    SameDevice,
    SameIp,
    SamePaymentAccount,
    TooManyGroups,
)
from eduengine.deals.service import DealService
from eduengine.pricing.events import ReferralRewarded

__all__ = [
    "AccessGranted",
    "DealMetrics",
    "DealService",
    "GroupDeal",
    "GroupDealCampaign",
    "GroupFailed",
    "GroupFormed",
    "GroupOpened",
    "GroupState",
    "JoinAttempt",
    "Member",
    "MemberJoined",
    "MemberLeft",
    "ReferralRewarded",
    "RefundIssued",
    "RiskDecision",
    "RiskDecisionRecorded",
    "RiskRule",
    "SameDevice",
    "SameIp",
    "SamePaymentAccount",
    "TooManyGroups",
]
