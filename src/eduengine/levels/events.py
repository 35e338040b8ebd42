"""The events of XP, levels and badges: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(XpAwarded).name
'levels.xp_awarded'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "BadgeAwarded",
    "LevelUp",
    "XpAwarded",
    "XpRefused",
]


@event_type("levels.xp_awarded", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class XpAwarded(DomainEvent):
    student_id: str
    kind: str
    source_id: str
    points: int
    total: int


@event_type("levels.xp_refused", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class XpRefused(DomainEvent):
    student_id: str
    kind: str
    source_id: str
    reason: str


@event_type("levels.level_up", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class LevelUp(DomainEvent):
    student_id: str
    from_level: int
    to_level: int
    title: str | None


@event_type("levels.badge_awarded", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class BadgeAwarded(DomainEvent):
    student_id: str
    badge_id: str
    name: str
