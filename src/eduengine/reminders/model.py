"""Reminder plans and reminders: they live in :mod:`eduengine.notices.plan` (reminders
are notices, issue #22); this module re-exports them for the compatibility layer
:mod:`eduengine.reminders`.

>>> from eduengine.notices import plan
>>> ReminderPlan is plan.ReminderPlan
True
"""

from eduengine.notices.plan import (
    DEFAULT_OFFSETS,
    Channel,
    Notifier,
    Reminder,
    ReminderPlan,
    due_items,
    expire_started,
    offset_label,
    parse_channel,
    reminder_record,
)

__all__ = [
    "DEFAULT_OFFSETS",
    "Channel",
    "Notifier",
    "Reminder",
    "ReminderPlan",
    "due_items",
    "expire_started",
    "offset_label",
    "parse_channel",
    "reminder_record",
]
