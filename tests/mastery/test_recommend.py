"""Recommendations with a planted history: the course and slot a person would pick come
first, the explanation names why, and the ranking is the same for the same state."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from eduengine import FixedClock, School
from eduengine.errors import InvalidInput, SlotNotFound
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(day: datetime, hour: int) -> datetime:
    """``hour`` o'clock in Shanghai on ``day``'s date there."""
    local = day.astimezone(SHANGHAI)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


def _plant(store: StoreHandle) -> tuple[School, dict[str, str]]:
    """Mei: four lessons on Tuesday evenings at 19:00 (Shanghai) with tutor li, one on a
    Saturday morning with wang; equations is her goal and her weak point; angles she has
    mastered. The open slots of the next two weeks are planted around the pick."""
    clock = FixedClock(T0 - timedelta(days=40))
    school = School.build(store, clock=clock, reminders=None)
    mastery = school.mastery
    mastery.define_point("equations")
    mastery.define_point("fractions")
    mastery.define_point("angles")
    mastery.define_point("rhyme")
    mastery.define_course("algebra", ["equations", "fractions"])
    mastery.define_course("geometry", ["angles"])
    mastery.define_course("poetry", ["rhyme"])
    mastery.set_goals("mei", points=["equations"])
    booking = school.booking

    def slot(course: str, start: datetime, tutor: str, seats: int = 4, sid: str = "") -> str:
        made = booking.create_slot(
            course, start, start + timedelta(hours=1), seats, tutor_id=tutor, slot_id=sid or None
        )
        return made.id

    # T0 is Monday 2026-03-02 17:00 in Shanghai; her past Tuesdays are the weeks before
    tuesday = T0 + timedelta(days=1)
    for week in range(1, 5):
        booking.book(slot("geometry", _at(tuesday - timedelta(weeks=week), 19), "li"), "mei")
    booking.book(slot("algebra", _at(T0 - timedelta(days=9), 10), "wang"), "mei")  # a Saturday
    for hour in range(3):
        mastery.observe("mei", "angles", True, T0 - timedelta(days=30, hours=-hour))
    mastery.observe("mei", "equations", False, T0 - timedelta(days=20))
    mastery.observe("mei", "fractions", True, T0 - timedelta(days=20))

    ids = {
        "pick": slot("algebra", _at(tuesday + timedelta(weeks=1), 19), "li", sid="alg-tue-li"),
        "other tutor": slot("algebra", _at(tuesday, 19), "wang", sid="alg-tue-wang"),
        "saturday": slot("algebra", _at(T0 + timedelta(days=5), 10), "wang", sid="alg-sat"),
        "morning": slot("algebra", _at(tuesday, 8), "li", sid="alg-tue-8"),
        "full": slot("algebra", _at(tuesday, 19), "li", seats=1, sid="alg-full"),
        "too late": slot("algebra", _at(tuesday + timedelta(weeks=3), 19), "li", sid="alg-late"),
        "poetry": slot("poetry", _at(tuesday, 19), "li", sid="poe-tue"),
        "geometry": slot("geometry", _at(tuesday + timedelta(weeks=1), 19), "li", sid="geo-tue"),
    }
    booking.book(ids["full"], "bo")
    clock.set(T0)
    return school, ids


def test_the_course_and_slot_a_person_would_pick_come_first_with_the_reasons(
    store: StoreHandle,
) -> None:
    school, ids = _plant(store)
    ranked = school.mastery.recommend("mei", zone="Asia/Shanghai", actor=SYSTEM)

    best = ranked.courses[0]
    assert best.course_id == "algebra"
    assert best.goal_points == ("equations",)
    assert list(best.weak_points) == ["equations", "fractions"]
    assert best.weak_points["equations"] < Decimal("0.2")
    assert best.open_slots == 4 and best.seats_left == 16
    # geometry is mastered, so poetry (never met: prior 0.2) needs more
    assert [c.course_id for c in ranked.courses] == ["algebra", "poetry", "geometry"]

    slots = [s.slot_id for s in ranked.slots]
    assert slots[0] == ids["pick"]
    assert ids["full"] not in slots and ids["too late"] not in slots
    # the course first, then her habits: weekday, hour and tutor (wang taught one of her
    # five lessons, so her time with him beats her tutor in the morning); algebra at none
    # of her times still beats poetry at hers, and the mastered geometry comes last
    assert slots == [
        ids["pick"],
        ids["other tutor"],
        ids["morning"],
        ids["saturday"],
        ids["poetry"],
        ids["geometry"],
    ]
    pick = ranked.slots[0]
    assert (pick.weekday_share, pick.hour_share, pick.tutor_share) == (
        Decimal("0.800"),
        Decimal("0.800"),
        Decimal("0.800"),
    )
    assert pick.reasons == [
        "exercises goal points: equations",
        f"exercises weak points: equations ({best.weak_points['equations']}), "
        f"fractions ({best.weak_points['fractions']})",
        "16 seat(s) left in 4 slot(s) soon",
        "she books Tuesdays (4 of 5 lessons)",
        "she books at 19:00 (4 of 5 lessons)",
        "she returns to tutor li (4 of 5 lessons)",
        "4 seat(s) left",
    ]


def test_the_ranking_is_the_same_for_the_same_state(store: StoreHandle) -> None:
    school, ids = _plant(store)
    first = school.mastery.recommend("mei", zone="Asia/Shanghai", actor=SYSTEM)
    again = school.mastery.recommend("mei", zone="Asia/Shanghai", actor=SYSTEM)
    assert first == again
    # the host's own timetable gives the same ranking of the slots it lists
    listed = school.mastery.recommend(
        "mei", zone="Asia/Shanghai", slot_ids=[ids["saturday"], ids["pick"]], actor=SYSTEM
    )
    assert [s.slot_id for s in listed.slots] == [ids["pick"], ids["saturday"]]
    assert listed.slots[0].score == first.slots[0].score
    assert listed.courses[0].open_slots == 2  # only what the host listed counts


def test_a_goal_course_comes_first(store: StoreHandle) -> None:
    school, _ = _plant(store)
    school.mastery.set_goals("mei", courses=["poetry"])
    ranked = school.mastery.recommend("mei", zone="Asia/Shanghai", actor=SYSTEM)
    assert ranked.courses[0].course_id == "poetry"
    assert ranked.courses[0].reasons[0] == "one of her goal courses"
    assert ranked.slots[0].course_id == "poetry"


def test_bad_recommendation_arguments_are_refused(store: StoreHandle) -> None:
    school, _ = _plant(store)
    with pytest.raises(InvalidInput):
        school.mastery.recommend("mei", zone="Mars/Olympus")
    with pytest.raises(InvalidInput):
        school.mastery.recommend("mei", horizon=timedelta(0))


def _spy_slot_reads(school: School) -> list[tuple[str, tuple[str, ...]]]:
    """Every read of the slot repository by ``school.mastery``: the method and the ids
    asked (``list_ids`` asks for all)."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    real = school.mastery._uow

    def factory(read_only: bool = False) -> Any:
        uow = real(read_only=read_only)  # type: ignore[call-arg]
        slots = uow.slots
        for name in ("get", "get_many", "list_ids", "summaries"):
            method = getattr(slots, name)

            def spy(*args: Any, _name: str = name, _method: Any = method) -> Any:
                asked = args[0] if args else ("*",)
                calls.append((_name, (asked,) if isinstance(asked, str) else tuple(asked)))
                return _method(*args)

            setattr(slots, name, spy)
        return uow

    school.mastery._uow = factory
    return calls


