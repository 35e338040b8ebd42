"""The events of lesson reminders: defined in :mod:`eduengine.notices.events` (the
notices plan reminders, issue #22) under their old type names; re-exported here.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(RemindersScheduled).name
'reminders.scheduled'
"""

from eduengine.notices.events import RemindersScheduled, RemindersVoided

__all__ = [
    "RemindersScheduled",
    "RemindersVoided",
]
