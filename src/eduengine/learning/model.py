"""The learning record, pure: the curriculum (courses, units, knowledge points and their
prerequisites, ability dimensions) and one student's homework or assessment (作业 / 测评)
with its rules: deadline and late window, attempts, who may grade.

>>> from datetime import datetime, timedelta, timezone
>>> course = Curriculum(
...     course_id="py101",
...     points=(KnowledgePoint(id="vars"), KnowledgePoint(id="loops", prerequisites=("vars",))),
...     units=(Unit(id="u1", points=("vars", "loops")),),
... )
>>> course.check()
>>> course.order()
['vars', 'loops']
>>> t = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> work = Work.assign(id="hw1|ann", assignment_id="hw1", student_id="ann",
...                    kind=WorkKind.HOMEWORK, course_id="py101", unit_id="u1",
...                    points=("vars",), dimensions=(), teacher_id="t1",
...                    due_at=t + timedelta(days=2), now=t)
>>> work.submit(t + timedelta(days=1)).late, work.state.value
(False, 'submitted')
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from eduengine.errors import (
    AttemptsExhausted,
    DeadlinePassed,
    InvalidInput,
    NotSubmitted,
    OutOfRange,
    PrerequisiteCycle,
    UnknownDimension,
    UnknownKnowledgePoint,
    WorkRefused,
    WrongType,
)
from eduengine.kernel.inputs import (
    check_duration,
    check_id,
    check_int,
    check_optional_instant,
    check_text,
)
from eduengine.students.privacy import Actor

__all__ = [
    "GRADING_ROLES",
    "AbilityDimension",
    "ArchiveEntry",
    "ArchivePage",
    "Assignment",
    "Attempt",
    "Curriculum",
    "KnowledgePoint",
    "Unit",
    "Work",
    "WorkKind",
    "WorkState",
    "check_fraction",
]

#: the roles that may grade any work (academic affairs, admins); a teacher grades her own
GRADING_ROLES = frozenset({"academic", "admin"})

#: the longest title, comment or note the learning record keeps
MAX_TEXT = 10_000


def _ids(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | frozenset | set):
        raise WrongType(f"{what} must be a list of ids, got {value!r}", field=what)
    found = tuple(check_id(v, what) for v in value)
    if len(set(found)) != len(found):
        raise InvalidInput(f"{what} lists an id twice: {list(found)}")
    return found


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes):
        raise WrongType(f"expected a list of ids, got {value!r}", field="ids")
    return tuple(value)


def check_fraction(value: object, what: str) -> Decimal:
    """A score: a ``Decimal`` (or an ``int``) from 0 to 1, never a float.

    >>> check_fraction(Decimal("0.85"), "score")
    Decimal('0.85')
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise WrongType(f"{what} must be a Decimal from 0 to 1, got {value!r}", field=what)
    fraction = Decimal(value)
    if not fraction.is_finite() or not 0 <= fraction <= 1:
        raise OutOfRange(f"{what} must be from 0 to 1, got {value!r}", field=what)
    return fraction


@attrs.frozen(kw_only=True)
class AbilityDimension:
    """An ability the school measures (能力维度): vocabulary, speaking fluency, speed."""

    id: str = attrs.field(validator=lambda _, __, v: check_id(v, "dimension id"))
    name: str = ""


@attrs.frozen(kw_only=True)
class KnowledgePoint:
    """A knowledge point (知识点) of a course and the points to master before it."""

    id: str = attrs.field(validator=lambda _, __, v: check_id(v, "point id"))
    name: str = ""
    prerequisites: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=lambda _, __, v: _ids(v, "prerequisites")
    )


@attrs.frozen(kw_only=True)
class Unit:
    """A unit of a course, the knowledge points it teaches and the dimensions it trains."""

    id: str = attrs.field(validator=lambda _, __, v: check_id(v, "unit id"))
    name: str = ""
    points: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=lambda _, __, v: _ids(v, "points")
    )
    dimensions: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=lambda _, __, v: _ids(v, "dimensions")
    )


def _points(value: Sequence[KnowledgePoint]) -> tuple[KnowledgePoint, ...]:
    return tuple(value)


