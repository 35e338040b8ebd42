"""Composing a student's learning report from the learning record inside a unit of
work, and planning it as notices to her and each guardian allowed to see reports.

Every read is indexed by student and time: her archive lines of the period (lessons at
their start, graded work when graded), her works assigned in it, the graded attempts
mastery learnt from in it (each point's mastery before and after), her baseline, and
the learning path's next step. Students with learning activity are found through the
index ``active`` of kind :data:`~eduengine.learning.records.ACTIVE` (the time of each
student's latest archive line), so a period's sweep reads only students active since it
began.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from eduengine.analytics.model import Period
from eduengine.kernel.codec import micros
from eduengine.learning import records as rec
from eduengine.learning.model import WorkKind
from eduengine.learning.report import (
    DimensionScore,
    LearningReport,
    NextStep,
    PointGain,
    render_html,
    render_text,
)
from eduengine.mastery.service import MasteryService
from eduengine.notices.model import NoticePolicy, Recipient
from eduengine.notices.planning import Audience, plan, preferences
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students.model import GuardianRole
from eduengine.students.records import STUDENTS

__all__ = ["LEARNING_REPORT", "active_students", "audience", "compose", "period_key", "send"]

#: the notice kind (and template) of a learning report
LEARNING_REPORT = "learning_report"


def period_key(period: Period) -> str:
    """A period's part of a report's key: its bounds in microseconds."""
    return f"{micros(period.start)}-{micros(period.end)}"


def _within(uow: UnitOfWork, kind: str, student_id: str, period: Period) -> list[str]:
    rows = uow.records.scan(
        kind, rec.by_student(student_id), lo=micros(period.start), hi=micros(period.end) - 1
    )
    return [key for key, _ in rows]


def compose(
    uow: UnitOfWork,
    student_id: str,
    period: Period,
    *,
    mastery: MasteryService,
    now: datetime,
) -> LearningReport:
    """Her report for ``period``: lessons attended and missed that started in it;
    homework assigned in it, how much was submitted and how much on time (its first
    submission not late); per ability dimension, the mean rubric value of the work
    (not diagnostics) graded in it against her baseline; per knowledge point, her
    mastery before the period's first graded observation and after its last; and the
    learning path's next step at ``now``."""
    zone = period.tz
    attended = missed = 0
    scores: dict[str, list[Decimal]] = {}
    for key in _within(uow, rec.ARCHIVE, student_id, period):
        line = uow.records.get(rec.ARCHIVE, key)
        if line is None:
            continue
        if line["kind"] == "lesson_attended":
            attended += 1
        elif line["kind"] == "lesson_missed":
            missed += 1
        elif (
            line["kind"] == "work_graded"
            and line["detail"]["work_kind"] != WorkKind.DIAGNOSTIC.value
        ):
            for dimension, value in line["detail"]["dimensions"].items():
                scores.setdefault(dimension, []).append(Decimal(value))
    assigned = submitted = on_time = 0
    for key in _within(uow, rec.WORKS, student_id, period):
        work = rec.load_work(uow, key)
        if work.kind is not WorkKind.HOMEWORK:
            continue
        assigned += 1
        if work.attempts:
            submitted += 1
            on_time += not work.attempts[0].late
    baseline_doc = uow.records.get(rec.BASELINES, student_id) or {"dimensions": {}}
    baseline = {d: Decimal(v) for d, v in baseline_doc["dimensions"].items()}
    dimensions = tuple(
        DimensionScore(
            dimension_id=d,
            baseline=baseline.get(d),
            average=sum(scores[d], Decimal(0)) / len(scores[d]) if d in scores else None,
            graded=len(scores.get(d, ())),
        )
        for d in sorted(set(baseline) | set(scores))
    )
    first: dict[str, Decimal] = {}
    last: dict[str, Decimal] = {}
    for key in _within(uow, rec.OBSERVED, student_id, period):
        doc = uow.records.get(rec.OBSERVED, key)
        for point_id, before, after in (doc or {"points": []})["points"]:
            first.setdefault(point_id, Decimal(before))
            last[point_id] = Decimal(after)
    # under the report's own access check: the unchecked step, in the report's reads
    step = mastery._next_step_in(uow, student_id, now)
    profile = uow.records.get(STUDENTS, student_id) or {}
    return LearningReport(
        student_id=student_id,
        name=profile.get("name"),
        zone=getattr(zone, "key", "UTC"),
        start=period.start.astimezone(zone),
        end=period.end.astimezone(zone),
        lessons_attended=attended,
        lessons_missed=missed,
        homework_assigned=assigned,
        homework_submitted=submitted,
        homework_on_time=on_time,
        dimensions=dimensions,
        mastery=tuple(PointGain(point_id=p, before=first[p], after=last[p]) for p in sorted(first)),
        next_step=NextStep(kind=step.kind, point_id=step.point_id, why=step.explain()),
    )


def audience(uow: UnitOfWork, student_id: str, policy: NoticePolicy) -> Audience:
    """The student, and each guardian holding the ``see_reports`` role (a guardian who
    only receives reminders gets no report), with their notice preferences."""
    doc = uow.records.get(STUDENTS, student_id) or {}
    found = [
        Recipient(
            id=student_id,
            student_id=student_id,
            name=doc.get("name"),
            phone=doc.get("phone"),
            email=doc.get("email"),
        )
    ]
    if not doc.get("erased"):
        # the n-th guardian is "<student>#guardian<n>", as for every notice
        for n, guardian in enumerate(doc.get("guardians", [])):
            if GuardianRole.SEE_REPORTS.value in guardian.get("roles", []):
                found.append(
                    Recipient(
                        id=f"{student_id}#guardian{n}",
                        student_id=student_id,
                        role="guardian",
                        name=guardian.get("name"),
                        phone=guardian.get("phone"),
                        email=guardian.get("email"),
                    )
                )
    return [(r, preferences(uow, r.id, policy)) for r in found]


def send(
    uow: UnitOfWork,
    report: LearningReport,
    period: Period,
    policy: NoticePolicy | None,
    now: datetime,
) -> int:
    """Store the report and plan its notices (once per recipient: a notice's id joins
    the kind, the student and period, and the recipient); returns the notices planned."""
    key = f"{report.student_id}|{period_key(period)}"
    uow.records.put(
        rec.REPORTS,
        key,
        report.to_record(),
        index={rec.by_student(report.student_id): micros(period.start)},
    )
    if policy is None:
        return 0
    return plan(
        uow,
        policy,
        kind=LEARNING_REPORT,
        key=key,
        student_id=report.student_id,
        context={
            "report": report.to_record(),
            "text": render_text(report),
            "html": render_html(report),
        },
        now=now,
        audience=audience(uow, report.student_id, policy),
    )


def active_students(uow: UnitOfWork, period: Period) -> Iterable[str]:
    """Students whose latest archive line is at or after the period's start (a
    superset of those with activity in it)."""
    return [key for key, _ in uow.records.scan(rec.ACTIVE, "active", lo=micros(period.start))]
