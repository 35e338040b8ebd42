"""Planning notices inside the command's unit of work: record kinds and indexes,
recipients and their preferences, planning, voiding, refreshing and erasing notices
(handlers on the bus call these; :class:`~eduengine.notices.NoticeService` delivers).

>>> subject_index("slot:s1")
'subject:slot:s1'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eduengine.errors import WrongType
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import MAX_ID_LENGTH, check_id
from eduengine.notices.model import (
    CLASS_REMINDER,
    DEAD,
    PENDING,
    VOID,
    NoticePolicy,
    Preferences,
    Recipient,
    StaffContact,
    advance,
    class_doc_candidates,
    class_doc_id,
    end_steps,
    finished,
    new_record,
    new_step,
    next_due,
    staff_recipient_id,
    step_channels,
    with_steps,
)
from eduengine.people.model import GuardianRole
from eduengine.people.service import linked_guardians
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students.records import STUDENTS

NOTICES = "notice"
PREFS = "notice_prefs"
STATS = "notice_stats"
HEAD_TEACHERS = "notice_head_teacher"
CURSORS = "notice_sweep"
DUE = "due"
#: class documents by their next reminder for :class:`ReminderService`
REMINDER_DUE = "reminder_due"
DEAD_LETTERS = "dead"
OUTCOMES = ("delivered", "opened")

Context = Mapping[str, Any] | Callable[[ZoneInfo], Mapping[str, Any]]
"""A notice's context, or a function making it for the recipient's zone (local times)."""


#: notice ids join a subject, a kind and a recipient
MAX_KEY_LENGTH = 4 * MAX_ID_LENGTH


def check_recipient(recipient_id: object) -> str:
    """A recipient id: a student id, or ``"<student id>#<guardian>"``, each part an id.

    >>> check_recipient("ann#guardian0")
    'ann#guardian0'
    """
    if not isinstance(recipient_id, str):
        raise WrongType(
            f"recipient_id must be a string, got {recipient_id!r}", field="recipient_id"
        )
    owner, mark, guardian = recipient_id.partition("#")
    check_id(owner, "recipient_id")
    if mark:
        check_id(guardian, "recipient_id")
    return recipient_id


def student_index(student_id: str) -> str:
    return f"student:{student_id}"


def subject_index(subject: str) -> str:
    return f"subject:{subject}"


def local(value: datetime, zone: ZoneInfo) -> str:
    """``value`` as a local ISO string in ``zone`` (what a template prints)."""
    return value.astimezone(zone).isoformat()


def store(uow: UnitOfWork, doc: dict[str, Any]) -> None:
    """Write a notice with the index entries its state calls for (a class document
    whose current step is over moves on to its next one first)."""
    advance(doc)
    recipient = doc["recipient"]
    index = {student_index(recipient["student_id"]): micros(dt_in(doc["created_at"]))}
    due = next_due(doc)
    reminder = reminder_due(doc)
    if due is not None:
        index[DUE] = due
    if reminder is not None:
        index[REMINDER_DUE] = reminder
    if doc["subject"] and (due is not None or reminder is not None):
        index[subject_index(doc["subject"])] = 0
    states = [doc["channels"], *(s["channels"] or {} for s in doc.get("steps", []))]
    if any(c["state"] == DEAD for channels in states for c in channels.values()):
        index[DEAD_LETTERS] = micros(dt_in(doc["created_at"]))
    uow.records.put(NOTICES, doc["id"], doc, index=index)


def reminder_due(doc: Mapping[str, Any]) -> int | None:
    """When the reminders a class document holds for :class:`ReminderService` (the
    ``reminder`` part, see :mod:`eduengine.reminders`) next fall due, if any is pending."""
    part = doc.get("reminder")
    if part is None:
        return None
    due = [micros(dt_in(i["due_at"])) for i in part["items"] if i["state"] == PENDING]
    return min(due) if due else None


def find_notice(uow: UnitOfWork, notice_id: str) -> dict[str, Any] | None:
    """The document holding notice ``notice_id``: its own, or the class document of its
    booking (a confirmation or reminder planned as a step)."""
    doc = uow.records.get(NOTICES, notice_id)
    if doc is not None and not doc.get("steps"):
        return doc
    for key in class_doc_candidates(notice_id):
        found = uow.records.get(NOTICES, key)
        if found is not None and step_channels(found, notice_id) is not None:
            return found
    return None


def preferences(uow: UnitOfWork, recipient_id: str, policy: NoticePolicy) -> Preferences:
    doc = uow.records.get(PREFS, recipient_id)
    if doc is not None:
        return Preferences.from_record(doc)
    return Preferences(
        zone=policy.zone, channels=policy.channels, fallback=policy.fallback, quiet=policy.quiet
    )


def recipients(
    uow: UnitOfWork, student_id: str, kind: str, policy: NoticePolicy
) -> list[Recipient]:
    """The student, and the guardians holding the receive-reminders role when ``kind`` is
    copied to guardians."""
    doc = uow.records.get(STUDENTS, student_id)
    if doc is None:
        return [Recipient(id=student_id, student_id=student_id)]
    found = [
        Recipient(
            id=student_id,
            student_id=student_id,
            name=doc.get("name"),
            phone=doc.get("phone"),
            email=doc.get("email"),
        )
    ]
    if kind in policy.guardian_kinds and not doc.get("erased"):
        for n, guardian in enumerate(doc.get("guardians", [])):
            if "receive_reminders" in guardian.get("roles", []):
                found.append(
                    Recipient(
                        id=f"{student_id}#guardian{n}",
                        student_id=student_id,
                        role="guardian",
                        name=guardian.get("name"),
                        phone=guardian.get("phone"),
                        email=guardian.get("email"),
                    )
                )
        # guardian accounts (docs/privacy.md): the account id is the recipient, so one
        # parent's preferences hold for each of their children
        found += [
            Recipient(
                id=account.id,
                student_id=student_id,
                role="guardian",
                name=account.name,
                phone=account.phone,
                email=account.email,
            )
            for account in linked_guardians(uow, student_id)
            if GuardianRole.RECEIVE_REMINDERS in account.children[student_id]
        ]
    return found


Audience = list[tuple[Recipient, Preferences]]


def reach(uow: UnitOfWork, student_id: str, kind: str, policy: NoticePolicy) -> Audience:
    """Who gets a ``kind`` notice about ``student_id``, with their preferences."""
    return [(r, preferences(uow, r.id, policy)) for r in recipients(uow, student_id, kind, policy)]


def plan(
    uow: UnitOfWork,
    policy: NoticePolicy,
    *,
    kind: str,
    key: str,
    student_id: str,
    context: Context,
    now: datetime,
    due_at: datetime | None = None,
    not_after: datetime | None = None,
    subject: str | None = None,
    template: str | None = None,
    audience: Audience | None = None,
) -> int:
    """Plan notice ``kind`` about ``key`` for a student and their guardians (once: a
    notice already planned under the same id is left alone); returns how many were
    planned. Nothing is planned that could only be sent too late. ``audience`` saves
    looking the recipients up again when one event plans several notices."""
    due = due_at or now
    if not_after is not None and due >= not_after:
        return 0
    planned = 0
    for recipient, prefs in audience or reach(uow, student_id, kind, policy):
        notice_id = f"{kind}:{key}:{recipient.id}"
        if uow.records.get(NOTICES, notice_id) is not None:
            continue
        zone = ZoneInfo(prefs.zone)
        made = context(zone) if callable(context) else context
        store(
            uow,
            new_record(
                notice_id=notice_id,
                kind=kind,
                template=template or kind,
                recipient=recipient,
                prefs=prefs,
                context={**made, "zone": prefs.zone},
                due_at=due,
                not_after=not_after,
                subject=subject,
                now=now,
            ),
        )
        planned += 1
    return planned


def booking_subject(booking_id: str) -> str:
    return f"booking:{booking_id}"


#: one step of a class document: kind, template, label before class (None for the
#: seat's first notice) and when it is due
Step = tuple[str, str, str | None, datetime]


def plan_class_steps(
    uow: UnitOfWork,
    *,
    booking_id: str,
    recipient: Recipient,
    prefs: Preferences,
    steps: list[Step],
    context: Context,
    now: datetime,
    not_after: datetime,
    reminder: dict[str, Any] | None = None,
) -> int:
    """Plan a booking's notices to one recipient as one class document, its ``steps``
    in time order (once: a class document already planned is left alone); returns how
    many notices it holds. The reminders :class:`ReminderService` hands out join it:
    ``reminder``, or those planned into it before."""
    doc_id = class_doc_id(booking_id, recipient.id)
    old = uow.records.get(NOTICES, doc_id)
    if old is not None and old.get("steps"):
        return 0
    kind, template, _, due = steps[0]
    made = context(ZoneInfo(prefs.zone)) if callable(context) else context
    doc = new_record(
        notice_id=doc_id,
        kind=kind,
        template=template,
        recipient=recipient,
        prefs=prefs,
        context={**made, "zone": prefs.zone},
        due_at=due,
        not_after=not_after,
        subject=booking_subject(booking_id),
        now=now,
    )
    with_steps(doc, [new_step(k, t, booking_id, b, recipient.id, d) for k, t, b, d in steps])
    if reminder is not None:
        doc["reminder"] = reminder
    elif old is not None and old.get("reminder") is not None:
        doc["reminder"] = old["reminder"]
    store(uow, doc)
    return len(steps)


def attach_reminders(
    uow: UnitOfWork, booking_id: str, student_id: str, part: dict[str, Any], now: datetime
) -> None:
    """Put the reminders :class:`ReminderService` hands out into the student's class
    document of the booking (made bare, without notice channels, if the notices are
    not planned first or at all): one row holds both."""
    doc_id = class_doc_id(booking_id, student_id)
    doc = uow.records.get(NOTICES, doc_id)
    if doc is None:
        doc = {
            "id": doc_id,
            "kind": CLASS_REMINDER,
            "template": CLASS_REMINDER,
            "recipient": Recipient(id=student_id, student_id=student_id).to_record(),
            "context": {"booking_id": booking_id, "slot_id": part["slot_id"]},
            "zone": "UTC",
            "quiet": None,
            "due_at": part["start"],
            "not_after": part["start"],
            "subject": booking_subject(booking_id),
            "created_at": dt_out(now),
            "fallback": [],
            "channels": {},
            "lease": None,
        }
    doc["reminder"] = part
    store(uow, doc)


def void(
    uow: UnitOfWork, subject: str, *, kinds: Iterable[str] | None = None, state: str = VOID
) -> int:
    """Void the pending notices about ``subject`` (of ``kinds``, or all); returns how many."""
    wanted = None if kinds is None else set(kinds)
    voided = 0
    for key, _ in uow.records.scan(NOTICES, subject_index(subject)):
        doc = uow.records.get(NOTICES, key)
        if doc is None or (
            wanted is not None and not doc.get("steps") and doc["kind"] not in wanted
        ):
            continue
        if end_steps(doc, state, wanted):
            voided += 1
            store(uow, doc)
    return voided


def refresh(uow: UnitOfWork, subject: str, kind: str, changes: Mapping[str, Any]) -> int:
    """Update the context of pending ``kind`` notices about ``subject`` (a nudge that is
    due later should carry the numbers of the moment it goes out)."""
    changed = 0
    for key, _ in uow.records.scan(NOTICES, subject_index(subject)):
        doc = uow.records.get(NOTICES, key)
        if doc is None or doc["kind"] != kind or finished(doc):
            continue
        doc["context"].update(changes)
        store(uow, doc)
        changed += 1
    return changed


def erase_notices(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: a student's notices (their guardians' copies too), preferences and channel
    history; they hold names and contact data."""
    removed = 0
    for kind in (NOTICES, PREFS, STATS):
        for key, _ in uow.records.scan(kind, student_index(student_id)):
            uow.records.delete(kind, key)
            removed += 1
    return removed


