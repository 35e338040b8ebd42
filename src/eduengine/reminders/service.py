"""Scheduling, voiding and handing out reminders, each exactly once: a thin layer over
the notices (:mod:`eduengine.notices`).

A booking's reminders live in its student's class document of the notices (one row per
booking, ``class:<booking>:<student>``, which also holds the booking's confirmation and
reminder notices as steps), as its ``reminder`` part, filed under the ``reminder_due``
index at its next pending reminder. So a booking's reminders are planned once, in one
system, whether a host hands them out here (``due_reminders``, ``send_due``: one
message per reminder to the host's :class:`Notifier`) or delivers notices through
channels (:meth:`NoticeService.deliver_due`), or both (each delivers its own once).

``due_reminders`` scans only due documents, in batches, and re-reads each under its lock
before marking items sent, so two workers calling it at the same time never get the
same reminder. Reminder documents of their own (``reminders``, written before reminders
became notices) are still read, handed out and voided the same way, so a store needs no
migration; they leave the store once nothing is pending.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from eduengine.booking.model import Slot
from eduengine.codec import dt_in, micros
from eduengine.inputs import check_id, check_int
from eduengine.notices.planning import (
    NOTICES,
    REMINDER_DUE,
    attach_reminders,
    booking_subject,
    subject_index,
)
from eduengine.notices.planning import store as store_notice
from eduengine.ports import UnitOfWork
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
from eduengine.rooms import room_of
from eduengine.service import ServiceBase

#: reminder documents of their own, written before reminders became notices
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


#: where a booking's reminders are: (record kind, key)
Place = tuple[str, str]


def _load(uow: UnitOfWork, place: Place) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The document at ``place`` and its reminders (the whole of a document of its own,
    the ``reminder`` part of a class document)."""
    kind, key = place
    doc = uow.records.get(kind, key)
    if doc is None:
        return None
    part = doc if kind == KIND else doc.get("reminder")
    return None if part is None else (doc, part)


def _save(uow: UnitOfWork, place: Place, doc: dict[str, Any]) -> None:
    kind, key = place
    if kind == KIND:
        store(uow, key, doc)
        return
    part = doc["reminder"]
    live = any(i["state"] in ("pending", SENDING) for i in part["items"])
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


def void(uow: UnitOfWork, booking_id: str, now: datetime) -> int:
    """Void a booking's pending reminders (cancelled or moved); returns how many."""
    pending = 0
    for place in places(uow, booking_id):
        loaded = _load(uow, place)
        if loaded is None:
            continue
        doc, part = loaded
        for item in part["items"]:
            if item["state"] == "pending":
                item["state"] = "void"
                pending += 1
        if place[0] == KIND:
            uow.records.delete(KIND, booking_id)
        else:
            _save(uow, place, doc)
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
            found: list[Reminder] = []
            for place in places(uow, booking_id):
                loaded = _load(uow, place)
                found += [] if loaded is None else due_items(loaded[1], None)
            return found

        return self._run(query, write=False, ids={"booking_id": booking_id})

    def reindex(self) -> int:
        """File reminder documents of their own written before reminders were indexed
        under ``due`` (a one-off upgrade step: it reads every such document); returns how
        many. Class documents are refiled by :meth:`NoticeService.reindex`."""

        return self._refile_all(KIND, store)

    def due_reminders(self, *, batch: int = 200) -> list[Reminder]:
        """Every reminder due now, each returned once only (marked sent as it is returned).

        Reads only due documents, ``batch`` per unit of work, so a booking waits at most
        one batch for the store.
        """
        check_int(batch, "batch", low=1)

        def command(uow: UnitOfWork, now: datetime) -> tuple[list[Reminder], bool]:
            found: list[Reminder] = []
            more = False
            for kind, index in ((KIND, DUE), (NOTICES, REMINDER_DUE)):
                candidates = uow.records.scan(kind, index, hi=micros(now), limit=batch)
                more = more or len(candidates) == batch
                for key, _ in candidates:
                    place = (kind, key)
                    loaded = _load(uow, place)  # locked: re-check under the lock
                    if loaded is None:
                        continue
                    doc, part = loaded
                    if expire_started(part, now):
                        _save(uow, place, doc)
                        continue
                    due = due_items(part, now)
                    kinds = {r.kind for r in due}
                    for item in part["items"]:
                        if item["state"] == "pending" and item["kind"] in kinds:
                            item["state"] = "sent"
                    _save(uow, place, doc)
                    found.extend(due)
            return found, more

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
        for kind, index in ((KIND, DUE), (NOTICES, REMINDER_DUE)):
            for keys in self._due_batches(kind, index, batch):
                for key in keys:
                    place = (kind, key)
                    ids = {"booking_id": key} if kind == KIND else {"notice_id": key}
                    while taken := self._run(partial(_take_one, place), ids=ids):
                        try:
                            notifier.send(taken)
                        except BaseException:
                            self._run(partial(_settle_one, place, taken, "pending"), ids=ids)
                            raise
                        self._run(partial(_settle_one, place, taken, "sent"), ids=ids)
                        sent += 1
        return sent


def _take_one(place: Place, uow: UnitOfWork, now: datetime) -> Reminder | None:
    """Mark the earliest due reminder at ``place`` as being sent, under its lock."""
    loaded = _load(uow, place)
    if loaded is None:
        return None
    doc, part = loaded
    if expire_started(part, now):
        _save(uow, place, doc)
        return None
    due = sorted(due_items(part, now), key=lambda r: r.due_at)
    if not due:
        return None
    for item in part["items"]:
        if item["kind"] == due[0].kind:
            item["state"] = SENDING
    _save(uow, place, doc)
    return due[0]


def _settle_one(
    place: Place, reminder: Reminder, state: str, uow: UnitOfWork, now: datetime
) -> None:
    loaded = _load(uow, place)
    if loaded is None:
        return  # voided while it was being sent
    doc, part = loaded
    for item in part["items"]:
        if item["kind"] == reminder.kind and item["state"] == SENDING:
            item["state"] = state
    _save(uow, place, doc)
