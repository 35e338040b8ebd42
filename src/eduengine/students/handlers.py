"""Student records as rules on the bus.

- **Credit ledger**: a seat taken on any path by a student holding an active lesson
  package *scoped to the slot's course* consumes a credit from it (the one expiring
  first); a seat freed on any path returns the credit, or forfeits it when the student
  cancelled after the free window; a no-show forfeits it; a reschedule moves the credit
  to the new seat. Packages without a course are spent only by ``book_with_credit``.
- **Lifecycle**: a paid order, a formed group and a bought package are purchases; the
  stage (registered, trial, first purchase, renewed, churned) moves with them and every
  move is kept in a dated history with its reason. A seat taken and a lesson attended
  are activity: they keep a student from being churned for inactivity.
- **Enrolment**: a paid order or a formed group enrols the student in its courses, with
  the course's lesson credits when the school configured some.
- **Erasure**: :func:`erase_profile` scrubs the profile (the other modules register
  their own erasers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.booking import events as ev
from eduengine.deals.events import AccessGranted
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.policies.events import BookingRescheduled
from eduengine.pricing.events import OrderPaid
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as rec
from eduengine.students.model import PERSONAL_FIELDS, stage


@attrs.frozen(kw_only=True)
class CourseCredits:
    """What enrolling in a course gives: ``credits`` lessons valid for ``valid_for``."""

    credits: int
    valid_for: timedelta

    def __attrs_post_init__(self) -> None:
        if isinstance(self.credits, bool) or not isinstance(self.credits, int) or self.credits < 1:
            raise InvalidInput(f"course credits must be a positive int, got {self.credits!r}")
        if not isinstance(self.valid_for, timedelta) or self.valid_for <= timedelta(0):
            raise InvalidInput(f"valid_for must be a positive timedelta, got {self.valid_for!r}")


# --- credit ledger ---------------------------------------------------------------------


def consume_course_credit(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted)
    doc = uow.records.get(rec.STUDENTS, event.student_id)
    if doc is None or rec.package_of_booking(uow, doc, event.booking_id) is not None:
        return  # not a student we keep records of, or already paid with a credit
    slot = uow.slots.get(event.slot_id)
    if slot.bookings.get(event.student_id) is None:
        return  # released again in this unit of work
    # any package that covers the course pays, a general one too: every path a seat is
    # taken spends the same credit (issue #27; a plain book used to seat for free)
    rec.consume_credit(
        uow,
        doc,
        event.student_id,
        event.booking_id,
        event.occurred_at,
        course_id=slot.course_id,
        scoped_only=False,
    )


def _settle_held_credit(
    uow: UnitOfWork,
    event: ev.SeatReleased | ev.AttendanceMarked,
    *,
    returned: Callable[[], bool],
    reason: str,
) -> None:
    # ``returned`` is asked only when a package paid for the seat: it may read the slot
    doc = uow.records.get(rec.STUDENTS, event.student_id)
    found = None if doc is None else rec.package_of_booking(uow, doc, event.booking_id)
    if found is not None:
        rec.settle_credit(
            uow,
            found,
            event.student_id,
            event.booking_id,
            event.occurred_at,
            returned=returned(),
            reason=reason,
        )


def settle_credit(free_cancel_before: timedelta) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatReleased)

        def in_time() -> bool:
            if event.reason != "cancelled":
                return True
            slot = uow.slots.get(event.slot_id)
            return not event.occurred_at > slot.start - free_cancel_before

        _settle_held_credit(uow, event, returned=in_time, reason="late cancellation")

    return handle


def forfeit_on_no_show(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ev.AttendanceMarked)
    if event.status != "no_show":
        return
    _settle_held_credit(uow, event, returned=lambda: False, reason="no-show")


def move_credit(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A rescheduled booking keeps its credit: it moves to the new seat."""
    assert isinstance(event, BookingRescheduled)
    doc = uow.records.get(rec.STUDENTS, event.student_id)
    found = None if doc is None else rec.package_of_booking(uow, doc, event.old_booking_id)
    if found is None:
        return
    pid, pkg = found
    pkg["uses"][event.old_booking_id] = "moved"
    pkg["uses"][event.new_booking_id] = "consumed"
    rec.put_package(uow, pid, pkg)


# --- lifecycle and enrolment -----------------------------------------------------------


def record_purchase(
    uow: UnitOfWork, student_id: str, source: str, now: datetime
) -> dict[str, Any] | None:
    """Count one purchase (once per ``source``) and move the stage; returns the student
    document (already written) or ``None`` for a student without records."""
    doc = uow.records.get(rec.STUDENTS, student_id)
    if doc is None:
        return None
    facts = doc["facts"]
    sources = facts.setdefault("purchase_sources", [])
    if source in sources:
        return doc
    sources.append(source)
    facts["purchases"] += 1
    facts["last_active"] = dt_out(now)
    move_stage(uow, student_id, doc, now, reason=f"purchase {source}")
    return doc


