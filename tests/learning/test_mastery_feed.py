"""Graded work feeds mastery (a projection, each graded attempt once, in feed order), and
the school keeps one prerequisite graph: mastery's follows the curricula."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.errors import PrerequisitesDisagree
from eduengine.learning import Assignment, Curriculum, KnowledgePoint, WorkKind
from eduengine.learning.handlers import MASTERY_PROJECTION
from eduengine.mastery import DEFAULT_PARAMS
from eduengine.mastery.model import update
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import ENGLISH, set_up_course

TEACHER = Actor(id="t1", role="teacher")


def a_school(store: StoreHandle, *, inline: bool = True) -> tuple[School, FixedClock]:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, inline_projections=inline)
    set_up_course(school.learning)
    return school, clock


def graded(school: School, work: str, student: str, score: str, unit: str = "u1") -> str:
    [work_id] = school.learning.assign(
        Assignment(id=work, kind=WorkKind.HOMEWORK, course_id="en1", unit_id=unit,
                   teacher_id=TEACHER.id),
        student_ids=[student],
    )
    school.learning.submit(student, work_id)
    school.learning.grade(TEACHER, work_id, score=Decimal(score))
    return work_id


def expected(*scores: str) -> Decimal:
    p = DEFAULT_PARAMS.prior
    for s in scores:
        p = update(p, DEFAULT_PARAMS, Decimal(s))
    return p


def test_grading_work_moves_the_mastery_of_each_point_it_exercises(store: StoreHandle) -> None:
    school, clock = a_school(store)
    graded(school, "hw1", "ann", "0.9")
    clock.advance(timedelta(hours=1))
    graded(school, "hw2", "ann", "0.4")
    state = school.mastery.mastery("ann", actor=SYSTEM)
    assert sorted(state) == ["greetings", "numbers"]
    for point in ("greetings", "numbers"):
        assert state[point].mastery == expected("0.9", "0.4")
        assert state[point].observations == 2
        assert state[point].last_observed == T0 + timedelta(hours=1)
    assert school.mastery.mastery("bob", actor=SYSTEM) == {}


def test_each_graded_attempt_is_applied_once_through_rebuilds_and_replays(
    store: StoreHandle,
) -> None:
    school, clock = a_school(store, inline=False)
    graded(school, "hw1", "ann", "0.9")
    assert school.mastery.mastery("ann", actor=SYSTEM) == {}  # nothing until the projection runs
    school.projections.catch_up()
    before = school.mastery.mastery("ann", actor=SYSTEM)
    assert before["greetings"].observations == 1
    school.projections.rebuild(MASTERY_PROJECTION)
    # a worker that crashed after applying, its checkpoint lost: the replay skips it too
    with store.unit_of_work() as uow:
        uow.records.delete("projection_checkpoint", MASTERY_PROJECTION)
        uow.commit()
    school.projections.catch_up()
    assert school.mastery.mastery("ann", actor=SYSTEM) == before
    clock.advance(timedelta(hours=1))
    graded(school, "hw2", "ann", "0.9")
    school.projections.catch_up()
    assert school.mastery.mastery("ann", actor=SYSTEM)["numbers"].observations == 2


def test_a_grade_dated_before_the_last_observation_is_applied_at_that_time(
    store: StoreHandle,
) -> None:
    school, _ = a_school(store)
    later = T0 + timedelta(days=2)
    # the host observed her on greetings two days from now (a test it ran elsewhere)
    school.mastery.observe("ann", "greetings", Decimal("0.5"), at=later)
    graded(school, "hw1", "ann", "0.9")
    state = school.mastery.mastery("ann", actor=SYSTEM)
    assert state["greetings"].observations == 2
    assert state["greetings"].last_observed == later
    assert state["greetings"].mastery == expected("0.5", "0.9")
    assert state["numbers"].last_observed == T0  # untouched points keep the grade's time
    # two grades of the same instant both count, in feed order
    graded(school, "hw2", "ann", "0.2")
    state = school.mastery.mastery("ann", actor=SYSTEM)
    assert state["numbers"].observations == 2
    assert state["numbers"].mastery == expected("0.9", "0.2")


def test_an_erased_student_feeds_no_mastery(store: StoreHandle) -> None:
    school, _ = a_school(store, inline=False)
    school.students.register("ann", name="Ann")
    graded(school, "hw1", "ann", "0.9")
    school.students.erase(Actor(id="a1", role="admin"), "ann")
    school.projections.catch_up()
    assert school.mastery.mastery("ann", actor=SYSTEM) == {}


def test_the_mastery_graph_follows_the_curriculum(store: StoreHandle) -> None:
    school, _ = a_school(store)
    assert school.mastery.prerequisites() == {
        "greetings": (),
        "numbers": (),
        "past-tense": ("greetings", "numbers"),
    }
    # redefined without past-tense: the point leaves the graph
    school.learning.define_curriculum(
        Curriculum(course_id="en1", points=ENGLISH.points[:2], units=ENGLISH.units[:1])
    )
    assert school.mastery.prerequisites() == {"greetings": (), "numbers": ()}
    step = school.mastery.next_step("ann", actor=SYSTEM)
    assert step.candidates.keys() == {"greetings", "numbers"}


def test_no_two_graphs_can_disagree(store: StoreHandle) -> None:
    school, _ = a_school(store)
    # mastery cannot give a curriculum's point other prerequisites
    with pytest.raises(PrerequisitesDisagree) as refused:
        school.mastery.define_point("greetings", prerequisites=["numbers"])
    assert refused.value.course_id == "en1"
    school.mastery.define_point("greetings")  # the same prerequisites: fine
    # a course sharing a point must give it the same prerequisites
    with pytest.raises(PrerequisitesDisagree):
        school.learning.define_curriculum(
            Curriculum(course_id="en2", points=(
                KnowledgePoint(id="numbers"),
                KnowledgePoint(id="past-tense", prerequisites=("numbers",)),
            ))
        )
    # a point defined in mastery alone is the curriculum's once a curriculum names it
    school.mastery.define_point("x", prerequisites=["greetings"])
    school.learning.define_curriculum(
        Curriculum(course_id="en2", points=(
            KnowledgePoint(id="numbers"),
            KnowledgePoint(id="x", prerequisites=("numbers",)),
        ))
    )
    graph = school.mastery.prerequisites()
    assert graph["x"] == ("numbers",) and graph["past-tense"] == ("greetings", "numbers")
    with pytest.raises(Exception, match="has a curriculum"):
        school.mastery.define_course("en1", ["greetings"])
