"""Cancellation, reschedule and no-show policies (违约 / 爽约 / 限制预约权限)."""

from eduengine.policies.events import BookingRescheduled, StudentRestricted, ViolationRecorded
from eduengine.policies.model import CancellationPolicy, Restriction, Violation, ViolationKind
from eduengine.policies.service import CancellationOutcome, PolicyService

__all__ = [
    "BookingRescheduled",
    "CancellationOutcome",
    "CancellationPolicy",
    "PolicyService",
    "Restriction",
    "StudentRestricted",
    "Violation",
    "ViolationKind",
    "ViolationRecorded",
]
