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

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from eduengine.codec import dt_in, micros
from eduengine.errors import DeliveryFailed, InvalidInput, NoticeNotFound, WrongType
from eduengine.inputs import (
    MAX_ID_LENGTH,
    check_id,
    check_ids,
    check_int,
    check_optional_id,
    check_text,
)
from eduengine.notices.model import (
    DEAD,
    PACKAGE_EXPIRING,
    PACKAGE_NOT_ACTIVATED,
    VOID,
    Notice,
    NoticePolicy,
    Notifier,
    Preferences,
    QuietHours,
    Recipient,
    acknowledge,
    best_of,
    check_channel,
    check_zone,
    claim,
    end_all,
    finished,
    new_record,
    next_due,
    notice_of,
)
from eduengine.ports import UnitOfWork
from eduengine.service import ServiceBase, scan_after
from eduengine.students.records import EXPIRES, PACKAGES, PENDING_ACTIVATION, STUDENTS

NOTICES = "notice"
PREFS = "notice_prefs"
STATS = "notice_stats"
HEAD_TEACHERS = "notice_head_teacher"
CURSORS = "notice_sweep"
DUE = "due"
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


class ChannelRegistry:
    """The notifiers of a school by channel name: open, any name registers.

    >>> registry = ChannelRegistry()
    >>> class Print:
    ...     def send(self, notice, channel, key): print(key)
    >>> registry.register("wechat", Print())
    >>> registry.names()
    ['wechat']
    """

    def __init__(self, notifiers: Mapping[str, Notifier] | None = None) -> None:
        self._notifiers: dict[str, Notifier] = {}
        for name, notifier in (notifiers or {}).items():
            self.register(name, notifier)

    def register(self, channel: str, notifier: Notifier) -> None:
        """Send ``channel`` through ``notifier`` (replacing an earlier one)."""
        if not callable(getattr(notifier, "send", None)):
            raise InvalidInput(
                f"a notifier needs a send(notice, channel, key) method: {notifier!r}"
            )
        self._notifiers[check_channel(channel)] = notifier

    def get(self, channel: str) -> Notifier | None:
        return self._notifiers.get(channel)

    def names(self) -> list[str]:
        return sorted(self._notifiers)


# --- planning, inside the command's unit of work -------------------------------------


def store(uow: UnitOfWork, doc: dict[str, Any]) -> None:
    """Write a notice with the index entries its state calls for."""
    recipient = doc["recipient"]
    index = {student_index(recipient["student_id"]): micros(dt_in(doc["created_at"]))}
    due = next_due(doc)
    if due is not None:
        index[DUE] = due
        if doc["subject"]:
            index[subject_index(doc["subject"])] = 0
    if any(c["state"] == DEAD for c in doc["channels"].values()):
        index[DEAD_LETTERS] = micros(dt_in(doc["created_at"]))
    uow.records.put(NOTICES, doc["id"], doc, index=index)


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


def void(
    uow: UnitOfWork, subject: str, *, kinds: Iterable[str] | None = None, state: str = VOID
) -> int:
    """Void the pending notices about ``subject`` (of ``kinds``, or all); returns how many."""
    wanted = None if kinds is None else set(kinds)
    voided = 0
    for key, _ in uow.records.scan(NOTICES, subject_index(subject)):
        doc = uow.records.get(NOTICES, key)
        if doc is None or (wanted is not None and doc["kind"] not in wanted):
            continue
        if end_all(doc, state):
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


# --- delivery ------------------------------------------------------------------------


