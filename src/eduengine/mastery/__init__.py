"""The learning record's model: mastery per knowledge point (Bayesian Knowledge Tracing),
spaced review (FSRS), the learning path and recommendations of the next course and slot.

See docs/mastery.md.
"""

from eduengine.mastery.events import GoalsSet, MasteryUpdated, ReviewScheduled
from eduengine.mastery.model import DEFAULT_PARAMS, BktParams
from eduengine.mastery.path import MASTERED, DueReview, PathStep
from eduengine.mastery.recommend import CourseRank, Goals, Ranked, SlotRank
from eduengine.mastery.review import DEFAULT_REVIEW, ReviewCard, ReviewSettings
from eduengine.mastery.service import (
    MasteryService,
    PointMastery,
    define_curriculum_in,
    erase_mastery,
    mastery_in,
    observe_in,
    prior_in,
)

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_REVIEW",
    "MASTERED",
    "BktParams",
    "CourseRank",
    "DueReview",
    "Goals",
    "GoalsSet",
    "MasteryService",
    "MasteryUpdated",
    "PathStep",
    "PointMastery",
    "Ranked",
    "ReviewCard",
    "ReviewScheduled",
    "ReviewSettings",
    "SlotRank",
    "define_curriculum_in",
    "erase_mastery",
    "mastery_in",
    "observe_in",
    "prior_in",
]
