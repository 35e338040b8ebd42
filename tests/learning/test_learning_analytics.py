"""Learning analytics: the projection's homework rates and scores equal a recount of the
works, by course, class, teacher and dimension, for a period in the school's zone, and
after a rebuild."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.analytics.model import Period
from eduengine.errors import InvalidInput
from eduengine.learning import Assignment, Curriculum, KnowledgePoint, Unit, Work, WorkKind
from eduengine.learning.analytics import ANALYTICS_PROJECTION, LearningRow
from eduengine.people import SYSTEM
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import set_up_course

ZONE = "Asia/Shanghai"
WEEK = Period.week(date(2026, 3, 2), ZONE)
STUDENTS = {"ann": "A", "bob": "A", "cy": "B", "dee": "B"}


def a_term(store: StoreHandle) -> School:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    set_up_course(school.learning)
    school.learning.define_curriculum(
        Curriculum(course_id="math", points=(KnowledgePoint(id="add"),),
                   units=(Unit(id="m1", points=("add",), dimensions=("speed",)),))
    )
    for cid in ("A", "B"):
        school.students.create_class(SchoolClass(id=cid, name=cid, capacity=9))
    for sid, cid in STUDENTS.items():
        school.students.register(sid, name=sid)
        school.students.assign(sid, cid)
    plan = [  # (assignment, course, unit, teacher, class, days from T0)
        ("e1", "en1", "u1", "t1", "A", 0),
        ("e2", "en1", "u2", "t2", "B", 1),
        ("m1", "math", "m1", "t2", "A", 2),
        ("m2", "math", "m1", "t1", "B", 9),  # next week
    ]
    for n, (aid, course, unit, teacher, cid, days) in enumerate(plan):
        clock.set(T0 + timedelta(days=days))
        works = school.learning.assign(
            Assignment(id=aid, kind=WorkKind.HOMEWORK, course_id=course, unit_id=unit,
                       teacher_id=teacher, due_at=clock.now() + timedelta(days=1),
                       late_window=timedelta(days=1)),
            class_id=cid,
        )
        dims = school.learning.work(works[0], actor=SYSTEM).dimensions
        for i, work_id in enumerate(works):
            if (n + i) % 3 == 2:
                continue  # never handed in
            clock.set(T0 + timedelta(days=days, hours=30 if i % 2 else 3))  # 2nd: late
            student = school.learning.work(work_id, actor=SYSTEM).student_id
            school.learning.submit(student, work_id)
            score = Decimal(5 + n + i) / 10
            school.learning.grade(Actor(id=teacher, role="teacher"), work_id, score=score,
                                  rubric={d: score / 2 for d in dims})
    return school


def recount(school: School, by: str) -> list[LearningRow]:
    works: list[Work] = [w for sid in STUDENTS for w in school.learning.works_of(sid, actor=SYSTEM)]
    rows: dict[str, dict[str, object]] = {}

    def into(group: str) -> dict[str, object]:
        return rows.setdefault(group, {"assigned": 0, "submitted": 0, "on_time": 0,
                                       "graded": 0, "score_sum": Decimal(0)})

    def inside(at: object) -> bool:
        return WEEK.start <= at < WEEK.end  # type: ignore[operator]

    for w in works:
        groups = {"course": w.course_id, "class": STUDENTS[w.student_id],
                  "teacher": w.teacher_id, "school": "school"}
        if by in groups and inside(w.assigned_at):
            row = into(groups[by])
            row["assigned"] += 1  # type: ignore[operator]
            if w.attempts:
                row["submitted"] += 1  # type: ignore[operator]
                row["on_time"] += 0 if w.attempts[0].late else 1  # type: ignore[operator]
        last = w.last
        if last is not None and last.score is not None and inside(last.submitted_at):
            # graded at once after the submission: the same hour
            if by == "dimension":
                for d, v in last.rubric:
                    row = into(d)
                    row["graded"] += 1  # type: ignore[operator]
                    row["score_sum"] += v  # type: ignore[operator]
            elif by in groups:
                row = into(groups[by])
                row["graded"] += 1  # type: ignore[operator]
                row["score_sum"] += last.score  # type: ignore[operator]
    return [LearningRow(group=g, **r) for g, r in sorted(rows.items())]  # type: ignore[arg-type]


def test_the_projection_equals_a_recount_of_the_works_and_survives_a_rebuild(
    store: StoreHandle,
) -> None:
    school = a_term(store)
    for by in ("course", "class", "teacher", "dimension", "school"):
        assert school.learning.analytics(WEEK, by=by) == recount(school, by), by
    [total] = school.learning.analytics(WEEK, by="school")
    assert (total.assigned, total.submitted) == (6, 4)
    assert total.submission_rate == Decimal(4) / 6 and total.on_time_rate is not None
    before = {by: school.learning.analytics(WEEK, by=by) for by in ("course", "dimension")}
    school.projections.rebuild(ANALYTICS_PROJECTION)
    assert {by: school.learning.analytics(WEEK, by=by) for by in before} == before
    with pytest.raises(InvalidInput):
        school.learning.analytics(WEEK, by="weekday")
