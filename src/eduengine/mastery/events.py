"""The events of mastery and spaced review: each registers its stable type name as it is
defined. They are numbered in the stream ``mastery:<student id>``.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(MasteryUpdated).name
'mastery.mastery_updated'
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "GoalsSet",
    "MasteryUpdated",
    "ReviewScheduled",
]


@event_type("mastery.mastery_updated", aggregate="mastery", field="student_id")
@attrs.frozen(kw_only=True)
class MasteryUpdated(DomainEvent):
    """An observation of a knowledge point moved the student's mastery estimate."""

    student_id: str
    point_id: str
    #: the observation: 1 right, 0 wrong, or the score in between
    score: Decimal
    before: Decimal
    after: Decimal
    observations: int


@event_type("mastery.review_scheduled", aggregate="mastery", field="student_id")
@attrs.frozen(kw_only=True)
class ReviewScheduled(DomainEvent):
    """FSRS set the next review of a knowledge point (after an observation of it)."""

    student_id: str
    point_id: str
    due: datetime
    #: FSRS's rating of the observation: 1 again, 2 hard, 3 good, 4 easy
    rating: int
    #: the review settings' version the card is scheduled with
    version: str


@event_type("mastery.goals_set", aggregate="mastery", field="student_id")
@attrs.frozen(kw_only=True)
class GoalsSet(DomainEvent):
    student_id: str
    points: tuple[str, ...]
    courses: tuple[str, ...]
