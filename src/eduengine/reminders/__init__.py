"""Class reminders (上课提醒): a confirmation at booking time and reminders before start."""

from eduengine.reminders.model import Channel, Notifier, Reminder, ReminderPlan
from eduengine.reminders.service import ReminderService

__all__ = ["Channel", "Notifier", "Reminder", "ReminderPlan", "ReminderService"]
