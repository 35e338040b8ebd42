"""Learning analytics as a projection of the feed: homework submission and on-time rates
and average scores by course, class, teacher and ability dimension, per UTC hour, read
for any period (whole hours) in the school's zone without scanning works.

Counters are cells (kind :data:`CELLS`) keyed ``<by>|<group>|<hour>``, filed under the
index ``by:<by>`` at the hour (microseconds), so a period's query reads only the cells of
its hours. Homework is counted in the hour it was **assigned** (assigned, submitted at
least once, first submission on time), so a rate compares like with like; a grade in
the hour it was **graded** (score sum and count; per dimension, the rubric's). Each
work's first submission is counted once: the work's own small document (kind
:data:`WORKS`) remembers its cells and whether it was submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from eduengine.analytics.model import Period, rate
from eduengine.kernel.codec import micros
from eduengine.kernel.events import DomainEvent
from eduengine.learning import records as rec
from eduengine.learning.events import WorkAssigned, WorkGraded, WorkSubmitted
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as students

__all__ = [
    "ANALYTICS_PROJECTION",
    "BY",
    "CELLS",
    "WORKS",
    "LearningRow",
    "analytics_rules",
    "read_rows",
    "reset_analytics",
]

#: the projection's name
ANALYTICS_PROJECTION = "learning_analytics"
CELLS = "learning_stats"
WORKS = "learning_stats_work"
#: the breakdowns a query offers
BY = ("course", "class", "teacher", "dimension", "school")


@attrs.frozen(kw_only=True)
class LearningRow:
    """One group's homework and scores over a period (rates ``None`` when nothing was
    counted)."""

    group: str
    assigned: int
    submitted: int
    on_time: int
    graded: int
    score_sum: Decimal

    @property
    def submission_rate(self) -> Decimal | None:
        return rate(self.submitted, self.assigned)

    @property
    def on_time_rate(self) -> Decimal | None:
        return rate(self.on_time, self.assigned)

    @property
    def average_score(self) -> Decimal | None:
        return None if not self.graded else self.score_sum / self.graded


def _hour(at: datetime) -> int:
    return micros(at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))


def _bump(uow: UnitOfWork, by: str, group: str, hour: int, **add: Any) -> None:
    key = f"{by}|{group}|{hour}"
    doc = uow.records.get(CELLS, key) or {
        "by": by,
        "group": group,
        "assigned": 0,
        "submitted": 0,
        "on_time": 0,
        "graded": 0,
        "score": "0",
    }
    for name, value in add.items():
        if name == "score":
            doc["score"] = str(Decimal(doc["score"]) + value)
        else:
            doc[name] += value
    uow.records.put(CELLS, key, doc, index={f"by:{by}": hour})


def _groups(doc: dict[str, Any]) -> Iterable[tuple[str, str]]:
    yield "school", "school"
    yield "course", doc["course"]
    yield "teacher", doc["teacher"]
    if doc["class"] is not None:
        yield "class", doc["class"]


def on_assigned(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, WorkAssigned)
    if event.kind != "homework" or uow.records.get(WORKS, event.work_id) is not None:
        return
    if rec.erased(uow, event.student_id):
        return  # a rebuild files nothing of an erased student again
    profile = uow.records.get(students.STUDENTS, event.student_id) or {}
    hour = _hour(event.occurred_at)
    doc: dict[str, Any] = {
        "hour": hour,
        "course": event.course_id,
        "teacher": event.teacher_id,
        "class": profile.get("class_id"),
        "submitted": False,
    }
    uow.records.put(WORKS, event.work_id, doc, index={rec.by_student(event.student_id): hour})
    for by, group in _groups(doc):
        _bump(uow, by, group, hour, assigned=1)


def on_submitted(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, WorkSubmitted)
    doc = uow.records.get(WORKS, event.work_id)
    if doc is None or doc["submitted"]:
        return
    doc["submitted"] = True
    uow.records.put(
        WORKS, event.work_id, doc, index={rec.by_student(event.student_id): doc["hour"]}
    )
    for by, group in _groups(doc):
        _bump(uow, by, group, doc["hour"], submitted=1, on_time=0 if event.late else 1)


def on_graded(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, WorkGraded)
    if event.kind != "homework":
        return
    doc = uow.records.get(WORKS, event.work_id)
    if doc is None:
        return
    hour = _hour(event.graded_at)
    for by, group in _groups(doc):
        _bump(uow, by, group, hour, graded=1, score=event.score)
    for dimension, value in event.dimensions:
        _bump(uow, "dimension", dimension, hour, graded=1, score=value)


def analytics_rules() -> dict[type[DomainEvent], list[Handler]]:
    return {
        WorkAssigned: [on_assigned],
        WorkSubmitted: [on_submitted],
        WorkGraded: [on_graded],
    }


def reset_analytics(uow: UnitOfWork) -> None:
    """Drop every cell and work note (a rebuild counts them again from the feed)."""
    for kind in (CELLS, WORKS):
        for key, _ in uow.records.list(kind):
            uow.records.delete(kind, key)


def read_rows(uow: UnitOfWork, period: Period, by: str) -> list[LearningRow]:
    """The rows of ``period`` (the cells of the hours starting in it), by group."""
    rows = uow.records.scan(CELLS, f"by:{by}", lo=micros(period.start), hi=micros(period.end) - 1)
    sums: dict[str, dict[str, Any]] = {}
    for key, _ in rows:
        doc = uow.records.get(CELLS, key)
        if doc is None:
            continue
        into = sums.setdefault(
            doc["group"],
            {"assigned": 0, "submitted": 0, "on_time": 0, "graded": 0, "score": Decimal(0)},
        )
        for name in ("assigned", "submitted", "on_time", "graded"):
            into[name] += doc[name]
        into["score"] += Decimal(doc["score"])
    return [
        LearningRow(
            group=group,
            assigned=s["assigned"],
            submitted=s["submitted"],
            on_time=s["on_time"],
            graded=s["graded"],
            score_sum=s["score"],
        )
        for group, s in sorted(sums.items())
    ]
