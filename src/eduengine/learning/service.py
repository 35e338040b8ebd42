"""The learning record through units of work: the curriculum, homework and assessments
(assign, submit, grade, return, re-submit), baselines, teacher notes, and the learning
archive read under the access policy, audited like a profile read.

>>> from datetime import datetime, timedelta, timezone
>>> from decimal import Decimal
>>> from eduengine import FixedClock, InMemoryStore
>>> from eduengine.students import Actor
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> learning = LearningService(InMemoryStore().unit_of_work, clock=clock)
>>> learning.define_dimensions([AbilityDimension(id="vocabulary")])
>>> learning.define_curriculum(Curriculum(
...     course_id="en1", points=(KnowledgePoint(id="greetings"),),
...     units=(Unit(id="u1", points=("greetings",), dimensions=("vocabulary",)),)))
>>> [work_id] = learning.assign(
...     Assignment(id="hw1", kind=WorkKind.HOMEWORK, course_id="en1", unit_id="u1",
...                teacher_id="t1", due_at=clock.now() + timedelta(days=1)),
...     student_ids=["ann"])
>>> learning.submit("ann", work_id).state.value
'submitted'
>>> graded = learning.grade(Actor(id="t1", role="teacher"), work_id, score=Decimal("0.8"),
...                         rubric={"vocabulary": Decimal("0.75")})
>>> graded.state.value, graded.last.score
('graded', Decimal('0.8'))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, Unpack
from zoneinfo import ZoneInfo

import attrs

from eduengine.analytics.model import Period
from eduengine.errors import (
    AccessDenied,
    CurriculumNotFound,
    DuplicateId,
    InvalidId,
    InvalidInput,
    NotAllowedToGrade,
    UnknownDimension,
    UnknownKnowledgePoint,
    WorkNotFound,
    WrongType,
)
from eduengine.kernel.codec import dt_out, micros
from eduengine.kernel.inputs import (
    MAX_ID_LENGTH,
    check_id,
    check_ids,
    check_int,
    check_optional_id,
    check_optional_instant,
)
from eduengine.learning import analytics as stats
from eduengine.learning import progress, reporting
from eduengine.learning import records as rec
from eduengine.learning.analytics import LearningRow
from eduengine.learning.events import (
    BaselineSet,
    CurriculumDefined,
    TeacherNoteAdded,
    WorkAssigned,
    WorkGraded,
    WorkReturned,
    WorkSubmitted,
)
from eduengine.learning.model import (
    AbilityDimension,
    ArchivePage,
    Assignment,
    Curriculum,
    KnowledgePoint,
    Unit,
    Work,
    WorkKind,
    check_fraction,
    check_note,
)
from eduengine.learning.progress import ProgressRow
from eduengine.learning.report import LearningReport
from eduengine.mastery.service import MasteryService, define_curriculum_in
from eduengine.notices.model import NoticePolicy
from eduengine.people.access import GUARDIANS, Look, Refused
from eduengine.people.learning_access import LearningGate
from eduengine.people.model import FieldSet, GuardianRole
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students import records as students
from eduengine.students.privacy import AccessPolicy, Actor, RoleBasedPolicy

__all__ = ["ARCHIVE_FIELDS", "MAX_PAGE", "WORK_FIELDS", "LearningService"]

T = TypeVar("T")

#: the largest archive page a read returns
MAX_PAGE = 500
#: what an archive read names in the audit trail
ARCHIVE_FIELDS = ("learning_archive",)
#: what a read of works names in the audit trail
WORK_FIELDS = ("learning_work",)


class LearningService(ServiceBase):
    """The curriculum, homework and assessments, baselines, notes and the archive.

    ``policy`` decides who reads a student's archive and writes notes about her (the
    school's profile policy: academic staff, a teacher of her class, a temporary grant);
    a guardian (``Actor(role="guardian", student_ids=...)``) reads the archive of the
    students named in ``student_ids``. The other arguments are :class:`ServiceBase`'s.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: AccessPolicy | None = None,
        mastery: MasteryService | None = None,
        notices: NoticePolicy | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.policy: AccessPolicy = policy or RoleBasedPolicy()
        #: the access check of every read of a student's learning record
        self.gate = LearningGate(self.policy)
        #: the learning path a report's next step comes from
        self.mastery = mastery or MasteryService(uow, clock=self.clock)
        #: how reports go out (None: reports are kept, no notice is planned)
        self.notices = notices

    # --- curriculum --------------------------------------------------------------------

    def define_dimensions(self, dimensions: Sequence[AbilityDimension]) -> None:
        """Set the ability dimensions the school measures (replacing the list)."""
        if not isinstance(dimensions, list | tuple) or not all(
            isinstance(d, AbilityDimension) for d in dimensions
        ):
            raise WrongType(
                f"dimensions must be a list of AbilityDimensions, got {dimensions!r}",
                field="dimensions",
            )
        ids = [d.id for d in dimensions]
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"an ability dimension is named twice: {ids}")
        self._run(
            lambda uow, now: uow.records.put(
                rec.DIMENSIONS, "school", rec.dimensions_out(list(dimensions))
            )
        )

    def dimensions(self) -> list[AbilityDimension]:
        return self._run(
            lambda uow, now: rec.dimensions_in(uow.records.get(rec.DIMENSIONS, "school")),
            write=False,
        )

    def define_curriculum(self, curriculum: Curriculum) -> None:
        """Define (or replace) a course's units and knowledge points; refused with
        :class:`~eduengine.errors.UnknownKnowledgePoint`,
        :class:`~eduengine.errors.PrerequisiteCycle` or
        :class:`~eduengine.errors.UnknownDimension`."""
        if not isinstance(curriculum, Curriculum):
            raise WrongType(f"expected a Curriculum, got {curriculum!r}", field="curriculum")
        if not all(isinstance(p, KnowledgePoint) for p in curriculum.points) or not all(
            isinstance(u, Unit) for u in curriculum.units
        ):
            raise WrongType("a curriculum holds KnowledgePoints and Units", field="curriculum")

        def command(uow: UnitOfWork, now: datetime) -> None:
            known = self._dimension_ids(uow)
            curriculum.check(known)
            order = curriculum.order()
            needs = {p.id: p.prerequisites for p in curriculum.points}
            # one prerequisite graph for the school: mastery's follows the curriculum in
            # this unit of work, so a clash with another course's refuses the definition
            define_curriculum_in(uow, curriculum.course_id, {p: needs[p] for p in order})
            uow.records.put(rec.CURRICULA, curriculum.course_id, rec.curriculum_out(curriculum))
            uow.record_events(
                [
                    CurriculumDefined(
                        occurred_at=now,
                        course_id=curriculum.course_id,
                        units=tuple(u.id for u in curriculum.units),
                        points=tuple(order),
                    )
                ]
            )

        self._run(command, ids={"course_id": curriculum.course_id})

    def curriculum(self, course_id: str) -> Curriculum:
        """A course's curriculum, or :class:`~eduengine.errors.CurriculumNotFound`."""
        check_id(course_id, "course_id")
        return self._run(
            lambda uow, now: self._curriculum(uow, course_id),
            write=False,
            ids={"course_id": course_id},
        )

    # --- homework and assessments ------------------------------------------------------

    def assign(
        self,
        assignment: Assignment,
        *,
        student_ids: Sequence[str] = (),
        class_id: str | None = None,
        slot_id: str | None = None,
    ) -> list[str]:
        """Hand out ``assignment`` to students, a class (its members now) or a course
        session (the students holding a seat in the slot): one work per student, id
        ``<assignment id>:<student id>``. Returns the work ids, in student order."""
        if not isinstance(assignment, Assignment):
            raise WrongType(f"expected an Assignment, got {assignment!r}", field="assignment")
        named = check_ids(student_ids, "student_ids")
        check_optional_id(class_id, "class_id")
        check_optional_id(slot_id, "slot_id")
        if sum(bool(x) for x in (named, class_id, slot_id)) != 1:
            raise InvalidInput("assign to students, a class or a slot: exactly one of them")

        def command(uow: UnitOfWork, now: datetime) -> list[str]:
            if class_id is not None:
                who = list(students.school_class(uow, class_id)["members"])
            elif slot_id is not None:
                slot = uow.slots.get(slot_id)
                who = [b.student_id for b in slot.bookings.values() if b.status.holds_seat]
            else:
                who = list(named)
            curriculum = self._curriculum(uow, assignment.course_id)
            points, dimensions = self._exercised(uow, curriculum, assignment)
            done: list[str] = []
            for student_id in sorted(set(who)):
                work_id = f"{assignment.id}:{student_id}"
                if len(work_id) > MAX_ID_LENGTH:
                    raise InvalidId(f"work id {work_id[:40]!r}... is too long", field="work_id")
                if uow.records.get(rec.WORKS, work_id) is not None:
                    raise DuplicateId(f"work {work_id!r} was assigned already")
                work = Work.assign(
                    id=work_id,
                    assignment_id=assignment.id,
                    student_id=student_id,
                    kind=assignment.kind,
                    course_id=assignment.course_id,
                    unit_id=assignment.unit_id,
                    title=assignment.title,
                    points=points,
                    dimensions=dimensions,
                    teacher_id=assignment.teacher_id,
                    due_at=assignment.due_at,
                    late_window=assignment.late_window,
                    max_attempts=assignment.max_attempts,
                    now=now,
                )
                rec.put_work(uow, work)
                uow.record_events(
                    [
                        WorkAssigned(
                            occurred_at=now,
                            work_id=work_id,
                            student_id=student_id,
                            kind=work.kind.value,
                            course_id=work.course_id,
                            unit_id=work.unit_id,
                            assignment_id=assignment.id,
                            title=work.title,
                            teacher_id=work.teacher_id,
                            due_at=work.due_at,
                            max_attempts=work.max_attempts,
                            points=work.points,
                        )
                    ]
                )
                done.append(work_id)
            return done

        return self._run(
            command,
            ids={"assignment_id": assignment.id, "class_id": class_id, "slot_id": slot_id},
        )

    def submit(self, student_id: str, work_id: str, *, content: str | None = None) -> Work:
        """The student hands in an attempt: on time, late (inside the late window) or
        refused (:class:`~eduengine.errors.DeadlinePassed`,
        :class:`~eduengine.errors.AttemptsExhausted`, or
        :class:`~eduengine.errors.WorkRefused` while one waits to be graded)."""
        check_id(student_id, "student_id")
        check_id(work_id, "work_id")
        if content is not None:
            check_note(content, "content")

        def command(uow: UnitOfWork, now: datetime) -> Work:
            work = rec.load_work(uow, work_id)
            if work.student_id != student_id:
                raise WorkNotFound(work_id)  # never say whose work it is
            attempt = work.submit(now, content)
            rec.put_work(uow, work)
            uow.record_events(
                [
                    WorkSubmitted(
                        occurred_at=now,
                        **_about(work),
                        attempt=attempt.number,
                        late=attempt.late,
                        attempts_left=work.attempts_left,
                    )
                ]
            )
            return self._in_zone(uow, work)

        return self._run(command, ids={"work_id": work_id, "student_id": student_id})

    def grade(
        self,
        actor: Actor,
        work_id: str,
        *,
        score: Decimal,
        rubric: Mapping[str, Decimal] | None = None,
        comment: str | None = None,
    ) -> Work:
        """Grade the waiting submission: ``score`` and each rubric value a fraction from
        0 to 1 (a ``Decimal``), the rubric keyed by the work's ability dimensions. Only
        the work's teacher or academic staff may (else
        :class:`~eduengine.errors.NotAllowedToGrade`). A graded diagnostic sets the
        student's baseline per dimension (:meth:`baseline`)."""
        _check_actor(actor)
        check_id(work_id, "work_id")
        fraction = check_fraction(score, "score")
        parts = _check_rubric(rubric)
        if comment is not None:
            check_note(comment, "comment")

        def command(uow: UnitOfWork, now: datetime) -> Work:
            work = rec.load_work(uow, work_id)
            if not work.may_grade(actor):
                raise NotAllowedToGrade(work_id, actor.id)
            attempt = work.grade(score=fraction, rubric=parts, comment=comment, grader=actor.id)
            rec.put_work(uow, work)
            events: list[Any] = [
                WorkGraded(
                    occurred_at=now,
                    **_about(work),
                    points=work.points,
                    score=fraction,
                    dimensions=attempt.rubric,
                    graded_at=now,
                    grader=actor.id,
                    attempt=attempt.number,
                    late=attempt.late,
                    comment=comment,
                )
            ]
            if work.kind is WorkKind.DIAGNOSTIC:
                base = uow.records.get(rec.BASELINES, work.student_id) or {"dimensions": {}}
                base["dimensions"].update({d: str(v) for d, v in attempt.rubric})
                base["at"] = dt_out(now)
                uow.records.put(rec.BASELINES, work.student_id, base)
                events.append(
                    BaselineSet(
                        occurred_at=now,
                        student_id=work.student_id,
                        course_id=work.course_id,
                        work_id=work.id,
                        dimensions=attempt.rubric,
                    )
                )
            uow.record_events(events)
            return self._in_zone(uow, work)

        return self._run(command, ids={"work_id": work_id})

    def return_work(
        self,
        actor: Actor,
        work_id: str,
        *,
        comment: str | None = None,
        due_at: datetime | None = None,
    ) -> Work:
        """Send the waiting submission back for rework, with a comment and, if given, a
        new due time; refused when no attempt is left to re-submit (grade it instead)."""
        _check_actor(actor)
        check_id(work_id, "work_id")
        check_optional_instant(due_at, "due_at")
        if comment is not None:
            check_note(comment, "comment")

        def command(uow: UnitOfWork, now: datetime) -> Work:
            work = rec.load_work(uow, work_id)
            if not work.may_grade(actor):
                raise NotAllowedToGrade(work_id, actor.id)
            attempt = work.return_for_rework(comment=comment, by=actor.id, due_at=due_at)
            rec.put_work(uow, work)
            uow.record_events(
                [
                    WorkReturned(
                        occurred_at=now,
                        **_about(work),
                        attempt=attempt.number,
                        returned_by=actor.id,
                        due_at=work.due_at,
                        comment=comment,
                    )
                ]
            )
            return self._in_zone(uow, work)

        return self._run(command, ids={"work_id": work_id})

    def work(self, work_id: str, *, actor: Actor | None = None) -> Work:
        """One work, its due time shown in the student's zone (:meth:`set_zone`), as
        ``actor`` may see it (:class:`~eduengine.people.learning_access.LearningGate`):
        whole (audited), without answers, scores and comments (a masked reader, or no
        actor: deprecated), or refused with :class:`~eduengine.errors.AccessDenied`."""
        check_id(work_id, "work_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Work:
            work = rec.load_work(uow, work_id)
            return _as_seen(self._in_zone(uow, work), look(work.student_id))

        return self.gate.read_record(
            self._run, actor, WORK_FIELDS, query, ids={"work_id": work_id}
        )

    def works_of(self, student_id: str, *, actor: Actor | None = None) -> list[Work]:
        """A student's works, oldest assigned first (an indexed read), due times in her
        zone, under the access check of :meth:`work`."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Work]:
            seen = look(student_id)
            if seen.refused:
                raise Refused()
            keys = [k for k, _ in uow.records.scan(rec.WORKS, rec.by_student(student_id))]
            docs = _get_many(uow, rec.WORKS, keys)
            works = [rec.work_in(k, d) for k, d in zip(keys, docs, strict=True) if d is not None]
            return [_as_seen(self._in_zone(uow, w), seen) for w in works]

        return self.gate.read_record(
            self._run, actor, WORK_FIELDS, query, ids={"student_id": student_id}
        )

    def set_zone(self, student_id: str, zone: ZoneInfo) -> None:
        """The time zone a student's due times are shown in."""
        check_id(student_id, "student_id")
        if not isinstance(zone, ZoneInfo):
            raise WrongType(f"zone must be a zoneinfo.ZoneInfo, got {zone!r}", field="zone")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = uow.records.get(rec.SETTINGS, student_id) or {}
            uow.records.put(rec.SETTINGS, student_id, {**doc, "zone": zone.key})

        self._run(command, ids={"student_id": student_id})

    def baseline(self, student_id: str, *, actor: Actor | None = None) -> dict[str, Decimal]:
        """The student's baseline per ability dimension, from graded diagnostics (empty
        before one is graded), read as ``actor``: whole (audited) or
        :class:`~eduengine.errors.AccessDenied`; without an actor (deprecated),
        unchecked."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> dict[str, Decimal]:
            if not look(student_id).whole:
                raise Refused()
            doc = uow.records.get(rec.BASELINES, student_id) or {"dimensions": {}}
            return {d: Decimal(v) for d, v in sorted(doc["dimensions"].items())}

        return self.gate.read_record(
            self._run, actor, ("baseline",), query, ids={"student_id": student_id}, strict=True
        )

    # --- the archive -------------------------------------------------------------------

    def add_note(
        self, actor: Actor, student_id: str, text: str, *, course_id: str | None = None
    ) -> str:
        """A teacher's note on a student (it joins her archive); needs the access an
        archive read needs. Returns the note's id."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        check_note(text, "text")
        check_optional_id(course_id, "course_id")
        note_id = self._new_id()

        def command(uow: UnitOfWork, now: datetime) -> str:
            if not self._may_read(uow, actor, student_id, now):
                raise _Refused()
            students.write_audit(uow, actor, student_id, "update", ("teacher_note",), now)
            uow.record_events(
                [
                    TeacherNoteAdded(
                        occurred_at=now,
                        student_id=student_id,
                        note_id=note_id,
                        author_id=actor.id,
                        course_id=course_id,
                        text=text,
                    )
                ]
            )
            return note_id

        return self._under_policy(
            actor, student_id, command, ids={"student_id": student_id, "course_id": course_id}
        )

    def archive(
        self,
        actor: Actor,
        student_id: str,
        *,
        course_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
        newest_first: bool = False,
    ) -> ArchivePage:
        """A page of a student's learning archive, oldest first (or ``newest_first``),
        of one course and a period ``[since, until)`` if given; ``after`` is the ``next``
        cursor of the page before. Read as ``actor`` under the access policy (academic
        staff, a teacher of the student's class, a guardian of hers): every read and
        every refusal (:class:`~eduengine.errors.AccessDenied`) is in the audit trail.

        The archive is a projection of the feed: it shows what the school's projections
        have applied (at once with ``School.build(inline_projections=True)``)."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        check_optional_id(course_id, "course_id")
        check_optional_instant(since, "since")
        check_optional_instant(until, "until")
        check_int(limit, "limit", low=1, high=MAX_PAGE)
        if not isinstance(newest_first, bool):
            raise WrongType(f"newest_first must be a bool, got {newest_first!r}")
        cursor = None if after is None else rec.cursor_in(after)
        lo = None if since is None else micros(since)
        hi = None if until is None else micros(until) - 1
        index = (
            rec.by_student(student_id)
            if course_id is None
            else rec.by_course(student_id, course_id)
        )

        def command(uow: UnitOfWork, now: datetime) -> ArchivePage:
            if not self._may_read(uow, actor, student_id, now):
                raise _Refused()
            rows, more = rec.page(
                uow.records,
                rec.ARCHIVE,
                index,
                lo=lo,
                hi=hi,
                limit=limit,
                after=cursor,
                descending=newest_first,
            )
            docs = _get_many(uow, rec.ARCHIVE, [key for key, _ in rows])
            students.write_audit(uow, actor, student_id, "read", ARCHIVE_FIELDS, now)
            return ArchivePage(
                entries=tuple(rec.entry_in(d) for d in docs if d is not None),
                next=None if more is None else rec.cursor_out(*more),
            )

        return self._under_policy(
            actor, student_id, command, ids={"student_id": student_id, "course_id": course_id}
        )

    # --- reports -----------------------------------------------------------------------

    def send_reports(self, period: Period, *, student_ids: Sequence[str] | None = None) -> int:
        """Compose the learning report of ``period`` (a :class:`~eduengine.analytics.
        Period` in the school's zone) for each student named, or each with learning
        activity since the period began, store it, and plan it as notices (kind
        ``learning_report``) to her and each guardian with the ``see_reports`` role.
        Once per (student, period, recipient): a report already composed is not
        composed or sent again. Returns how many notices were planned; each student
        runs in a unit of work of her own."""
        if not isinstance(period, Period) or not isinstance(period.tz, ZoneInfo):
            raise WrongType(
                f"period must be a Period in a named time zone, got {period!r}", field="period"
            )
        if student_ids is not None:
            wanted = check_ids(list(student_ids), "student_ids")
        else:
            wanted = self._run(
                lambda uow, now: list(reporting.active_students(uow, period)), write=False
            )
        planned = 0
        for student_id in wanted:

            def command(uow: UnitOfWork, now: datetime, sid: str = student_id) -> int:
                return self._report_in(uow, sid, period, now)

            planned += self._run(command, ids={"student_id": student_id})
        return planned

    def send_due_reports(self) -> int:
        """The periodic job (``learning reports`` of ``eduengine run-due``): the reports
        of last week (Monday to Sunday in the notice policy's zone, the school's), once;
        returns how many notices it planned."""
        zone = ZoneInfo(self.notices.zone if self.notices is not None else "UTC")
        week = Period.week(self.clock.now().astimezone(zone).date(), zone).previous()
        key = reporting.period_key(week)
        done = self._run(
            lambda uow, now: uow.records.get(rec.REPORT_RUNS, key) is not None, write=False
        )
        if done:
            return 0
        planned = self.send_reports(week)
        self._run(
            lambda uow, now: uow.records.put(rec.REPORT_RUNS, key, {"at": dt_out(now)}),
        )
        return planned

    def report(self, actor: Actor, student_id: str, period: Period) -> LearningReport | None:
        """Her report of ``period`` as sent (``None`` before it is), read under the
        access policy of her archive."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        if not isinstance(period, Period):
            raise WrongType(f"period must be a Period, got {period!r}", field="period")
        key = f"{student_id}|{reporting.period_key(period)}"

        def command(uow: UnitOfWork, now: datetime) -> LearningReport | None:
            if not self._may_read(uow, actor, student_id, now):
                raise _Refused()
            students.write_audit(uow, actor, student_id, "read", ("learning_report",), now)
            doc = uow.records.get(rec.REPORTS, key)
            return None if doc is None else LearningReport.from_record(doc)

        return self._under_policy(actor, student_id, command, ids={"student_id": student_id})

    def analytics(self, period: Period, *, by: str = "course") -> list[LearningRow]:
        """Homework assigned, submitted and on time (by the hour it was assigned) and
        scores (by the hour graded) over ``period``, by ``course``, ``class`` (the
        student's when the work was assigned), ``teacher``, ``dimension`` (rubric
        scores only) or ``school``: read from the ``learning_analytics`` projection's
        hourly cells, never from the works."""
        if not isinstance(period, Period):
            raise WrongType(f"period must be a Period, got {period!r}", field="period")
        if by not in stats.BY:
            raise InvalidInput(f"by must be one of {', '.join(stats.BY)}, got {by!r}")
        return self._run(lambda uow, now: stats.read_rows(uow, period, by), write=False)

    def progress(self, period: Period, *, by: str = "course") -> list[ProgressRow]:
        """Completion rates (of the students who entered a course or started a unit in
        ``period``), times to complete a unit (of the units completed in it) and the
        mastery gained per lesson attended (of the lessons that started in it), by
        ``course``, ``unit`` (``<course>/<unit>``), ``class``, ``teacher`` (the lesson's
        tutor: mastery gain only) or ``school``: read from the ``learning_progress``
        projection's hourly cells (see :mod:`eduengine.learning.progress`)."""
        if not isinstance(period, Period):
            raise WrongType(f"period must be a Period, got {period!r}", field="period")
        if by not in progress.BY:
            raise InvalidInput(f"by must be one of {', '.join(progress.BY)}, got {by!r}")
        return self._run(lambda uow, now: progress.read_progress(uow, period, by), write=False)

    def _report_in(self, uow: UnitOfWork, student_id: str, period: Period, now: datetime) -> int:
        key = f"{student_id}|{reporting.period_key(period)}"
        if rec.erased(uow, student_id) or uow.records.get(rec.REPORTS, key) is not None:
            return 0
        report = reporting.compose(uow, student_id, period, mastery=self.mastery, now=now)
        return reporting.send(uow, report, period, self.notices, now)

    # --- internals ---------------------------------------------------------------------

    def _dimension_ids(self, uow: UnitOfWork) -> frozenset[str]:
        return frozenset(d.id for d in rec.dimensions_in(uow.records.get(rec.DIMENSIONS, "school")))

    def _curriculum(self, uow: UnitOfWork, course_id: str) -> Curriculum:
        doc = uow.records.get(rec.CURRICULA, course_id)
        if doc is None:
            raise CurriculumNotFound(course_id)
        return rec.curriculum_in(course_id, doc)

    def _exercised(
        self, uow: UnitOfWork, curriculum: Curriculum, assignment: Assignment
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The knowledge points and dimensions a work exercises: the assignment's, else
        its unit's, else the whole course's and school's; each must exist."""
        school = self._dimension_ids(uow)
        unit = None
        if assignment.unit_id is not None:
            unit = curriculum.unit(assignment.unit_id)
            if unit is None:
                raise InvalidInput(
                    f"course {curriculum.course_id!r} has no unit {assignment.unit_id!r}"
                )
        if assignment.points is not None:
            points = assignment.points
        elif unit is not None:
            points = unit.points
        else:
            points = tuple(curriculum.order())
        if assignment.dimensions is not None:
            dimensions = assignment.dimensions
        elif unit is not None:
            dimensions = unit.dimensions
        else:
            dimensions = tuple(sorted(school))
        missing = set(points) - curriculum.point_ids()
        if missing:
            raise UnknownKnowledgePoint(curriculum.course_id, sorted(missing))
        if set(dimensions) - school:
            raise UnknownDimension(sorted(set(dimensions) - school))
        return tuple(points), tuple(dimensions)

    def _in_zone(self, uow: UnitOfWork, work: Work) -> Work:
        doc = uow.records.get(rec.SETTINGS, work.student_id)
        if doc is not None and doc.get("zone") and work.due_at is not None:
            work.due_at = work.due_at.astimezone(ZoneInfo(doc["zone"]))
        return work

    def _may_read(self, uow: UnitOfWork, actor: Actor, student_id: str, now: datetime) -> bool:
        students.student(uow, student_id)  # an unknown student is StudentNotFound
        if actor.role == "guardian":
            account = uow.records.get(GUARDIANS, actor.id)
            if account is not None:
                # an account's links decide: an unlinked or removed guardian sees nothing
                roles = {} if account.get("removed") else account["children"]
                return GuardianRole.SEE_REPORTS.value in roles.get(student_id, ())
        return self.gate.fields(uow, actor, student_id, now).whole

    def _under_policy(
        self,
        actor: Actor,
        student_id: str,
        command: Callable[[UnitOfWork, datetime], T],
        ids: Mapping[str, str | None],
    ) -> T:
        """Run ``command`` (it raises ``_Refused`` when the access policy says no); a
        refusal is audited in a unit of work of its own and raised as ``AccessDenied``."""
        try:
            return self._run(command, ids=ids)
        except _Refused:
            pass
        self._run(
            lambda uow, now: students.write_audit(
                uow, actor, student_id, "denied", ARCHIVE_FIELDS, now
            ),
            ids=ids,
        )
        raise AccessDenied(
            f"{actor.role} {actor.id!r} may not read the learning record of {student_id!r}"
        )


class _Refused(Exception):
    pass


def _get_many(uow: UnitOfWork, kind: str, keys: list[str]) -> list[dict[str, Any] | None]:
    """The documents of ``keys``, in their order: one query where the store can (a page
    of 50 lines is one round trip, not 50), else one ``get`` each."""
    get_many = getattr(uow.records, "get_many", None)
    if get_many is None:  # a host's own adapter without it
        return [uow.records.get(kind, key) for key in keys]
    found: dict[str, dict[str, Any] | None] = get_many(kind, keys)
    return [found.get(key) for key in keys]


def _as_seen(work: Work, seen: FieldSet) -> Work:
    """``work`` as a reader with ``seen`` sees it: a masked reader sees its steps, not
    the answers, scores, rubric or comments."""
    if seen.whole:
        return work
    work.attempts = [
        attrs.evolve(a, content=None, score=None, rubric=(), comment=None)
        for a in work.attempts
    ]
    return work


def _about(work: Work) -> dict[str, Any]:
    """The fields every work event carries."""
    return {
        "work_id": work.id,
        "student_id": work.student_id,
        "kind": work.kind.value,
        "course_id": work.course_id,
        "unit_id": work.unit_id,
    }


def _check_actor(actor: object) -> None:
    if not isinstance(actor, Actor):
        raise WrongType(f"actor must be an Actor, got {actor!r}", field="actor")
    check_id(actor.id, "actor.id")
    check_id(actor.role, "actor.role")
    check_ids(actor.class_ids, "actor.class_ids")
    check_ids(actor.student_ids, "actor.student_ids")


def _check_rubric(rubric: object) -> dict[str, Decimal]:
    if rubric is None:
        return {}
    if not isinstance(rubric, Mapping):
        raise WrongType(f"rubric must map dimension ids to scores, got {rubric!r}")
    return {
        check_id(d, "rubric dimension"): check_fraction(v, f"rubric[{d!r}]")
        for d, v in rubric.items()
    }
