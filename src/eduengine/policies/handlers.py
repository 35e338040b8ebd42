"""The cancellation policy as rules on the bus: they hold on every path a seat is taken
or freed (timetable, series, waitlist, offers, 1-on-1 lessons, credits, rush), not only
through :class:`~eduengine.policies.service.PolicyService`.

- :func:`rights_guard` is a seat guard refusing a seat or a waitlist place to a
  restricted student, on every path (the command rolls back and changes nothing; a seat
  the waitlist hands a student restricted meanwhile goes to the next student);
- :func:`record_late_cancellation` and :func:`record_no_show` count violations;
- a violation with a fee files a late fee, charged after commit by
  :class:`~eduengine.policies.fees.FeeService`.
"""

from __future__ import annotations

from datetime import datetime

from eduengine.booking import events as ev
from eduengine.booking.guards import SeatGuard, add_seat_guard
from eduengine.booking.model import BookingStatus, Slot
from eduengine.errors import BookingRestricted
from eduengine.kernel.money import Money
from eduengine.policies.events import StudentRestricted, ViolationRecorded
from eduengine.policies.model import CancellationPolicy, Restriction, Violation, ViolationKind
from eduengine.policies.records import file_late_fee, violations_of, write_violations
from eduengine.service_layer.messagebus import Handler, MessageBus
from eduengine.service_layer.ports import UnitOfWork

#: ``SeatReleased.reason`` of a student's own cancellation (the only one that can be late)
CANCELLED = "cancelled"


def refusal(
    uow: UnitOfWork, policy: CancellationPolicy, student_id: str, now: datetime, *, seats: int
) -> BookingRestricted | None:
    """Why ``student_id`` may not hold ``seats`` more seat(s) now, or ``None``.

    Open bookings are counted with this unit of work's own changes (a series booking
    counts each of its sessions).
    """
    restriction = policy.restriction(violations_of(uow, student_id), now)
    if restriction is None:
        return None
    if restriction.max_open_bookings is None:
        return BookingRestricted(student_id, f"restricted until {restriction.until}")
    open_now = sum(
        1 for b in uow.bookings.for_student(student_id) if b.status is BookingStatus.CONFIRMED
    )
    if open_now - seats + 1 > restriction.max_open_bookings:
        return BookingRestricted(
            student_id,
            f"at most {restriction.max_open_bookings} open booking(s) until "
            f"{restriction.until}, has {open_now - seats}",
        )
    return None


def rights_guard(policy: CancellationPolicy) -> SeatGuard:
    """A seat guard refusing restricted students (see :func:`refusal`)."""

    def guard(
        uow: UnitOfWork, student_id: str, slot: Slot, now: datetime, seats: int
    ) -> BookingRestricted | None:
        return refusal(uow, policy, student_id, now, seats=seats)

    return guard


def record_late_cancellation(policy: CancellationPolicy) -> Handler:
    """A student's cancellation after the free window is a violation (with the fee)."""

    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.SeatReleased)
        if event.reason != CANCELLED:
            return
        slot = uow.slots.get(event.slot_id)
        if not policy.is_free_cancellation(event.occurred_at, slot.start):
            record_violation(uow, policy, event, ViolationKind.LATE_CANCELLATION, policy.late_fee)

    return handle


def record_no_show(policy: CancellationPolicy) -> Handler:
    def handle(event: ev.DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ev.AttendanceMarked)
        if event.status == BookingStatus.NO_SHOW.value:
            record_violation(uow, policy, event, ViolationKind.NO_SHOW, None)

    return handle


def record_violation(
    uow: UnitOfWork,
    policy: CancellationPolicy,
    event: ev.SeatReleased | ev.AttendanceMarked,
    kind: ViolationKind,
    fee: Money | None,
) -> None:
    """Count ``event``'s booking as a violation of ``kind`` (once), restrict the student
    when the policy says so, and file the fee."""
    student_id, booking_id, now = event.student_id, event.booking_id, event.occurred_at
    before = violations_of(uow, student_id)
    if any(v.booking_id == booking_id and v.kind is kind for v in before):
        return  # one booking, one violation of a kind, whatever path reported it
    violation = Violation(kind=kind, at=now, booking_id=booking_id, slot_id=event.slot_id, fee=fee)
    after = [*before, violation]
    write_violations(uow, student_id, after)
    events: list[ev.DomainEvent] = [
        ViolationRecorded(
            occurred_at=now, student_id=student_id, booking_id=booking_id, kind=kind.value, fee=fee
        )
    ]
    was: Restriction | None = policy.restriction(before, now)
    restriction = policy.restriction(after, now)
    if restriction is not None and (was is None or was.until != restriction.until):
        events.append(
            StudentRestricted(
                occurred_at=now,
                student_id=student_id,
                until=restriction.until,
                max_open_bookings=restriction.max_open_bookings,
            )
        )
    if fee is not None:
        events.extend(
            file_late_fee(uow, student_id=student_id, booking_id=booking_id, fee=fee, now=now)
        )
    uow.record_events(events)


def subscribe(bus: MessageBus, policy: CancellationPolicy) -> None:
    """Put the cancellation policy's rules on ``bus`` (its seat guard runs through the
    booking core's guard handlers, see :func:`eduengine.booking.handlers.subscribe`)."""
    add_seat_guard(bus, rights_guard(policy))
    bus.subscribe(ev.SeatReleased, record_late_cancellation(policy))
    bus.subscribe(ev.AttendanceMarked, record_no_show(policy))