@attrs.define
class DeliveryReport:
    """What one :meth:`NoticeService.deliver_due` call did (counted per channel)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0
    expired: int = 0
    deferred: int = 0


@attrs.frozen
class _Claim:
    notice: Notice
    channels: tuple[str, ...]
    #: when the lease runs out: past it another worker may hold the notice
    until: int


_Claimed = tuple[list[_Claim], list[tuple[str, int]], dict[str, int]]


class NoticeService(ServiceBase):
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
        self.policy = policy or NoticePolicy()
        self.channels = (
            channels if isinstance(channels, ChannelRegistry) else ChannelRegistry(channels)
        )

    # -- preferences, contacts --------------------------------------------------------

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

        return self._run(command)

    def preferences(self, recipient_id: str) -> Preferences:
        check_recipient(recipient_id)
        return self._run(lambda uow, now: preferences(uow, recipient_id, self.policy), write=False)

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
            )
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

    # -- reading ----------------------------------------------------------------------

    def notice(self, notice_id: str) -> Notice:
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)
        return notice_of(self._doc(notice_id))

    def states(self, notice_id: str) -> dict[str, str]:
        """Each channel's state: pending, sent, dead, void or expired."""
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)
        return {c: s["state"] for c, s in self._doc(notice_id)["channels"].items()}

    def for_student(self, student_id: str, *, limit: int = 50) -> list[Notice]:
        """A student's latest notices (their guardians' copies too), newest first."""
        check_id(student_id, "student_id")
        check_int(limit, "limit", low=1)

        def query(uow: UnitOfWork, now: datetime) -> list[Notice]:
            rows = uow.records.scan(
                NOTICES, student_index(student_id), limit=limit, descending=True
            )
            docs = [uow.records.get(NOTICES, key) for key, _ in rows]
            return [notice_of(d) for d in docs if d is not None]

        return self._run(query, write=False)

    def dead_letters(self, *, limit: int = 100) -> list[Notice]:
        """Notices with a dead-lettered channel, oldest first (for an operator to look at)."""
        check_int(limit, "limit", low=1)

        def query(uow: UnitOfWork, now: datetime) -> list[Notice]:
            docs = [
                uow.records.get(NOTICES, k)
                for k, _ in uow.records.scan(NOTICES, DEAD_LETTERS, limit=limit)
            ]
            return [notice_of(d) for d in docs if d is not None]

        return self._run(query, write=False)

    def _doc(self, notice_id: str) -> dict[str, Any]:
        def query(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            doc = uow.records.get(NOTICES, notice_id)
            if doc is None:
                raise NoticeNotFound(notice_id)
            return doc

        return self._run(query, write=False)

    # -- delivery ---------------------------------------------------------------------

    def deliver_due(self, worker_id: str, *, batch: int = 50) -> DeliveryReport:
        """Send every notice due now, each channel once; returns what happened.

        Claims up to ``batch`` due notices at a time under a lease of ``policy.lease``
        (one short unit of work), sends their channels, and acknowledges each channel in
        its own unit of work. A failed send is retried after a doubling back-off and
        dead-lettered after ``policy.max_attempts`` attempts (the recipient's next
        fallback channel then takes over). Run it from as many workers and processes as
        you like, each with its own ``worker_id``; a worker that dies mid-batch leaves
        its notices to whoever runs after its lease ran out.
        """
        check_id(worker_id, "worker_id")
        check_int(batch, "batch", low=1)
        if not isinstance(worker_id, str) or not worker_id:
            raise InvalidInput("a worker needs a non-empty id")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInput(f"batch must be a positive int, got {batch!r}")
        report = DeliveryReport()
        # a fixed horizon and a keyset cursor: a notice retried later is not met again in
        # this call, so the loop ends even under a real clock and a failing provider
        horizon = micros(self.clock.now())
        cursor: tuple[int, str] | None = None
        while True:
            token = self._new_id()
            claims, rows, happened = self._run_batch(
                self._claim(worker_id, token, cursor, horizon, batch)
            )
            report.expired += happened["expired"]
            report.deferred += happened["deferred"]
            report.dead += happened["dead"]
            for taken in claims:
                self._send(taken, token, report)
            if len(rows) < batch:
                return report
            cursor = rows[-1][1], rows[-1][0]

    def _claim(
        self,
        worker_id: str,
        token: str,
        cursor: tuple[int, str] | None,
        horizon: int,
        batch: int,
    ) -> Callable[[UnitOfWork, datetime], _Claimed]:
        def command(uow: UnitOfWork, now: datetime) -> _Claimed:
            rows = scan_after(uow.records, NOTICES, DUE, cursor, min(horizon, micros(now)), batch)
            claims = []
            total = {"expired": 0, "deferred": 0, "dead": 0}
            for key, _ in rows:
                doc = uow.records.get(NOTICES, key)  # locked: re-check under the lock
                if doc is None or finished(doc):
                    continue
                before = copy.deepcopy(doc)
                taken, happened = claim(
                    doc, now=now, owner=worker_id, token=token, policy=self.policy
                )
                for what, count in happened.items():
                    total[what] += count
                if doc != before:  # another worker's live lease: nothing to write
                    store(uow, doc)
                if taken:
                    claims.append(_Claim(notice_of(doc), tuple(taken), doc["lease"]["until"]))
            return claims, rows, total

        return command

    def _send(self, taken: _Claim, token: str, report: DeliveryReport) -> None:
        notice = taken.notice
        for n, channel in enumerate(taken.channels):
            now = micros(self.clock.now())
            late = notice.not_after is not None and now >= micros(notice.not_after)
            if now >= taken.until or late:
                # a worker that stalled (a slow provider, a paused process) sends nothing
                # more of its claim: the notice may be another worker's by now, or its
                # class may have started; the next claim settles it
                report.lost += len(taken.channels) - n
                return
            notifier = self.channels.get(channel)
            error: str | None = None
            try:
                if notifier is None:
                    raise DeliveryFailed(f"no notifier is registered for channel {channel!r}")
                notifier.send(notice, channel, notice.key(channel))
            except Exception as exc:  # any provider failure is a failed attempt
                error = f"{type(exc).__name__}: {exc}"
            state = self._run(
                self._ack(notice, channel, token, error, release=n == len(taken.channels) - 1)
            )
            if state is None:
                report.lost += 1
            elif state == "sent":
                report.sent += 1
            elif state == DEAD:
                report.dead += 1
            else:
                report.failed += 1

    def _ack(
        self, notice: Notice, channel: str, token: str, error: str | None, *, release: bool
    ) -> Callable[[UnitOfWork, datetime], str | None]:
        def command(uow: UnitOfWork, now: datetime) -> str | None:
            doc = uow.records.get(NOTICES, notice.id)
            if doc is None:
                return None  # erased meanwhile
            state = acknowledge(
                doc,
                token=token,
                channel=channel,
                error=error,
                now=now,
                policy=self.policy,
                release=release,
            )
            if state is None:
                return None
            store(uow, doc)
            counted = "sent" if state == "sent" else "dead" if state == DEAD else "failed"
            self._count(uow, notice.recipient, channel, counted)
            return state

        return command

    # -- outcomes and the best channel -----------------------------------------------

    def record_outcome(self, notice_id: str, channel: str, outcome: str) -> bool:
        """Record that a sent notice was ``delivered`` or ``opened`` on ``channel`` (from
        the provider's receipt or the app); returns False if it was recorded already."""
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)
        check_channel(channel)
        check_id(outcome, "outcome")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"an outcome is one of {OUTCOMES}, got {outcome!r}")

        def command(uow: UnitOfWork, now: datetime) -> bool:
            doc = uow.records.get(NOTICES, notice_id)
            if doc is None:
                raise NoticeNotFound(notice_id)
            state = doc["channels"].get(channel)
            if state is None or state["state"] != "sent":
                raise InvalidInput(f"notice {notice_id!r} was not sent on {channel!r}")
            seen = state.setdefault("outcomes", [])
            if outcome in seen:
                return False
            seen.append(outcome)
            store(uow, doc)
            self._count(uow, Recipient.from_record(doc["recipient"]), channel, outcome)
            return True

        return self._run(command)

    def channel_history(self, recipient_id: str) -> dict[str, dict[str, int]]:
        """Per channel: how many notices were sent, failed, dead-lettered, delivered,
        opened."""
        check_recipient(recipient_id)

        def query(uow: UnitOfWork, now: datetime) -> dict[str, dict[str, int]]:
            return dict(uow.records.get(STATS, recipient_id) or {})

        return self._run(query, write=False)

    def best_channel(self, recipient_id: str) -> str | None:
        """The channel this recipient opens notices on most (``None`` without history)."""
        check_recipient(recipient_id)
        return best_of(self.channel_history(recipient_id))

    def _count(self, uow: UnitOfWork, recipient: Recipient, channel: str, what: str) -> None:
        stats = uow.records.get(STATS, recipient.id) or {}
        row = stats.setdefault(channel, {})
        row[what] = row.get(what, 0) + 1
        uow.records.put(STATS, recipient.id, stats, index={student_index(recipient.student_id): 0})

    # -- due sweeps -----------------------------------------------------------------

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


def head_teacher(uow: UnitOfWork, student_id: str) -> dict[str, Any] | None:
    doc = uow.records.get(STUDENTS, student_id)
    class_id = None if doc is None else doc.get("class_id")
    if class_id is None:
        return None
    return uow.records.get(HEAD_TEACHERS, class_id)


__all__ = [
    "ChannelRegistry",
    "DeliveryReport",
    "NoticeService",
    "erase_notices",
    "plan",
    "void",
]