def head_teacher(uow: UnitOfWork, student_id: str) -> dict[str, Any] | None:
    doc = uow.records.get(STUDENTS, student_id)
    class_id = None if doc is None else doc.get("class_id")
    if class_id is None:
        return None
    return uow.records.get(HEAD_TEACHERS, class_id)


# --- staff recipients (issue #25): SLA warnings and breaches to tickets' holders --------

#: a staff member's contact and channels (:class:`~eduengine.notices.model.StaffContact`)
STAFF = "notice_staff"


def put_staff_contact(uow: UnitOfWork, contact: StaffContact) -> None:
    uow.records.put(STAFF, contact.staff_id, contact.to_record())


def staff_contact(uow: UnitOfWork, staff_id: str) -> StaffContact:
    """The contact registered for ``staff_id``, or a bare one (the policy's channels)."""
    doc = uow.records.get(STAFF, staff_id)
    return StaffContact(staff_id=staff_id) if doc is None else StaffContact.from_record(doc)


def plan_staff(
    uow: UnitOfWork,
    policy: NoticePolicy,
    *,
    kind: str,
    key: str,
    staff_ids: Iterable[str | None],
    context: Context,
    now: datetime,
    subject: str | None = None,
) -> int:
    """Plan notice ``kind`` about ``key`` for each staff member of ``staff_ids`` (each
    once, ``None`` skipped), reached as her :class:`StaffContact` says; a notice already
    planned under the same id is left alone. Returns how many were planned."""
    audience: Audience = []
    for staff_id in dict.fromkeys(s for s in staff_ids if s is not None):
        contact = staff_contact(uow, staff_id)
        audience.append((contact.recipient(), contact.preferences(policy)))
    if not audience:
        return 0
    return plan(
        uow,
        policy,
        kind=kind,
        key=key,
        student_id=audience[0][0].student_id,
        context=context,
        now=now,
        subject=subject,
        audience=audience,
    )


def erase_staff(uow: UnitOfWork, staff_id: str) -> int:
    """A staff member's contact, her notices and channel history (they hold her contact
    data); returns how many documents were removed."""
    removed = 0
    if uow.records.get(STAFF, staff_id) is not None:
        uow.records.delete(STAFF, staff_id)
        removed += 1
    for kind in (NOTICES, STATS):
        for key, _ in uow.records.scan(kind, student_index(staff_recipient_id(staff_id))):
            uow.records.delete(kind, key)
            removed += 1
    return removed
