"""Scheduling, voiding and handing out reminders, each exactly once.

Pending reminders live in one ``reminders`` document per booking. ``due_reminders`` finds
the due ones, then re-reads each document under its lock before marking items sent, so
two workers calling it at the same time never get the same reminder.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Booking, Slot
from eduengine.ports import UnitOfWork
from eduengine.reminders.model import (
    Channel,
    Notifier,
    Reminder,
    ReminderPlan,
    due_items,
    expire_started,
    parse_channel,
    reminder_record,
)
from eduengine.service import ServiceBase

KIND = "reminders"
PREFS = "reminder_prefs"


@attrs.frozen(kw_only=True)
class RemindersScheduled(DomainEvent):
    booking_id: str
    student_id: str
    due: tuple[datetime, ...]


@attrs.frozen(kw_only=True)
class RemindersVoided(DomainEvent):
    booking_id: str
    pending: int


def channel_of(uow: UnitOfWork, student_id: str) -> Channel:
    prefs = uow.records.get(PREFS, student_id)
    return Channel(prefs["channel"]) if prefs else Channel.APP_PUSH


def schedule(
    uow: UnitOfWork, plan: ReminderPlan, booking: Booking, slot: Slot, now: datetime
) -> None:
    """Plan a booking's reminders inside the caller's unit of work."""
    due = plan.schedule(booked_at=now, start=slot.start)
    uow.records.put(
        KIND,
        booking.id,
        reminder_record(
            booking_id=booking.id,
            student_id=booking.student_id,
            slot_id=slot.id,
            start=slot.start,
            channel=channel_of(uow, booking.student_id),
            due=due,
        ),
    )
    uow.record_events(
        [
            RemindersScheduled(
                occurred_at=now,
                booking_id=booking.id,
                student_id=booking.student_id,
                due=tuple(at for _, at in due),
            )
        ]
    )


def void(uow: UnitOfWork, booking_id: str, now: datetime) -> int:
    """Void a booking's pending reminders (cancelled or moved); returns how many."""
    record = uow.records.get(KIND, booking_id)
    if record is None:
        return 0
    pending = 0
    for item in record["items"]:
        if item["state"] == "pending":
            item["state"] = "void"
            pending += 1
    uow.records.put(KIND, booking_id, record)
    if pending:
        uow.record_events(
            [RemindersVoided(occurred_at=now, booking_id=booking_id, pending=pending)]
        )
    return pending


class ReminderService(ServiceBase):
    """Hands out due reminders exactly once; sending is the host's :class:`Notifier`.

    >>> from eduengine import InMemoryStore
    >>> ReminderService(InMemoryStore().unit_of_work).due_reminders()
    []
    """

    def set_channel(self, student_id: str, channel: Channel | str) -> None:
        chosen = parse_channel(channel)
        self._run(lambda uow, now: uow.records.put(PREFS, student_id, {"channel": chosen.value}))

    def pending(self, booking_id: str) -> list[Reminder]:
        """Reminders of a booking not yet sent (due or not)."""

        def query(uow: UnitOfWork, now: datetime) -> list[Reminder]:
            record = uow.records.get(KIND, booking_id)
            return [] if record is None else due_items(record, None)

        return self._run(query, write=False)

    def due_reminders(self) -> list[Reminder]:
        """Every reminder due now, each returned once only (marked sent as it is returned)."""

        def command(uow: UnitOfWork, now: datetime) -> list[Reminder]:
            found: list[Reminder] = []
            candidates = [k for k, rec in uow.records.list(KIND) if due_items(rec, now)]
            for key in candidates:
                record = uow.records.get(KIND, key)  # locked: re-check under the lock
                if record is None:
                    continue
                if expire_started(record, now):
                    uow.records.put(KIND, key, record)
                    continue
                due = due_items(record, now)
                if not due:
                    continue
                kinds = {r.kind for r in due}
                for item in record["items"]:
                    if item["state"] == "pending" and item["kind"] in kinds:
                        item["state"] = "sent"
                uow.records.put(KIND, key, record)
                found.extend(due)
            return sorted(found, key=lambda r: (r.due_at, r.booking_id, r.kind))

        return self._run(command)

    def send_due(self, notifier: Notifier) -> int:
        """Take the due reminders and pass each to ``notifier``; returns how many."""
        due = self.due_reminders()
        for reminder in due:
            notifier.send(reminder)
        return len(due)
