"""Progress analytics as a projection of the feed: completion rates of courses and units,
the time to complete a unit, and the mastery gained per lesson attended, by course,
unit, class, teacher or the whole school, per UTC hour, read for any period (whole
hours) in the school's zone without scanning records.

**What counts** (each rule reads only the event it applies and the student's own
small document, kind :data:`STUDENTS`):

- A student **enters a course** at her enrolment (``students.enrolled``) or her first
  work of the course, whichever the feed has first; she **starts a unit** at her first
  work of the unit (lessons name a course, not a unit).
- A course or unit is **completed** the first time every knowledge point of it (the
  learning curriculum's, as defined now) has a mastery estimate at or above the
  threshold (:data:`~eduengine.mastery.path.MASTERED`, the certificates' rule) at or
  after she entered it; it never counts twice.
- **Completion rate**: of the students who entered in the period, how many completed
  (so far): counted in the hour she entered (a cohort).
- **Time to complete a unit**: from the start of the unit to its completion, counted in
  the hour of completion (median and 90th percentile over the period's completions).
- **Mastery gain per lesson**: each change of a mastery estimate (``after - before`` of
  ``mastery.mastery_updated``) is given to the latest lesson she attended (feed order)
  of a course the knowledge point belongs to; the mean over the lessons attended in
  the period (by the lesson's start hour; a lesson counts once, and not once its mark
  is corrected away from ``attended``: the course's latest lesson is then the one
  before). By the lesson's course, its tutor (``teacher``)
  and her class.

Cells (kind :data:`CELLS`) are keyed ``<by>|<group>|<hour>`` and filed under
``by:<by>`` at the hour (microseconds), as the homework analytics' are.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from eduengine.analytics.model import Period, rate
from eduengine.booking.events import AttendanceMarked
from eduengine.kernel.codec import micros
from eduengine.kernel.events import DomainEvent
from eduengine.learning import records as rec
from eduengine.learning.events import WorkAssigned
from eduengine.mastery.events import MasteryUpdated
from eduengine.mastery.path import MASTERED
from eduengine.mastery.service import POINTS as MASTERY_POINTS
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as students
from eduengine.students.events import StudentEnrolled

__all__ = [
    "BY",
    "CELLS",
    "PROGRESS_PROJECTION",
    "STUDENTS",
    "ProgressRow",
    "erase_progress",
    "progress_rules",
    "read_progress",
    "reset_progress",
]

#: the projection's name
PROGRESS_PROJECTION = "learning_progress"
CELLS = "learning_progress"
#: each student's course and unit entries, latest estimates and lessons counted
STUDENTS = "learning_progress_student"
#: the breakdowns a query offers
BY = ("course", "unit", "class", "teacher", "school")

_FIELDS = (
    "courses_entered",
    "courses_completed",
    "units_started",
    "units_completed",
    "lessons",
)


@attrs.frozen(kw_only=True)
class ProgressRow:
    """One group's progress over a period (rates and times ``None`` when nothing was
    counted). ``unit_times`` are the times to complete of the units completed in the
    period, shortest first."""

    group: str
    courses_entered: int = 0
    courses_completed: int = 0
    units_started: int = 0
    units_completed: int = 0
    unit_times: tuple[timedelta, ...] = ()
    lessons: int = 0
    mastery_gain: Decimal = Decimal(0)

    @property
    def completion_rate(self) -> Decimal | None:
        """Courses completed of courses entered (the period's cohort)."""
        return rate(self.courses_completed, self.courses_entered)

    @property
    def unit_completion_rate(self) -> Decimal | None:
        return rate(self.units_completed, self.units_started)

    @property
    def median_unit_time(self) -> timedelta | None:
        if not self.unit_times:
            return None
        us = statistics.median(t // timedelta(microseconds=1) for t in self.unit_times)
        return timedelta(microseconds=round(us))

    @property
    def p90_unit_time(self) -> timedelta | None:
        """The 90th percentile (nearest rank) of the times to complete a unit."""
        if not self.unit_times:
            return None
        return self.unit_times[math.ceil(len(self.unit_times) * 0.9) - 1]

    @property
    def mastery_gain_per_lesson(self) -> Decimal | None:
        return None if not self.lessons else self.mastery_gain / self.lessons


def _hour(at: datetime) -> int:
    return micros(at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))


def _bump(uow: UnitOfWork, groups: Iterable[tuple[str, str]], hour: int, **add: Any) -> None:
    for by, group in groups:
        key = f"{by}|{group}|{hour}"
        doc = uow.records.get(CELLS, key) or {
            "by": by,
            "group": group,
            **dict.fromkeys(_FIELDS, 0),
            "unit_us": [],
            "gain": "0",
        }
        for name, value in add.items():
            if name == "gain":
                doc["gain"] = str(Decimal(doc["gain"]) + value)
            elif name == "unit_us":
                doc["unit_us"].append(value)
            else:
                doc[name] += value
        uow.records.put(CELLS, key, doc, index={f"by:{by}": hour})


def _doc(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    return uow.records.get(STUDENTS, student_id) or {
        "p": {},
        "courses": {},
        "units": {},
        "last": {},
        "lessons": {},
        "seq": 0,
    }


def _save(uow: UnitOfWork, student_id: str, doc: dict[str, Any]) -> None:
    uow.records.put(STUDENTS, student_id, doc, index={rec.by_student(student_id): 0})


def _class_of(uow: UnitOfWork, student_id: str) -> str | None:
    profile = uow.records.get(students.STUDENTS, student_id) or {}
    class_id = profile.get("class_id")
    return class_id if isinstance(class_id, str) else None


def _course_groups(course_id: str, class_id: str | None) -> list[tuple[str, str]]:
    groups = [("school", "school"), ("course", course_id)]
    return groups + ([("class", class_id)] if class_id is not None else [])


def _unit_groups(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """A unit's groups: its course's, and the unit as ``<course>/<unit>``."""
    unit = f"{entry['course']}/{entry['unit']}"
    return [*_course_groups(entry["course"], entry["class"]), ("unit", unit)]


def _points(uow: UnitOfWork, course_id: str, unit_id: str | None) -> list[str] | None:
    """The knowledge points of a course (or one of its units) in its curriculum; ``None``
    when it has none (such a course or unit is never completed)."""
    doc = uow.records.get(rec.CURRICULA, course_id)
    if doc is None:
        return None
    if unit_id is None:
        return [p["id"] for p in doc["points"]] or None
    unit = next((u for u in doc["units"] if u["id"] == unit_id), None)
    return None if unit is None else list(unit["points"]) or None


class _Rules:
    def __init__(self, threshold: Decimal) -> None:
        self.threshold = threshold

    def _mastered(self, doc: dict[str, Any], points: list[str] | None) -> bool:
        return points is not None and all(
            Decimal(doc["p"].get(p, "0")) >= self.threshold for p in points
        )

    def _complete(self, uow: UnitOfWork, doc: dict[str, Any], at: datetime) -> None:
        """Count what she completed by ``at`` (each course and unit once)."""
        for course_id, entry in sorted(doc["courses"].items()):
            if not entry["done"] and self._mastered(doc, _points(uow, course_id, None)):
                entry["done"] = True
                groups = _course_groups(course_id, entry["class"])
                _bump(uow, groups, entry["hour"], courses_completed=1)
        for _, entry in sorted(doc["units"].items()):
            points = _points(uow, entry["course"], entry["unit"])
            if not entry["done"] and self._mastered(doc, points):
                entry["done"] = True
                groups = _unit_groups(entry)
                _bump(uow, groups, entry["hour"], units_completed=1)
                took = max(0, micros(at) - entry["at"])
                _bump(uow, groups, _hour(at), unit_us=took)

    def _enter(
        self, uow: UnitOfWork, doc: dict[str, Any], student_id: str, course_id: str, at: datetime
    ) -> None:
        if course_id in doc["courses"]:
            return
        class_id = _class_of(uow, student_id)
        doc["courses"][course_id] = {"hour": _hour(at), "class": class_id, "done": False}
        _bump(uow, _course_groups(course_id, class_id), _hour(at), courses_entered=1)

    def on_enrolled(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, StudentEnrolled)
        if rec.erased(uow, event.student_id):
            return
        doc = _doc(uow, event.student_id)
        self._enter(uow, doc, event.student_id, event.course_id, event.occurred_at)
        self._complete(uow, doc, event.occurred_at)
        _save(uow, event.student_id, doc)

    def on_assigned(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, WorkAssigned)
        if rec.erased(uow, event.student_id):
            return
        doc = _doc(uow, event.student_id)
        at = event.occurred_at
        self._enter(uow, doc, event.student_id, event.course_id, at)
        key = None if event.unit_id is None else f"{event.course_id}|{event.unit_id}"
        if key is not None and key not in doc["units"]:
            entry = {
                "course": event.course_id,
                "unit": event.unit_id,
                "at": micros(at),
                "hour": _hour(at),
                "class": _class_of(uow, event.student_id),
                "done": False,
            }
            doc["units"][key] = entry
            _bump(uow, _unit_groups(entry), _hour(at), units_started=1)
        self._complete(uow, doc, at)
        _save(uow, event.student_id, doc)

    def on_attendance(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, AttendanceMarked)
        if rec.erased(uow, event.student_id):
            return
        doc = _doc(uow, event.student_id)
        counted = doc["lessons"].get(event.booking_id)
        if event.status == "attended" and counted is None:
            slot = uow.slots.get(event.slot_id)
            doc["seq"] += 1
            lesson = {
                "booking": event.booking_id,
                "course": slot.course_id,
                "hour": _hour(slot.start),
                "tutor": slot.tutor_id,
                "class": _class_of(uow, event.student_id),
                "seq": doc["seq"],
            }
            doc["lessons"][event.booking_id] = lesson
            doc["last"][slot.course_id] = lesson
            _bump(uow, _lesson_groups(lesson), lesson["hour"], lessons=1)
        elif event.status != "attended" and counted is not None:
            del doc["lessons"][event.booking_id]
            # the course's latest lesson is again the latest one still counted
            course = counted["course"]
            left = [x for x in doc["lessons"].values() if x["course"] == course]
            if left:
                doc["last"][course] = max(left, key=lambda x: x["seq"])
            else:
                doc["last"].pop(course, None)
            _bump(uow, _lesson_groups(counted), counted["hour"], lessons=-1)
        else:
            return
        _save(uow, event.student_id, doc)

    def on_mastery(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, MasteryUpdated)
        if rec.erased(uow, event.student_id):
            return
        doc = _doc(uow, event.student_id)
        doc["p"][event.point_id] = str(event.after)
        point = uow.records.get(MASTERY_POINTS, event.point_id) or {}
        lessons = [doc["last"][c] for c in point.get("courses", []) if c in doc["last"]]
        if lessons and event.after != event.before:
            lesson = max(lessons, key=lambda x: x["seq"])
            _bump(uow, _lesson_groups(lesson), lesson["hour"], gain=event.after - event.before)
        self._complete(uow, doc, event.occurred_at)
        _save(uow, event.student_id, doc)


def _lesson_groups(lesson: dict[str, Any]) -> list[tuple[str, str]]:
    groups = _course_groups(lesson["course"], lesson["class"])
    return groups + ([("teacher", lesson["tutor"])] if lesson["tutor"] is not None else [])


def progress_rules(threshold: Decimal = MASTERED) -> dict[type[DomainEvent], list[Handler]]:
    """The projection's rules; ``threshold`` is the mastery at which a point counts as
    mastered."""
    rules = _Rules(threshold)
    return {
        StudentEnrolled: [rules.on_enrolled],
        WorkAssigned: [rules.on_assigned],
        AttendanceMarked: [rules.on_attendance],
        MasteryUpdated: [rules.on_mastery],
    }


def reset_progress(uow: UnitOfWork) -> None:
    """Drop every cell and student document (a rebuild counts them again from the feed)."""
    for kind in (CELLS, STUDENTS):
        for key, _ in uow.records.list(kind):
            uow.records.delete(kind, key)


def erase_progress(uow: UnitOfWork, student_id: str) -> int:
    """Her document goes (the cells are counts of many students, not hers)."""
    if uow.records.get(STUDENTS, student_id) is None:
        return 0
    uow.records.delete(STUDENTS, student_id)
    return 1


def read_progress(uow: UnitOfWork, period: Period, by: str) -> list[ProgressRow]:
    """The rows of ``period`` (the cells of the hours starting in it), by group."""
    rows = uow.records.scan(CELLS, f"by:{by}", lo=micros(period.start), hi=micros(period.end) - 1)
    sums: dict[str, dict[str, Any]] = {}
    for key, _ in rows:
        doc = uow.records.get(CELLS, key)
        if doc is None:
            continue
        into = sums.setdefault(
            doc["group"], {**dict.fromkeys(_FIELDS, 0), "unit_us": [], "gain": Decimal(0)}
        )
        for name in _FIELDS:
            into[name] += doc[name]
        into["unit_us"] += doc["unit_us"]
        into["gain"] += Decimal(doc["gain"])
    return [
        ProgressRow(
            group=group,
            courses_entered=s["courses_entered"],
            courses_completed=s["courses_completed"],
            units_started=s["units_started"],
            units_completed=s["units_completed"],
            unit_times=tuple(timedelta(microseconds=us) for us in sorted(s["unit_us"])),
            lessons=s["lessons"],
            mastery_gain=s["gain"],
        )
        for group, s in sorted(sums.items())
    ]
