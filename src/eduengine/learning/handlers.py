"""The learning archive as a projection of the event feed, and the learning record's
eraser.

The archive (学习档案) is a read model: lessons attended and missed (from the booking
core's attendance marks), each step of homework and assessments, baselines, teacher
notes and level changes, one line each, filed per student in time order. It is never
written by the command that books or marks a lesson: a projection applies
committed events after the fact, each once (:class:`eduengine.School` makes the
projection named :data:`ARCHIVE_PROJECTION` from :func:`archive_rules` and
:func:`reset_archive`), and can be dropped and rebuilt from the feed.
Every line has a key made from what it records (a lesson's booking, a work's attempt),
so a rebuild writes the same lines and a corrected attendance mark replaces its line.
"""

from __future__ import annotations

from datetime import datetime

from eduengine.booking.events import AttendanceMarked
from eduengine.kernel.codec import dt_out, micros
from eduengine.kernel.events import DomainEvent
from eduengine.learning import analytics as stats
from eduengine.learning import progress
from eduengine.learning import records as rec
from eduengine.learning.events import (
    BaselineSet,
    TeacherNoteAdded,
    WorkAssigned,
    WorkGraded,
    WorkReturned,
    WorkSubmitted,
)
from eduengine.learning.model import ArchiveEntry
from eduengine.levels.events import LevelUp
from eduengine.mastery.model import DEFAULT_PARAMS, BktParams
from eduengine.mastery.review import DEFAULT_REVIEW, ReviewSettings
from eduengine.mastery.service import mastery_in, observe_in, prior_in
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork

__all__ = [
    "ARCHIVE_PROJECTION",
    "MASTERY_PROJECTION",
    "archive_rules",
    "erase_learning",
    "keep_observations",
    "mastery_rules",
    "reset_archive",
]

#: the projection's name (its checkpoint's key)
ARCHIVE_PROJECTION = "learning_archive"
#: the projection that feeds graded work to mastery
MASTERY_PROJECTION = "learning_mastery"

_LESSON_KINDS = {"attended": "lesson_attended", "no_show": "lesson_missed"}


def _file(uow: UnitOfWork, key: str, entry: ArchiveEntry) -> None:
    if not rec.erased(uow, entry.student_id):
        rec.put_entry(uow, key, entry)


def on_attendance(event: DomainEvent, uow: UnitOfWork) -> None:
    """A lesson attended or missed, at the lesson's start (a corrected mark replaces it)."""
    assert isinstance(event, AttendanceMarked)
    key = f"{event.student_id}|lesson|{event.booking_id}"
    kind = _LESSON_KINDS.get(event.status)
    if kind is None:
        uow.records.delete(rec.ARCHIVE, key)
        return
    if rec.erased(uow, event.student_id):
        return
    slot = uow.slots.get(event.slot_id)
    rec.put_entry(
        uow,
        key,
        ArchiveEntry(
            student_id=event.student_id,
            at=slot.start,
            kind=kind,
            course_id=slot.course_id,
            ref=event.slot_id,
            detail={"booking_id": event.booking_id, "tutor_id": slot.tutor_id},
        ),
    )


def on_work(event: DomainEvent, uow: UnitOfWork) -> None:
    """A step of homework or an assessment, when it happened; its key orders the steps of
    one work that share an instant (assigned, then each attempt's submission and its
    grade or return)."""
    assert isinstance(event, WorkAssigned | WorkSubmitted | WorkGraded | WorkReturned)
    detail: dict[str, object] = {"work_kind": event.kind, "unit_id": event.unit_id}
    if isinstance(event, WorkAssigned):
        kind, step = "work_assigned", "000|0"
        detail |= {
            "title": event.title,
            "teacher_id": event.teacher_id,
            "due_at": None if event.due_at is None else event.due_at.isoformat(),
        }
    elif isinstance(event, WorkSubmitted):
        kind, step = "work_submitted", f"{event.attempt:03d}|1"
        detail |= {"attempt": event.attempt, "late": event.late}
    elif isinstance(event, WorkGraded):
        kind, step = "work_graded", f"{event.attempt:03d}|2"
        detail |= {
            "attempt": event.attempt,
            "score": str(event.score),
            "dimensions": {d: str(v) for d, v in event.dimensions},
            "grader": event.grader,
            "comment": event.comment,
        }
    else:
        kind, step = "work_returned", f"{event.attempt:03d}|2"
        detail |= {"attempt": event.attempt, "by": event.returned_by, "comment": event.comment}
    _file(
        uow,
        f"{event.student_id}|work|{event.work_id}|{step}",
        ArchiveEntry(
            student_id=event.student_id,
            at=event.occurred_at,
            kind=kind,
            course_id=event.course_id,
            ref=event.work_id,
            detail=detail,
        ),
    )


