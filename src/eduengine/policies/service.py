"""Booking commands under a :class:`CancellationPolicy`, with reschedules.

Violations and reschedule counts are JSON documents (``violations`` per student,
``reschedules`` per booking) written in the same unit of work as the seat they concern.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any, Unpack

import attrs

from eduengine.booking import handlers as booking_handlers
from eduengine.booking.model import Booking, BookingStatus, check_reason_code
from eduengine.booking.seats import booking_in, booking_out
from eduengine.errors import InvalidTransition, RescheduleRefused
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_id
from eduengine.kernel.money import Money
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.policies import handlers
from eduengine.policies.events import BookingRescheduled, StudentRestricted, ViolationRecorded
from eduengine.policies.model import CancellationPolicy, Restriction, Violation
from eduengine.policies.records import RESCHEDULES, VIOLATIONS, violations_of
from eduengine.service_layer.idempotency import check_key, once
from eduengine.service_layer.ports import JsonValue, UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = [
    "RESCHEDULES",
    "VIOLATIONS",
    "BookingRescheduled",
    "CancellationOutcome",
    "PolicyService",
    "StudentRestricted",
    "ViolationRecorded",
]


#: what a read of violations shows of a student (the audit rows' fields)
VIOLATION_FIELDS = ("violations",)


@attrs.frozen(kw_only=True)
class CancellationOutcome:
    """What a cancellation came to: the cancelled ``booking``, whether it was ``late``
    (outside the free window: a violation), the late ``fee``, and whether the lesson
    credit that paid for the seat came back (``None``: no credit paid for it; set by
    ``school.cancel``)."""

    booking: Booking
    late: bool
    fee: Money | None
    credit_returned: bool | None = None


def _outcome_out(outcome: CancellationOutcome) -> dict[str, JsonValue]:
    fee = outcome.fee
    return {
        "booking": booking_out(outcome.booking),
        "late": outcome.late,
        "fee": None if fee is None else [str(fee.amount), fee.currency],
    }


def _outcome_in(data: JsonValue) -> CancellationOutcome:
    assert isinstance(data, dict)
    fee = data["fee"]
    return CancellationOutcome(
        booking=booking_in(data["booking"]),
        late=bool(data["late"]),
        fee=None if not isinstance(fee, list) else Money.from_stored(str(fee[0]), str(fee[1])),
    )


class PolicyService(ServiceBase):
    """Book, cancel, reschedule and mark no-shows under a cancellation policy.

    The policy's rules (restriction guard, violations, late fees) are handlers on the
    bus, so they hold on every path a seat is taken or freed. Built alone, the service
    subscribes them to a bus of its own; :class:`eduengine.School` subscribes them once
    for every service. Reminders are notices, planned by the school's projections: built
    alone, the service plans none (``reminders=`` is deprecated there; put
    ``eduengine.reminders.handlers.subscribe(desk.bus, plan)`` on its bus instead).

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import BookingService, FixedClock, InMemoryStore
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> desk = PolicyService(store.unit_of_work, policy=CancellationPolicy(), clock=clock)
    >>> slots = BookingService(store.unit_of_work, clock=clock, bus=desk.bus)
    >>> s = slots.create_slot("math", clock.now() + timedelta(hours=3),
    ...                       clock.now() + timedelta(hours=4), 5)
    >>> desk.cancel(slots.book(s.id, "ann").id).late    # within 24 h of the start
    True
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: CancellationPolicy,
        reminders: Any = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        alone = base.get("bus") is None
        super().__init__(uow, **base)
        self.policy = policy
        #: the access check of the reads (the school's, from School.build)
        self.gate = AccessGate()
        #: the school's ``ReminderPlan`` (:mod:`eduengine.notices.plan`), for reference:
        #: the notices below this package plan it, so it is typed loosely here
        self.reminder_plan = reminders
        if alone:
            booking_handlers.subscribe(self.bus, self._new_id)
            handlers.subscribe(self.bus, policy)
            if reminders is not None:
                # the reminder rules live in eduengine.notices, above this package
                warnings.warn(
                    "PolicyService(reminders=...) built alone plans no reminders since "
                    "reminders are notices (0.3): build a School, or call "
                    "eduengine.reminders.handlers.subscribe(service.bus, plan)",
                    EduEngineDeprecationWarning,
                    stacklevel=2,
                )

    # --- queries ----------------------------------------------------------------------

    def violations(self, student_id: str, *, actor: Actor | None = None) -> list[Violation]:
        """The student's violations (late cancellations, no-shows), oldest first, read as
        ``actor`` (refused unless the actor may see her; audited: docs/privacy.md).
        Without an actor (deprecated) they are read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Violation]:
            shown(look, student_id)
            return violations_of(uow, student_id)

        return self.gate.read(
            self._run, actor, VIOLATION_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def restriction(self, student_id: str, *, actor: Actor | None = None) -> Restriction | None:
        """The restriction the student is under now (``None``: none), read as ``actor``
        as :meth:`violations`."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Restriction | None:
            shown(look, student_id)
            return self.policy.restriction(violations_of(uow, student_id), now)

        return self.gate.read(
            self._run, actor, VIOLATION_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def reschedules_of(self, booking_id: str) -> int:
        check_id(booking_id, "booking_id")
        return self._run(
            lambda uow, now: self._reschedules(uow, booking_id),
            write=False,
            ids={"booking_id": booking_id},
        )

    # --- commands ---------------------------------------------------------------------

    def book(self, slot_id: str, student_id: str) -> Booking:
        """Deprecated alias of ``school.book`` (and of ``BookingService.book``): the guard
        on the bus refuses a restricted student whichever service books."""
        warnings.warn(
            "policies.book is deprecated: use school.book(slot_id, student_id) (the same "
            "rules hold); it will be removed in 0.5",
            EduEngineDeprecationWarning,
            stacklevel=2,
        )
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        return self._run(
            lambda uow, now: uow.slots.get(slot_id).book(student_id, now=now, new_id=self._new_id),
            ids={"slot_id": slot_id, "student_id": student_id},
        )

    def cancel(
        self,
        booking_id: str,
        *,
        reason_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> CancellationOutcome:
        """Cancel; inside the free window at no cost, later as a violation (with the fee).
        ``reason_code`` is the school's code for why (it travels on ``SeatReleased``).
        With ``idempotency_key`` a retry after a lost answer returns the first outcome
        instead of ``InvalidTransition`` (``school.cancel`` is the documented way in)."""
        check_id(booking_id, "booking_id")
        check_reason_code(reason_code)
        check_key(idempotency_key)
        request = {"command": "cancel", "booking_id": booking_id, "reason_code": reason_code}

        def command(uow: UnitOfWork, now: datetime) -> CancellationOutcome:
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: release(uow, now),
                encode=_outcome_out,
                decode=_outcome_in,
            )

        def release(uow: UnitOfWork, now: datetime) -> CancellationOutcome:
            # lock the slot before judging the booking: a racing cancel may commit first
            slot = uow.slots.get(uow.bookings.get(booking_id).slot_id)
            booking = self._confirmed(uow, booking_id)
            late = not self.policy.is_free_cancellation(now, slot.start)
            cancelled = slot.cancel(
                booking_id,
                now=now,
                new_id=self._new_id,
                student_id=booking.student_id,
                reason_code=reason_code,
            )
            # the violation (and its fee) is recorded by the bus's handler, as on any path
            fee = self.policy.late_fee if late else None
            return CancellationOutcome(booking=cancelled, late=late, fee=fee)

        return self._run(command, ids={"booking_id": booking_id})

    def mark_no_show(self, booking_id: str) -> Booking:
        """Record a no-show (a violation) once the slot has started."""
        check_id(booking_id, "booking_id")

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            slot = uow.slots.get(uow.bookings.get(booking_id).slot_id)
            self._confirmed(uow, booking_id)
            return slot.mark_attendance(booking_id, BookingStatus.NO_SHOW, now=now)

        return self._run(command, ids={"booking_id": booking_id})

    def reschedule(
        self, booking_id: str, new_slot_id: str, *, idempotency_key: str | None = None
    ) -> Booking:
        """Move a booking to another slot atomically: the old seat is released only if the
        new one was taken. Allowed inside the free window, ``max_reschedules`` times.
        ``idempotency_key``: a retry with it returns the first answer (the new booking)
        instead of ``InvalidTransition`` (see ``docs/embedding.md``)."""
        check_id(booking_id, "booking_id")
        check_id(new_slot_id, "new_slot_id")
        check_key(idempotency_key)
        request = {"command": "reschedule", "booking_id": booking_id, "new_slot_id": new_slot_id}

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: move(uow, now),
                encode=booking_out,
                decode=booking_in,
            )

        def move(uow: UnitOfWork, now: datetime) -> Booking:
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
            old_slot.cancel(
                booking_id,
                now=now,
                new_id=self._new_id,
                student_id=booking.student_id,
                reason="rescheduled",
            )
            uow.records.put(RESCHEDULES, moved.id, {"count": moves + 1, "from": booking_id})
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

        return self._run(command, ids={"booking_id": booking_id, "new_slot_id": new_slot_id})

    # --- internals --------------------------------------------------------------------

    def _confirmed(self, uow: UnitOfWork, booking_id: str) -> Booking:
        booking = uow.bookings.get(booking_id)
        if booking.status is not BookingStatus.CONFIRMED:
            raise InvalidTransition(f"booking {booking_id!r} is {booking.status.value}")
        return booking

    @staticmethod
    def _reschedules(uow: UnitOfWork, booking_id: str) -> int:
        doc = uow.records.get(RESCHEDULES, booking_id)
        return int(doc["count"]) if doc else 0
