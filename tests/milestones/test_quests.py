"""Quests: progress from the feed (lessons attended, XP earned, points mastered), counted
by when things happened, completed and rewarded exactly once, expiring at their date."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.booking.events import SeatBooked, SlotCreated
from eduengine.errors import InvalidInput, InvalidSetting, InvalidTimeRange
from eduengine.levels import LearningEvent, XpRule
from eduengine.milestones import Quest, QuestCompleted
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

RULES = [
    XpRule(kind="task", points=1, per_quantity=True),
    XpRule(kind="lesson_attended", points=50),
]
KEY = b"school-secret-key-32-bytes-long!"


def build(store: StoreHandle, clock: FixedClock, *, inline: bool = True) -> School:
    return School.build(
        store,
        clock=clock,
        reminders=None,
        notices=None,
        analytics=False,
        xp_rules=RULES,
        certificate_key=KEY,
        inline_projections=inline,
    )


def xp(school: School, student: str, points: int, source: str, at_days: float = 0) -> None:
    school.levels.record(
        LearningEvent(
            student_id=student,
            kind="task",
            source_id=source,
            occurred_at=T0 + timedelta(days=at_days),
            quantity=points,
        )
    )


def completions(school: School, student: str) -> list[QuestCompleted]:
    found: list[QuestCompleted] = []
    cursor = 0
    while page := school.feed.events_since(cursor, limit=500):
        cursor = page[-1].position or cursor
        found += [
            e.event
            for e in page
            if isinstance(e.event, QuestCompleted) and e.event.student_id == student
        ]
    return found


def test_attending_lessons_completes_a_quest_with_its_xp_badge_and_certificate_once(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = build(store, clock)
    school.milestones.define_quest(
        Quest(
            id="three-lessons",
            title="Attend 3 lessons this week",
            measure="lessons_attended",
            target=3,
            ends_at=T0 + timedelta(days=7),
            reward_xp=30,
            reward_badge="regular",
            certificate=True,
        )
    )
    for n in range(4):
        start = T0 + timedelta(days=n, hours=1)
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        booking = school.booking.book(slot.id, "ann")
        clock.set(start + timedelta(minutes=5))
        school.booking.mark_attended(booking.id)
        [progress] = school.milestones.quest_progress("ann", actor=SYSTEM)
        assert progress.count == min(n + 1, 3)
        assert progress.status == ("done" if n >= 2 else "open")
    assert len(completions(school, "ann")) == 1
    assert (
        school.levels.progress("ann", actor=SYSTEM).xp == 30
    )  # the reward, once (no XP rule fires)
    assert school.levels.badges_of("ann", actor=SYSTEM) == ["regular"]
    [cert] = school.milestones.certificates_of("ann", actor=SYSTEM)
    assert (cert.kind, cert.subject_id, cert.basis) == ("quest", "three-lessons", "quest")
    assert school.milestones.verify_certificate(cert.id, cert.payload()).valid


def test_what_happens_after_the_end_does_not_count_and_the_quest_expires(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = build(store, clock)
    school.milestones.define_quest(
        Quest(
            id="q",
            title="Earn 100 XP in 3 days",
            measure="xp_earned",
            target=100,
            starts_at=T0,
            ends_at=T0 + timedelta(days=3),
        )
    )
    xp(school, "ann", 60, "a", at_days=1)
    xp(school, "ann", 60, "b", at_days=3)  # at the end: too late
    xp(school, "ann", 60, "c", at_days=-1)  # before the start
    [progress] = school.milestones.quest_progress("ann", at=T0 + timedelta(days=2), actor=SYSTEM)
    assert (progress.count, progress.status) == (60, "open")
    [progress] = school.milestones.quest_progress("ann", at=T0 + timedelta(days=3), actor=SYSTEM)
    assert progress.status == "expired"
    assert completions(school, "ann") == []


def test_mastering_points_counts_each_point_once(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = build(store, clock)
    school.milestones.define_quest(
        Quest(
            id="m2",
            title="Master 2 points",
            measure="points_mastered",
            target=2,
            ends_at=T0 + timedelta(days=30),
        )
    )
    for n in range(6):  # "count" goes past the threshold once, then stays above it
        school.mastery.observe("ann", "count", True, at=T0 + timedelta(hours=n))
    [progress] = school.milestones.quest_progress("ann", actor=SYSTEM)
    assert progress.count == 1
    for n in range(6):
        school.mastery.observe("ann", "add", True, at=T0 + timedelta(hours=n))
    [progress] = school.milestones.quest_progress("ann", actor=SYSTEM)
    assert (progress.count, progress.status) == (2, "done")


def test_bad_quests_are_refused(store: StoreHandle) -> None:
    school = build(store, FixedClock(T0))
    end = T0 + timedelta(days=1)
    with pytest.raises(InvalidInput, match="measures one of"):
        Quest(id="q", title="t", measure="homework", target=1, ends_at=end)
    with pytest.raises(InvalidInput):
        Quest(id="q", title="t", measure="xp_earned", target=0, ends_at=end)
    with pytest.raises(InvalidTimeRange):
        Quest(id="q", title="t", measure="xp_earned", target=1, ends_at=end, starts_at=end)
    keyless = School.build(store, clock=FixedClock(T0), reminders=None)
    before = store.snapshot()
    with pytest.raises(InvalidSetting, match="certificate_key"):
        keyless.milestones.define_quest(
            Quest(id="q", title="t", measure="xp_earned", target=1, ends_at=end, certificate=True)
        )
    assert store.snapshot() == before
    assert school.milestones.quests() == []
    school.milestones.define_quest(
        Quest(id="q", title="t", measure="xp_earned", target=1, ends_at=end)
    )
    with pytest.raises(InvalidInput, match="keeps its measure"):
        school.milestones.define_quest(
            Quest(id="q", title="t", measure="lessons_attended", target=1, ends_at=end)
        )
    school.milestones.define_quest(
        Quest(id="q", title="t2", measure="xp_earned", target=2, ends_at=end)
    )
    assert [(q.title, q.target) for q in school.milestones.quests()] == [("t2", 2)]


_examples = itertools.count()

# one operation: an award of XP (points, days after T0), or a catch-up by worker 0 or 1
ops = st.lists(
    st.one_of(
        st.tuples(st.just("xp"), st.integers(1, 40), st.integers(0, 6)),
        st.tuples(st.just("catch"), st.integers(0, 1), st.just(0)),
    ),
    max_size=14,
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_a_quest_is_awarded_at_most_once_whatever_the_interleaving(
    store: StoreHandle, steps: list[tuple[str, int, int]]
) -> None:
    """Awards and catch-ups by two workers in any order (the reactions not inline): the
    quest completes iff the XP earned before its end reaches the target, once, and its
    reward XP is given once."""
    n = next(_examples)
    student, quest = f"s{n}", f"q{n}"
    workers = [build(store, FixedClock(T0), inline=False) for _ in range(2)]
    school = workers[0]
    school.milestones.define_quest(
        Quest(
            id=quest,
            title="Earn 50 XP in 4 days",
            measure="xp_earned",
            target=50,
            ends_at=T0 + timedelta(days=4),
            reward_xp=7,
        )
    )
    counted = 0
    earned = 0
    for i, (op, value, day) in enumerate(steps):
        if op == "xp":
            xp(school, student, value, f"{quest}-{i}", at_days=day)
            earned += value
            counted += value if day < 4 else 0
        else:
            workers[value].projections.catch_up()
    workers[1].projections.catch_up()
    workers[0].projections.catch_up()
    # every example's quest is open to every student, so hers complete together
    done = [c.quest_id for c in completions(school, student)]
    quests = [q.id for q in school.milestones.quests()]
    assert sorted(done) == (sorted(quests) if counted >= 50 else [])
    state = school.levels.state_of(student, actor=SYSTEM)
    assert sorted(s for s in state["sources"] if s.startswith("quest_reward:")) == sorted(
        f"quest_reward:{q}" for q in done
    )
    assert school.levels.progress(student, actor=SYSTEM).xp == earned + 7 * len(done)


def test_two_workers_catching_up_at_once_award_a_quest_once(store: StoreHandle) -> None:
    workers = [build(store, FixedClock(T0), inline=False) for _ in range(2)]
    school = workers[0]
    school.milestones.define_quest(
        Quest(
            id="q",
            title="Earn 30 XP",
            measure="xp_earned",
            target=30,
            ends_at=T0 + timedelta(days=4),
            reward_xp=5,
            reward_badge="fast",
        )
    )
    for i in range(6):
        xp(school, "ann", 10, f"t{i}")
    gate = threading.Barrier(2)

    def run(worker: School) -> None:
        gate.wait()
        worker.projections.catch_up()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.projections.catch_up()
    assert len(completions(school, "ann")) == 1
    assert school.levels.progress("ann", actor=SYSTEM).xp == 65
    assert school.levels.badges_of("ann", actor=SYSTEM) == ["fast"]
    [progress] = school.milestones.quest_progress("ann", actor=SYSTEM)
    assert (progress.count, progress.status, progress.done_at) == (30, "done", T0)
    assert Decimal(progress.count) / progress.target == 1


def test_a_quest_may_count_any_event_of_hers_the_school_counts_for_quests(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = School.build(
        store, clock=clock, reminders=None, xp_rules=RULES, quest_events=[SeatBooked]
    )
    school.milestones.define_quest(
        Quest(
            id="book-2",
            title="Book 2 lessons",
            measure="events",
            event_type="booking.seat_booked",
            target=2,
            ends_at=T0 + timedelta(days=7),
            reward_xp=10,
        )
    )
    for n in range(3):
        start = T0 + timedelta(days=1, hours=n)
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        school.booking.book(slot.id, "ann")
    [progress] = school.milestones.quest_progress("ann", actor=SYSTEM)
    assert (progress.count, progress.status) == (2, "done")
    assert school.levels.progress("ann", actor=SYSTEM).xp == 10
    with pytest.raises(InvalidInput, match="not counted for quests"):
        school.milestones.define_quest(
            Quest(
                id="x",
                title="t",
                measure="events",
                event_type="booking.seat_released",
                target=1,
                ends_at=T0 + timedelta(days=1),
            )
        )
    with pytest.raises(InvalidInput, match="only for, an 'events' quest"):
        Quest(id="x", title="t", measure="events", target=1, ends_at=T0 + timedelta(days=1))
    with pytest.raises(InvalidSetting, match="student_id"):
        School.build(store, clock=clock, quest_events=[SlotCreated])