def mark_lesson_activity(event: ev.DomainEvent, uow: UnitOfWork) -> None:
    """A seat taken (on any path) or a lesson attended is activity: it keeps a student
    who comes to lessons from being churned for inactivity, and brings back a churned
    one."""
    assert isinstance(
        event, ev.SeatBooked | ev.WaitlistPromoted | ev.OfferAccepted | ev.AttendanceMarked
    )
    if isinstance(event, ev.AttendanceMarked) and event.status != "attended":
        return  # a no-show is not activity
    doc = uow.records.get(rec.STUDENTS, event.student_id)
    if doc is None:
        return
    facts = doc["facts"]
    last = facts.get("last_active")
    # activity only moves forward: an event replayed late must not make a student idle
    if last is None or dt_in(last) < event.occurred_at:
        facts["last_active"] = dt_out(event.occurred_at)
    move_stage(uow, event.student_id, doc, event.occurred_at, reason="activity")


def move_stage(
    uow: UnitOfWork,
    student_id: str,
    doc: dict[str, Any],
    now: datetime,
    *,
    reason: str,
    reason_code: str | None = None,
) -> bool:
    """Recompute the stage from the facts; a change is appended to the dated history.
    Writes the document; returns whether the stage moved. ``reason_code`` is kept with a
    move to ``churned`` (a churn the school did not mark is ``inactivity``)."""
    new_stage = stage(doc["facts"], now)
    moved = new_stage != doc["stage"]
    if moved and new_stage == "churned" and reason != "churned":
        reason = "inactivity"  # churn is the one move no purchase explains
        reason_code = "inactivity"
    if not moved or new_stage != "churned":
        reason_code = None
    if moved:
        entry = {"stage": new_stage, "at": dt_out(now), "reason": reason, "from": doc["stage"]}
        if reason_code is not None:
            entry["reason_code"] = reason_code
        doc.setdefault("stage_history", []).append(entry)
        doc["stage"] = new_stage
        uow.record_events(
            [
                rec.StageChanged(
                    occurred_at=now,
                    student_id=student_id,
                    stage=new_stage,
                    previous=doc["stage_history"][-1]["from"],
                    reason=reason,
                    reason_code=reason_code,
                )
            ]
        )
    uow.records.put(rec.STUDENTS, student_id, doc)
    return bool(moved)


def enrol(
    uow: UnitOfWork,
    student_id: str,
    course_id: str,
    source: str,
    now: datetime,
    credits: CourseCredits | None,
) -> None:
    key = f"{student_id}:{course_id}"
    enrolment = uow.records.get(rec.ENROLMENTS, key)
    if enrolment is not None and source in enrolment["sources"]:
        return
    if enrolment is None:
        enrolment = {"student_id": student_id, "course_id": course_id, "since": dt_out(now)}
        enrolment["sources"] = []
    enrolment["sources"].append(source)
    uow.records.put(
        rec.ENROLMENTS,
        key,
        enrolment,
        index={f"student:{student_id}": micros(dt_in(enrolment["since"]))},
    )
    package_id = None
    if credits is not None and uow.records.get(rec.STUDENTS, student_id) is not None:
        package_id = rec.add_package(
            uow,
            student_id,
            package_id=f"enrol:{source}:{course_id}",
            credits=credits.credits,
            valid_for=credits.valid_for,
            course_id=course_id,
            activate=True,
            now=now,
        )
    uow.record_events(
        [
            rec.StudentEnrolled(
                occurred_at=now,
                student_id=student_id,
                course_id=course_id,
                source=source,
                package_id=package_id,
            )
        ]
    )


def on_order_paid(course_credits: Mapping[str, CourseCredits]) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, OrderPaid)
        source = f"order:{event.order_id}"
        record_purchase(uow, event.student_id, source, event.occurred_at)
        for course_id in event.course_ids:
            enrol(
                uow,
                event.student_id,
                course_id,
                source,
                event.occurred_at,
                course_credits.get(course_id),
            )

    return handle


def on_access_granted(course_credits: Mapping[str, CourseCredits]) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, AccessGranted)
        source = f"group:{event.group_id}"
        record_purchase(uow, event.student_id, source, event.occurred_at)
        enrol(
            uow,
            event.student_id,
            event.course_id,
            source,
            event.occurred_at,
            course_credits.get(event.course_id),
        )

    return handle


# --- erasure ---------------------------------------------------------------------------


def erase_profile(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: personal fields and guardians of the profile (the id and statistics stay)."""
    doc = uow.records.get(rec.STUDENTS, student_id)
    if doc is None:
        return 0
    scrubbed = sum(1 for name in PERSONAL_FIELDS if doc.get(name)) + len(doc["guardians"])
    for name in PERSONAL_FIELDS:
        doc[name] = None
    doc["name"] = rec.anonymous_name(student_id)
    doc["guardians"] = []
    doc["erased"] = True
    uow.records.put(rec.STUDENTS, student_id, doc)
    return scrubbed


def subscribe(
    bus: MessageBus,
    *,
    free_cancel_before: timedelta,
    course_credits: Mapping[str, CourseCredits] | None = None,
) -> None:
    """Put the student records' rules on ``bus``."""
    credits = dict(course_credits or {})
    bus.subscribe(BookingRescheduled, move_credit)
    for taken in (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted):
        bus.subscribe(taken, consume_course_credit)
    bus.subscribe(ev.SeatReleased, settle_credit(free_cancel_before))
    bus.subscribe(ev.AttendanceMarked, forfeit_on_no_show)
    for active in (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted, ev.AttendanceMarked):
        bus.subscribe(active, mark_lesson_activity)
    bus.subscribe(OrderPaid, on_order_paid(credits))
    bus.subscribe(AccessGranted, on_access_granted(credits))
