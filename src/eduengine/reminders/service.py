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

import contextlib
import warnings
from datetime import datetime
from functools import partial
from typing import Unpack

from eduengine.errors import AccessDenied, BookingNotFound
from eduengine.kernel.codec import micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
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
from eduengine.people.access import (
    AccessGate,
    Look,
    audit_system,
    check_actor,
    shown,
    write_audit,
)
from eduengine.people.model import SYSTEM, Actor, FieldSet
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

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

#: what a read of reminders shows of a student (the audit rows' fields, and the purpose
#: of the library's own reads: ``send_due`` and the sweeps' ``due_reminders``)
REMINDER_FIELDS = ("reminders",)


class ReminderService(ServiceBase):
    """Hands out due reminders exactly once; sending is the host's :class:`Notifier`.

    A facade over the notices: it reads and hands out the ``reminder`` part of each
    booking's class document (:mod:`eduengine.notices.reminding`), and reminder
    documents of their own written before.

    >>> from eduengine import InMemoryStore
    >>> from eduengine.people import SYSTEM
    >>> ReminderService(InMemoryStore().unit_of_work).due_reminders(actor=SYSTEM)
    []
    """

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)
        #: the access check of the reads (the school's, from School.build)
        self.gate = AccessGate()

    def set_channel(self, student_id: str, channel: Channel | str) -> None:
        check_id(student_id, "student_id")
        chosen = parse_channel(channel)
        self._run(
            lambda uow, now: uow.records.put(PREFS, student_id, {"channel": chosen.value}),
            ids={"student_id": student_id},
        )

    def pending(self, booking_id: str, *, actor: Actor | None = None) -> list[Reminder]:
        """Reminders of a booking not yet sent (due or not), read as ``actor`` (refused
        unless the actor may see its student; audited: docs/privacy.md). Without an
        actor (deprecated) they are read as before."""
        check_id(booking_id, "booking_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Reminder]:
            found: list[Reminder] = []
            for place in places(uow, booking_id):
                loaded = load(uow, place)
                found += [] if loaded is None else due_items(loaded[1], None)
            students = {r.student_id for r in found}
            # the booking's student too: "none pending" is hers to see as well
            with contextlib.suppress(BookingNotFound):
                students.add(uow.bookings.get(booking_id).student_id)
            for student_id in sorted(students):
                shown(look, student_id)
            return found

        return self.gate.read(
            self._run, actor, REMINDER_FIELDS, query, ids={"booking_id": booking_id}, records=True
        )

    def reindex(self) -> int:
        """File reminder documents of their own written before reminders were indexed
        under ``due`` (a one-off upgrade step: it reads every such document); returns how
        many. Class documents are refiled by :meth:`NoticeService.reindex`."""

        return self._refile_all(KIND, store)

    def due_reminders(self, *, batch: int = 200, actor: Actor | None = None) -> list[Reminder]:
        """Every reminder due now, each returned once only (marked sent as it is returned).

        Reads only due documents, ``batch`` per unit of work, so a booking waits at most
        one batch for the store.

        Handed out as ``actor`` may see them (docs/privacy.md): a sweep of the library's
        or host's own passes :data:`~eduengine.people.SYSTEM` (audited under the daily
        summary rule, purpose ``reminders``); another actor takes the reminders of the
        students it may see, each such student audited once per call, and leaves the
        others pending; it is refused (``AccessDenied``, audited ``denied``, nothing
        taken) when every due reminder is of a student it may not see. Without an actor
        (deprecated) every due reminder is handed out, as before.
        """
        check_int(batch, "batch", low=1)
        if actor is None:
            warnings.warn(
                "handing out reminders without an actor is deprecated: pass actor= "
                "(eduengine.people.SYSTEM for a sweep)",
                EduEngineDeprecationWarning,
                stacklevel=2,
            )
        else:
            check_actor(actor)
        #: students audited ``read`` by this call (once each, across its batches)
        audited: set[str] = set()
        #: the due documents of students the actor may not see, left pending: each later
        #: batch reads past them (they stay due, so a batch of them alone would come back)
        passed: set[Place] = set()

        def command(
            uow: UnitOfWork, now: datetime
        ) -> tuple[list[Reminder], bool, set[str], dict[Place, str]]:
            found: list[Reminder] = []
            more = False
            seen: dict[str, FieldSet] = {}
            refused: dict[Place, str] = {}

            def may_see(student_id: str) -> bool:
                if actor is None:
                    return True
                if student_id not in seen:
                    seen[student_id] = self.gate.fields(uow, actor, student_id, now)
                return not seen[student_id].refused

            for kind, index in ((KIND, DUE), (NOTICES, REMINDER_DUE)):
                limit = batch + sum(1 for k, _ in passed if k == kind)
                candidates = uow.records.scan(kind, index, hi=micros(now), limit=limit)
                more = more or len(candidates) == limit
                for key, _ in candidates:
                    place = (kind, key)
                    if place in passed:
                        continue
                    loaded = load(uow, place)  # locked: re-check under the lock
                    if loaded is None:
                        continue
                    doc, part = loaded
                    if expire_started(part, now):
                        save(uow, place, doc)
                        continue
                    due = due_items(part, now)
                    if due and not may_see(part["student_id"]):
                        refused[place] = part["student_id"]  # for a reader who may see her
                        continue
                    kinds = {r.kind for r in due}
                    for item in part["items"]:
                        if item["state"] == PENDING and item["kind"] in kinds:
                            item["state"] = SENT
                    save(uow, place, doc)
                    found.extend(due)
            students = {r.student_id for r in found}
            if actor is not None and actor.role == SYSTEM.role:
                for student_id in sorted(students):
                    audit_system(uow, student_id, REMINDER_FIELDS[0], now, actor)
            elif actor is not None:
                for student_id in sorted(students - audited):
                    write_audit(uow, actor, student_id, "read", REMINDER_FIELDS, now)
            return found, more, students, refused

        found: list[Reminder] = []
        refused: set[str] = set()
        more = True
        while more:
            taken, more, students, left = self._run_batch(command)
            found.extend(taken)
            audited |= students
            passed.update(left)
            refused.update(left.values())
        if actor is not None and not found and refused:
            who = actor

            def deny(uow: UnitOfWork, now: datetime) -> None:
                for student_id in sorted(refused):
                    write_audit(uow, who, student_id, "denied", (), now)

            self._run(deny)
            raise AccessDenied(
                f"{actor.role} {actor.id!r} may not read {REMINDER_FIELDS[0]} of "
                f"{', '.join(repr(s) for s in sorted(refused))}"
            )
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
    # the library hands the reminder to the host: its own read, audited as such
    audit_system(uow, due[0].student_id, REMINDER_FIELDS[0], now)
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