def on_baseline(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, BaselineSet)
    _file(
        uow,
        f"{event.student_id}|baseline|{event.work_id}",
        ArchiveEntry(
            student_id=event.student_id,
            at=event.occurred_at,
            kind="baseline_set",
            course_id=event.course_id,
            ref=event.work_id,
            detail={"dimensions": {d: str(v) for d, v in event.dimensions}},
        ),
    )


def on_note(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, TeacherNoteAdded)
    _file(
        uow,
        f"{event.student_id}|note|{event.note_id}",
        ArchiveEntry(
            student_id=event.student_id,
            at=event.occurred_at,
            kind="teacher_note",
            course_id=event.course_id,
            ref=event.note_id,
            detail={"author_id": event.author_id, "text": event.text},
        ),
    )


def on_level_up(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, LevelUp)
    _file(
        uow,
        f"{event.student_id}|level|{event.to_level}|{micros(event.occurred_at)}",
        ArchiveEntry(
            student_id=event.student_id,
            at=event.occurred_at,
            kind="level_changed",
            course_id=None,
            ref=str(event.to_level),
            detail={
                "from_level": event.from_level,
                "to_level": event.to_level,
                "title": event.title,
            },
        ),
    )


def archive_rules() -> dict[type[DomainEvent], list[Handler]]:
    """For each event, the handlers that file it in the archive."""
    return {
        AttendanceMarked: [on_attendance],
        WorkAssigned: [on_work],
        WorkSubmitted: [on_work],
        WorkGraded: [on_work],
        WorkReturned: [on_work],
        BaselineSet: [on_baseline],
        TeacherNoteAdded: [on_note],
        LevelUp: [on_level_up],
    }


def mastery_rules(
    defaults: BktParams = DEFAULT_PARAMS, settings: ReviewSettings = DEFAULT_REVIEW
) -> dict[type[DomainEvent], list[Handler]]:
    """Graded work feeds mastery: each graded attempt is one observation of every
    knowledge point the work exercises, scored with the work's score.

    Once per attempt: the attempt's record (kind :data:`~eduengine.learning.records.
    OBSERVED`) is written with the observations, so a rebuild or a replay after a crash
    applies nothing twice. In feed order: a grade dated before a point's last observation
    (a concurrent grade that committed first, or an observation a host dated later) is
    applied at that last observation's time rather than refused or dropped; grades of the
    same instant apply in feed order."""

    def on_graded(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, WorkGraded)
        key = f"{event.work_id}|{event.attempt:03d}"
        if not event.points or rec.erased(uow, event.student_id):
            return
        if uow.records.get(rec.OBSERVED, key) is not None:
            return
        known = mastery_in(uow, event.student_id)
        applied_at = event.graded_at
        gains = []
        for point_id in dict.fromkeys(event.points):
            state = known.get(point_id)
            before = state.mastery if state else prior_in(uow, point_id, defaults)
            at = max(event.graded_at, state.last_observed) if state else event.graded_at
            applied_at = max(applied_at, at)
            after = observe_in(
                uow,
                event.student_id,
                point_id,
                event.score,
                at,
                defaults=defaults,
                settings=settings,
            )
            gains.append([point_id, str(before), str(after.mastery)])
        uow.records.put(
            rec.OBSERVED,
            key,
            {
                "student_id": event.student_id,
                "work_id": event.work_id,
                "course_id": event.course_id,
                "score": str(event.score),
                "at": dt_out(applied_at),
                "points": gains,
            },
            index={rec.by_student(event.student_id): micros(applied_at)},
        )

    return {WorkGraded: [on_graded]}


def keep_observations(uow: UnitOfWork) -> None:
    """A rebuild of the mastery feed drops nothing: each attempt's record says it was
    applied, so the replay applies only what never was."""


def reset_archive(uow: UnitOfWork) -> None:
    """Drop every archive line (a rebuild files them again from the feed; the erasure
    marks stay, so an erased student's past is not filed again)."""
    for key, _ in uow.records.list(rec.ARCHIVE):
        uow.records.delete(rec.ARCHIVE, key)


def erase_learning(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """The learning record's eraser: a student's archive, works (with their submissions),
    baseline and settings go; the archive files nothing more for them. Returns how many
    documents were removed."""
    removed = 0
    for kind in (rec.ARCHIVE, rec.WORKS, rec.OBSERVED, rec.REPORTS, stats.WORKS):
        for key, _ in uow.records.scan(kind, rec.by_student(student_id)):
            uow.records.delete(kind, key)
            removed += 1
    for kind in (rec.BASELINES, rec.SETTINGS, rec.ACTIVE):
        if uow.records.get(kind, student_id) is not None:
            uow.records.delete(kind, student_id)
            removed += 1
    removed += progress.erase_progress(uow, student_id)
    rec.mark_erased(uow, student_id, now)
    return removed
