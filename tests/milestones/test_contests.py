"""Team contests: standings from the XP awarded in the period, equal to a brute-force sum,
ties broken by team id; classes follow membership."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.errors import DuplicateId, InvalidInput, InvalidTimeRange, MilestoneNotFound
from eduengine.milestones import ContestDefined, rank_teams
from eduengine.students import SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.milestones.test_quests import build, xp

_examples = itertools.count()

awards = st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 30), st.integers(-2, 9)),  # who, XP, day
    max_size=20,
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(awards, st.booleans())
def test_standings_equal_a_brute_force_sum_over_the_period(
    store: StoreHandle, given_awards: list[tuple[int, int, int]], inline: bool
) -> None:
    n = next(_examples)
    school = build(store, FixedClock(T0), inline=inline)
    students = [f"c{n}-s{i}" for i in range(6)]
    # s5 is in no team: her XP counts for nobody
    groups = {"red": students[0:2], "blue": students[2:4], "gold": students[4:5]}
    contest = f"contest-{n}"
    school.milestones.define_contest(
        contest, starts_at=T0, ends_at=T0 + timedelta(days=7), groups=groups
    )
    for i, (who, points, day) in enumerate(given_awards):
        xp(school, students[who], points, f"{contest}-{i}", at_days=day)
    school.projections.catch_up()
    expected: dict[str, int] = dict.fromkeys(groups, 0)
    members: dict[str, dict[str, int]] = defaultdict(dict)
    for who, points, day in given_awards:
        team = next((t for t, ids in groups.items() if students[who] in ids), None)
        if team is not None and 0 <= day < 7:
            expected[team] += points
            members[team][students[who]] = members[team].get(students[who], 0) + points
    standings = school.milestones.standings(contest)
    assert [(s.team_id, s.points, s.members) for s in standings] == [
        (team, points, dict(sorted(members[team].items())))
        for team, points in sorted(expected.items(), key=lambda item: (-item[1], item[0]))
    ]
    assert [s.rank for s in standings] == [1, 2, 3]


def test_a_class_contest_counts_xp_for_the_class_she_is_in_when_it_counts(
    store: StoreHandle,
) -> None:
    school = build(store, FixedClock(T0))
    for klass in ("A", "B"):
        school.students.create_class(SchoolClass(id=klass, name=klass, capacity=5))
    for student, klass in (("ann", "A"), ("bob", "B"), ("cy", "B")):
        school.students.register(student, name=student)
        school.students.assign(student, klass)
    school.milestones.define_contest(
        "pk", starts_at=T0, ends_at=T0 + timedelta(days=7), classes=["A", "B"]
    )
    xp(school, "ann", 30, "a1")
    xp(school, "bob", 10, "b1")
    xp(school, "cy", 20, "c1")
    xp(school, "dan", 99, "d1")  # in no class
    standings = school.milestones.standings("pk")
    assert [(s.team_id, s.points, s.rank) for s in standings] == [("A", 30, 1), ("B", 30, 2)]
    assert standings[1].members == {"bob": 10, "cy": 20}
    school.students.assign("ann", "B")
    xp(school, "ann", 5, "a2")
    assert [(s.team_id, s.points) for s in school.milestones.standings("pk")] == [
        ("B", 35),
        ("A", 30),
    ]
    defined = [e.event for e in school.feed.events_since(0, limit=500)]
    assert any(isinstance(e, ContestDefined) and e.teams == ("A", "B") for e in defined)


def test_bad_contests_are_refused_and_change_nothing(store: StoreHandle) -> None:
    school = build(store, FixedClock(T0))
    end = T0 + timedelta(days=1)
    school.milestones.define_contest("c", starts_at=T0, ends_at=end, classes=["A", "B"])
    before = store.snapshot()
    with pytest.raises(DuplicateId):
        school.milestones.define_contest("c", starts_at=T0, ends_at=end, classes=["A", "B"])
    with pytest.raises(InvalidTimeRange):
        school.milestones.define_contest("d", starts_at=end, ends_at=T0, classes=["A", "B"])
    with pytest.raises(InvalidInput, match="two teams"):
        school.milestones.define_contest("d", starts_at=T0, ends_at=end, classes=["A"])
    with pytest.raises(InvalidInput, match="two teams"):
        school.milestones.define_contest("d", starts_at=T0, ends_at=end, groups={"x": ["ann"]})
    with pytest.raises(InvalidInput, match="in two teams"):
        school.milestones.define_contest(
            "d", starts_at=T0, ends_at=end, groups={"x": ["ann"], "y": ["ann"]}
        )
    with pytest.raises(InvalidInput, match="not both"):
        school.milestones.define_contest(
            "d", starts_at=T0, ends_at=end, classes=["A"], groups={"x": ["a"], "y": ["b"]}
        )
    assert store.snapshot() == before
    with pytest.raises(MilestoneNotFound):
        school.milestones.standings("nope")


def test_ties_go_to_the_smaller_team_id_and_every_place_is_one_team() -> None:
    ranked = rank_teams({"b": 5, "a": 5, "c": 9, "d": 0})
    assert [(s.team_id, s.rank) for s in ranked] == [("c", 1), ("a", 2), ("b", 3), ("d", 4)]
