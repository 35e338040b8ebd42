"""How group deals are stored: record kinds, index names and the helpers that read and
write campaigns, groups, participation and the risk log.

>>> risk_index("ann"), group_risk_index("g1"), deal_order("g1", "bob")
('student:ann', 'group:g1', 'deal:g1:bob')
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eduengine.deals.model import GroupDeal, GroupDealCampaign, Member
from eduengine.errors import CampaignNotFound, GroupNotFound
from eduengine.kernel.codec import dt_in, micros
from eduengine.payments.intents import record_refund
from eduengine.service_layer.ports import RecordRepository, UnitOfWork

CAMPAIGNS = "deal_campaign"


GROUPS = "group_deal"


CODES = "deal_share_code"


PARTICIPATION = "deal_participation"


ACTIVITY = "deal_activity"


RISK_LOG = "deal_risk_log"


#: share links by token
SHARE_LINKS = "deal_share_link"


#: a sharer's link to a campaign or group, keyed ``<campaign>|<group or ->|<sharer>``:
#: sharing the same thing twice hands out the same link
SHARERS = "deal_sharer"


#: each attributed student's first and last touch, keyed by student
ATTRIBUTION = "deal_attribution"


#: a device, IP or payment account seen in a group of a campaign (anti-abuse across
#: groups), keyed ``<campaign>|<field>|<digest>|<student>|<group>``
SIGHTINGS = "deal_sighting"


#: the owner name of group deals' payment intents
DEAL_OWNER = "deal"


def deal_order(group_id: str, student_id: str) -> str:
    """How a member's group-deal payment is named as an order (a referral reward's
    ``order``, matched by its claw-back)."""
    return f"deal:{group_id}:{student_id}"


def risk_index(student_id: str) -> str:
    """The index that files a student's risk-log entries by time."""
    return f"student:{student_id}"


def _campaign(uow: UnitOfWork, campaign_id: str) -> GroupDealCampaign:
    doc = uow.records.get(CAMPAIGNS, campaign_id)
    if doc is None:
        raise CampaignNotFound(str(campaign_id))
    return GroupDealCampaign.from_record(doc)


def _group(uow: UnitOfWork, group_id: str) -> GroupDeal:
    doc = uow.records.get(GROUPS, group_id) if isinstance(group_id, str) else None
    if doc is None:
        raise GroupNotFound(str(group_id))
    return GroupDeal.from_record(doc)


def save_group(uow: UnitOfWork, group: GroupDeal, now: datetime) -> None:
    """Store a group with the index entries its state calls for (every put replaces
    them all, so this is the only way a group is written), and file a refund intent for
    each member whose refund is due (so the payment sweep retries it too)."""
    group.note_refunds(now)
    uow.records.put(GROUPS, group.id, group.to_record(), index=group.index_entries())
    for m in group.members:
        if m.status == "refund_due" and m.charge_id is not None:
            record_refund(
                uow,
                f"refund:{group.id}:{m.student_id}",
                owner=DEAL_OWNER,
                ref={"group_id": group.id, "student_id": m.student_id},
                charge_id=m.charge_id,
                amount=group.price,
                now=now,
            )


def _charge_key(group_id: str, member: Member) -> str:
    return member.charge_key or f"charge:{group_id}:{member.student_id}"


def group_risk_index(group_id: str) -> str:
    """The index that files the risk-log entries about a group by time."""
    return f"group:{group_id}"


def put_risk_entry(records: RecordRepository, key: str, entry: dict[str, Any]) -> None:
    at = micros(dt_in(entry["at"]))
    index = {risk_index(entry["student_id"]): at}
    if entry.get("group_id"):
        index[group_risk_index(entry["group_id"])] = at
    records.put(RISK_LOG, key, entry, index=index)


def _participation(uow: UnitOfWork, campaign_id: str, student_id: str) -> dict[str, Any]:
    return uow.records.get(PARTICIPATION, f"{campaign_id}:{student_id}") or {
        "groups": [],
        "opened": 0,
        "joined": 0,
    }
