"""The learning archive: one ordered record per student of lessons attended and missed,
homework and scores, notes and level changes, built from the feed by a projection,
paged by keyset, filtered by period and course, and read under the access policy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied, InvalidInput, StudentNotFound
from eduengine.learning import ArchiveEntry, Assignment, WorkKind
from eduengine.levels import LearningEvent, XpRule
from eduengine.people import SYSTEM
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import set_up_course

ACADEMIC = Actor(id="a1", role="academic")
TEACHER_A = Actor(id="t1", role="teacher", class_ids=frozenset({"A"}))
TEACHER_B = Actor(id="t2", role="teacher", class_ids=frozenset({"B"}))
GUARDIAN = Actor(id="g1", role="guardian", student_ids=frozenset({"ann"}))
DAY = timedelta(days=1)


def a_term(store: StoreHandle) -> tuple[School, FixedClock]:
    """Ann (class A) attends two lessons of en1 and misses one of math, does homework,
    gets a note and levels up; Bob (class B) attends one lesson."""
    clock = FixedClock(T0)
    school = School.build(
        store, clock=clock, xp_rules=[XpRule(kind="homework_graded", points=5000)]
    )
    set_up_course(school.learning)
    for cid in ("A", "B"):
        school.students.create_class(SchoolClass(id=cid, name=cid, capacity=10))
    for sid, cid in (("ann", "A"), ("bob", "B")):
        school.students.register(sid, name=sid.title())
        school.students.assign(sid, cid)
    lessons = []
    for n, course in enumerate(("en1", "math", "en1"), start=1):
        start = T0 + n * DAY
        lessons.append(
            school.booking.create_slot(course, start, start + timedelta(hours=1), capacity=5)
        )
    seats = [school.booking.book(slot.id, "ann") for slot in lessons]
    bob_seat = school.booking.book(lessons[0].id, "bob")
    [work_id] = school.learning.assign(
        Assignment(
            id="hw1",
            kind=WorkKind.HOMEWORK,
            course_id="en1",
            unit_id="u1",
            teacher_id=TEACHER_A.id,
            due_at=T0 + 5 * DAY,
        ),
        student_ids=["ann"],
    )
    clock.set(T0 + DAY + timedelta(minutes=10))
    school.booking.mark_attended(seats[0].id)
    school.booking.mark_attended(bob_seat.id)
    clock.set(T0 + 2 * DAY + timedelta(minutes=10))
    school.booking.mark_no_show(seats[1].id)
    clock.set(T0 + 3 * DAY + timedelta(minutes=10))
    school.booking.mark_attended(seats[2].id)
    clock.set(T0 + 4 * DAY)
    school.learning.submit("ann", work_id, content="my answers")
    clock.advance(timedelta(minutes=5))
    school.learning.grade(
        TEACHER_A, work_id, score=Decimal("0.9"), rubric={"vocabulary": Decimal("0.8")}
    )
    clock.advance(timedelta(minutes=5))
    school.levels.record(
        LearningEvent(
            student_id="ann", kind="homework_graded", source_id=work_id, occurred_at=clock.now()
        )
    )
    clock.set(T0 + 4 * DAY + timedelta(hours=1))
    school.learning.add_note(TEACHER_A, "ann", "Needs practice with numbers", course_id="en1")
    return school, clock


def kinds(entries: tuple[ArchiveEntry, ...]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.course_id) for e in entries]


def test_the_archive_is_one_ordered_record_of_lessons_homework_notes_and_levels(
    store: StoreHandle,
) -> None:
    school, _ = a_term(store)
    page = school.learning.archive(ACADEMIC, "ann", limit=50)
    assert page.next is None
    assert kinds(page.entries) == [
        ("work_assigned", "en1"),
        ("lesson_attended", "en1"),
        ("lesson_missed", "math"),
        ("lesson_attended", "en1"),
        ("work_submitted", "en1"),
        ("work_graded", "en1"),
        ("level_changed", None),
        ("teacher_note", "en1"),
    ]
    ats = [e.at for e in page.entries]
    assert ats == sorted(ats)
    graded = page.entries[5]
    assert graded.detail["score"] == "0.9" and graded.detail["dimensions"] == {"vocabulary": "0.8"}
    assert page.entries[-1].detail["text"] == "Needs practice with numbers"
    assert [e.kind for e in school.learning.archive(ACADEMIC, "bob").entries] == [
        "lesson_attended"
    ]
    newest = school.learning.archive(ACADEMIC, "ann", newest_first=True, limit=50)
    assert list(newest.entries) == list(reversed(page.entries))


def test_pages_follow_each_other_without_gaps_or_repeats_in_both_orders(
    store: StoreHandle,
) -> None:
    school, _ = a_term(store)
    every = school.learning.archive(ACADEMIC, "ann", limit=100).entries
    for newest_first in (False, True):
        seen: list[ArchiveEntry] = []
        after: str | None = None
        pages = 0
        while True:
            page = school.learning.archive(
                ACADEMIC, "ann", limit=3, after=after, newest_first=newest_first
            )
            seen.extend(page.entries)
            pages += 1
            if page.next is None:
                break
            after = page.next
        assert pages == 3
        assert seen == (list(reversed(every)) if newest_first else list(every))


def test_the_archive_is_read_by_period_and_by_course(store: StoreHandle) -> None:
    school, _ = a_term(store)
    en1 = school.learning.archive(ACADEMIC, "ann", course_id="en1")
    assert all(e.course_id == "en1" for e in en1.entries) and len(en1.entries) == 6
    math = school.learning.archive(ACADEMIC, "ann", course_id="math")
    assert kinds(math.entries) == [("lesson_missed", "math")]
    # lessons are filed at their start; the period is [since, until)
    week = school.learning.archive(ACADEMIC, "ann", since=T0 + 2 * DAY, until=T0 + 4 * DAY)
    assert kinds(week.entries) == [("lesson_missed", "math"), ("lesson_attended", "en1")]
    paged = school.learning.archive(
        ACADEMIC, "ann", course_id="en1", since=T0 + DAY, until=T0 + 5 * DAY, limit=2
    )
    assert kinds(paged.entries) == [("lesson_attended", "en1"), ("lesson_attended", "en1")]
    rest = school.learning.archive(
        ACADEMIC,
        "ann",
        course_id="en1",
        since=T0 + DAY,
        until=T0 + 5 * DAY,
        limit=10,
        after=paged.next,
    )
    assert [e.kind for e in rest.entries] == ["work_submitted", "work_graded", "teacher_note"]


def test_a_teacher_reads_her_classes_a_guardian_his_child_and_each_read_is_audited(
    store: StoreHandle,
) -> None:
    school, _ = a_term(store)
    assert school.learning.archive(TEACHER_A, "ann").entries
    assert school.learning.archive(GUARDIAN, "ann").entries
    with pytest.raises(AccessDenied):
        school.learning.archive(TEACHER_B, "ann")
    with pytest.raises(AccessDenied):
        school.learning.archive(GUARDIAN, "bob")
    with pytest.raises(AccessDenied):
        school.learning.add_note(TEACHER_B, "ann", "not my student")
    with pytest.raises(AccessDenied):
        school.learning.archive(Actor(id="s9", role="support"), "ann")
    trail = [(e.actor_id, e.action) for e in school.students.audit_trail("ann", actor=SYSTEM)]
    assert trail[-5:] == [
        ("t1", "read"),
        ("g1", "read"),
        ("t2", "denied"),
        ("t2", "denied"),
        ("s9", "denied"),
    ]
    assert ("t1", "update") in trail  # the note written in a_term
    assert [(e.actor_id, e.action) for e in school.students.audit_trail("bob", actor=SYSTEM)] == [
        ("g1", "denied")
    ]
    # the refused note left no line in the archive
    lines = school.learning.archive(ACADEMIC, "ann").entries
    assert len([e for e in lines if e.kind == "teacher_note"]) == 1
    with pytest.raises(StudentNotFound):
        school.learning.archive(ACADEMIC, "nobody")


def test_a_corrected_attendance_mark_replaces_its_line(store: StoreHandle) -> None:
    school, _ = a_term(store)
    seats = school.booking.bookings_for_student("ann", actor=SYSTEM)
    [missed] = [b for b in seats if b.status.value == "no_show"]
    school.booking.mark_attended(missed.id)
    math = school.learning.archive(ACADEMIC, "ann", course_id="math").entries
    assert kinds(math) == [("lesson_attended", "math")]


def test_the_rebuilt_archive_is_the_live_one(store: StoreHandle) -> None:
    school, _ = a_term(store)
    live = {s: school.learning.archive(ACADEMIC, s, limit=100) for s in ("ann", "bob")}
    report = school.projections.rebuild("learning_archive")
    assert report.ok and report["learning_archive"] > 0
    assert {s: school.learning.archive(ACADEMIC, s, limit=100) for s in live} == live


def test_a_bad_cursor_or_limit_is_refused_as_input(store: StoreHandle) -> None:
    school, _ = a_term(store)
    for bad in ("nonsense", "12", "x/ann"):
        with pytest.raises(InvalidInput):
            school.learning.archive(ACADEMIC, "ann", after=bad)
    with pytest.raises(InvalidInput):
        school.learning.archive(ACADEMIC, "ann", limit=0)
