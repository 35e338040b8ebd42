"""Group deals (拼团): campaigns, groups, payments, refunds, anti-abuse, referrals."""

from eduengine.deals.events import (
    AccessGranted,
    GroupFailed,
    GroupFormed,
    GroupOpened,
    JoinAttributed,
    MemberJoined,
    MemberLeft,
    RefundIssued,
    RegistrationAttributed,
    RiskDecisionRecorded,
    ShareLinkCreated,
)
from eduengine.deals.metrics import DealFigures, DealMetrics
from eduengine.deals.model import (
    Attribution,
    GroupDeal,
    GroupDealCampaign,
    GroupState,
    Member,
    ShareLink,
    Touch,
)
from eduengine.deals.risk import (
    AcrossGroups,
    JoinAttempt,
    RiskDecision,
    RiskRule,
    SameDevice,
    SameIp,
    SamePaymentAccount,
    Sighting,
    TooManyGroups,
)
from eduengine.deals.service import DealService
from eduengine.pricing.events import ReferralClawedBack, ReferralRewarded

__all__ = [
    "AccessGranted",
    "AcrossGroups",
    "Attribution",
    "DealFigures",
    "DealMetrics",
    "DealService",
    "GroupDeal",
    "GroupDealCampaign",
    "GroupFailed",
    "GroupFormed",
    "GroupOpened",
    "GroupState",
    "JoinAttempt",
    "JoinAttributed",
    "Member",
    "MemberJoined",
    "MemberLeft",
    "ReferralClawedBack",
    "ReferralRewarded",
    "RefundIssued",
    "RegistrationAttributed",
    "RiskDecision",
    "RiskDecisionRecorded",
    "RiskRule",
    "SameDevice",
    "SameIp",
    "SamePaymentAccount",
    "ShareLink",
    "ShareLinkCreated",
    "Sighting",
    "TooManyGroups",
    "Touch",
]
