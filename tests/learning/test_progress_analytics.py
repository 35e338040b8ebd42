"""Progress analytics (issue #23): completion rates of courses and units, the time to
complete a unit and the mastery gained per lesson attended, read from the projection's
hourly cells, equal a brute-force recount of the whole feed, for a period in the
school's zone, by every breakdown, on every adapter, and after a rebuild."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from eduengine import FixedClock, School
from eduengine.analytics.model import Period
from eduengine.booking.events import AttendanceMarked
from eduengine.errors import InvalidInput
from eduengine.kernel.events import DomainEvent
from eduengine.learning import Assignment, Curriculum, KnowledgePoint, Unit, WorkKind
from eduengine.learning.events import WorkAssigned
from eduengine.learning.progress import BY, PROGRESS_PROJECTION, ProgressRow
from eduengine.mastery.events import MasteryUpdated
from eduengine.mastery.path import MASTERED
from eduengine.people import SYSTEM
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.learning.helpers import set_up_course

ZONE = "Asia/Shanghai"
WEEK = Period.week(date(2026, 3, 2), ZONE)
CLASSES = {"ann": "A", "bob": "A", "cy": "B", "dee": "B"}
COURSES = ("en1", "math")


def a_week(store: StoreHandle) -> School:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    learning, booking, mastery = school.learning, school.booking, school.mastery
    set_up_course(learning)
    learning.define_curriculum(
        Curriculum(
            course_id="math",
            points=(KnowledgePoint(id="add"),),
            units=(Unit(id="m1", points=("add",), dimensions=("speed",)),),
        )
    )
    for cid in ("A", "B"):
        school.students.create_class(SchoolClass(id=cid, name=cid, capacity=9))
    for sid, cid in CLASSES.items():
        school.students.register(sid, name=sid)
        school.students.assign(sid, cid)

    def lesson(course: str, tutor: str, at: timedelta, who: list[str]) -> dict[str, str]:
        start = T0 + at
        slot = booking.create_slot(course, start, start + timedelta(hours=1), 9, tutor_id=tutor)
        return {sid: booking.book(slot.id, sid).id for sid in who}

    l1 = lesson("en1", "t1", timedelta(hours=2), ["ann", "bob", "cy"])
    l2 = lesson("en1", "t1", timedelta(days=1, hours=2), ["ann", "cy", "dee"])
    l3 = lesson("math", "t2", timedelta(days=2, hours=2), list(CLASSES))
    l4 = lesson("en1", "t2", timedelta(days=8, hours=2), ["ann"])  # next week

    def at(delta: timedelta) -> None:
        clock.set(T0 + delta)

    def observe(sid: str, point: str, right: bool, times: int) -> None:
        for _ in range(times):
            clock.advance(timedelta(minutes=7))
            mastery.observe(sid, point, right)

    def homework(aid: str, course: str, unit: str, **to: Any) -> list[str]:
        return learning.assign(
            Assignment(id=aid, kind=WorkKind.HOMEWORK, course_id=course, unit_id=unit,
                       teacher_id="t1"),
            **to,
        )

    homework("e1", "en1", "u1", class_id="A")
    at(timedelta(hours=1))
    homework("e2", "en1", "u2", class_id="B")
    at(timedelta(hours=2, minutes=15))
    booking.mark_attended(l1["ann"])
    booking.mark_attended(l1["bob"])
    booking.mark_no_show(l1["cy"])
    at(timedelta(hours=3))
    learning.submit("ann", "e1:ann")
    learning.grade(Actor(id="t1", role="teacher"), "e1:ann", score=Decimal(1))
    observe("ann", "greetings", True, 4)
    observe("ann", "numbers", True, 4)  # unit u1 mastered
    observe("bob", "greetings", False, 1)
    at(timedelta(days=1, hours=2, minutes=15))
    for sid in ("ann", "cy", "dee"):
        booking.mark_attended(l2[sid])
    booking.mark_no_show(l2["dee"])  # corrected: her lesson no longer counts
    at(timedelta(days=1, hours=5))
    observe("cy", "past-tense", True, 5)  # unit u2 mastered
    observe("bob", "greetings", True, 2)
    observe("dee", "numbers", True, 2)  # after her only lesson was taken back
    at(timedelta(days=2))
    homework("m1", "math", "m1", student_ids=list(CLASSES))
    at(timedelta(days=2, hours=2, minutes=15))
    for sid in CLASSES:
        booking.mark_attended(l3[sid])
    at(timedelta(days=2, hours=4))
    observe("ann", "add", True, 5)  # math mastered
    observe("dee", "add", False, 2)
    at(timedelta(days=3))
    observe("ann", "past-tense", True, 5)  # every point of en1: the course is done
    at(timedelta(days=8, hours=2, minutes=15))
    booking.mark_attended(l4["ann"])
    at(timedelta(days=8, hours=4))
    homework("m2", "math", "m1", student_ids=["bob"])
    observe("bob", "add", True, 6)
    school.projections.catch_up()
    return school


def feed(school: School) -> list[DomainEvent]:
    found: list[DomainEvent] = []
    cursor = 0
    while True:
        batch = school.feed.events_since(cursor, limit=500)
        if not batch:
            return found
        found += [e.event for e in batch]
        cursor = batch[-1].position or 0


def brute_force(school: School, period: Period, by: str) -> list[ProgressRow]:
    """Replay every event of the feed, one student at a time, with the definitions of
    docs/learning.md, and sum what falls in ``period``."""
    curricula = {c: school.learning.curriculum(c) for c in COURSES}
    course_points = {c: {p.id for p in cur.points} for c, cur in curricula.items()}
    unit_points = {(c, u.id): set(u.points) for c, cur in curricula.items() for u in cur.units}
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"ce": 0, "cc": 0, "us": 0, "uc": 0, "times": [], "lessons": 0,
                 "gain": Decimal(0)}
    )

    def inside(at: datetime) -> bool:
        return period.start <= at < period.end

    def add(groups: Mapping[str, str | None], at: datetime, name: str, value: Any) -> None:
        group = groups.get(by)
        if group is not None and inside(at):
            if name == "times":
                rows[group]["times"].append(value)
            else:
                rows[group][name] += value

    events = feed(school)
    for sid, cid in CLASSES.items():
        estimate: dict[str, Decimal] = {}
        entered: dict[str, datetime] = {}
        started: dict[tuple[str, str], datetime] = {}
        done: set[object] = set()
        lessons: list[dict[str, Any]] = []  # attended, in feed order (None: taken back)
        for event in events:
            if getattr(event, "student_id", None) != sid:
                continue
            if isinstance(event, WorkAssigned):
                entered.setdefault(event.course_id, event.occurred_at)
                if event.unit_id is not None:
                    started.setdefault((event.course_id, event.unit_id), event.occurred_at)
            elif isinstance(event, AttendanceMarked):
                slot = school.booking.get_slot(event.slot_id, actor=SYSTEM)
                mine = [x for x in lessons if x["booking"] == event.booking_id]
                if event.status == "attended" and not mine:
                    lessons.append({"booking": event.booking_id, "course": slot.course_id,
                                    "tutor": slot.tutor_id, "at": slot.start})
                elif event.status != "attended" and mine:
                    lessons.remove(mine[0])
                    mine[0]["taken_back"] = True
                    add({"school": "school", "course": slot.course_id, "class": cid,
                         "teacher": slot.tutor_id}, slot.start, "lessons", -1)
                    continue
                else:
                    continue
                add({"school": "school", "course": slot.course_id, "class": cid,
                     "teacher": slot.tutor_id}, slot.start, "lessons", 1)
            elif isinstance(event, MasteryUpdated):
                estimate[event.point_id] = event.after
                courses = {c for c, points in course_points.items() if event.point_id in points}
                latest = [x for x in lessons if x["course"] in courses]
                latest_course = {x["course"]: x for x in latest}  # the last per course
                if latest_course and event.after != event.before:
                    lesson = max(latest_course.values(), key=lessons.index)
                    add({"school": "school", "course": lesson["course"], "class": cid,
                         "teacher": lesson["tutor"]}, lesson["at"], "gain",
                        event.after - event.before)
            else:
                continue

            def mastered(points: set[str], estimate: dict[str, Decimal] = estimate) -> bool:
                return all(estimate.get(p, Decimal(0)) >= MASTERED for p in points)

            for course, since in entered.items():
                if course not in done and mastered(course_points[course]):
                    done.add(course)
                    add({"school": "school", "course": course, "class": cid}, since, "cc", 1)
            for (course, unit), since in started.items():
                if (course, unit) not in done and mastered(unit_points[course, unit]):
                    done.add((course, unit))
                    groups = {"school": "school", "course": course, "class": cid,
                              "unit": f"{course}/{unit}"}
                    add(groups, since, "uc", 1)
                    add(groups, event.occurred_at, "times", event.occurred_at - since)
        for course, since in entered.items():
            add({"school": "school", "course": course, "class": cid}, since, "ce", 1)
        for (course, unit), since in started.items():
            add({"school": "school", "course": course, "class": cid,
                 "unit": f"{course}/{unit}"}, since, "us", 1)
    return [
        ProgressRow(group=g, courses_entered=r["ce"], courses_completed=r["cc"],
                    units_started=r["us"], units_completed=r["uc"],
                    unit_times=tuple(sorted(r["times"])), lessons=r["lessons"],
                    mastery_gain=r["gain"])
        for g, r in sorted(rows.items())
    ]


def test_the_progress_projection_equals_a_recount_of_the_feed_and_survives_a_rebuild(
    store: StoreHandle,
) -> None:
    school = a_week(store)
    read = school.learning.progress
    for by in BY:
        assert read(WEEK, by=by) == brute_force(school, WEEK, by), by
    units = {r.group: r for r in read(WEEK, by="unit")}
    assert {g: (r.units_started, r.units_completed) for g, r in units.items()} == {
        "en1/u1": (2, 1), "en1/u2": (2, 1), "math/m1": (4, 2)}  # bob's: next week
    courses = {r.group: r for r in read(WEEK, by="course")}
    assert courses["en1"].completion_rate == Decimal(1) / 4
    assert courses["math"].completion_rate == Decimal(2) / 4
    u1 = units["en1/u1"]
    assert u1.median_unit_time == u1.p90_unit_time == u1.unit_times[0] > timedelta(hours=3)
    [total] = read(WEEK, by="school")
    assert total.lessons == 2 + 2 + 4  # a no-show and a corrected mark do not count
    assert total.mastery_gain_per_lesson is not None and total.mastery_gain_per_lesson > 0
    teachers = {r.group: r for r in read(WEEK, by="teacher")}
    assert set(teachers) == {"t1", "t2"} and teachers["t2"].lessons == 4
    next_week = Period.week(date(2026, 3, 9), ZONE)
    [later] = read(next_week, by="school")
    # bob's m1 began last week: its time to complete counts in the week it ended
    assert (later.lessons, later.units_started, len(later.unit_times)) == (1, 0, 1)

    before = {by: read(WEEK, by=by) for by in BY}
    school.projections.rebuild(PROGRESS_PROJECTION)
    assert {by: read(WEEK, by=by) for by in BY} == before
    with pytest.raises(InvalidInput):
        read(WEEK, by="weekday")


def test_the_times_to_complete_give_a_median_and_a_nearest_rank_90th_percentile() -> None:
    row = ProgressRow(group="u", unit_times=tuple(timedelta(hours=h) for h in range(1, 11)))
    assert row.median_unit_time == timedelta(hours=5, minutes=30)
    assert row.p90_unit_time == timedelta(hours=9)
    assert ProgressRow(group="u").median_unit_time is None
    assert ProgressRow(group="u").completion_rate is None
