"""The events of milestones: each registers its stable type name as it is defined. A
student's are numbered in the stream ``milestones:<student id>``.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(QuestCompleted).name
'milestones.quest_completed'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "CertificateIssued",
    "ContestDefined",
    "QuestCompleted",
    "QuestDefined",
]


@event_type("milestones.quest_defined", aggregate="quest", field="quest_id")
@attrs.frozen(kw_only=True)
class QuestDefined(DomainEvent):
    quest_id: str
    title: str
    measure: str
    target: int
    ends_at: datetime


@event_type("milestones.quest_completed", aggregate="milestones", field="student_id")
@attrs.frozen(kw_only=True)
class QuestCompleted(DomainEvent):
    """A student reached a quest's target in time (once per student and quest); its
    rewards are given in the same unit of work."""

    student_id: str
    quest_id: str
    count: int
    reward_xp: int
    reward_badge: str | None


@event_type("milestones.contest_defined", aggregate="contest", field="contest_id")
@attrs.frozen(kw_only=True)
class ContestDefined(DomainEvent):
    contest_id: str
    teams: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime


@event_type("milestones.certificate_issued", aggregate="milestones", field="student_id")
@attrs.frozen(kw_only=True)
class CertificateIssued(DomainEvent):
    student_id: str
    certificate_id: str
    kind: str
    subject_id: str
    basis: str
