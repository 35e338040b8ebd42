"""Scheduling, voiding and handing out reminders, each exactly once.

Pending reminders live in one ``reminders`` document per booking, filed under the ``due``
index at its next pending reminder. ``due_reminders`` scans only due documents, in
batches, and re-reads each under its lock before marking items sent, so two workers
calling it at the same time never get the same reminder. A document with nothing left
pending (all sent, voided or expired) is deleted: finished reminders leave the store.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from eduengine.booking.model import Slot
from eduengine.booking.rooms import room_of
from eduengine.kernel.codec import dt_in, micros
from eduengine.kernel.inputs import check_id, check_int
from eduengine.reminders.events import RemindersScheduled as RemindersScheduled
from eduengine.reminders.events import RemindersVoided as RemindersVoided
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
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

KIND = "reminders"
PREFS = "reminder_prefs"
DUE = "due"
#: taken by ``send_due`` and not yet confirmed sent
SENDING = "sending"


def channel_of(uow: UnitOfWork, student_id: str) -> Channel:
    prefs = uow.records.get(PREFS, student_id)
    return Channel(prefs["channel"]) if prefs else Channel.APP_PUSH


def schedule(
    uow: UnitOfWork,
    plan: ReminderPlan,
    booking_id: str,
    student_id: str,
    slot: Slot,
    now: datetime,
) -> None:
    """Plan a booking's reminders inside the caller's unit of work."""
    due = plan.schedule(booked_at=now, start=slot.start)
    store(
        uow,
        booking_id,
        reminder_record(
            booking_id=booking_id,
            student_id=student_id,
            slot_id=slot.id,
            start=slot.start,
            channel=channel_of(uow, student_id),
            due=due,
            room=room_of(uow, slot.id),
        ),
    )
    uow.record_events(
        [
            RemindersScheduled(
                occurred_at=now,
                booking_id=booking_id,
                student_id=student_id,
                due=tuple(at for _, at in due),
            )
        ]
    )


def store(uow: UnitOfWork, booking_id: str, record: dict[str, Any]) -> None:
    """Write a reminder document filed at its next pending reminder, or delete it when
    nothing is pending or being sent any more."""
    pending = [dt_in(i["due_at"]) for i in record["items"] if i["state"] == "pending"]
    if not pending and not any(i["state"] == SENDING for i in record["items"]):
        uow.records.delete(KIND, booking_id)
        return
    uow.records.put(
        KIND,
        booking_id,
        record,
        index={DUE: micros(min(pending))} if pending else {},
    )


def void(uow: UnitOfWork, booking_id: str, now: datetime) -> int:
    """Void a booking's pending reminders (cancelled or moved); returns how many."""
    record = uow.records.get(KIND, booking_id)
    if record is None:
        return 0
    pending = sum(1 for item in record["items"] if item["state"] == "pending")
    uow.records.delete(KIND, booking_id)
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
        check_id(student_id, "student_id")
        chosen = parse_channel(channel)
        self._run(
            lambda uow, now: uow.records.put(PREFS, student_id, {"channel": chosen.value}),
            ids={"student_id": student_id},
        )

    def pending(self, booking_id: str) -> list[Reminder]:
        """Reminders of a booking not yet sent (due or not)."""
        check_id(booking_id, "booking_id")

        def query(uow: UnitOfWork, now: datetime) -> list[Reminder]:
            record = uow.records.get(KIND, booking_id)
            return [] if record is None else due_items(record, None)

        return self._run(query, write=False, ids={"booking_id": booking_id})

    def reindex(self) -> int:
        """File reminder documents written before reminders were indexed under ``due``
        (a one-off upgrade step: it reads every reminder document); returns how many."""

        return self._refile_all(KIND, store)

    def due_reminders(self, *, batch: int = 200) -> list[Reminder]:
        """Every reminder due now, each returned once only (marked sent as it is returned).

        Reads only due documents, ``batch`` per unit of work, so a booking waits at most
        one batch for the store.
        """
        check_int(batch, "batch", low=1)

        def command(uow: UnitOfWork, now: datetime) -> tuple[list[Reminder], bool]:
            found: list[Reminder] = []
            candidates = uow.records.scan(KIND, DUE, hi=micros(now), limit=batch)
            for key, _ in candidates:
                record = uow.records.get(KIND, key)  # locked: re-check under the lock
                if record is None:
                    continue
                if expire_started(record, now):
                    store(uow, key, record)
                    continue
                due = due_items(record, now)
                kinds = {r.kind for r in due}
                for item in record["items"]:
                    if item["state"] == "pending" and item["kind"] in kinds:
                        item["state"] = "sent"
                store(uow, key, record)
                found.extend(due)
            return found, len(candidates) == batch

        found: list[Reminder] = []
        more = True
        while more:
            taken, more = self._run_batch(command)
            found.extend(taken)
        return sorted(found, key=lambda r: (r.due_at, r.booking_id, r.kind))

    def send_due(self, notifier: Notifier, *, batch: int = 200) -> int:
        """Pass each due reminder to ``notifier``; returns how many were sent.

        A reminder is marked sent only once ``notifier.send`` returned: one that raises
        goes back to pending (and the error is raised), so the next call sends it again.
        A process that dies inside ``send`` leaves that one reminder unsent; for delivery
        exactly once per channel, with retries and leases, use :mod:`eduengine.notices`.
        """
        sent = 0
        for keys in self._due_batches(KIND, DUE, batch):
            for key in keys:
                while taken := self._run(partial(_take_one, key), ids={"booking_id": key}):
                    try:
                        notifier.send(taken)
                    except BaseException:
                        self._run(partial(_settle_one, taken, "pending"), ids={"booking_id": key})
                        raise
                    self._run(partial(_settle_one, taken, "sent"), ids={"booking_id": key})
                    sent += 1
        return sent


def _take_one(key: str, uow: UnitOfWork, now: datetime) -> Reminder | None:
    """Mark the earliest due reminder of a document as being sent, under its lock."""
    record = uow.records.get(KIND, key)
    if record is None:
        return None
    if expire_started(record, now):
        store(uow, key, record)
        return None
    due = sorted(due_items(record, now), key=lambda r: r.due_at)
    if not due:
        return None
    for item in record["items"]:
        if item["kind"] == due[0].kind:
            item["state"] = SENDING
    store(uow, key, record)
    return due[0]


def _settle_one(reminder: Reminder, state: str, uow: UnitOfWork, now: datetime) -> None:
    record = uow.records.get(KIND, reminder.booking_id)
    if record is None:
        return  # voided while it was being sent
    for item in record["items"]:
        if item["kind"] == reminder.kind and item["state"] == SENDING:
            item["state"] = state
    store(uow, reminder.booking_id, record)
