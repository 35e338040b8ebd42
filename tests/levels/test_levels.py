"""Levels: XP rules and cheat guard, curves, multipliers, badges, leaderboards, replay."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, InMemoryEventBus
from eduengine.errors import EduEngineError, InvalidInput, NaiveDatetime, UnknownRule
from eduengine.levels import (
    Badge,
    BadgeAwarded,
    Leaderboard,
    LearningEvent,
    LevelCurve,
    LevelService,
    LevelUp,
    Multiplier,
    XpRule,
    period_keys,
)
from eduengine.people import SYSTEM
from tests.adapters import ADAPTERS, StoreHandle, make_store

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
RULES = [
    XpRule(kind="lesson_attended", points=50),
    XpRule(kind="minutes_watched", points=1, per_quantity=True, cap=60),
    XpRule(kind="homework_submitted", points=40, scaled_by_score=True),
    XpRule(kind="daily_streak", points=10, min_gap=timedelta(hours=20)),
]
BADGES = [
    Badge.after("first-lesson", "First lesson", "lesson_attended", 1),
    Badge.at_level("level-3", "Rising star", 3),
]
TITLES = {1: "Newcomer", 3: "Scholar"}


def ev(
    kind: str, source: str, at: datetime = T, student: str = "ann", **kw: object
) -> LearningEvent:
    return LearningEvent(student_id=student, kind=kind, source_id=source, occurred_at=at, **kw)  # type: ignore[arg-type]


def service(store: StoreHandle, bus: InMemoryEventBus | None = None, **kw: Any) -> LevelService:
    return LevelService(
        store.unit_of_work,
        rules=RULES,
        curve=LevelCurve.geometric(),
        badges=BADGES,
        titles=TITLES,
        publisher=bus,
        clock=FixedClock(T),
        **kw,
    )


def test_level_up_xp_curves() -> None:
    assert LevelCurve.geometric().thresholds == (
        0,
        120,
        276,
        479,
        742,
        1085,
        1531,
        2110,
        2863,
        3842,
    )
    assert LevelCurve.flat(100, 4).thresholds == (0, 100, 200, 300)
    assert LevelCurve.linear(100, 50, 4).thresholds == (0, 100, 250, 450)
    with pytest.raises(InvalidInput):
        LevelCurve.explicit([0, 100, 100])
    with pytest.raises(InvalidInput):
        LevelCurve.explicit([10, 100])


def test_progress_says_how_far_the_next_level_is(store: StoreHandle) -> None:
    xp = service(store)
    for n in range(6):
        xp.record(ev("lesson_attended", f"l{n}"))
    p = xp.progress("ann", actor=SYSTEM)  # 300 XP: level 3 (276..479)
    assert (p.level, p.xp_into_level, p.xp_to_next, p.percent) == (3, 24, 179, Decimal("11.82"))
    assert p.title == "Scholar" and not p.max_level
    top = LevelService(store.unit_of_work, rules=RULES, curve=LevelCurve.explicit([0, 100]))
    assert (
        top.progress("ann", actor=SYSTEM).max_level
        and top.progress("ann", actor=SYSTEM).xp_to_next is None
    )


def test_xp_for_one_source_is_awarded_once_and_refusals_are_recorded(store: StoreHandle) -> None:
    bus = InMemoryEventBus()
    xp = service(store, bus)
    assert xp.record(ev("lesson_attended", "l1")).awarded
    again = xp.record(ev("lesson_attended", "l1", T + timedelta(hours=1)))
    assert not again.awarded and "already awarded" in (again.reason or "")
    assert xp.progress("ann", actor=SYSTEM).xp == 50
    assert [r["reason"] for r in xp.refused_awards("ann", actor=SYSTEM)] == [again.reason]


def test_the_cheat_guard_and_caps_live_with_the_students_xp(store: StoreHandle) -> None:
    xp = service(store)
    assert xp.record(ev("daily_streak", "d1")).awarded
    # a second device sending the next streak an hour later is refused: the gap is stored
    other_device = service(store)
    assert not other_device.record(ev("daily_streak", "d2", T + timedelta(hours=1))).awarded
    assert xp.record(ev("daily_streak", "d3", T + timedelta(hours=21))).awarded
    assert xp.record(ev("minutes_watched", "v1", quantity=45)).points == 45
    capped = xp.record(ev("minutes_watched", "v2", T + timedelta(minutes=50), quantity=30))
    assert not capped.awarded and "cap of 60" in (capped.reason or "")
    assert xp.record(
        ev("minutes_watched", "v3", T + timedelta(days=1, minutes=1), quantity=30)
    ).awarded


def test_homework_points_follow_the_quality_score(store: StoreHandle) -> None:
    xp = service(store)
    assert xp.record(ev("homework_submitted", "h1", score=Decimal("85"))).points == 34


def test_multipliers_stack_by_multiplying_and_are_capped(store: StoreHandle) -> None:
    weekend = Multiplier(
        name="double weekend", factor=Decimal(2), starts_at=T, ends_at=T + timedelta(days=2)
    )
    campaign = Multiplier(
        name="spring",
        factor=Decimal("1.5"),
        starts_at=T,
        ends_at=T + timedelta(days=30),
        kinds=frozenset({"lesson_attended"}),
    )
    xp = service(store, multipliers=[weekend, campaign], max_factor=Decimal("2.5"))
    assert xp.record(ev("lesson_attended", "l1")).points == 125  # 50 x min(3, 2.5)
    assert xp.record(ev("homework_submitted", "h1", score=Decimal(50))).points == 40  # 20 x 2
    assert xp.record(ev("lesson_attended", "l2", T + timedelta(days=3))).points == 75


def test_badges_and_level_ups_are_awarded_once(store: StoreHandle) -> None:
    bus = InMemoryEventBus()
    xp = service(store, bus)
    for n in range(8):
        xp.record(ev("lesson_attended", f"l{n}", T + timedelta(minutes=n)))
    badges = [e.badge_id for e in bus.events if isinstance(e, BadgeAwarded)]
    assert badges == ["first-lesson", "level-3"]
    ups = [(e.from_level, e.to_level) for e in bus.events if isinstance(e, LevelUp)]
    assert ups == [(1, 2), (2, 3)]
    assert xp.badges_of("ann", actor=SYSTEM) == ["first-lesson", "level-3"]


def test_leaderboards_share_ranks_on_ties_and_hide_names() -> None:
    board = Leaderboard()
    for student, points in [("ann", 300), ("bob", 300), ("cat", 100), ("dan", 50), ("eve", 10)]:
        board.update(student, points)
    assert [(s.rank, s.student_id) for s in board.top(3)] == [(1, "ann"), (1, "bob"), (3, "cat")]
    near = board.around("dan", 1, anonymous=True)
    assert [(s.rank, s.display_name) for s in near] == [
        (3, "student #3"),
        (4, "dan"),
        (5, "student #5"),
    ]
    board.update("eve", 500)
    assert board.rank("eve") == 1 and board.rank("ann") == 2


def test_leaderboards_per_class_and_per_period(store: StoreHandle) -> None:
    xp = service(store)
    xp.record(ev("lesson_attended", "l1", student="ann", class_id="A"))
    xp.record(ev("lesson_attended", "l2", student="bob", class_id="B"))
    xp.record(ev("lesson_attended", "l3", T + timedelta(days=7), student="bob", class_id="B"))
    assert xp.leaderboard().rank("bob") == 1
    assert len(xp.leaderboard(class_id="A")) == 1
    this_week = period_keys(T)[0]
    week = xp.leaderboard(period=this_week)
    assert week.rank("ann") == 1 and week.rank("bob") == 1  # 50 each that week


def test_concurrent_records_of_one_source_award_once(store: StoreHandle) -> None:
    xp = service(store)
    gate = threading.Barrier(6)

    def send() -> None:
        gate.wait()
        xp.record(ev("lesson_attended", "same-lesson"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (
        xp.progress("ann", actor=SYSTEM).xp == 50
        and len(xp.refused_awards("ann", actor=SYSTEM)) == 5
    )


def test_bad_input_is_refused_and_changes_nothing(store: StoreHandle) -> None:
    xp = service(store)
    xp.record(ev("lesson_attended", "l1"))
    before = store.snapshot()
    with pytest.raises(UnknownRule):
        xp.record(ev("teleported", "x"))
    with pytest.raises(NaiveDatetime):
        ev("lesson_attended", "l2", datetime(2026, 3, 2))
    with pytest.raises(InvalidInput):
        XpRule(kind="x", points=-5)
    with pytest.raises(EduEngineError):
        ev("homework_submitted", "h", score=Decimal(150))
    assert store.snapshot() == before


learning = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bob"]),
        st.sampled_from([r.kind for r in RULES]),
        st.integers(0, 6),  # source id: repeats happen
        st.integers(0, 60 * 24 * 3),  # minutes after T
        st.integers(1, 40),
        st.integers(0, 100),
    ),
    max_size=30,
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=10)
@given(history=learning)
def test_replaying_the_full_history_gives_the_same_state(
    adapter: str, history: list[tuple[str, str, int, int, int, int]]
) -> None:
    events = [
        ev(
            kind,
            f"s{src}",
            T + timedelta(minutes=minute),
            student,
            quantity=qty,
            score=Decimal(score),
        )
        for student, kind, src, minute, qty, score in sorted(history, key=lambda h: h[3])
    ]
    states = []
    for _ in range(2):
        handle = make_store(adapter, Path(tempfile.mkdtemp()))
        try:
            xp = service(handle)
            for e in events:
                xp.record(e)
            states.append({s: xp.state_of(s, actor=SYSTEM) for s in ("ann", "bob")})
            for s in ("ann", "bob"):
                state = states[-1][s]
                assert state["level"] == xp.curve.level_for(state["xp"])
                for kind, rule in ((r.kind, r) for r in RULES):
                    if rule.cap is not None:
                        assert all(p <= rule.cap for _, p in state["history"].get(kind, []))
        finally:
            handle.close()
    assert states[0] == states[1]


def test_a_streak_bonus_applies_once_the_streak_is_long_enough(store: StoreHandle) -> None:
    bonus = Multiplier(
        name="3-day streak",
        factor=Decimal("1.5"),
        starts_at=T,
        ends_at=T + timedelta(days=30),
        min_streak=3,
        kinds=frozenset({"lesson_attended"}),
    )
    xp = service(store, multipliers=[bonus])
    for day in range(3):
        xp.record(ev("daily_streak", f"d{day}", T + timedelta(days=day)))
        points = xp.record(ev("lesson_attended", f"l{day}", T + timedelta(days=day, hours=1)))
        assert points.points == (75 if day == 2 else 50)
    # a broken streak (three days without) loses the bonus
    assert xp.record(ev("lesson_attended", "l9", T + timedelta(days=6))).points == 50