def test_recommend_reads_only_the_candidate_courses_slots_in_the_horizon(
    store: StoreHandle,
) -> None:
    school, ids = _plant(store)
    # a course outside the course map and her goals: its slots can never rank
    art = school.booking.create_slot(
        "art",
        _at(T0 + timedelta(days=1), 19),
        _at(T0 + timedelta(days=1), 20),
        4,
        slot_id="art-tue",
    )
    with store.unit_of_work() as uow:
        history = {b.slot_id for b in uow.bookings.for_student("mei")}
        every_id = uow.slots.list_ids()
    every = school.mastery.recommend("mei", zone="Asia/Shanghai", slot_ids=every_id, actor=SYSTEM)
    calls = _spy_slot_reads(school)

    ranked = school.mastery.recommend("mei", zone="Asia/Shanghai", actor=SYSTEM)

    assert ranked == every  # the same ranking as reading every slot
    assert calls, "the spy saw no slot reads"
    assert not [c for c in calls if c[0] == "list_ids"]
    # the only full slots loaded are her history's; the rest are summaries (no rosters)
    loaded = {sid for name, asked in calls if name in ("get", "get_many") for sid in asked}
    assert loaded <= history
    summarised = {sid for name, asked in calls if name == "summaries" for sid in asked}
    assert art.id not in summarised and ids["too late"] not in summarised
    assert not summarised & history


def test_an_unknown_listed_slot_is_refused(store: StoreHandle) -> None:
    school, ids = _plant(store)
    with pytest.raises(SlotNotFound):
        school.mastery.recommend("mei", slot_ids=[ids["pick"], "no-such-slot"], actor=SYSTEM)
