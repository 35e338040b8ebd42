"""Learning reports: composed from the learning record for a period in the school's zone,
matching a brute-force count of the history, sent as notices once per (student, period,
recipient) to the student and each guardian allowed to see reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.analytics.model import Period
from eduengine.errors import AccessDenied, WrongType
from eduengine.learning import Assignment, WorkKind
from eduengine.learning.report import (
    DimensionScore,
    LearningReport,
    NextStep,
    PointGain,
    render_html,
    render_text,
)
from eduengine.learning.reporting import period_key
from eduengine.mastery import DEFAULT_PARAMS
from eduengine.mastery.model import update
from eduengine.notices import NoticePolicy
from eduengine.people import SYSTEM
from eduengine.students import Actor, Guardian
from eduengine.students.model import GuardianRole
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import ENGLISH, set_up_course

ZONE = "Asia/Shanghai"
WEEK = Period.week(date(2026, 3, 2), ZONE)  # 2026-03-01 16:00 UTC to 2026-03-08 16:00 UTC
TEACHER = Actor(id="t1", role="teacher")
TEACHER_ACADEMIC = Actor(id="a1", role="academic")
H = timedelta(hours=1)
DAY = timedelta(days=1)
NAME = "Ann <b>&"


@attrs.define
class History:
    """What the test did, for the brute-force report."""

    #: (lesson start, "attended" | "no_show")
    lessons: list[tuple[datetime, str]] = attrs.Factory(list)
    #: (assigned at, kind, submission times with their lateness)
    works: list[tuple[datetime, str, list[bool]]] = attrs.Factory(list)
    #: (graded at, kind, points, score, rubric)
    grades: list[tuple[datetime, str, tuple[str, ...], Decimal, dict[str, Decimal]]] = (
        attrs.Factory(list)
    )
    baseline: dict[str, Decimal] = attrs.Factory(dict)


def unit_points(unit: str | None) -> tuple[str, ...]:
    found = next((u for u in ENGLISH.units if u.id == unit), None)
    return found.points if found is not None else tuple(ENGLISH.order())


def a_week(store: StoreHandle) -> tuple[School, FixedClock, History]:
    clock = FixedClock(T0 - 3 * DAY)
    school = School.build(store, clock=clock, notices=NoticePolicy(zone=ZONE))
    set_up_course(school.learning)
    history = History()
    school.students.register(
        "ann",
        name=NAME,
        guardians=[
            Guardian(name="Mum", roles=frozenset({GuardianRole.SEE_REPORTS})),
            Guardian(name="Aunt", roles=frozenset({GuardianRole.RECEIVE_REMINDERS})),
            Guardian(
                name="Dad", roles=frozenset({GuardianRole.SEE_REPORTS, GuardianRole.PAY})
            ),
        ],
    )
    school.students.register("bob", name="Bob")
    starts = [
        datetime(2026, 2, 28, 10, tzinfo=T0.tzinfo),
        datetime(2026, 3, 3, 10, tzinfo=T0.tzinfo),
        datetime(2026, 3, 4, 10, tzinfo=T0.tzinfo),
        datetime(2026, 3, 5, 10, tzinfo=T0.tzinfo),
        datetime(2026, 3, 8, 17, tzinfo=T0.tzinfo),  # Monday 01:00 in Shanghai: next week
    ]
    seats = []
    for start in starts:
        slot = school.booking.create_slot("en1", start, start + H, capacity=4)
        seats.append(school.booking.book(slot.id, "ann").id)

    def give(
        work: str, kind: WorkKind, unit: str | None, due: datetime | None = None
    ) -> str:
        [work_id] = school.learning.assign(
            Assignment(id=work, kind=kind, course_id="en1", unit_id=unit,
                       teacher_id=TEACHER.id, due_at=due, late_window=DAY),
            student_ids=["ann"],
        )
        history.works.append((clock.now(), kind.value, []))
        return work_id

    def hand_in(work_id: str, n: int) -> None:
        work = school.learning.submit("ann", work_id)
        assert work.last is not None
        history.works[n][2].append(work.last.late)

    def grade(work_id: str, kind: WorkKind, unit: str | None, score: str,
              rubric: dict[str, str]) -> None:
        parts = {d: Decimal(v) for d, v in rubric.items()}
        school.learning.grade(TEACHER, work_id, score=Decimal(score), rubric=parts)
        history.grades.append((clock.now(), kind.value, unit_points(unit), Decimal(score), parts))
        if kind is WorkKind.DIAGNOSTIC:
            history.baseline.update(parts)

    def mark(n: int, status: str) -> None:
        clock.set(starts[n] + timedelta(minutes=5))
        if status == "attended":
            school.booking.mark_attended(seats[n])
        else:
            school.booking.mark_no_show(seats[n])
        history.lessons.append((starts[n], status))

    dx = give("dx", WorkKind.DIAGNOSTIC, None)
    hand_in(dx, 0)
    grade(dx, WorkKind.DIAGNOSTIC, None, "0.45", {"vocabulary": "0.5", "fluency": "0.4"})
    clock.set(datetime(2026, 2, 28, 9, tzinfo=T0.tzinfo))
    hw0 = give("hw0", WorkKind.HOMEWORK, "u1")
    hand_in(hw0, 1)
    grade(hw0, WorkKind.HOMEWORK, "u1", "0.6", {"vocabulary": "0.55"})
    mark(0, "attended")
    clock.set(T0)
    hw1 = give("hw1", WorkKind.HOMEWORK, "u1", T0 + 2 * DAY)
    hw2 = give("hw2", WorkKind.HOMEWORK, "u2", T0 + 2 * DAY + 3 * H)
    give("hw3", WorkKind.HOMEWORK, "u1", T0 + 4 * DAY)
    clock.set(datetime(2026, 3, 3, 8, tzinfo=T0.tzinfo))
    hand_in(hw1, 2)
    mark(1, "attended")
    clock.set(datetime(2026, 3, 3, 12, tzinfo=T0.tzinfo))
    grade(hw1, WorkKind.HOMEWORK, "u1", "0.8", {"vocabulary": "0.9"})
    mark(2, "no_show")
    clock.set(datetime(2026, 3, 4, 20, tzinfo=T0.tzinfo))
    hand_in(hw2, 3)
    clock.advance(H)
    grade(hw2, WorkKind.HOMEWORK, "u2", "0.7", {"vocabulary": "0.7", "fluency": "0.6"})
    mark(3, "attended")
    mark(4, "attended")
    clock.set(datetime(2026, 3, 10, 9, tzinfo=T0.tzinfo))
    return school, clock, history


def fold(scores: Sequence[Decimal]) -> Decimal:
    p = DEFAULT_PARAMS.prior
    for s in scores:
        p = update(p, DEFAULT_PARAMS, s)
    return p


def brute_force(school: School, history: History, period: Period) -> LearningReport:
    def inside(at: datetime) -> bool:
        return period.start <= at < period.end

    homework = [w for w in history.works if w[1] == "homework" and inside(w[0])]
    graded = [g for g in history.grades if inside(g[0]) and g[1] != "diagnostic"]
    dims = sorted(set(history.baseline) | {d for g in graded for d in g[4]})
    rubric = {d: [g[4][d] for g in graded if d in g[4]] for d in dims}
    points = sorted({p for g in history.grades if inside(g[0]) for p in g[2]})

    def scores(point: str, until: datetime) -> list[Decimal]:
        return [g[3] for g in history.grades if point in g[2] and g[0] < until]

    step = school.mastery.next_step("ann", actor=SYSTEM)
    return LearningReport(
        student_id="ann",
        name=NAME,
        zone=ZONE,
        start=period.start,
        end=period.end,
        lessons_attended=sum(inside(at) and s == "attended" for at, s in history.lessons),
        lessons_missed=sum(inside(at) and s == "no_show" for at, s in history.lessons),
        homework_assigned=len(homework),
        homework_submitted=sum(bool(w[2]) for w in homework),
        homework_on_time=sum(bool(w[2]) and not w[2][0] for w in homework),
        dimensions=tuple(
            DimensionScore(
                dimension_id=d,
                baseline=history.baseline.get(d),
                average=sum(rubric[d], Decimal(0)) / len(rubric[d]) if rubric[d] else None,
                graded=len(rubric[d]),
            )
            for d in dims
        ),
        mastery=tuple(
            PointGain(
                point_id=p,
                before=fold(scores(p, period.start)),
                after=fold(scores(p, period.end)),
            )
            for p in points
        ),
        next_step=NextStep(kind=step.kind, point_id=step.point_id, why=step.explain()),
    )


def report_notices(school: School, student_id: str) -> dict[str, dict[str, object]]:
    return {
        n.recipient.id: dict(n.context)
        for n in school.notices.for_student(student_id, actor=SYSTEM)
        if n.kind == "learning_report"
    }


def test_the_weekly_report_matches_a_brute_force_count_of_the_history(
    store: StoreHandle,
) -> None:
    school, _, history = a_week(store)
    assert school.learning.send_due_reports() == 3  # Ann and the two guardians who may
    report = school.learning.report(TEACHER_ACADEMIC, "ann", WEEK)
    expected = brute_force(school, history, WEEK)
    assert report == expected
    # the numbers the brute force found, to be sure the week is read in Shanghai
    assert (report.lessons_attended, report.lessons_missed) == (2, 1)
    assert (report.homework_assigned, report.homework_submitted, report.homework_on_time) == (
        3, 2, 1,
    )
    assert {d.dimension_id: d.change for d in report.dimensions} == {
        "fluency": Decimal("0.2"),
        "vocabulary": Decimal("0.3"),
    }
    assert [g.point_id for g in report.mastery] == ["greetings", "numbers", "past-tense"]
    assert all(g.gain > 0 for g in report.mastery)
    assert report.start.isoformat() == "2026-03-02T00:00:00+08:00"


def test_each_recipient_gets_one_report_and_a_guardian_without_the_role_none(
    store: StoreHandle,
) -> None:
    school, _, _ = a_week(store)
    assert school.learning.send_reports(WEEK) == 3
    sent = report_notices(school, "ann")
    assert sorted(sent) == ["ann", "ann#guardian0", "ann#guardian2"]  # not the aunt
    report = school.learning.report(TEACHER_ACADEMIC, "ann", WEEK)
    assert report is not None
    for context in sent.values():
        assert context["report"] == report.to_record()
        assert context["text"] == render_text(report)
        assert context["html"] == render_html(report)
    # again, through the job, or by name: nothing more
    assert school.learning.send_reports(WEEK) == 0
    assert school.learning.send_reports(WEEK, student_ids=["ann"]) == 0
    assert school.learning.send_due_reports() == 0
    assert len(report_notices(school, "ann")) == 3
    assert report_notices(school, "bob") == {}  # no learning activity, no report


def test_the_rendered_report_escapes_what_the_school_wrote(store: StoreHandle) -> None:
    school, _, _ = a_week(store)
    school.learning.send_reports(WEEK)
    report = school.learning.report(TEACHER_ACADEMIC, "ann", WEEK)
    assert report is not None
    html = render_html(report)
    assert "Ann &lt;b&gt;&amp;" in html and "<b>" not in html
    text = render_text(report)
    assert text.startswith("Learning report for Ann <b>&, 2026-03-02 to 2026-03-08")
    assert "Homework on time: 1 of 3" in text


def test_a_report_is_read_under_the_archive_access_policy(store: StoreHandle) -> None:
    school, _, _ = a_week(store)
    school.learning.send_reports(WEEK)
    mum = Actor(id="g-ann", role="guardian", student_ids=frozenset({"ann"}))
    assert school.learning.report(mum, "ann", WEEK) is not None
    assert school.learning.report(mum, "ann", WEEK.previous()) is None
    with pytest.raises(AccessDenied):
        school.learning.report(Actor(id="g-bob", role="guardian"), "ann", WEEK)
    with pytest.raises(WrongType):
        school.learning.send_reports("last week")  # type: ignore[arg-type]


def test_erasure_removes_her_reports(store: StoreHandle) -> None:
    school, _, _ = a_week(store)
    school.learning.send_reports(WEEK)
    key = f"ann|{period_key(WEEK)}"
    with store.unit_of_work() as uow:
        assert uow.records.get("learning_report", key) is not None
    school.students.erase(TEACHER_ACADEMIC, "ann")
    with store.unit_of_work() as uow:
        assert uow.records.get("learning_report", key) is None
        assert uow.records.get("learning_active", "ann") is None
    assert school.learning.send_reports(WEEK, student_ids=["ann"]) == 0