def _units(value: Sequence[Unit]) -> tuple[Unit, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Curriculum:
    """A course's units and knowledge points: :meth:`check` refuses a point that does not
    exist and a prerequisite graph with a cycle."""

    course_id: str = attrs.field(validator=lambda _, __, v: check_id(v, "course_id"))
    title: str = ""
    points: tuple[KnowledgePoint, ...] = attrs.field(default=(), converter=_points)
    units: tuple[Unit, ...] = attrs.field(default=(), converter=_units)

    def point_ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.points)

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)

    def check(self, dimensions: frozenset[str] | None = None) -> None:
        """Raise :class:`UnknownKnowledgePoint`, :class:`PrerequisiteCycle` or (given the
        school's ``dimensions``) :class:`UnknownDimension`; duplicates are ``InvalidInput``."""
        for what, seq in (("point", self.points), ("unit", self.units)):
            ids = [x.id for x in seq]
            if len(set(ids)) != len(ids):
                raise InvalidInput(f"course {self.course_id!r} lists a {what} id twice: {ids}")
        known = self.point_ids()
        named = {q for p in self.points for q in p.prerequisites} | {
            q for u in self.units for q in u.points
        }
        if named - known:
            raise UnknownKnowledgePoint(self.course_id, sorted(named - known))
        if dimensions is not None:
            used = {d for u in self.units for d in u.dimensions}
            if used - dimensions:
                raise UnknownDimension(sorted(used - dimensions))
        self.order()

    def order(self) -> list[str]:
        """The knowledge points, every prerequisite before the points that need it (ties
        in the order given); a cycle raises :class:`PrerequisiteCycle` naming it."""
        needs = {p.id: p.prerequisites for p in self.points}
        done: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: placed

        def visit(point: str, path: list[str]) -> None:
            if state.get(point) == 2:
                return
            if state.get(point) == 1:
                start = path.index(point)
                raise PrerequisiteCycle([*path[start:], point], course_id=self.course_id)
            state[point] = 1
            for before in needs.get(point, ()):
                visit(before, [*path, point])
            state[point] = 2
            done.append(point)

        for p in self.points:
            visit(p.id, [])
        return done


class WorkKind(enum.Enum):
    HOMEWORK = "homework"
    ASSESSMENT = "assessment"
    #: the assessment at enrolment whose rubric sets the student's baseline
    DIAGNOSTIC = "diagnostic"


class WorkState(enum.Enum):
    ASSIGNED = "assigned"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    GRADED = "graded"


@attrs.frozen(kw_only=True)
class Attempt:
    """One submission, and its grade or return once the teacher has looked at it."""

    number: int
    submitted_at: datetime
    late: bool
    content: str | None = None
    score: Decimal | None = None
    rubric: tuple[tuple[str, Decimal], ...] = ()
    comment: str | None = None
    graded_by: str | None = None
    returned: bool = False


@attrs.define(kw_only=True)
class Work:
    """One student's homework or assessment: assigned, submitted (on time or late, at
    most ``max_attempts`` times), graded or returned for rework, then re-submitted.

    Each step either moves the state or raises a :class:`~eduengine.errors.WorkRefused`
    (and changes nothing)."""

    id: str
    assignment_id: str
    student_id: str
    kind: WorkKind
    course_id: str
    unit_id: str | None
    title: str = ""
    points: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    teacher_id: str
    assigned_at: datetime
    due_at: datetime | None = None
    late_window: timedelta = timedelta(0)
    max_attempts: int = 1
    state: WorkState = WorkState.ASSIGNED
    attempts: list[Attempt] = attrs.field(factory=list)

    @classmethod
    def assign(
        cls,
        *,
        id: str,
        assignment_id: str,
        student_id: str,
        kind: WorkKind,
        course_id: str,
        unit_id: str | None,
        points: Sequence[str],
        dimensions: Sequence[str],
        teacher_id: str,
        now: datetime,
        title: str = "",
        due_at: datetime | None = None,
        late_window: timedelta = timedelta(0),
        max_attempts: int = 1,
    ) -> Work:
        return cls(
            id=id,
            assignment_id=assignment_id,
            student_id=student_id,
            kind=kind,
            course_id=course_id,
            unit_id=unit_id,
            title=title,
            points=tuple(points),
            dimensions=tuple(dimensions),
            teacher_id=teacher_id,
            assigned_at=now,
            due_at=due_at,
            late_window=late_window,
            max_attempts=max_attempts,
        )

    @property
    def closes_at(self) -> datetime | None:
        """The last instant a submission is taken (the due time plus the late window)."""
        return None if self.due_at is None else self.due_at + self.late_window

    @property
    def attempts_left(self) -> int:
        return self.max_attempts - len(self.attempts)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def can_submit(self, now: datetime) -> bool:
        try:
            self._check_submit(now)
        except WorkRefused:
            return False
        return True

    def _check_submit(self, now: datetime) -> None:
        if self.state not in (WorkState.ASSIGNED, WorkState.RETURNED):
            raise WorkRefused(self.id, f"it is {self.state.value}, not open for a submission")
        if self.attempts_left <= 0:
            raise AttemptsExhausted(self.id, self.max_attempts)
        closes = self.closes_at
        if closes is not None and now > closes:
            raise DeadlinePassed(self.id, closes.isoformat())

    def submit(self, now: datetime, content: str | None = None) -> Attempt:
        """Hand in an attempt: late if after the due time (inside the late window)."""
        self._check_submit(now)
        attempt = Attempt(
            number=len(self.attempts) + 1,
            submitted_at=now,
            late=self.due_at is not None and now > self.due_at,
            content=content,
        )
        self.attempts.append(attempt)
        self.state = WorkState.SUBMITTED
        return attempt

    def may_grade(self, actor: Actor) -> bool:
        """The work's teacher, or academic staff (:data:`GRADING_ROLES`)."""
        return actor.id == self.teacher_id or actor.role in GRADING_ROLES

    def grade(
        self,
        *,
        score: Decimal,
        rubric: Mapping[str, Decimal],
        comment: str | None,
        grader: str,
    ) -> Attempt:
        """Grade the waiting submission (the work is then done)."""
        attempt = self._waiting()
        unknown = set(rubric) - set(self.dimensions)
        if unknown:
            raise UnknownDimension(sorted(unknown))
        graded = attrs.evolve(
            attempt,
            score=score,
            rubric=tuple(sorted(rubric.items())),
            comment=comment,
            graded_by=grader,
        )
        self.attempts[-1] = graded
        self.state = WorkState.GRADED
        return graded

    def return_for_rework(
        self, *, comment: str | None, by: str, due_at: datetime | None = None
    ) -> Attempt:
        """Send the waiting submission back; ``due_at`` gives a new due time. Refused when
        no attempt is left to re-submit (grade it instead)."""
        attempt = self._waiting()
        if self.attempts_left <= 0:
            raise AttemptsExhausted(self.id, self.max_attempts)
        returned = attrs.evolve(attempt, comment=comment, graded_by=by, returned=True)
        self.attempts[-1] = returned
        self.state = WorkState.RETURNED
        if due_at is not None:
            self.due_at = due_at
        return returned

    def _waiting(self) -> Attempt:
        if self.state is not WorkState.SUBMITTED or not self.attempts:
            raise NotSubmitted(self.id, self.state.value)
        return self.attempts[-1]


