"""Recommendations: the next course and the next slot for a student, with the reasons
(pure: the service reads the inputs, this ranks them).

A course scores from the student's goals and mastery::

    course score = 2 if it is a goal course
                 + the share of her goal points it exercises
                 + its need: the mean of (1 - mastery) over the points it exercises
                 + 0.5 if it has a seat left in a slot of the horizon

and a slot (an open session of a course, with a seat left, in the horizon) adds how well
it fits her booking history: the mean of three shares of her past lessons, each in
[0, 1], so the course matters more than the hour::

    slot score = course score + (same weekday + same hour (both in her zone) + same tutor) / 3

Ties go to the earlier slot, then the smaller id: the ranking is a function of the
inputs only. Each result carries its features, and :attr:`Ranked.reasons` says them in
words, so a host can show "why".

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> t = datetime(2026, 3, 3, 18, tzinfo=timezone.utc)
>>> courses = rank_courses({"algebra": ("x",), "poetry": ("rhyme",)},
...     {"x": Decimal("0.3"), "rhyme": Decimal("0.9")}, Goals(), priors={})
>>> [(c.course_id, c.score) for c in courses]
[('algebra', Decimal('0.700')), ('poetry', Decimal('0.100'))]
>>> courses[0].reasons
['exercises weak points: x (0.3)']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from eduengine.kernel.records import reader, writer
from eduengine.mastery.model import DEFAULT_PARAMS
from eduengine.mastery.path import MASTERED

__all__ = [
    "CourseRank",
    "Goals",
    "Lesson",
    "OpenSlot",
    "Ranked",
    "SlotRank",
    "rank_courses",
    "rank_slots",
]

_PLACES = Decimal("0.001")
GOAL_COURSE = Decimal(2)
BOOKABLE = Decimal("0.5")
_WEEKDAYS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


def _round(value: Decimal) -> Decimal:
    return value.quantize(_PLACES, rounding=ROUND_HALF_EVEN)


@attrs.frozen(kw_only=True)
class Goals:
    """What a student aims at: knowledge points to master and courses to take."""

    points: tuple[str, ...] = ()
    courses: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return _goals_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Goals:
        return _goals_in(data)


_goals_out = writer(Goals)
_goals_in = reader(Goals)


@attrs.frozen(kw_only=True)
class Lesson:
    """One lesson of her booking history."""

    course_id: str
    start: datetime
    tutor_id: str | None


@attrs.frozen(kw_only=True)
class OpenSlot:
    """A session she could book: not started, open, a seat left, not hers already."""

    slot_id: str
    course_id: str
    start: datetime
    tutor_id: str | None
    seats_left: int


@attrs.frozen(kw_only=True)
class CourseRank:
    """A course and the features of its score."""

    course_id: str
    score: Decimal
    goal_course: bool
    #: the goal points the course exercises
    goal_points: tuple[str, ...]
    #: mean of (1 - mastery) over the course's points
    need: Decimal
    #: the course's points below the mastery threshold, with their mastery
    weak_points: Mapping[str, Decimal]
    #: its slots in the horizon with a seat left, and the seats left in them
    open_slots: int
    seats_left: int
    reasons: list[str]


@attrs.frozen(kw_only=True)
class SlotRank:
    """A slot, the rank of its course, and the features of its fit to her history."""

    slot_id: str
    course_id: str
    start: datetime
    tutor_id: str | None
    seats_left: int
    score: Decimal
    course: CourseRank
    #: shares of her past lessons on the slot's weekday, at its hour, with its tutor
    weekday_share: Decimal
    hour_share: Decimal
    tutor_share: Decimal
    reasons: list[str]


@attrs.frozen(kw_only=True)
class Ranked:
    """The ranking for one student: courses and slots, best first."""

    student_id: str
    at: datetime
    zone: str
    courses: list[CourseRank]
    slots: list[SlotRank]


def rank_courses(
    course_points: Mapping[str, Sequence[str]],
    mastery: Mapping[str, Decimal],
    goals: Goals,
    *,
    priors: Mapping[str, Decimal],
    open_slots: Sequence[OpenSlot] = (),
    threshold: Decimal = MASTERED,
) -> list[CourseRank]:
    """Every course of ``course_points`` (and every goal course), best first;
    ``open_slots`` are the bookable slots of the horizon."""
    slots = Counter(s.course_id for s in open_slots if s.seats_left > 0)
    seats = Counter({c: 0 for c in slots})
    for s in open_slots:
        seats[s.course_id] += max(s.seats_left, 0)

    def level(point: str) -> Decimal:
        found = mastery.get(point)
        return found if found is not None else priors.get(point, DEFAULT_PARAMS.prior)

    ranks = []
    for course in sorted(set(course_points) | set(goals.courses)):
        points = tuple(dict.fromkeys(course_points.get(course, ())))
        is_goal = course in goals.courses
        goal_points = tuple(p for p in points if p in goals.points)
        need = (
            sum((1 - level(p) for p in points), Decimal(0)) / len(points) if points else Decimal(0)
        )
        weak = {p: level(p) for p in points if level(p) < threshold}
        share = Decimal(len(goal_points)) / len(goals.points) if goals.points else Decimal(0)
        bookable = slots[course] > 0
        bonus = (GOAL_COURSE if is_goal else 0) + (BOOKABLE if bookable else 0)
        score = _round(bonus + share + need)
        reasons = []
        if is_goal:
            reasons.append("one of her goal courses")
        if goal_points:
            reasons.append("exercises goal points: " + ", ".join(goal_points))
        if weak:
            reasons.append(
                "exercises weak points: " + ", ".join(f"{p} ({m})" for p, m in weak.items())
            )
        if bookable:
            reasons.append(f"{seats[course]} seat(s) left in {slots[course]} slot(s) soon")
        ranks.append(
            CourseRank(
                course_id=course,
                score=score,
                goal_course=is_goal,
                goal_points=goal_points,
                need=_round(need),
                weak_points=weak,
                open_slots=slots[course],
                seats_left=seats[course],
                reasons=reasons,
            )
        )
    ranks.sort(key=lambda r: (-r.score, r.course_id))
    return ranks


def rank_slots(
    courses: Sequence[CourseRank],
    slots: Sequence[OpenSlot],
    history: Sequence[Lesson],
    *,
    zone: str,
) -> list[SlotRank]:
    """The open ``slots`` of the ranked ``courses``, best first (slots of other courses
    are left out)."""
    tz = ZoneInfo(zone)
    by_course = {c.course_id: c for c in courses}
    weekdays = Counter(lesson.start.astimezone(tz).weekday() for lesson in history)
    hours = Counter(lesson.start.astimezone(tz).hour for lesson in history)
    tutors = Counter(lesson.tutor_id for lesson in history if lesson.tutor_id)
    total = len(history)

    def share(count: int) -> Decimal:
        return _round(Decimal(count) / total) if total else Decimal(0)

    ranks = []
    for slot in slots:
        course = by_course.get(slot.course_id)
        if course is None or slot.seats_left <= 0:
            continue
        local = slot.start.astimezone(tz)
        day, hour = share(weekdays[local.weekday()]), share(hours[local.hour])
        tutor = share(tutors[slot.tutor_id]) if slot.tutor_id else Decimal(0)
        reasons = list(course.reasons)
        if day:
            n = weekdays[local.weekday()]
            reasons.append(f"she books {_WEEKDAYS[local.weekday()]} ({n} of {total} lessons)")
        if hour:
            reasons.append(f"she books at {local:%H}:00 ({hours[local.hour]} of {total} lessons)")
        if tutor and slot.tutor_id:
            n = tutors[slot.tutor_id]
            reasons.append(f"she returns to tutor {slot.tutor_id} ({n} of {total} lessons)")
        reasons.append(f"{slot.seats_left} seat(s) left")
        ranks.append(
            SlotRank(
                slot_id=slot.slot_id,
                course_id=slot.course_id,
                start=slot.start,
                tutor_id=slot.tutor_id,
                seats_left=slot.seats_left,
                score=_round(course.score + (day + hour + tutor) / 3),
                course=course,
                weekday_share=day,
                hour_share=hour,
                tutor_share=tutor,
                reasons=reasons,
            )
        )
    ranks.sort(key=lambda r: (-r.score, r.start, r.slot_id))
    return ranks
