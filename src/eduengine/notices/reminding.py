"""A booking's reminders as part of its class document (one notice system, issue #22):
planning them with the booking's notices, finding, voiding and saving them. What
:class:`eduengine.reminders.ReminderService` hands out (one message per reminder to the
host's :class:`~eduengine.notices.plan.Notifier`) is read from here.

A booking's reminders live in its student's class document of the notices (one row per
booking, ``class:<booking>:<student>``, which also holds the booking's confirmation and
reminder notices as steps), as its ``reminder`` part, filed under the ``reminder_due``
index at its next pending reminder. So a booking's reminders are planned once, in one
system and one write. Reminder documents of their own (kind ``reminders``, written
before reminders became notices) are still read and voided the same way, so a store
needs no migration; they leave the store once nothing in them is pending.

>>> from eduengine import InMemoryStore
>>> with InMemoryStore().unit_of_work() as uow:
...     places(uow, "b1")
[]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eduengine.booking.model import Slot
from eduengine.booking.rooms import room_of
from eduengine.kernel.codec import dt_in, micros
from eduengine.notices.events import RemindersScheduled, RemindersVoided
from eduengine.notices.model import PENDING, VOID, end_steps
from eduengine.notices.plan import Channel, ReminderPlan, reminder_record
from eduengine.notices.planning import (
    NOTICES,
    attach_reminders,
    booking_subject,
    subject_index,
)
from eduengine.notices.planning import store as store_notice
from eduengine.service_layer.ports import UnitOfWork

#: reminder documents of their own, one per booking, written before reminders were notices
KIND = "reminders"
#: a student's reminder channel (:meth:`ReminderService.set_channel`)
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
    """Plan a booking's reminders inside the caller's unit of work (alone: a school with
    notices plans them with the booking's notices, in one write, see
    :func:`eduengine.notices.handlers.on_seat_taken`)."""
    part = reminders_of(uow, plan, booking_id, student_id, slot, now)
    attach_reminders(uow, booking_id, student_id, part, now)
    announce(uow, part, now)


def reminders_of(
    uow: UnitOfWork,
    plan: ReminderPlan,
    booking_id: str,
    student_id: str,
    slot: Slot,
    now: datetime,
) -> dict[str, Any]:
    """A booking's reminders under ``plan``: the ``reminder`` part of its class document."""
    return reminder_record(
        booking_id=booking_id,
        student_id=student_id,
        slot_id=slot.id,
        start=slot.start,
        channel=channel_of(uow, student_id),
        due=plan.schedule(booked_at=now, start=slot.start),
        room=room_of(uow, slot.id),
    )


def announce(uow: UnitOfWork, part: dict[str, Any], now: datetime) -> None:
    """Record that a booking's reminders (``part``) were planned."""
    uow.record_events(
        [
            RemindersScheduled(
                occurred_at=now,
                booking_id=part["booking_id"],
                student_id=part["student_id"],
                due=tuple(dt_in(i["due_at"]) for i in part["items"]),
            )
        ]
    )


def store(uow: UnitOfWork, booking_id: str, record: dict[str, Any]) -> None:
    """Write a reminder document of its own (as before reminders became notices) filed at
    its next pending reminder, or delete it when nothing is pending or being sent."""
    pending = [dt_in(i["due_at"]) for i in record["items"] if i["state"] == PENDING]
    if not pending and not any(i["state"] == SENDING for i in record["items"]):
        uow.records.delete(KIND, booking_id)
        return
    uow.records.put(
        KIND,
        booking_id,
        record,
        index={DUE: micros(min(pending))} if pending else {},
    )


#: where a booking's reminders are: (record kind, key)
Place = tuple[str, str]


def load(uow: UnitOfWork, place: Place) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The document at ``place`` and its reminders (the whole of a document of its own,
    the ``reminder`` part of a class document)."""
    kind, key = place
    doc = uow.records.get(kind, key)
    if doc is None:
        return None
    part = doc if kind == KIND else doc.get("reminder")
    return None if part is None else (doc, part)


def save(uow: UnitOfWork, place: Place, doc: dict[str, Any]) -> None:
    """Write back the document at ``place``; one left with nothing to do (a reminder
    document with nothing pending, a class document holding only finished reminders)
    leaves the store."""
    kind, key = place
    if kind == KIND:
        store(uow, key, doc)
        return
    part = doc.get("reminder")
    live = part is not None and any(i["state"] in (PENDING, SENDING) for i in part["items"])
    if not live and not doc["channels"] and not doc.get("steps"):
        uow.records.delete(NOTICES, key)  # a class document that held only reminders
        return
    store_notice(uow, doc)


def places(uow: UnitOfWork, booking_id: str) -> list[Place]:
    """Where a booking's pending reminders are (its student's class document, or a
    reminder document of its own written before)."""
    found: list[Place] = []
    if uow.records.get(KIND, booking_id) is not None:
        found.append((KIND, booking_id))
    for key, _ in uow.records.scan(NOTICES, subject_index(booking_subject(booking_id))):
        doc = uow.records.get(NOTICES, key)
        if doc is not None and doc.get("reminder") is not None:
            found.append((NOTICES, key))
    return found


def void(uow: UnitOfWork, booking_id: str, now: datetime, *, notices: bool = False) -> int:
    """Void a booking's pending reminders (its seat freed, or its class begun); returns
    how many. ``notices``: void its pending notices too (its class documents' steps, and
    any other notice about the booking) in the same pass, one write per row."""
    pending = 0
    old = uow.records.get(KIND, booking_id)
    if old is not None:
        pending += sum(1 for item in old["items"] if item["state"] == PENDING)
        uow.records.delete(KIND, booking_id)
    for key, _ in uow.records.scan(NOTICES, subject_index(booking_subject(booking_id))):
        doc = uow.records.get(NOTICES, key)
        if doc is None:
            continue
        ended = end_steps(doc, VOID) if notices else 0
        voided = 0
        for item in (doc.get("reminder") or {}).get("items", []):
            if item["state"] == PENDING:
                item["state"] = VOID
                voided += 1
        if ended or voided:
            save(uow, (NOTICES, key), doc)
        pending += voided
    if pending:
        uow.record_events(
            [RemindersVoided(occurred_at=now, booking_id=booking_id, pending=pending)]
        )
    return pending
