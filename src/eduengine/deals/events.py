"""The events of group deals (their type names are in :mod:`eduengine.events.registry`).

They are plain classes here; the event registry files them under their public names.

>>> from datetime import datetime, timezone
>>> GroupFailed(occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc), group_id="g1",
...             members=("ann",)).members
('ann',)
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.pricing.money import Money


@attrs.frozen(kw_only=True)
class GroupOpened(DomainEvent):
    group_id: str
    campaign_id: str
    initiator: str
    share_code: str
    deadline: datetime


@attrs.frozen(kw_only=True)
class MemberJoined(DomainEvent):
    """A member's payment was confirmed (the opener's too, with ``is_initiator``).

    ``new_student`` is true when the group brought the school a new student: a member
    other than the opener whose payment is their first paid order. The opener is never
    a new student of their own group (before this was settled the opener's first order
    counted too, which made a group nobody joined score 1 in the viral coefficient).
    """

    group_id: str
    student_id: str
    amount: Money
    members: int
    still_needed: int
    seconds_left: int
    new_student: bool
    is_initiator: bool = False
    #: the member joined a group that had formed already (a place between
    #: ``required_size`` and ``max_size``): no ``GroupFormed`` follows for them, so this
    #: event carries their "you are in" notice and their access comes with it
    joined_formed: bool = False


@attrs.frozen(kw_only=True)
class MemberLeft(DomainEvent):
    group_id: str
    student_id: str


@attrs.frozen(kw_only=True)
class GroupFormed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    forced: bool


@attrs.frozen(kw_only=True)
class GroupFailed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    cancelled: bool = False


@attrs.frozen(kw_only=True)
class AccessGranted(DomainEvent):
    group_id: str
    student_id: str
    course_id: str


@attrs.frozen(kw_only=True)
class RefundIssued(DomainEvent):
    group_id: str
    student_id: str
    amount: Money
    refund_id: str


@attrs.frozen(kw_only=True)
class RiskDecisionRecorded(DomainEvent):
    student_id: str
    group_id: str | None
    level: str
    reasons: tuple[str, ...]
