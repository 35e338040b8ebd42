"""The events of 1-on-1 tutoring: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(OneOnOneBooked).name
'availability.one_on_one_booked'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "OneOnOneBooked",
    "ScheduleChanged",
]


@event_type("availability.one_on_one_booked", aggregate="tutor", field="tutor_id")
@attrs.frozen(kw_only=True)
class OneOnOneBooked(DomainEvent):
    tutor_id: str
    student_id: str
    booking_id: str
    slot_id: str
    start: datetime
    room: str | None


@event_type("availability.schedule_changed", aggregate="tutor", field="tutor_id")
@attrs.frozen(kw_only=True)
class ScheduleChanged(DomainEvent):
    tutor_id: str
