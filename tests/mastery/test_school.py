"""school.mastery as wired by School.build: its events reach the feed, its state goes
with the student's erasure, and observe_in runs inside a caller's unit of work."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.errors import InvalidInput
from eduengine.mastery import BktParams, GoalsSet, MasteryUpdated, ReviewScheduled, observe_in
from eduengine.mastery.service import GOALS, STUDENTS
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0


def test_observations_and_goals_reach_the_feed_as_events(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    state = school.mastery.observe("ann", "fractions", Decimal("0.8"))
    school.mastery.set_goals("ann", points=["fractions"], courses=["algebra"])
    events = [e.event for e in school.feed.events_since(0)]
    updated, scheduled, goals = events[-3:]
    assert isinstance(updated, MasteryUpdated) and isinstance(scheduled, ReviewScheduled)
    assert (updated.student_id, updated.point_id, updated.score) == (
        "ann",
        "fractions",
        Decimal("0.8"),
    )
    assert (updated.before, updated.after, updated.observations) == (
        Decimal("0.2"),
        state.mastery,
        1,
    )
    assert state.card is not None and scheduled.due == state.card.due
    assert (scheduled.rating, scheduled.version) == (3, "fsrs6-2025")
    assert isinstance(goals, GoalsSet) and goals.courses == ("algebra",)
    envelopes = school.feed.events_since(0)[-3:]
    assert {e.stream for e in envelopes} == {"mastery:ann"}


def test_erasure_removes_her_mastery_cards_and_goals_and_nobody_elses(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    school.students.register("ann", name="Ann")
    for student in ("ann", "bob"):
        school.mastery.observe(student, "fractions", True)
        school.mastery.set_goals(student, points=["fractions"])
    report = school.students.erase(Actor(id="dpo", role="admin"), "ann")
    assert report.removed["mastery"] == 2
    assert school.mastery.mastery("ann", actor=SYSTEM) == {}
    assert school.mastery.goals("ann", actor=SYSTEM).points == ()
    assert school.mastery.due_reviews("ann", T0 + timedelta(days=400), actor=SYSTEM) == []
    assert school.mastery.students_with_due_reviews(T0 + timedelta(days=400)) == ["bob"]
    with store.unit_of_work() as uow:
        assert uow.records.get(STUDENTS, "ann") is None and uow.records.get(GOALS, "ann") is None
    assert list(school.mastery.mastery("bob", actor=SYSTEM)) == ["fractions"]


def test_observe_in_applies_inside_the_callers_unit_of_work(store: StoreHandle) -> None:
    # what a projection of graded work does: its own unit of work, its own commit
    with store.unit_of_work() as uow:
        state = observe_in(uow, "ann", "fractions", Decimal("1"), T0)
        assert [type(e) for e in uow.raised_events()] == [MasteryUpdated, ReviewScheduled]
        uow.rollback()
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    assert school.mastery.mastery("ann", actor=SYSTEM) == {}  # rolled back with the caller
    assert school.mastery.observe("ann", "fractions", Decimal("1"), T0) == state


def test_school_defaults_and_a_points_own_parameters(store: StoreHandle) -> None:
    easy = BktParams(prior="0.5", learn="0.3", guess="0.25", slip="0.05")
    school = School.build(store, clock=FixedClock(T0), reminders=None, mastery_params=easy)
    school.mastery.define_point(
        "hard", params=BktParams(prior="0.05", learn="0.05", guess="0.1", slip="0.1")
    )
    # the school's defaults: 0.5 * 0.95 / (0.5 * 0.95 + 0.5 * 0.25) = 19/24, + 5/24 * 0.3
    assert school.mastery.observe("ann", "plain", True).mastery == Decimal("0.854166666667")
    assert school.mastery.observe("ann", "hard", True).mastery < Decimal("0.5")
    assert school.mastery.prerequisites() == {"hard": ()}


@pytest.mark.parametrize("bad", [0.7, Decimal("2"), None])
def test_a_bad_observation_is_refused_and_changes_nothing(store: StoreHandle, bad: object) -> None:
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    before = store.snapshot()
    with pytest.raises(InvalidInput):
        school.mastery.observe("ann", "fractions", bad)  # type: ignore[arg-type]
    assert store.snapshot() == before
