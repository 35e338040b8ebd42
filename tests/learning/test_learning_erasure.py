"""Erasure removes a student's learning record: her archive, works and submissions,
baseline and settings, and the archive files nothing of her again, not from events
still waiting in the feed nor in a rebuild. Other students keep theirs."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from eduengine import FixedClock, School
from eduengine.learning import Assignment, WorkKind
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import set_up_course

ACADEMIC = Actor(id="a1", role="academic")
SECRET = "Ann-Erasable answers 7f3a"
NOTE = "Ann-Erasable note: shy in class"


def dump(store: StoreHandle) -> str:
    return json.dumps(store.snapshot(), default=str, sort_keys=True)


def test_erasure_removes_the_archive_and_submissions_and_nothing_is_filed_again(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    # the reactions wait for a worker: events of Ann are still unapplied at erasure
    school = School.build(store, clock=clock, inline_projections=False)
    set_up_course(school.learning)
    for sid in ("ann", "bob"):
        school.students.register(sid, name=sid)
    school.learning.set_zone("ann", ZoneInfo("Asia/Shanghai"))
    works = school.learning.assign(
        Assignment(id="dx", kind=WorkKind.DIAGNOSTIC, course_id="en1", teacher_id="t1"),
        student_ids=["ann", "bob"],
    )
    for work_id, student in zip(works, ("ann", "bob"), strict=True):
        school.learning.submit(student, work_id, content=f"{SECRET} {student}")
        clock.advance(timedelta(minutes=1))
        school.learning.grade(
            ACADEMIC, work_id, score=Decimal("0.5"), rubric={"vocabulary": Decimal("0.5")}
        )
    school.projections.catch_up()
    clock.advance(timedelta(minutes=1))
    school.learning.add_note(ACADEMIC, "ann", NOTE)  # not applied to the archive yet
    assert len(school.learning.archive(ACADEMIC, "ann").entries) == 4

    report = school.students.erase(ACADEMIC, "ann")
    # archive lines, work, the graded attempt mastery learnt from, baseline, zone
    # and her activity mark and her progress analytics' document
    assert report.removed["learning"] == 4 + 1 + 1 + 1 + 1 + 1 + 1
    school.projections.catch_up()

    assert school.learning.archive(ACADEMIC, "ann").entries == ()
    assert school.learning.works_of("ann", actor=SYSTEM) == []
    assert school.learning.baseline("ann", actor=SYSTEM) == {}
    text = dump(store)
    assert SECRET + " ann" not in text and NOTE not in text
    assert SECRET + " bob" in text
    assert len(school.learning.archive(ACADEMIC, "bob").entries) == 4
    assert school.learning.baseline("bob", actor=SYSTEM) == {"vocabulary": Decimal("0.5")}

    school.projections.rebuild("learning_archive")
    assert school.learning.archive(ACADEMIC, "ann").entries == ()
    assert len(school.learning.archive(ACADEMIC, "bob").entries) == 4
