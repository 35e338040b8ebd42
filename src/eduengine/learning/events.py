"""The events of the learning record: each registers its stable type name as it is defined.

Every step of a homework or assessment is an event (for notices to students and
guardians, analytics, XP, mastery); scores are fractions from 0 to 1, as decimal
strings in the feed.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(WorkGraded).name
'learning.work_graded'
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "BaselineSet",
    "CurriculumDefined",
    "TeacherNoteAdded",
    "WorkAssigned",
    "WorkEvent",
    "WorkGraded",
    "WorkReturned",
    "WorkSubmitted",
]


@event_type("learning.curriculum_defined", aggregate="course", field="course_id")
@attrs.frozen(kw_only=True)
class CurriculumDefined(DomainEvent):
    """A course's curriculum was defined or replaced."""

    course_id: str
    units: tuple[str, ...]
    points: tuple[str, ...]


@event_type("learning.work_assigned", aggregate="work", field="work_id")
@attrs.frozen(kw_only=True)
class WorkAssigned(DomainEvent):
    work_id: str
    student_id: str
    #: homework | assessment | diagnostic
    kind: str
    course_id: str
    unit_id: str | None
    assignment_id: str
    title: str
    teacher_id: str
    due_at: datetime | None
    max_attempts: int
    points: tuple[str, ...] = ()


@event_type("learning.work_submitted", aggregate="work", field="work_id")
@attrs.frozen(kw_only=True)
class WorkSubmitted(DomainEvent):
    work_id: str
    student_id: str
    #: homework | assessment | diagnostic
    kind: str
    course_id: str
    unit_id: str | None
    attempt: int
    late: bool
    attempts_left: int


@event_type("learning.work_graded", aggregate="work", field="work_id")
@attrs.frozen(kw_only=True)
class WorkGraded(DomainEvent):
    """A submission was graded: what mastery, XP and reports learn from.

    ``points`` are the knowledge points the work exercises, ``score`` a fraction from 0
    to 1, ``dimensions`` the rubric: ``(dimension id, fraction)`` pairs."""

    work_id: str
    student_id: str
    #: homework | assessment | diagnostic
    kind: str
    course_id: str
    unit_id: str | None
    points: tuple[str, ...]
    score: Decimal
    dimensions: tuple[tuple[str, Decimal], ...]
    graded_at: datetime
    grader: str
    attempt: int
    late: bool
    comment: str | None = None


@event_type("learning.work_returned", aggregate="work", field="work_id")
@attrs.frozen(kw_only=True)
class WorkReturned(DomainEvent):
    """A submission was sent back for rework (a re-submission is due)."""

    work_id: str
    student_id: str
    #: homework | assessment | diagnostic
    kind: str
    course_id: str
    unit_id: str | None
    attempt: int
    returned_by: str
    due_at: datetime | None
    comment: str | None = None


@event_type("learning.baseline_set", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class BaselineSet(DomainEvent):
    """A graded diagnostic set the student's baseline per ability dimension."""

    student_id: str
    course_id: str
    work_id: str
    dimensions: tuple[tuple[str, Decimal], ...]


@event_type("learning.teacher_note_added", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class TeacherNoteAdded(DomainEvent):
    student_id: str
    note_id: str
    author_id: str
    course_id: str | None
    text: str


#: the events of one student's homework, assessment or diagnostic
WorkEvent = WorkAssigned | WorkSubmitted | WorkGraded | WorkReturned
