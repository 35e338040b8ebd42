"""The events of the cancellation policy: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(ViolationRecorded).name
'policies.violation_recorded'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type
from eduengine.kernel.money import Money

__all__ = [
    "BookingRescheduled",
    "LateFeeCharged",
    "LateFeeDue",
    "LateFeeFailed",
    "StudentRestricted",
    "ViolationRecorded",
]


@event_type("policies.violation_recorded", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class ViolationRecorded(DomainEvent):
    student_id: str
    booking_id: str
    kind: str
    fee: Money | None


@event_type("policies.student_restricted", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StudentRestricted(DomainEvent):
    student_id: str
    until: datetime
    max_open_bookings: int | None


@event_type("policies.late_fee_due", aggregate="late_fee", field="booking_id")
@attrs.frozen(kw_only=True)
class LateFeeDue(DomainEvent):
    """A late cancellation's fee, to be charged after commit (idempotent, retried)."""

    student_id: str
    booking_id: str
    fee: Money


@event_type("policies.late_fee_charged", aggregate="late_fee", field="booking_id")
@attrs.frozen(kw_only=True)
class LateFeeCharged(DomainEvent):
    student_id: str
    booking_id: str
    fee: Money
    charge_id: str


@event_type("policies.late_fee_failed", aggregate="late_fee", field="booking_id")
@attrs.frozen(kw_only=True)
class LateFeeFailed(DomainEvent):
    """The gateway declined (or the student has no payment account): retried later."""

    student_id: str
    booking_id: str
    fee: Money
    reason: str
    attempts: int


@event_type("policies.booking_rescheduled", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class BookingRescheduled(DomainEvent):
    student_id: str
    old_booking_id: str
    new_booking_id: str
    from_slot_id: str
    to_slot_id: str
