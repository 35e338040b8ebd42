"""Attendance XP (issue #27): the ``attendance_xp`` projection of the feed awards XP
for an attended lesson, once per booking, so a host never calls ``levels.record``
for it.

The booking is the award's source, so the levels guard holds the "once": a catch-up, a
restart or a mark corrected back to attended awards nothing more. A mark corrected from
attended to no-show takes nothing back (XP is never withdrawn; the refusal list and
the feed keep the history).

>>> from eduengine.levels.model import LevelCurve
>>> from eduengine.levels.service import LevelService
>>> from eduengine import InMemoryStore
>>> levels = LevelService(InMemoryStore().unit_of_work, rules=[], curve=LevelCurve.geometric())
>>> [h.__name__ for h in attendance_xp_rules(levels, 20)[AttendanceMarked]]
['on_attendance']
"""

from __future__ import annotations

from eduengine.booking.events import AttendanceMarked
from eduengine.booking.model import BookingStatus
from eduengine.kernel.events import DomainEvent
from eduengine.levels.board import KIND
from eduengine.levels.model import LearningEvent, XpRule
from eduengine.levels.xp import XpService
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students.queries import class_of

#: the kind of an attendance award (its source is the booking)
ATTENDANCE_KIND = "lesson_attended"
#: the name of the projection :func:`attendance_xp_rules` feeds
ATTENDANCE_PROJECTION = "attendance_xp"


def attendance_rule(setting: int | XpRule) -> XpRule:
    """The rule of ``School.build(attendance_xp=...)``: an int is the XP per lesson.

    >>> attendance_rule(20)
    XpRule(kind='lesson_attended', points=20, per_quantity=False, scaled_by_score=False, \
cap=None, cap_window=datetime.timedelta(days=1), min_gap=None)
    """
    if isinstance(setting, XpRule):
        return setting
    return XpRule(kind=ATTENDANCE_KIND, points=setting)


def attendance_xp_rules(
    levels: XpService, setting: int | XpRule
) -> dict[type[DomainEvent], list[Handler]]:
    """The handlers of the ``attendance_xp`` projection (see the module's docstring)."""
    rule = attendance_rule(setting)

    def on_attendance(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, AttendanceMarked)
        if event.status != BookingStatus.ATTENDED.value:
            return
        source = f"{rule.kind}:{event.booking_id}"
        class_of(uow, event.student_id)  # the lock order of record_in: student, then XP
        state = uow.records.get(KIND, event.student_id)
        if state is not None and source in state.get("sources", []):
            # a correction back to attended: already awarded, and no cheat to report
            return
        levels.record_in(
            uow,
            LearningEvent(
                student_id=event.student_id,
                kind=rule.kind,
                source_id=event.booking_id,
                occurred_at=event.occurred_at,
            ),
            rule=rule,
        )

    return {AttendanceMarked: [on_attendance]}
