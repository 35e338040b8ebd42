"""Erasing a student removes every learning record of hers (issue #23): the archive,
works and submissions, baseline, reports, mastery, review schedule and goals, quest
progress and XP ledger, certificates, her line in a contest, the analytics' notes of
her; nothing is filed again from events still waiting in the feed nor by a rebuild of
any projection; the other student keeps all of his."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from eduengine import FixedClock, School
from eduengine.analytics.model import Period
from eduengine.learning import Assignment, WorkKind
from eduengine.levels import LearningEvent, XpRule
from eduengine.milestones import Quest
from eduengine.notices import NoticePolicy
from eduengine.people import SYSTEM
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import set_up_course

ANN, BOB = "ann-7f3a", "bob-2c9e"
ACADEMIC = Actor(id="a1", role="academic")
KEY = b"a-school-key-of-32-bytes-exactly"
#: where a student id may stay after her erasure: the audit log (who read or erased her
#: record, never a value), the erasure marks that keep her out of every projection,
#: her scrubbed profile and the erasure's report
MAY_NAME_HER = {"audit", "learning_erased", "student", "erasure"}
#: records of modules outside the learning record that still name her after erasure
#: (her XP total, class roster, community membership, lifecycle and growth counters):
#: their erasure is those modules' own, not issue #23's
OUTSIDE = {
    "xp",
    "school_class",
    "community_member",
    "community_group",
    "analytics_student",
    "analytics_erased",  # the analytics' mark that she was erased (her opaque id only)
    "growth_student",
}


def her_documents(store: StoreHandle, student_id: str) -> dict[str, list[str]]:
    """Every document (by kind) whose key or content names ``student_id``."""
    found: dict[str, list[str]] = {}
    records: dict[str, dict[str, Any]] = store.snapshot()["records"]
    for kind, docs in records.items():
        for key, doc in docs.items():
            if student_id in key or student_id in json.dumps(doc, default=str):
                found.setdefault(kind, []).append(key)
    return found


def a_term(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(
        store,
        clock=clock,
        inline_projections=False,
        certificate_key=KEY,
        notices=NoticePolicy(reminders=()),
        xp_rules=[XpRule(kind="lesson_attended", points=60)],
    )
    learning = school.learning
    set_up_course(learning)
    school.students.create_class(SchoolClass(id="A", name="A", capacity=9))
    for sid in (ANN, BOB):
        school.students.register(sid, name=sid)
        school.students.assign(sid, "A")
    learning.set_zone(ANN, ZoneInfo("Asia/Shanghai"))
    school.milestones.define_quest(
        Quest(id="q1", title="Earn XP", measure="xp_earned", target=100,
              ends_at=T0 + timedelta(days=30))
    )
    school.milestones.define_contest(
        "spring", starts_at=T0, ends_at=T0 + timedelta(days=30),
        groups={"red": [ANN], "blue": [BOB]},
    )
    for aid, kind in (("dx", WorkKind.DIAGNOSTIC), ("hw", WorkKind.HOMEWORK)):
        works = learning.assign(
            Assignment(id=aid, kind=kind, course_id="en1", unit_id="u1", teacher_id="t1"),
            class_id="A",
        )
        for work_id in works:
            clock.advance(timedelta(minutes=5))
            student = work_id.split(":", 1)[1]
            learning.submit(student, work_id, content=f"answer of {student}")
            learning.grade(ACADEMIC, work_id, score=Decimal("0.9"),
                           rubric={"vocabulary": Decimal("0.8")}, comment=f"note {student}")
    school.mastery.set_goals(ANN, courses=["en1"])
    school.mastery.set_goals(BOB, courses=["en1"])
    for sid in (ANN, BOB):
        for n in range(2):
            school.levels.record(LearningEvent(student_id=sid, kind="lesson_attended",
                                               source_id=f"l{n}", occurred_at=clock.now()))
        school.milestones.complete_course(sid, "en1", title="English 1")
    learning.add_note(ACADEMIC, ANN, "shy in class")
    school.projections.catch_up()
    clock.advance(timedelta(days=7))
    learning.send_reports(Period.week(date(2026, 3, 2), "UTC"))
    school.projections.catch_up()
    # the reactions wait for a worker: these are still in the feed at her erasure
    [work_id] = learning.assign(
        Assignment(id="late", kind=WorkKind.HOMEWORK, course_id="en1", unit_id="u2",
                   teacher_id="t1"),
        student_ids=[ANN],
    )
    learning.submit(ANN, work_id)
    learning.grade(ACADEMIC, work_id, score=Decimal(1))
    school.levels.record(LearningEvent(student_id=ANN, kind="lesson_attended",
                                       source_id="l9", occurred_at=clock.now()))
    return school


def test_erasure_removes_every_learning_record_of_hers_and_nothing_comes_back(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = a_term(store, clock)
    before = her_documents(store, ANN)
    # she has a record in every module of the learning record before
    for kind in ("learning_work", "learning_archive", "learning_baseline", "learning_report",
                 "learning_observed", "learning_progress_student", "mastery_student",
                 "mastery_goals", "milestone_student", "certificate", "milestone_contest"):
        assert kind in before, kind
    bob_before = her_documents(store, BOB)

    school.students.erase(ACADEMIC, ANN)
    school.projections.catch_up()  # the events of hers still waiting
    for name in ("learning_archive", "learning_mastery", "learning_analytics",
                 "learning_progress"):
        school.projections.rebuild(name)

    left = her_documents(store, ANN)
    allowed = MAY_NAME_HER | OUTSIDE
    assert set(left) <= allowed, {k: v for k, v in left.items() if k not in allowed}
    assert school.learning.works_of(ANN, actor=SYSTEM) == []
    assert school.mastery.mastery(ANN, actor=SYSTEM) == {}
    assert school.mastery.due_reviews(ANN, actor=SYSTEM) == []
    assert school.milestones.certificates_of(ANN, actor=SYSTEM) == []
    assert all(p.count == 0 for p in school.milestones.quest_progress(ANN, actor=SYSTEM))
    # Bob keeps every record of his
    bob_after = her_documents(store, BOB)
    for kind in ("learning_work", "learning_archive", "learning_baseline", "learning_report",
                 "mastery_student", "mastery_goals", "milestone_student", "certificate",
                 "learning_progress_student"):
        assert bob_after.get(kind) == bob_before.get(kind), kind
    assert school.milestones.certificates_of(BOB, actor=SYSTEM)
    assert school.mastery.mastery(BOB, actor=SYSTEM)