def check_note(value: object, what: str) -> str:
    return check_text(value, what, max_length=MAX_TEXT)


def _optional_tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _optional_id(value: object, what: str) -> None:
    if value is not None:
        check_id(value, what)


@attrs.frozen(kw_only=True)
class Assignment:
    """What a teacher hands out: homework, an assessment or the diagnostic at enrolment.

    ``points`` and ``dimensions`` default to the unit's (or, without a unit, to every
    point of the course and every dimension of the school); ``due_at`` is kept in the zone
    it is given in; a submission up to ``late_window`` after it is taken and marked late;
    ``max_attempts`` counts the first submission and every re-submission after a return.
    """

    id: str = attrs.field(validator=lambda _, __, v: check_id(v, "assignment id"))
    kind: WorkKind = attrs.field(validator=attrs.validators.instance_of(WorkKind))
    course_id: str = attrs.field(validator=lambda _, __, v: check_id(v, "course_id"))
    teacher_id: str = attrs.field(validator=lambda _, __, v: check_id(v, "teacher_id"))
    unit_id: str | None = attrs.field(
        default=None, validator=lambda _, __, v: _optional_id(v, "unit_id")
    )
    title: str = attrs.field(default="", validator=lambda _, __, v: check_note(v, "title"))
    due_at: datetime | None = attrs.field(
        default=None, validator=lambda _, __, v: check_optional_instant(v, "due_at")
    )
    late_window: timedelta = attrs.field(
        default=timedelta(0), validator=lambda _, __, v: check_duration(v, "late_window")
    )
    max_attempts: int = attrs.field(
        default=1, validator=lambda _, __, v: check_int(v, "max_attempts", low=1, high=100)
    )
    points: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_optional_tuple,
        validator=lambda _, __, v: v is None or _ids(v, "points"),
    )
    dimensions: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_optional_tuple,
        validator=lambda _, __, v: v is None or _ids(v, "dimensions"),
    )


@attrs.frozen(kw_only=True)
class ArchiveEntry:
    """One line of a student's learning archive (学习档案): a lesson attended or missed,
    a step of homework or an assessment, a baseline, a teacher's note, a level change.

    ``kind`` is one of ``lesson_attended``, ``lesson_missed``, ``work_assigned``,
    ``work_submitted``, ``work_graded``, ``work_returned``, ``baseline_set``,
    ``teacher_note``, ``level_changed``; ``ref`` the lesson's slot, the work or the note;
    ``detail`` what the line says (scores as decimal strings)."""

    student_id: str
    at: datetime
    kind: str
    course_id: str | None
    ref: str
    detail: Mapping[str, object] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ArchivePage:
    """A page of the archive, in order; ``next`` is the cursor of the next page (``None``
    on the last one)."""

    entries: tuple[ArchiveEntry, ...]
    next: str | None = None
