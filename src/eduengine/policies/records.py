"""What the cancellation policy stores: violations per student, late fees to collect.

Violations are one document per student (a handful per term). Late fees are one document
per booking, filed under the ``due`` index while they wait for the payment gateway, so
:meth:`~eduengine.policies.fees.FeeService.collect_due` reads only what is due.
"""

from __future__ import annotations

from datetime import datetime

from eduengine.kernel.codec import micros
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import Money
from eduengine.policies.events import LateFeeCharged as LateFeeCharged
from eduengine.policies.events import LateFeeDue as LateFeeDue
from eduengine.policies.events import LateFeeFailed as LateFeeFailed
from eduengine.policies.events import StudentRestricted as StudentRestricted
from eduengine.policies.events import ViolationRecorded as ViolationRecorded
from eduengine.policies.model import Violation
from eduengine.service_layer.ports import UnitOfWork

VIOLATIONS = "violations"
RESCHEDULES = "reschedules"
LATE_FEES = "late_fee"
DUE = "due"


def violations_of(uow: UnitOfWork, student_id: str) -> list[Violation]:
    doc = uow.records.get(VIOLATIONS, student_id)
    return [Violation.from_record(v) for v in doc["items"]] if doc else []


def write_violations(uow: UnitOfWork, student_id: str, violations: list[Violation]) -> None:
    uow.records.put(VIOLATIONS, student_id, {"items": [v.to_record() for v in violations]})


def file_late_fee(
    uow: UnitOfWork, *, student_id: str, booking_id: str, fee: Money, now: datetime
) -> list[DomainEvent]:
    """File a fee to collect (once per booking); returns the events to record."""
    if uow.records.get(LATE_FEES, booking_id) is not None:
        return []
    uow.records.put(
        LATE_FEES,
        booking_id,
        {
            "student_id": student_id,
            "booking_id": booking_id,
            "fee": fee.to_record(),
            "state": "due",
            "attempts": 0,
            "charge_id": None,
            "last_error": None,
        },
        index={DUE: micros(now), f"student:{student_id}": micros(now)},
    )
    return [LateFeeDue(occurred_at=now, student_id=student_id, booking_id=booking_id, fee=fee)]
