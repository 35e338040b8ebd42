"""The learning record (学习档案): the curriculum (courses, units, knowledge points,
ability dimensions), homework and assessments with their rules, diagnostic baselines,
teacher notes, and each student's learning archive, a projection of the event feed."""

from eduengine.learning.events import (
    BaselineSet,
    CurriculumDefined,
    TeacherNoteAdded,
    WorkAssigned,
    WorkGraded,
    WorkReturned,
    WorkSubmitted,
)
from eduengine.learning.model import (
    AbilityDimension,
    ArchiveEntry,
    ArchivePage,
    Assignment,
    Attempt,
    Curriculum,
    KnowledgePoint,
    Unit,
    Work,
    WorkKind,
    WorkState,
)
from eduengine.learning.service import LearningService

__all__ = [
    "AbilityDimension",
    "ArchiveEntry",
    "ArchivePage",
    "Assignment",
    "Attempt",
    "BaselineSet",
    "Curriculum",
    "CurriculumDefined",
    "KnowledgePoint",
    "LearningService",
    "TeacherNoteAdded",
    "Unit",
    "Work",
    "WorkAssigned",
    "WorkGraded",
    "WorkKind",
    "WorkReturned",
    "WorkState",
    "WorkSubmitted",
]
