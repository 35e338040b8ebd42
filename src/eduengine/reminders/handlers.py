"""Reminders as rules on a bus of their own (a service built alone, a host's own bus):
every seat taken, on any path, gets its plan's reminders; every seat freed, or whose
attendance is marked, has its pending ones voided. The rules are the notices'
(:func:`eduengine.notices.handlers.reminder_rules`): reminders are notices, and a
:class:`eduengine.School` runs them as its ``notices`` (or, with ``notices=None``,
``reminders``) projection."""

from __future__ import annotations

from eduengine.notices.handlers import plan_reminders, reminder_rules, void_reminders
from eduengine.notices.plan import ReminderPlan
from eduengine.service_layer.messagebus import MessageBus

__all__ = ["plan_reminders", "reminder_rules", "subscribe", "void_reminders"]


def subscribe(bus: MessageBus, plan: ReminderPlan) -> None:
    """Put the reminder plan on ``bus`` (not beside the notice rules of a school that
    plans notices: those plan the reminders already)."""
    bus.subscribe_many(reminder_rules(plan))
