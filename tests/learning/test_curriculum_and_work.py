"""The curriculum's graph rules, and homework and assessments handed to a class or a
session, with late windows, a diagnostic baseline and due times in the student's zone."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from eduengine import FixedClock, School
from eduengine.errors import (
    CurriculumNotFound,
    DeadlinePassed,
    DuplicateId,
    EduEngineError,
    InvalidInput,
    OutOfRange,
    PrerequisiteCycle,
    UnknownDimension,
    UnknownKnowledgePoint,
    WorkNotFound,
    WrongType,
)
from eduengine.learning import (
    Assignment,
    BaselineSet,
    Curriculum,
    KnowledgePoint,
    LearningService,
    Unit,
    WorkKind,
)
from eduengine.people import SYSTEM
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import ENGLISH, set_up_course

TEACHER = Actor(id="t1", role="teacher")


def dump(store: StoreHandle) -> str:
    return json.dumps(store.snapshot(), default=str, sort_keys=True)


def homework(**fields: object) -> Assignment:
    values: dict[str, object] = {
        "id": "hw",
        "kind": WorkKind.HOMEWORK,
        "course_id": "en1",
        "unit_id": "u1",
        "teacher_id": TEACHER.id,
        "due_at": T0 + timedelta(days=1),
    }
    values.update(fields)
    return Assignment(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("curriculum", "error"),
    [
        (
            Curriculum(
                course_id="c",
                points=(
                    KnowledgePoint(id="a", prerequisites=("c",)),
                    KnowledgePoint(id="b", prerequisites=("a",)),
                    KnowledgePoint(id="c", prerequisites=("b",)),
                ),
            ),
            PrerequisiteCycle,
        ),
        (
            Curriculum(course_id="c", points=(KnowledgePoint(id="a", prerequisites=("a",)),)),
            PrerequisiteCycle,
        ),
        (
            Curriculum(course_id="c", points=(KnowledgePoint(id="a", prerequisites=("zz",)),)),
            UnknownKnowledgePoint,
        ),
        (
            Curriculum(
                course_id="c",
                points=(KnowledgePoint(id="a"),),
                units=(Unit(id="u", points=("b",)),),
            ),
            UnknownKnowledgePoint,
        ),
        (
            Curriculum(
                course_id="c",
                points=(KnowledgePoint(id="a"),),
                units=(Unit(id="u", points=("a",), dimensions=("charisma",)),),
            ),
            UnknownDimension,
        ),
        (
            Curriculum(course_id="c", points=(KnowledgePoint(id="a"), KnowledgePoint(id="a"))),
            InvalidInput,
        ),
    ],
)
def test_a_curriculum_with_a_cycle_or_an_unknown_name_is_refused_and_stores_nothing(
    store: StoreHandle, curriculum: Curriculum, error: type[EduEngineError]
) -> None:
    learning = LearningService(store.unit_of_work, clock=FixedClock(T0))
    set_up_course(learning)
    before = dump(store)
    with pytest.raises(error):
        learning.define_curriculum(curriculum)
    assert dump(store) == before
    with pytest.raises(CurriculumNotFound):
        learning.curriculum("c")


def test_a_curriculum_is_stored_and_ordered_by_its_prerequisites(store: StoreHandle) -> None:
    learning = LearningService(store.unit_of_work, clock=FixedClock(T0))
    set_up_course(learning)
    assert learning.curriculum("en1") == ENGLISH
    assert ENGLISH.order() == ["greetings", "numbers", "past-tense"]
    assert [d.id for d in learning.dimensions()] == ["vocabulary", "fluency", "speed"]


def test_homework_goes_to_a_class_and_to_the_students_of_a_session(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    set_up_course(school.learning)
    school.students.create_class(SchoolClass(id="A", name="A", capacity=5))
    for sid in ("ann", "bob"):
        school.students.register(sid, name=sid)
        school.students.assign(sid, "A")
    start = T0 + timedelta(hours=2)
    slot = school.booking.create_slot("en1", start, start + timedelta(hours=1), capacity=5)
    school.booking.book(slot.id, "cat")
    gone = school.booking.book(slot.id, "dan")
    school.booking.cancel(gone.id)
    assert school.learning.assign(homework(id="hwA"), class_id="A") == ["hwA:ann", "hwA:bob"]
    assert school.learning.assign(homework(id="hwS"), slot_id=slot.id) == ["hwS:cat"]
    assert school.learning.work("hwS:cat", actor=SYSTEM).points == ("greetings", "numbers")
    with pytest.raises(DuplicateId):
        school.learning.assign(homework(id="hwA"), student_ids=["bob"])
    with pytest.raises(InvalidInput):
        school.learning.assign(homework(id="hwX"), student_ids=["ann"], class_id="A")
    with pytest.raises(UnknownKnowledgePoint):
        school.learning.assign(homework(id="hwY", points=("nope",)), student_ids=["ann"])
    with pytest.raises(CurriculumNotFound):
        school.learning.assign(homework(id="hwZ", course_id="math"), student_ids=["ann"])


def test_a_late_window_takes_late_work_and_then_closes(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    learning = LearningService(store.unit_of_work, clock=clock)
    set_up_course(learning)
    learning.assign(homework(id="a", late_window=timedelta(hours=2)), student_ids=["ann", "bob"])
    clock.advance(timedelta(days=1, hours=1))
    assert learning.submit("ann", "a:ann").attempts[0].late is True
    clock.advance(timedelta(hours=1, seconds=1))
    before = dump(store)
    with pytest.raises(DeadlinePassed):
        learning.submit("bob", "a:bob")
    assert dump(store) == before
    with pytest.raises(WorkNotFound):
        learning.submit("bob", "a:ann")  # another student's work


def test_a_graded_diagnostic_sets_the_baseline_per_dimension(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    learning = LearningService(store.unit_of_work, clock=clock)
    set_up_course(learning)
    [work_id] = learning.assign(
        Assignment(id="dx", kind=WorkKind.DIAGNOSTIC, course_id="en1", teacher_id="t1"),
        student_ids=["ann"],
    )
    assert learning.work(work_id, actor=SYSTEM).dimensions == ("fluency", "speed", "vocabulary")
    learning.submit("ann", work_id)
    with pytest.raises(UnknownDimension):
        learning.grade(TEACHER, work_id, score=Decimal("0.5"), rubric={"charisma": Decimal(1)})
    with pytest.raises(WrongType):
        learning.grade(TEACHER, work_id, score=0.5)  # type: ignore[arg-type]
    with pytest.raises(OutOfRange):
        learning.grade(TEACHER, work_id, score=Decimal("1.5"))
    assert learning.baseline("ann", actor=SYSTEM) == {}
    learning.grade(
        Actor(id="a9", role="academic"),
        work_id,
        score=Decimal("0.6"),
        rubric={"vocabulary": Decimal("0.7"), "fluency": Decimal("0.4")},
    )
    assert learning.baseline("ann", actor=SYSTEM) == {
        "fluency": Decimal("0.4"),
        "vocabulary": Decimal("0.7"),
    }


def test_a_diagnostic_raises_baseline_set_on_the_feed(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0))
    set_up_course(school.learning)
    [work_id] = school.learning.assign(
        Assignment(id="dx", kind=WorkKind.DIAGNOSTIC, course_id="en1", teacher_id="t1"),
        student_ids=["ann"],
    )
    school.learning.submit("ann", work_id)
    school.learning.grade(TEACHER, work_id, score=Decimal(1), rubric={"speed": Decimal("0.5")})
    events = [e.event for e in school.feed.events_since(0, limit=500)]
    [baseline] = [e for e in events if isinstance(e, BaselineSet)]
    assert baseline.dimensions == (("speed", Decimal("0.5")),)


def test_due_times_are_kept_aware_and_shown_in_the_students_zone(store: StoreHandle) -> None:
    learning = LearningService(store.unit_of_work, clock=FixedClock(T0))
    set_up_course(learning)
    learning.assign(homework(id="z"), student_ids=["ann"])
    assert learning.work("z:ann", actor=SYSTEM).due_at == T0 + timedelta(days=1)
    learning.set_zone("ann", ZoneInfo("Asia/Shanghai"))
    due = learning.works_of("ann", actor=SYSTEM)[0].due_at
    assert due is not None and due == T0 + timedelta(days=1)
    assert due.tzinfo == ZoneInfo("Asia/Shanghai") and due.hour == 17
