"""Class reminders (上课提醒): a confirmation at booking time and reminders before start.

Reminders are notices (issue #22): they are planned with a booking's notices, into its
class document (:mod:`eduengine.notices.reminding`); this package is the compatibility
layer above them: the plan and reminder types re-exported, and
:class:`ReminderService` (``school.reminders``) handing them out.
"""

from eduengine.reminders.model import Channel, Notifier, Reminder, ReminderPlan
from eduengine.reminders.service import ReminderService

__all__ = ["Channel", "Notifier", "Reminder", "ReminderPlan", "ReminderService"]
