"""A stateful model test of homework: assign, submit, grade, return, re-submit while the
clock moves past deadlines. Each rule tries its command whatever the state, predicts
the outcome from a plain model, then asserts it: no grade without a submission, no
submission after the last allowed attempt or the deadline, every state change exactly
one event, and a refusal changes nothing (the stored state and the feed stay as they
were)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock, InMemoryEventBus
from eduengine.errors import (
    AttemptsExhausted,
    DeadlinePassed,
    EduEngineError,
    NotAllowedToGrade,
    NotSubmitted,
    WorkRefused,
)
from eduengine.learning import (
    Assignment,
    LearningService,
    Work,
    WorkAssigned,
    WorkGraded,
    WorkKind,
    WorkReturned,
    WorkSubmitted,
)
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0
from tests.learning.helpers import set_up_course

TEACHER = Actor(id="t1", role="teacher")
ACTORS = {
    "teacher": TEACHER,
    "academic": Actor(id="a1", role="academic"),
    "other teacher": Actor(id="t2", role="teacher"),
    "support": Actor(id="s9", role="support"),
}
MAY_GRADE = {"teacher", "academic"}


@dataclass
class ModelWork:
    due: datetime
    window: timedelta
    max_attempts: int
    state: str = "assigned"
    attempts: int = 0


def dump(handle: StoreHandle) -> str:
    return json.dumps(handle.snapshot(), default=str, sort_keys=True)


class HomeworkMachine(RuleBasedStateMachine):
    adapter = "memory"
    works = Bundle("works")

    def __init__(self) -> None:
        super().__init__()
        self.handle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.bus = InMemoryEventBus()
        self.learning = LearningService(
            self.handle.unit_of_work, clock=self.clock, publisher=self.bus
        )
        set_up_course(self.learning)
        self.model: dict[str, ModelWork] = {}
        self.seen = len(self.bus.events)
        self.counter = 0

    def teardown(self) -> None:
        self.handle.close()

    # --- helpers -------------------------------------------------------------------------

    def new_events(self) -> list[object]:
        fresh = self.bus.events[self.seen :]
        self.seen = len(self.bus.events)
        return list(fresh)

    def refused(self, expected: type[EduEngineError], command: object) -> None:
        """Run ``command``; it must raise exactly ``expected`` and change nothing."""
        before = dump(self.handle)
        try:
            assert callable(command)
            command()
        except EduEngineError as exc:
            assert type(exc) is expected, f"expected {expected.__name__}, got {exc!r}"
        else:
            raise AssertionError(f"expected {expected.__name__}, the command was taken")
        assert dump(self.handle) == before, "a refused command changed the store"
        assert self.new_events() == [], "a refused command raised events"

    # --- rules ---------------------------------------------------------------------------

    @rule(
        target=works,
        student=st.sampled_from(["ann", "bob"]),
        due_in=st.integers(1, 72),
        window=st.sampled_from([0, 2, 24]),
        max_attempts=st.integers(1, 3),
    )
    def assign(self, student: str, due_in: int, window: int, max_attempts: int) -> str:
        self.counter += 1
        due = self.clock.now() + timedelta(hours=due_in)
        [work_id] = self.learning.assign(
            Assignment(
                id=f"hw{self.counter}",
                kind=WorkKind.HOMEWORK,
                course_id="en1",
                unit_id="u2",
                teacher_id=TEACHER.id,
                due_at=due,
                late_window=timedelta(hours=window),
                max_attempts=max_attempts,
            ),
            student_ids=[student],
        )
        self.model[work_id] = ModelWork(due, timedelta(hours=window), max_attempts)
        [event] = self.new_events()
        assert isinstance(event, WorkAssigned) and event.work_id == work_id
        assert event.due_at == due and event.points == ("past-tense",)
        return work_id

    @rule(work_id=works)
    def submit(self, work_id: str) -> None:
        m = self.model[work_id]
        now = self.clock.now()
        student = work_id.split(":", 1)[1]
        expected: type[EduEngineError] | None = None
        if m.state not in ("assigned", "returned"):
            expected = WorkRefused
        elif m.attempts >= m.max_attempts:
            expected = AttemptsExhausted
        elif now > m.due + m.window:
            expected = DeadlinePassed
        if expected is not None:
            self.refused(expected, lambda: self.learning.submit(student, work_id))
            return
        work = self.learning.submit(student, work_id, content=f"answer {m.attempts + 1}")
        m.state, m.attempts = "submitted", m.attempts + 1
        assert work.state.value == "submitted" and len(work.attempts) == m.attempts
        [event] = self.new_events()
        assert isinstance(event, WorkSubmitted)
        assert (event.attempt, event.late) == (m.attempts, now > m.due)
        assert event.attempts_left == m.max_attempts - m.attempts

    @rule(
        work_id=works,
        who=st.sampled_from(sorted(ACTORS)),
        score=st.decimals(min_value=0, max_value=1, places=2),
        fluency=st.decimals(min_value=0, max_value=1, places=1),
    )
    def grade(self, work_id: str, who: str, score: Decimal, fluency: Decimal) -> None:
        m = self.model[work_id]

        def command() -> Work:
            return self.learning.grade(
                ACTORS[who], work_id, score=score, rubric={"fluency": fluency}, comment="well done"
            )

        if who not in MAY_GRADE:
            self.refused(NotAllowedToGrade, command)
            return
        if m.state != "submitted":
            self.refused(NotSubmitted, command)
            return
        work = command()
        m.state = "graded"
        assert work.state.value == "graded" and work.last is not None
        assert work.last.score == score
        [event] = self.new_events()
        assert isinstance(event, WorkGraded)
        assert (event.score, event.dimensions, event.attempt) == (
            score,
            (("fluency", fluency),),
            m.attempts,
        )
        assert event.grader == ACTORS[who].id and event.points == ("past-tense",)

    @rule(work_id=works, who=st.sampled_from(sorted(ACTORS)), extend=st.booleans())
    def return_for_rework(self, work_id: str, who: str, extend: bool) -> None:
        m = self.model[work_id]
        due = self.clock.now() + timedelta(hours=24) if extend else None

        def command() -> Work:
            return self.learning.return_work(ACTORS[who], work_id, comment="try again", due_at=due)

        if who not in MAY_GRADE:
            self.refused(NotAllowedToGrade, command)
            return
        if m.state != "submitted":
            self.refused(NotSubmitted, command)
            return
        if m.attempts >= m.max_attempts:
            self.refused(AttemptsExhausted, command)
            return
        command()
        m.state = "returned"
        if due is not None:
            m.due = due
        [event] = self.new_events()
        assert isinstance(event, WorkReturned) and event.attempt == m.attempts

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def every_work_is_as_the_model_says(self) -> None:
        for student in ("ann", "bob"):
            for work in self.learning.works_of(student, actor=SYSTEM):
                m = self.model[work.id]
                assert work.state.value == m.state
                assert len(work.attempts) == m.attempts <= m.max_attempts
                graded = [a for a in work.attempts if a.score is not None]
                assert len(graded) == (1 if m.state == "graded" else 0)
                assert all(a.returned for a in work.attempts[:-1])


def _machine_for(adapter: str) -> type[HomeworkMachine]:
    return type(f"HomeworkMachine_{adapter}", (HomeworkMachine,), {"adapter": adapter})


for _adapter in ADAPTERS:
    _case = _machine_for(_adapter).TestCase
    # a fresh store per example: fewer, shorter runs on the SQL adapters
    _case.settings = settings(
        max_examples=40 if _adapter == "memory" else 8,
        stateful_step_count=30 if _adapter == "memory" else 20,
        deadline=None,
    )
    globals()[f"TestHomeworkMachine_{_adapter}"] = _case

del _case  # only the named classes above are tests
