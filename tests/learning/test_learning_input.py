"""Fuzz of the input rule at the learning record's commands: a bad id, text, instant,
score or actor is refused with an ``EduEngineError`` that is no storage error and
changes nothing, on every adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.learning import Assignment, WorkKind
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.fuzz.harness import refused_cleanly
from tests.fuzz.strategies import any_id, any_text, bad_instants, bad_ints
from tests.learning.helpers import set_up_course

ACADEMIC = Actor(id="a1", role="academic")
scores: st.SearchStrategy[Any] = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.integers(-5, 5),
    st.none(),
    st.text(max_size=5),
    st.booleans(),
)
actors: st.SearchStrategy[Any] = st.one_of(
    st.builds(Actor, id=any_id, role=any_id),
    st.builds(
        Actor, id=st.sampled_from(["x", "t1"]), role=st.sampled_from(["teacher", "guardian"])
    ),
    st.builds(Actor, id=st.just("a1"), role=st.just("academic"), student_ids=any_id),
    any_id,
)
Command = Callable[[School, Any], object]
TABLE: list[tuple[str, st.SearchStrategy[Any], Command]] = [
    ("submit student", any_id, lambda s, v: s.learning.submit(v, "hw:ann")),
    ("submit work", any_id, lambda s, v: s.learning.submit("ann", v)),
    ("submit content", any_text, lambda s, v: s.learning.submit("ann", "hw:ann", content=v)),
    ("grade score", scores, lambda s, v: s.learning.grade(ACADEMIC, "hw:ann", score=v)),
    (
        "grade rubric",
        scores,
        lambda s, v: s.learning.grade(
            ACADEMIC, "hw:ann", score=Decimal(1), rubric={"vocabulary": v}
        ),
    ),
    ("grade actor", actors, lambda s, v: s.learning.grade(v, "hw:ann", score=Decimal(1))),
    ("return due", bad_instants, lambda s, v: s.learning.return_work(ACADEMIC, "hw:ann", due_at=v)),
    ("archive student", any_id, lambda s, v: s.learning.archive(ACADEMIC, v)),
    ("archive actor", actors, lambda s, v: s.learning.archive(v, "ann")),
    ("archive since", bad_instants, lambda s, v: s.learning.archive(ACADEMIC, "ann", since=v)),
    ("archive limit", bad_ints, lambda s, v: s.learning.archive(ACADEMIC, "ann", limit=v)),
    ("archive after", any_text, lambda s, v: s.learning.archive(ACADEMIC, "ann", after=v)),
    ("note text", any_text, lambda s, v: s.learning.add_note(ACADEMIC, "ann", v)),
    (
        "assign due",
        bad_instants,
        lambda s, v: s.learning.assign(
            Assignment(id="x", kind=WorkKind.HOMEWORK, course_id="en1", teacher_id="t", due_at=v),
            student_ids=["bob"],
        ),
    ),
    (
        "assign attempts",
        bad_ints,
        lambda s, v: s.learning.assign(
            Assignment(
                id="y", kind=WorkKind.HOMEWORK, course_id="en1", teacher_id="t", max_attempts=v
            ),
            student_ids=["bob"],
        ),
    ),
    (
        "assign students",
        any_id,
        lambda s, v: s.learning.assign(
            Assignment(id="z", kind=WorkKind.HOMEWORK, course_id="en1", teacher_id="t"),
            student_ids=[v],
        ),
    ),
]


def unaudited(store: StoreHandle) -> dict[str, Any]:
    """The store's state but the audit trail: a refused read is audited on purpose."""
    state = store.snapshot()
    records = dict(state["records"])
    for kind in ("audit", "audit_seq"):
        records.pop(kind, None)
    return {**state, "records": records}


def test_bad_input_to_the_learning_record_is_refused_cleanly(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    set_up_course(school.learning)
    school.students.register("ann", name="Ann")
    school.learning.assign(
        Assignment(
            id="hw",
            kind=WorkKind.HOMEWORK,
            course_id="en1",
            teacher_id="t1",
            due_at=T0 + timedelta(days=1),
        ),
        student_ids=["ann"],
    )

    @settings(max_examples=6 * len(TABLE), suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        name, values, command = TABLE[data.draw(st.integers(0, len(TABLE) - 1), label="command")]
        value = data.draw(values, label=name)
        refused_cleanly(lambda: unaudited(store), lambda: command(school, value))

    run()
