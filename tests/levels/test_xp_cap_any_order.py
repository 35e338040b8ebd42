"""The XP cap holds in every window, whatever order the dated actions arrive in: a
far-future action cannot clear the cheat guard's memory for later, earlier-dated ones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.levels import LearningEvent, LevelCurve, LevelService, XpRule
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=1)
CAP = 60
RULE = XpRule(kind="minutes_watched", points=1, per_quantity=True, cap=CAP, cap_window=WINDOW)

#: (minutes after T, minutes watched): near each other, and now and then days away
actions = st.lists(
    st.tuples(st.one_of(st.integers(0, 180), st.integers(0, 10 * 24 * 60)), st.integers(1, 45)),
    min_size=1,
    max_size=12,
)
students = itertools.count()


def service(store: StoreHandle) -> LevelService:
    return LevelService(
        store.unit_of_work, rules=[RULE], curve=LevelCurve.flat(100, 10), clock=FixedClock(T)
    )


def assert_capped(awarded: list[tuple[datetime, int]]) -> None:
    for end, _ in awarded:
        inside = sum(p for at, p in awarded if end - WINDOW < at <= end)
        assert inside <= CAP, f"{inside} XP in the window ending {end}: {sorted(awarded)}"


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=actions)
def test_the_xp_awarded_in_any_window_never_exceeds_the_cap(
    store: StoreHandle, history: list[tuple[int, int]]
) -> None:
    xp = service(store)
    student = f"s{next(students)}"
    awarded: list[tuple[datetime, int]] = []
    for n, (minutes, quantity) in enumerate(history):
        at = T + timedelta(minutes=minutes)
        award = xp.record(
            LearningEvent(
                student_id=student,
                kind=RULE.kind,
                source_id=f"v{n}",
                occurred_at=at,
                quantity=quantity,
            )
        )
        if award.awarded:
            awarded.append((at, award.points))
    assert_capped(awarded)
    assert xp.progress(student, actor=SYSTEM).xp == sum(p for _, p in awarded)


def test_a_far_future_action_does_not_reopen_the_window_behind_it(store: StoreHandle) -> None:
    xp = service(store)

    def watch(source: str, at: datetime, minutes: int) -> bool:
        event = LearningEvent(
            student_id="ann",
            kind=RULE.kind,
            source_id=source,
            occurred_at=at,
            quantity=minutes,
        )
        return xp.record(event).awarded

    assert watch("v1", T, 60)  # the cap for the hour
    assert watch("v2", T + timedelta(days=365), 10)  # a device with its clock a year ahead
    assert not watch("v3", T + timedelta(minutes=10), 60)  # back in the full hour: refused
    assert xp.progress("ann", actor=SYSTEM).xp == 70
