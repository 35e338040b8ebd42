"""The rules around a booking: free cancellation window, violations, restrictions (pure).

>>> from datetime import datetime, timedelta, timezone
>>> policy = CancellationPolicy(free_until=timedelta(hours=24), max_violations=2,
...                             period=timedelta(days=30), restrict_for=timedelta(days=7))
>>> start = datetime(2026, 3, 10, 19, 0, tzinfo=timezone.utc)
>>> policy.is_free_cancellation(start - timedelta(hours=30), start)
True
>>> policy.is_free_cancellation(start - timedelta(hours=2), start)
False
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.kernel.inputs import MAX_COUNT, MAX_DURATION
from eduengine.kernel.money import Money
from eduengine.kernel.records import reader, writer


class ViolationKind(enum.Enum):
    LATE_CANCELLATION = "late_cancellation"
    NO_SHOW = "no_show"


def _non_negative(instance: Any, attribute: Any, value: timedelta) -> None:
    if not isinstance(value, timedelta) or not timedelta(0) <= value <= MAX_DURATION:
        raise InvalidTimeRange(
            f"{attribute.name} must be a timedelta from 0 to {MAX_DURATION.days} days, "
            f"got {value!r}"
        )


def _optional_positive(instance: Any, attribute: Any, value: timedelta | None) -> None:
    if value is not None and (
        not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_DURATION
    ):
        raise InvalidTimeRange(
            f"{attribute.name} must be a positive timedelta of at most {MAX_DURATION.days} "
            f"days, got {value!r}"
        )


def _count(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT
    ):
        raise InvalidInput(f"{attribute.name} must be a non-negative int, got {value!r}")


@attrs.frozen(kw_only=True)
class CancellationPolicy:
    """Free cancellation (and reschedule) until ``free_until`` before start; later, a
    cancellation is a violation and may carry ``late_fee``; a no-show is a violation.
    After ``max_violations`` in a rolling ``period`` the student is restricted: no booking
    for ``restrict_for`` or, if ``max_open_bookings`` is set, at most that many open
    (confirmed, not yet marked) bookings while restricted. A booking may be moved at most
    ``max_reschedules`` times.
    """

    free_until: timedelta = attrs.field(default=timedelta(hours=24), validator=_non_negative)
    late_fee: Money | None = None
    max_violations: int | None = attrs.field(default=3, validator=_count)
    period: timedelta = attrs.field(default=timedelta(days=30), validator=_non_negative)
    restrict_for: timedelta | None = attrs.field(
        default=timedelta(days=7), validator=_optional_positive
    )
    max_open_bookings: int | None = attrs.field(default=None, validator=_count)
    max_reschedules: int = attrs.field(default=2, validator=_count)

    def is_free_cancellation(self, now: datetime, start: datetime) -> bool:
        return now <= start - self.free_until

    def restriction(self, violations: Sequence[Violation], now: datetime) -> Restriction | None:
        """The restriction in force at ``now``, if any."""
        if self.max_violations is None or self.restrict_for is None:
            return None
        recent = sorted(
            (v for v in violations if v.at > now - self.period and v.at <= now),
            key=lambda v: v.at,
        )
        if len(recent) < self.max_violations or self.max_violations == 0:
            return None
        until = recent[-1].at + self.restrict_for
        if until <= now:
            return None
        return Restriction(
            until=until, max_open_bookings=self.max_open_bookings, violations=len(recent)
        )


@attrs.frozen(kw_only=True)
class Violation:
    kind: ViolationKind
    at: datetime
    booking_id: str
    slot_id: str
    fee: Money | None = None

    def to_record(self) -> dict[str, Any]:
        return _violation_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Violation:
        return _violation_in(data)


@attrs.frozen(kw_only=True)
class Restriction:
    """Booking rights restricted until ``until``; ``max_open_bookings`` None means none."""

    until: datetime
    max_open_bookings: int | None
    violations: int


_violation_out = writer(Violation)
_violation_in = reader(Violation)
