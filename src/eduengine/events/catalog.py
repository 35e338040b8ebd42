"""Every library event type, registered before anything reads or writes the feed.

Each package's ``events`` module registers its classes as they are defined
(:func:`eduengine.kernel.events.event_type`); importing them all here means a process
knows every library type name (to decode an envelope, to write the schema) even before it
has used the feature that raises it. This module imports event modules and nothing else.

>>> from eduengine.kernel.events import kind_named
>>> kind_named("levels.level_up").cls.__module__
'eduengine.levels.events'
"""

from __future__ import annotations

from eduengine.analytics import events as analytics
from eduengine.availability import events as availability
from eduengine.booking import events as booking
from eduengine.deals import events as deals
from eduengine.kernel.events import register_event
from eduengine.levels import events as levels
from eduengine.policies import events as policies
from eduengine.pricing import events as pricing
from eduengine.referrals import events as referrals
from eduengine.reminders import events as reminders
from eduengine.rush import events as rush
from eduengine.students import events as students

__all__ = [
    "analytics",
    "availability",
    "booking",
    "levels",
    "policies",
    "reminders",
    "rush",
    "students",
]

# Temporary (issue #21, Phase B removes it): deals, pricing and referrals still define
# their events in modules being split, so they are registered here, by the names they
# always had, until each package's events module puts @event_type on them.
for _cls, _name, _aggregate, _field in [
    (deals.GroupOpened, "deals.group_opened", "group", "group_id"),
    (deals.MemberJoined, "deals.member_joined", "group", "group_id"),
    (deals.MemberLeft, "deals.member_left", "group", "group_id"),
    (deals.GroupFormed, "deals.group_formed", "group", "group_id"),
    (deals.GroupFailed, "deals.group_failed", "group", "group_id"),
    (deals.AccessGranted, "deals.access_granted", "group", "group_id"),
    (deals.RefundIssued, "deals.refund_issued", "group", "group_id"),
    (deals.RiskDecisionRecorded, "deals.risk_decision_recorded", "student", "student_id"),
    (referrals.ReferralRewarded, "referrals.referral_rewarded", "student", "referrer_id"),
    (pricing.OrderPaid, "pricing.order_paid", "order", "order_id"),
    (pricing.OrderCancelled, "pricing.order_cancelled", "order", "order_id"),
]:
    register_event(_cls, _name, aggregate_type=_aggregate, aggregate_field=_field)
