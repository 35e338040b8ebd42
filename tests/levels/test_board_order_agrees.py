"""One order and one rank for every leaderboard read: a student's neighbours are exactly
the slice of the full standings around them, ties included."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.levels import LearningEvent, LevelCurve, LevelService, XpRule
from tests.adapters import StoreHandle

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
boards = itertools.count()

#: lessons attended per student: few distinct scores, so many ties
lessons = st.lists(st.integers(1, 3), min_size=1, max_size=9)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=lessons, k=st.integers(0, 3))
def test_standings_around_a_student_are_the_slice_of_the_full_order_around_them(
    store: StoreHandle, counts: list[int], k: int
) -> None:
    xp = LevelService(
        store.unit_of_work,
        rules=[XpRule(kind="lesson_attended", points=10)],
        curve=LevelCurve.flat(1000, 3),
        clock=FixedClock(T),
    )
    klass = f"c{next(boards)}"
    # ids out of order so that board order is not the order of recording
    students = [f"{klass}-s{(n * 7) % len(counts)}-{n}" for n in range(len(counts))]
    for student, count in zip(students, counts, strict=True):
        for lesson in range(count):
            xp.record(
                LearningEvent(
                    student_id=student,
                    kind="lesson_attended",
                    source_id=f"l{lesson}",
                    occurred_at=T + timedelta(minutes=lesson),
                    class_id=klass,
                )
            )
    board = xp.leaderboard(class_id=klass)
    full = board.top(len(students))
    assert len(full) == len(board) == len(students)
    # most XP first, equal XP by student id
    assert [(-s.xp, s.student_id) for s in full] == sorted((-s.xp, s.student_id) for s in full)
    for i, standing in enumerate(full):
        student = standing.student_id
        assert board.rank(student) == standing.rank == 1 + sum(s.xp > standing.xp for s in full)
        expected = full[max(0, i - k) : i + k + 1]
        assert board.around(student, k) == expected
        shown = xp.standings_around(student, k=k, class_id=klass)
        assert [(s.rank, s.xp) for s in shown] == [(s.rank, s.xp) for s in expected]
        assert [s.student_id for s in shown if s.student_id] == [student]
