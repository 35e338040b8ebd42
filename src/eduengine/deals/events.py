"""The events of group deals (each registered under its public type name as it is defined).

>>> from datetime import datetime, timezone
>>> GroupFailed(occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc), group_id="g1",
...             members=("ann",)).members
('ann',)
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type
from eduengine.kernel.money import Money


@event_type("deals.group_opened", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class GroupOpened(DomainEvent):
    group_id: str
    campaign_id: str
    initiator: str
    share_code: str
    deadline: datetime
    #: the campaign's course (``None`` in feed rows written before 0.4 carried it)
    course_id: str | None = None


@event_type("deals.member_joined", aggregate="group", field="group_id")
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
    #: the guardian who paid for the place on the student's behalf (``None``: she did)
    payer_id: str | None = None
    #: the course this member takes (a campaign may cover several courses of one price
    #: band); ``None`` in feed rows written before members chose a course
    course_id: str | None = None


@event_type("deals.member_left", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class MemberLeft(DomainEvent):
    group_id: str
    student_id: str


@event_type("deals.group_formed", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class GroupFormed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    forced: bool


@event_type("deals.group_failed", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class GroupFailed(DomainEvent):
    group_id: str
    members: tuple[str, ...]
    cancelled: bool = False


@event_type("deals.access_granted", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class AccessGranted(DomainEvent):
    group_id: str
    student_id: str
    course_id: str


@event_type("deals.refund_issued", aggregate="group", field="group_id")
@attrs.frozen(kw_only=True)
class RefundIssued(DomainEvent):
    group_id: str
    student_id: str
    amount: Money
    refund_id: str


@event_type("deals.risk_decision_recorded", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class RiskDecisionRecorded(DomainEvent):
    student_id: str
    group_id: str | None
    level: str
    reasons: tuple[str, ...]


@event_type("deals.share_link_created", aggregate="student", field="sharer_id")
@attrs.frozen(kw_only=True)
class ShareLinkCreated(DomainEvent):
    """A student made a share link to a campaign, or to one of its groups."""

    token: str
    sharer_id: str
    campaign_id: str
    group_id: str | None


@event_type("deals.registration_attributed", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class RegistrationAttributed(DomainEvent):
    """A student registered through a share link: attributed to its sharer.

    ``first_touch``: this is the first link the student came through (kept for good);
    ``new_student``: she had no paid order then; ``referred``: the sharer became her
    referrer (her first paid order earns the sharer the referral reward).
    """

    student_id: str
    sharer_id: str
    token: str
    campaign_id: str
    group_id: str | None
    first_touch: bool
    new_student: bool
    referred: bool


@event_type("deals.join_attributed", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class JoinAttributed(DomainEvent):
    """A student opened or joined a group through a share link (``opened`` tells which):
    attributed to its sharer; the flags read as in :class:`RegistrationAttributed`."""

    student_id: str
    sharer_id: str
    token: str
    campaign_id: str
    group_id: str
    first_touch: bool
    new_student: bool
    referred: bool
    opened: bool = False
