"""The events of lesson reminders, raised by the notices that plan them (their type names
keep the ``reminders.`` prefix they always had): each registers its stable type name as
it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(RemindersScheduled).name
'reminders.scheduled'
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "RemindersScheduled",
    "RemindersVoided",
]


@event_type("reminders.scheduled", aggregate="reminders", field="booking_id")
@attrs.frozen(kw_only=True)
class RemindersScheduled(DomainEvent):
    booking_id: str
    student_id: str
    due: tuple[datetime, ...]


@event_type("reminders.voided", aggregate="reminders", field="booking_id")
@attrs.frozen(kw_only=True)
class RemindersVoided(DomainEvent):
    booking_id: str
    pending: int
