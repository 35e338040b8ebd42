"""Booking commands under a :class:`CancellationPolicy`, with reminders and reschedules.

Violations and reschedule counts are JSON documents (``violations`` per student,
``reschedules`` per booking) written in the same unit of work as the seat they concern.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Booking, BookingStatus, IdFactory
from eduengine.clock import Clock
from eduengine.errors import BookingRestricted, InvalidTransition, RescheduleRefused
from eduengine.policies.model import CancellationPolicy, Restriction, Violation, ViolationKind
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.pricing.money import Money
from eduengine.reminders import service as reminders
from eduengine.reminders.model import ReminderPlan
from eduengine.service import ServiceBase

VIOLATIONS = "violations"
RESCHEDULES = "reschedules"


@attrs.frozen(kw_only=True)
class ViolationRecorded(DomainEvent):
    student_id: str
    booking_id: str
    kind: str
    fee: Money | None


@attrs.frozen(kw_only=True)
class StudentRestricted(DomainEvent):
    student_id: str
    until: datetime
    max_open_bookings: int | None


@attrs.frozen(kw_only=True)
class BookingRescheduled(DomainEvent):
    student_id: str
    old_booking_id: str
    new_booking_id: str
    from_slot_id: str
    to_slot_id: str


@attrs.frozen(kw_only=True)
class CancellationOutcome:
    booking: Booking
    late: bool
    fee: Money | None


class PolicyService(ServiceBase):
    """Book, cancel, reschedule and mark no-shows under a cancellation policy.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import BookingService, FixedClock, InMemoryStore
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> slots = BookingService(store.unit_of_work, clock=clock)
    >>> s = slots.create_slot("math", clock.now() + timedelta(hours=3),
    ...                       clock.now() + timedelta(hours=4), 5)
    >>> desk = PolicyService(store.unit_of_work, policy=CancellationPolicy(), clock=clock)
    >>> desk.cancel(desk.book(s.id, "ann").id).late    # within 24 h of the start
    True
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: CancellationPolicy,
        reminders: ReminderPlan | None = None,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id)
        self.policy = policy
        self.reminder_plan = reminders

    # --- queries ----------------------------------------------------------------------

    def violations(self, student_id: str) -> list[Violation]:
        return self._run(lambda uow, now: self._violations(uow, student_id), write=False)

    def restriction(self, student_id: str) -> Restriction | None:
        return self._run(
            lambda uow, now: self.policy.restriction(self._violations(uow, student_id), now),
            write=False,
        )

    def reschedules_of(self, booking_id: str) -> int:
        return self._run(lambda uow, now: self._reschedules(uow, booking_id), write=False)

    # --- commands ---------------------------------------------------------------------

    def book(self, slot_id: str, student_id: str) -> Booking:
        """Book a seat unless the student's booking rights are restricted."""

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            self._check_rights(uow, student_id, now)
            slot = uow.slots.get(slot_id)
            booking = slot.book(student_id, now=now, new_id=self._new_id)
            if self.reminder_plan is not None:
                reminders.schedule(uow, self.reminder_plan, booking, slot, now)
            return booking

        return self._run(command)

    def cancel(self, booking_id: str) -> CancellationOutcome:
        """Cancel; inside the free window at no cost, later as a violation (with the fee)."""

        def command(uow: UnitOfWork, now: datetime) -> CancellationOutcome:
            booking = self._confirmed(uow, booking_id)
            slot = uow.slots.get(booking.slot_id)
            late = not self.policy.is_free_cancellation(now, slot.start)
            cancelled = slot.cancel(
                booking_id, now=now, new_id=self._new_id, student_id=booking.student_id
            )
            fee = None
            if late:
                fee = self.policy.late_fee
                self._record_violation(uow, booking, ViolationKind.LATE_CANCELLATION, now, fee)
            reminders.void(uow, booking_id, now)
            return CancellationOutcome(booking=cancelled, late=late, fee=fee)

        return self._run(command)

    def mark_no_show(self, booking_id: str) -> Booking:
        """Record a no-show (a violation) once the slot has started."""

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            booking = self._confirmed(uow, booking_id)
            slot = uow.slots.get(booking.slot_id)
            marked = slot.mark_attendance(booking_id, BookingStatus.NO_SHOW, now=now)
            self._record_violation(uow, booking, ViolationKind.NO_SHOW, now, None)
            return marked

        return self._run(command)

    def reschedule(self, booking_id: str, new_slot_id: str) -> Booking:
        """Move a booking to another slot atomically: the old seat is released only if the
        new one was taken. Allowed inside the free window, ``max_reschedules`` times."""

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            booking = self._confirmed(uow, booking_id)
            if new_slot_id == booking.slot_id:
                raise RescheduleRefused(booking_id, "the new slot is the current one")
            old_slot, new_slot = uow.slots.get_many([booking.slot_id, new_slot_id])
            if not self.policy.is_free_cancellation(now, old_slot.start):
                raise RescheduleRefused(
                    booking_id, f"the free window closed {self.policy.free_until} before start"
                )
            moves = self._reschedules(uow, booking_id)
            if moves >= self.policy.max_reschedules:
                raise RescheduleRefused(booking_id, f"already moved {moves} time(s), the limit")
            moved = new_slot.book(booking.student_id, now=now, new_id=self._new_id)
            old_slot.cancel(booking_id, now=now, new_id=self._new_id, student_id=booking.student_id)
            uow.records.put(RESCHEDULES, moved.id, {"count": moves + 1, "from": booking_id})
            reminders.void(uow, booking_id, now)
            if self.reminder_plan is not None:
                reminders.schedule(uow, self.reminder_plan, moved, new_slot, now)
            uow.record_events(
                [
                    BookingRescheduled(
                        occurred_at=now,
                        student_id=booking.student_id,
                        old_booking_id=booking_id,
                        new_booking_id=moved.id,
                        from_slot_id=old_slot.id,
                        to_slot_id=new_slot.id,
                    )
                ]
            )
            return moved

        return self._run(command)

    # --- internals --------------------------------------------------------------------

    def _confirmed(self, uow: UnitOfWork, booking_id: str) -> Booking:
        booking = uow.bookings.get(booking_id)
        if booking.status is not BookingStatus.CONFIRMED:
            raise InvalidTransition(f"booking {booking_id!r} is {booking.status.value}")
        return booking

    @staticmethod
    def _violations(uow: UnitOfWork, student_id: str) -> list[Violation]:
        doc = uow.records.get(VIOLATIONS, student_id)
        return [Violation.from_record(v) for v in doc["items"]] if doc else []

    @staticmethod
    def _reschedules(uow: UnitOfWork, booking_id: str) -> int:
        doc = uow.records.get(RESCHEDULES, booking_id)
        return int(doc["count"]) if doc else 0

    def _check_rights(self, uow: UnitOfWork, student_id: str, now: datetime) -> None:
        restriction = self.policy.restriction(self._violations(uow, student_id), now)
        if restriction is None:
            return
        if restriction.max_open_bookings is None:
            raise BookingRestricted(student_id, f"restricted until {restriction.until}")
        open_bookings = sum(
            1 for b in uow.bookings.for_student(student_id) if b.status is BookingStatus.CONFIRMED
        )
        if open_bookings >= restriction.max_open_bookings:
            raise BookingRestricted(
                student_id,
                f"at most {restriction.max_open_bookings} open booking(s) until "
                f"{restriction.until}, has {open_bookings}",
            )

    def _record_violation(
        self,
        uow: UnitOfWork,
        booking: Booking,
        kind: ViolationKind,
        now: datetime,
        fee: Money | None,
    ) -> None:
        before = self._violations(uow, booking.student_id)
        violation = Violation(
            kind=kind, at=now, booking_id=booking.id, slot_id=booking.slot_id, fee=fee
        )
        after = [*before, violation]
        uow.records.put(VIOLATIONS, booking.student_id, {"items": [v.to_record() for v in after]})
        events: list[DomainEvent] = [
            ViolationRecorded(
                occurred_at=now,
                student_id=booking.student_id,
                booking_id=booking.id,
                kind=kind.value,
                fee=fee,
            )
        ]
        was = self.policy.restriction(before, now)
        restriction = self.policy.restriction(after, now)
        if restriction is not None and (was is None or was.until != restriction.until):
            events.append(
                StudentRestricted(
                    occurred_at=now,
                    student_id=booking.student_id,
                    until=restriction.until,
                    max_open_bookings=restriction.max_open_bookings,
                )
            )
        uow.record_events(events)
