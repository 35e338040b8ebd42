"""The notice outbox: planning inside a command's unit of work, delivery after it.

Each notice is one ``notice`` document (one recipient, one or more channels), filed
under the ``due`` index at the moment it next needs a worker: its earliest due channel,
or its lease's end while a worker holds it. :meth:`NoticeService.deliver_due` reads only
due documents, claims a batch under a lease in one short unit of work, sends each
channel through the notifier registered for it *outside* any transaction, and
acknowledges each channel in its own short unit of work, only if it still holds the
lease. So a notice is sent once per channel across threads and processes, with one edge:
a worker that stalls past its lease (a provider call hanging for minutes) may send a
notice the worker that took it over sends too; the idempotency key
``"<notice id>:<channel>"`` passed to the notifier lets the provider drop the copy.

Ids are deterministic (``kind:subject:recipient``), so planning the same thing twice
(a retried command, a sweep run by two workers) plans it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from eduengine.errors import InvalidInput, NoticeNotFound, WrongType
from eduengine.kernel.codec import dt_in, micros
from eduengine.kernel.inputs import check_id, check_ids, check_int, check_optional_id, check_text
from eduengine.notices.delivery import ChannelRegistry, DeliveryReport, NoticeDelivery
from eduengine.notices.model import (
    PACKAGE_EXPIRING,
    PACKAGE_NOT_ACTIVATED,
    Notice,
    NoticePolicy,
    Notifier,
    Preferences,
    QuietHours,
    check_channel,
    check_zone,
    notice_of,
    step_channels,
    step_notice,
)
from eduengine.notices.planning import (
    CURSORS,
    DEAD_LETTERS,
    DUE,
    HEAD_TEACHERS,
    MAX_KEY_LENGTH,
    NOTICES,
    OUTCOMES,
    PREFS,
    STATS,
    Audience,
    Context,
    check_recipient,
    erase_notices,
    find_notice,
    head_teacher,
    local,
    plan,
    preferences,
    reach,
    recipients,
    refresh,
    store,
    student_index,
    subject_index,
    void,
)
from eduengine.people.access import AccessGate, Look, Refused, mask_contacts
from eduengine.people.model import Actor, FieldSet
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import scan_after
from eduengine.students.records import EXPIRES, PACKAGES, PENDING_ACTIVATION


def _dead_notice(doc: dict[str, Any]) -> Notice:
    """The notice of ``doc`` with a dead-lettered channel (a class document's step)."""
    for step in doc.get("steps") or []:
        channels = step_channels(doc, step["id"]) or {}
        if any(c["state"] == "dead" for c in channels.values()):
            return step_notice(doc, step["id"])
    return notice_of(doc)


def _as_seen(notice: Notice, fields: FieldSet) -> Notice:
    """``notice`` with its recipient's contacts as ``fields`` shows them."""
    r = notice.recipient
    shown = mask_contacts(fields, name=r.name, phone=r.phone, email=r.email)
    seen = attrs.evolve(r, name=shown["name"], phone=shown["phone"], email=shown["email"])
    return attrs.evolve(notice, recipient=seen)


class NoticeService(NoticeDelivery):
    """Delivers due notices exactly once per channel; keeps preferences and history.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> notices = NoticeService(InMemoryStore().unit_of_work,
    ...                         clock=FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)))
    >>> notices.set_preferences("ann", channels=["wechat"], fallback=["sms"],
    ...                         zone="Asia/Shanghai").channels
    ('wechat',)
    >>> notices.deliver_due("worker-1").sent
    0
    """

    def __init__(
        self,
        uow: Any,
        *,
        policy: NoticePolicy | None = None,
        channels: ChannelRegistry | Mapping[str, Notifier] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(uow, **options)
        #: the access check of the reads (School.build passes the school's policy)
        self.gate = AccessGate()
        self.policy = policy or NoticePolicy()
        self.channels = (
            channels if isinstance(channels, ChannelRegistry) else ChannelRegistry(channels)
        )

    def set_preferences(
        self,
        recipient_id: str,
        *,
        channels: Iterable[str] | None = None,
        fallback: Iterable[str] | None = None,
        zone: str | None = None,
        quiet: tuple[str, str] | bool | None = True,
    ) -> Preferences:
        """Set how ``recipient_id`` (a student id, or ``"<student>#guardian<n>"``) is
        reached; omitted fields keep their value. ``quiet=("22:00", "07:30")`` sets the
        recipient's quiet hours, ``quiet=None`` switches them off. Applies to notices
        planned from now on."""
        check_recipient(recipient_id)
        check_optional_id(zone, "zone")
        for given in (channels, fallback):
            if given is not None:
                check_ids(given, "channels")
        if not (
            quiet is None
            or isinstance(quiet, bool)
            or (isinstance(quiet, tuple) and len(quiet) == 2)
        ):
            raise WrongType(
                f"quiet must be (start, end), True or None, got {quiet!r}", field="quiet"
            )
        chosen = None if channels is None else tuple(check_channel(c) for c in channels)
        if chosen is not None and not chosen:
            raise InvalidInput(f"{recipient_id!r} needs at least one channel")
        backup = None if fallback is None else tuple(check_channel(c) for c in fallback)
        place = None if zone is None else check_zone(zone)
        window = QuietHours.parse(*quiet) if isinstance(quiet, tuple) else None

        def command(uow: UnitOfWork, now: datetime) -> Preferences:
            old = preferences(uow, recipient_id, self.policy)
            new = Preferences(
                zone=place or old.zone,
                channels=chosen or old.channels,
                fallback=old.fallback if backup is None else backup,
                quiet=old.quiet if quiet is True else window,
            )
            owner = recipient_id.partition("#")[0]
            uow.records.put(PREFS, recipient_id, new.to_record(), index={student_index(owner): 0})
            return new

        return self._run(command, ids={"recipient_id": recipient_id})

    def preferences(self, recipient_id: str) -> Preferences:
        check_recipient(recipient_id)
        return self._run(
            lambda uow, now: preferences(uow, recipient_id, self.policy),
            write=False,
            ids={"recipient_id": recipient_id},
        )

    def set_head_teacher(self, class_id: str, *, name: str, contact: str) -> None:
        """The head teacher (班主任) of a class, named in payment confirmations."""
        check_id(class_id, "class_id")
        check_text(name, "name", max_length=1000)
        check_text(contact, "contact", max_length=1000)
        if not all(isinstance(v, str) and v for v in (class_id, name, contact)):
            raise InvalidInput("a head teacher needs a class id, a name and a contact")
        self._run(
            lambda uow, now: uow.records.put(
                HEAD_TEACHERS, class_id, {"name": name, "contact": contact}
            ),
            ids={"class_id": class_id},
        )

    def reindex(self) -> int:
        """File every notice, preference and channel history under the indexes its
        queries read (a one-off upgrade step: it reads every document of these kinds);
        returns how many were refiled."""

        def refile_notice(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            store(uow, doc)

        def refiler(kind: str) -> Callable[[UnitOfWork, str, dict[str, Any]], None]:
            def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
                owner = key.partition("#")[0]
                uow.records.put(kind, key, doc, index={student_index(owner): 0})

            return refile

        return (
            self._refile_all(NOTICES, refile_notice)
            + self._refile_all(PREFS, refiler(PREFS))
            + self._refile_all(STATS, refiler(STATS))
        )

    def notice(self, notice_id: str, *, actor: Actor | None = None) -> Notice:
        """The notice ``notice_id`` (a step of a class document: as it is or will be
        sent), its recipient's contacts as ``actor`` sees them (docs/privacy.md)."""
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Notice:
            doc = find_notice(uow, notice_id)
            if doc is None:
                raise NoticeNotFound(notice_id)
            found = step_notice(doc, notice_id)
            fields = look(found.recipient.student_id)
            if fields.refused:
                raise Refused()
            return _as_seen(found, fields)

        return self.gate.read(self._run, actor, ("notice",), query, ids={"notice_id": notice_id})

    def states(self, notice_id: str) -> dict[str, str]:
        """Each channel's state: pending, sent, dead, void or expired."""
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)
        channels = step_channels(self._doc(notice_id), notice_id) or {}
        return {c: s["state"] for c, s in channels.items()}

    def for_student(
        self, student_id: str, *, limit: int = 50, actor: Actor | None = None
    ) -> list[Notice]:
        """A student's latest notices (their guardians' copies too), newest first, the
        recipients' contacts as ``actor`` sees them (docs/privacy.md)."""
        check_id(student_id, "student_id")
        check_int(limit, "limit", low=1)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Notice]:
            fields = look(student_id)
            if fields.refused:
                raise Refused()
            rows = uow.records.scan(
                NOTICES, student_index(student_id), limit=limit, descending=True
            )
            docs = [uow.records.get(NOTICES, key) for key, _ in rows]
            # a class document holding only ReminderService's reminders is no notice
            return [
                _as_seen(notice_of(d), fields)
                for d in docs
                if d is not None and (d["channels"] or d.get("steps"))
            ]

        return self.gate.read(self._run, actor, ("notices",), query, ids={"student_id": student_id})

    def dead_letters(self, *, limit: int = 100, actor: Actor | None = None) -> list[Notice]:
        """Notices with a dead-lettered channel, oldest first (for an operator to look
        at), each recipient's contacts as ``actor`` sees them; notices about students
        the actor may not see are left out (docs/privacy.md)."""
        check_int(limit, "limit", low=1)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Notice]:
            docs = [
                uow.records.get(NOTICES, k)
                for k, _ in uow.records.scan(NOTICES, DEAD_LETTERS, limit=limit)
            ]
            found = [_dead_notice(d) for d in docs if d is not None]
            seen = [(n, look(n.recipient.student_id)) for n in found]
            return [_as_seen(n, fields) for n, fields in seen if not fields.refused]

        return self.gate.read(self._run, actor, ("notices",), query)

    def _doc(self, notice_id: str) -> dict[str, Any]:
        def query(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            doc = find_notice(uow, notice_id)
            if doc is None:
                raise NoticeNotFound(notice_id)
            return doc

        return self._run(query, write=False, ids={"notice_id": notice_id})

    def plan_due(self, *, batch: int = 200) -> int:
        """Plan the notices that come from time passing rather than a command: lesson
        packages about to expire, and packages bought but never activated. Reads only
        the packages that entered the window since the last run (a cursor per sweep);
        returns how many notices were planned."""
        check_int(batch, "batch", low=1)
        policy = self.policy
        planned = 0
        planned += self._sweep_packages(
            EXPIRES, PACKAGE_EXPIRING, lambda now: now + policy.package_warning, batch
        )
        planned += self._sweep_packages(
            PENDING_ACTIVATION,
            PACKAGE_NOT_ACTIVATED,
            lambda now: now - policy.activation_nudge,
            batch,
        )
        return planned

    def _sweep_packages(
        self, index: str, kind: str, upto: Callable[[datetime], datetime], batch: int
    ) -> int:
        planned = 0
        while True:

            def command(uow: UnitOfWork, now: datetime) -> tuple[int, bool]:
                mark = uow.records.get(CURSORS, kind) or {"after": None}
                after = None if mark["after"] is None else (mark["after"][0], mark["after"][1])
                rows = scan_after(uow.records, PACKAGES, index, after, micros(upto(now)), batch)
                count = 0
                for key, _ in rows:
                    pkg = uow.records.get(PACKAGES, key)
                    if pkg is None:
                        continue
                    count += self._plan_package(uow, kind, key, pkg, now)
                if rows:
                    uow.records.put(CURSORS, kind, {"after": [rows[-1][1], rows[-1][0]]})
                return count, len(rows) == batch

            count, more = self._run_batch(command)
            planned += count
            if not more:
                return planned

    def _plan_package(
        self, uow: UnitOfWork, kind: str, key: str, pkg: dict[str, Any], now: datetime
    ) -> int:
        activated = pkg["activated_at"]
        if kind == PACKAGE_EXPIRING:
            if activated is None:
                return 0
            expires = dt_in(activated) + timedelta(seconds=pkg["valid_for_s"])
            if expires <= now:
                return 0
            used = sum(1 for s in pkg["uses"].values() if s in ("consumed", "forfeited"))
            left = pkg["credits"] - used
            if left <= 0:
                return 0  # nothing left to lose

            def context(zone: ZoneInfo) -> dict[str, Any]:
                return {
                    "package_id": key,
                    "course": pkg.get("course_id"),
                    "credits_left": left,
                    "expires_at": local(expires, zone),
                }

            return plan(
                uow,
                self.policy,
                kind=kind,
                key=key,
                student_id=pkg["student_id"],
                context=context,
                now=now,
                not_after=expires,
            )
        if activated is not None:
            return 0
        bought = dt_in(pkg["purchased_at"])
        return plan(
            uow,
            self.policy,
            kind=kind,
            key=key,
            student_id=pkg["student_id"],
            context=lambda zone: {
                "package_id": key,
                "course": pkg.get("course_id"),
                "credits": pkg["credits"],
                "purchased_at": local(bought, zone),
            },
            now=now,
        )


__all__ = [
    "CURSORS",
    "DEAD_LETTERS",
    "DUE",
    "HEAD_TEACHERS",
    "MAX_KEY_LENGTH",
    "NOTICES",
    "OUTCOMES",
    "PREFS",
    "STATS",
    "Audience",
    "ChannelRegistry",
    "Context",
    "DeliveryReport",
    "NoticeDelivery",
    "NoticeService",
    "check_recipient",
    "erase_notices",
    "head_teacher",
    "local",
    "plan",
    "preferences",
    "reach",
    "recipients",
    "refresh",
    "store",
    "student_index",
    "subject_index",
    "void",
]
