"""Handing out reminders, each exactly once: a thin layer over the notices
(:mod:`eduengine.notices`), kept for hosts of ``school.reminders``.

A booking's reminders are planned with its notices, into its student's class document
(:mod:`eduengine.notices.reminding`, one row per booking); :class:`ReminderService`
reads them from there. Each delivery hands out its own once: ``due_reminders`` and
``send_due`` one message per reminder to the host's :class:`Notifier`,
:meth:`NoticeService.deliver_due` each notice once per channel.

``due_reminders`` scans only due documents, in batches, and re-reads each under its lock
before marking items sent, so two workers calling it at the same time never get the
same reminder. Reminder documents of their own (``reminders``, written before reminders
became notices) are still read, handed out and voided the same way, so a store needs no
migration; they leave the store once nothing is pending.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id, check_int
from eduengine.notices.events import RemindersScheduled as RemindersScheduled
from eduengine.notices.events import RemindersVoided as RemindersVoided
from eduengine.notices.model import PENDING, SENT
from eduengine.notices.plan import (
    Channel,
    Notifier,
    Reminder,
    due_items,
    expire_started,
    parse_channel,
)
from eduengine.notices.planning import NOTICES, REMINDER_DUE
from eduengine.notices.reminding import (
    DUE,
    KIND,
    PREFS,
    SENDING,
    Place,
    announce,
    channel_of,
    load,
    places,
    reminders_of,
    save,
    schedule,
    store,
    void,
)
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

__all__ = [
    "DUE",
    "KIND",
    "PREFS",
    "SENDING",
    "Place",
    "ReminderService",
    "RemindersScheduled",
    "RemindersVoided",
    "announce",
    "channel_of",
    "places",
    "reminders_of",
    "schedule",
    "store",
    "void",
]


class ReminderService(ServiceBase):
    """Hands out due reminders exactly once; sending is the host's :class:`Notifier`.

    A facade over the notices: it reads and hands out the ``reminder`` part of each
    booking's class document (:mod:`eduengine.notices.reminding`), and reminder
    documents of their own written before.

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
                loaded = load(uow, place)
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
                    loaded = load(uow, place)  # locked: re-check under the lock
                    if loaded is None:
                        continue
                    doc, part = loaded
                    if expire_started(part, now):
                        save(uow, place, doc)
                        continue
                    due = due_items(part, now)
                    kinds = {r.kind for r in due}
                    for item in part["items"]:
                        if item["state"] == PENDING and item["kind"] in kinds:
                            item["state"] = SENT
                    save(uow, place, doc)
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
                        done = {"booking_id": taken.booking_id}
                        try:
                            notifier.send(taken)
                        except BaseException:
                            self._run(partial(_settle_one, place, taken, PENDING), ids=done)
                            raise
                        self._run(partial(_settle_one, place, taken, SENT), ids=done)
                        sent += 1
        return sent


def _take_one(place: Place, uow: UnitOfWork, now: datetime) -> Reminder | None:
    """Mark the earliest due reminder at ``place`` as being sent, under its lock."""
    loaded = load(uow, place)
    if loaded is None:
        return None
    doc, part = loaded
    if expire_started(part, now):
        save(uow, place, doc)
        return None
    due = sorted(due_items(part, now), key=lambda r: r.due_at)
    if not due:
        return None
    for item in part["items"]:
        if item["kind"] == due[0].kind:
            item["state"] = SENDING
    save(uow, place, doc)
    return due[0]


def _settle_one(
    place: Place, reminder: Reminder, state: str, uow: UnitOfWork, now: datetime
) -> None:
    loaded = load(uow, place)
    if loaded is None:
        return  # voided while it was being sent
    doc, part = loaded
    for item in part["items"]:
        if item["kind"] == reminder.kind and item["state"] == SENDING:
            item["state"] = state
    save(uow, place, doc)
