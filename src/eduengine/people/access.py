"""The one access check every read of personal data goes through, and the audit log.

A read names its actor; :class:`AccessGate` decides what the actor sees of each student
it touches (a :class:`~eduengine.people.model.FieldSet`, from the staff registry, the
actor's grants and the school's :class:`~eduengine.people.model.AccessPolicy`); the read
masks what the field set hides; then every student shown unmasked gets one ``read`` row
in the audit log, written before the values leave the library (appended to the
process's audit journal and moved into the log in batches under the journal mode,
:mod:`eduengine.people.journal`; queued under the opt-in :class:`AuditBuffer`). A read
refused for every student it touches is refused (``AccessDenied``), audited ``denied``.

Audit rows are filed under the student, the actor and the instant, so "who read this
student", "what did this person read" and "everything in March" are each one index scan.
"""

from __future__ import annotations

import atexit
import bisect
import itertools
import logging
import os
import secrets
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import attrs

from eduengine.errors import AccessDenied, PayerNotAllowed, WrongType
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_id, check_ids, check_optional_id
from eduengine.people.model import (
    DEFAULT_ROLES,
    MASKED,
    NOTHING,
    SYSTEM,
    WHOLE,
    Access,
    AccessPolicy,
    Actor,
    AuditEntry,
    FieldSet,
    Grant,
    GuardianRole,
    RoleBasedPolicy,
    RoleRule,
    Scope,
    StaffMember,
    StaffRole,
    StudentFacts,
    decide,
    mask_email,
    mask_name,
    mask_phone,
)
from eduengine.service_layer.ports import UnitOfWork

T = TypeVar("T")
R = TypeVar("R")

#: the students' documents (written by :mod:`eduengine.students`), read for class and stage
STUDENTS = "student"
AUDIT = "audit"
#: the old global counter of audit rows (no longer written; rows are keyed by time)
AUDIT_SEQ = "audit_seq"
#: a per-student grant of :meth:`ProfileService.grant` (``<actor>:<student>``: ``until``)
LEGACY_GRANTS = "access_grant"
STAFF = "staff"
GRANTS = "staff_grant"
GUARDIANS = "guardian"
#: the index of every audit row by instant (its value: microseconds)
AUDIT_AT = "at"
#: the day the library last read a student's data for a purpose (``<purpose>:<student>``)
SYSTEM_READS = "audit_system"
#: people whose every grant was revoked (``revoke_all``): refused everything, whatever
#: role a caller names for them, until registered as staff again
REVOKED = "access_revoked"
#: a person's access revision: a fresh token each time their staff document, grants,
#: revocation marker or guardian account changes (:func:`touch_access`), so a gate may
#: keep what it read of them while the token it reads in the unit of work is the same
ACCESS_REVISION = "access_revision"
#: how many people a gate remembers (it forgets them all when full)
ACTORS_KEPT = 4096
#: how many students' field sets a gate keeps for one person (it forgets them all when
#: full)
DECISIONS_KEPT = 65536
#: the roles that may read the audit log (besides staff registered as ``ADMIN``)
AUDITORS = frozenset({StaffRole.ADMIN.value})


def check_actor(actor: object) -> Actor:
    """The input rule for who acts: an Actor with an id, a role and class ids."""
    if not isinstance(actor, Actor):
        raise WrongType(f"actor must be an Actor, got {actor!r}", field="actor")
    check_id(actor.id, "actor.id")
    check_id(actor.role, "actor.role")
    check_ids(actor.class_ids, "actor.class_ids")
    return actor


def write_audit(
    uow: UnitOfWork,
    actor: Actor,
    student_id: str,
    action: str,
    fields: Sequence[str],
    now: datetime,
) -> None:
    """File one row of the audit log (every module that reads or changes a student's
    record under the access policy writes its rows here); never a personal value."""
    key, doc, index = audit_row(actor, student_id, action, fields, now)
    uow.records.put(AUDIT, key, doc, index=index)


#: an audit row as it is filed: its key, its document and its index entries
AuditRow = tuple[str, dict[str, Any], dict[str, int]]


def audit_row(
    actor: Actor, student_id: str, action: str, fields: Sequence[str], now: datetime
) -> AuditRow:
    """The key, document and index entries of one audit row (:func:`write_audit` files
    it at once, an :class:`AuditBuffer` later: the same row either way)."""
    doc: dict[str, Any] = {
        "at": dt_out(now),
        "actor_id": actor.id,
        "role": actor.role,
        "student_id": student_id,
        "action": action,
        "fields": list(fields),
    }
    at = micros(now)
    return audit_key(at), doc, audit_index(doc, at, at=at)


#: this process's mark in the audit rows it files, and its count of them: rows filed in
#: the same microsecond keep the order they were written in (within a process) and never
#: share a key (across processes), without a shared counter every reader would queue on
_PROCESS_MARK = secrets.token_hex(4)
_AUDIT_ROWS = itertools.count()


def _new_mark() -> None:
    # a forked child (a pre-forking web server's worker) would otherwise key its rows
    # with its parent's mark and count, and two rows of the same microsecond would share
    # a key (one overwriting the other)
    global _PROCESS_MARK, _AUDIT_ROWS
    _PROCESS_MARK = secrets.token_hex(4)
    _AUDIT_ROWS = itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_mark)


def audit_key(at: int) -> str:
    """A new audit row's key: its instant ``at`` (microseconds), then this process's
    mark and count, so keys sort by time and never collide.

    >>> audit_key(1772323200000000)[:17]
    '1772323200000000-'
    """
    return "%016d-%s%010d" % (at, _PROCESS_MARK, next(_AUDIT_ROWS))  # noqa: UP031 (faster)


def audit_order(key: str, doc: Mapping[str, Any]) -> int:
    """Where a row sorts among a student's or an actor's rows: its instant (rows of the
    same instant: by key); a row keyed by the old global counter (all digits) sorts by
    that number, before every row keyed by time."""
    return int(key) if key.isdigit() else micros(dt_in(doc["at"]))


def touch_access(uow: UnitOfWork, person_id: str) -> None:
    """Mark a person's access data changed, in the unit of work that changes it: every
    gate then reads their staff document, grants, revocation and guardian account again
    (a write to those kinds that skips this would leave gates seeing the old ones)."""
    uow.records.put(ACCESS_REVISION, person_id, {"token": secrets.token_hex(8)})


def system_read_due(uow: UnitOfWork, student_id: str, purpose: str, now: datetime) -> bool:
    """Whether the library's read of ``student_id`` for ``purpose`` at ``now`` is the
    first of its day (UTC), so it is audited (see :func:`audit_system`)."""
    doc = uow.records.get(SYSTEM_READS, f"{purpose}:{student_id}")
    return doc is None or doc["day"] != now.astimezone(UTC).date().isoformat()


def audit_system(
    uow: UnitOfWork, student_id: str, purpose: str, now: datetime, actor: Actor = SYSTEM
) -> bool:
    """Audit a read the library makes itself (delivery, the risk rules, fee collection)
    as the :data:`SYSTEM` actor (or another actor of role ``system`` a host reads as),
    under the summary rule: the first read of a student's data for a ``purpose`` in a day
    (UTC) writes one ``read`` row (fields ``(purpose,)``); later ones that day write
    nothing. Runs in the caller's unit of work; returns whether it wrote a row.

    A row per internal read would put an audit write on every delivery, join and
    settlement; the daily row still answers "did the library read her data for this,
    that day".

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> noon = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     [audit_system(uow, "ann", "delivery", noon) for _ in range(3)]
    [True, False, False]
    """
    if not system_read_due(uow, student_id, purpose, now):
        return False
    day = now.astimezone(UTC).date().isoformat()
    uow.records.put(SYSTEM_READS, f"{purpose}:{student_id}", {"day": day})
    write_audit(uow, actor, student_id, "read", (purpose,), now)
    return True


def audit_index(doc: Mapping[str, Any], n: int, *, at: int | None = None) -> dict[str, int]:
    """Where an audit row is filed: by student and by actor (at ``n``, its
    :func:`audit_order`), by instant (``at``, if the caller knows it, in microseconds)."""
    return {
        f"student:{doc['student_id']}": n,
        f"actor:{doc['actor_id']}": n,
        AUDIT_AT: micros(dt_in(doc["at"])) if at is None else at,
    }


def audit_entry(doc: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=dt_in(doc["at"]),
        actor_id=doc["actor_id"],
        role=doc["role"],
        student_id=doc["student_id"],
        action=doc["action"],
        fields=tuple(doc["fields"]),
    )


# --- the buffered writer -------------------------------------------------------------

#: the audit modes of ``School.build(audit=...)``: rows written in the read's transaction
#: (the memory and PostgreSQL default), queued in the process and written in batches
#: (:class:`AuditBuffer`), or queued and appended to a journal file that survives the
#: process (:class:`~eduengine.people.journal.AuditJournal`, the file SQLite default)
AUDIT_MODES = ("synchronous", "buffered", "journal")
#: how many rows a buffer holds before it writes them
AUDIT_BATCH = 100
#: how long a buffer keeps a row before the next audited read writes them
AUDIT_WAIT = timedelta(milliseconds=200)

_log = logging.getLogger(__name__)
#: every buffer still alive, written at the interpreter's exit
_BUFFERS: weakref.WeakSet[AuditBuffer] = weakref.WeakSet()


class AuditBuffer:
    """The opt-in buffered audit writer: a read's rows are queued in this process, and
    written (through ``run``, a service's runner, in one transaction per batch) once
    ``rows`` are queued, at the first audited read after the oldest waited ``wait``, at
    :meth:`flush` (before every audit query, at ``School.close()`` and at the
    interpreter's exit). Each row keeps the key and content the synchronous writer
    would give it, so the log's order and pages are the same; the rows still queued
    when the process dies are lost (docs/privacy.md).

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> from eduengine.people import SYSTEM
    >>> store = InMemoryStore()
    >>> def run(command, **_):
    ...     with store.unit_of_work() as uow:
    ...         command(uow, None)
    ...         uow.commit()
    >>> buffer = AuditBuffer(run, rows=10)
    >>> buffer.add(SYSTEM, [("ann", "read", ("profile",))],
    ...            datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> len(buffer), buffer.flush(), len(buffer)
    (1, 1, 0)
    """

    def __init__(
        self,
        run: Runner,
        *,
        rows: int = AUDIT_BATCH,
        wait: timedelta = AUDIT_WAIT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run = run
        self.rows = rows
        self.wait = wait.total_seconds()
        self._monotonic = monotonic
        self._queued: list[AuditRow] = []
        self._since = 0.0
        self._lock = threading.Lock()
        # one batch written at a time, so a flush returns only when every row queued
        # before it is written (an audit query after it sees them all)
        self._writing = threading.Lock()
        _BUFFERS.add(self)

    def __len__(self) -> int:
        return len(self._queued)

    def add(
        self,
        actor: Actor,
        rows: Iterable[tuple[str, str, tuple[str, ...]]],
        now: datetime,
    ) -> None:
        """Queue a read's rows (student, action, fields) filed at ``now``, the read's
        instant; write the batch if it is full or its oldest row waited long enough."""
        filed = [audit_row(actor, sid, action, fields, now) for sid, action, fields in rows]
        with self._lock:
            due = self._queue(self._queued, filed)
        if due:
            self.flush()

    def _queue(self, queue: list[Any], rows: Sequence[Any]) -> bool:
        """Add ``rows`` to ``queue`` (under ``_lock``); whether its batch is due: full, or
        its oldest row waited long enough."""
        clock = self._monotonic()
        if not queue:
            self._since = clock
        queue.extend(rows)
        return len(queue) >= self.rows or clock - self._since >= self.wait

    def flush(self) -> int:
        """Write every queued row in one transaction; returns how many. A write that
        fails leaves them queued (and raises)."""
        with self._writing:
            with self._lock:
                batch, self._queued = self._queued, []
            if not batch:
                return 0

            def file_audit_rows(uow: UnitOfWork, now: datetime) -> None:
                for key, doc, index in batch:
                    uow.records.put(AUDIT, key, doc, index=index)

            file_audit_rows.__qualname__ = "AuditBuffer.flush"
            try:
                self.run(file_audit_rows)
            except BaseException:
                with self._lock:
                    self._queued[:0] = batch
                raise
            return len(batch)

    def close(self) -> None:
        """Write every queued row (``School.close()``); the buffer stays usable."""
        self.flush()

    def _lost_at_exit(self) -> None:
        _log.exception("%d audit rows could not be written at exit", len(self))


@atexit.register
def _flush_at_exit() -> None:
    for buffer in list(_BUFFERS):
        try:
            buffer.close()
        except Exception:  # the store may be closed by now: say what is lost
            buffer._lost_at_exit()


# --- the registry's documents ------------------------------------------------------


def staff_out(member: StaffMember) -> dict[str, Any]:
    return {
        "role": member.role.value,
        "class_ids": sorted(member.class_ids),
        "student_ids": sorted(member.student_ids),
        "active": member.active,
    }


def staff_in(person_id: str, d: Mapping[str, Any]) -> StaffMember:
    return StaffMember(
        id=person_id,
        role=StaffRole(d["role"]),
        class_ids=frozenset(d["class_ids"]),
        student_ids=frozenset(d["student_ids"]),
        active=d["active"],
    )


def fields_out(f: FieldSet) -> dict[str, Any]:
    return {"contacts": f.contacts.value, "birth_date": f.birth_date, "payments": f.payments}


def fields_in(d: Mapping[str, Any]) -> FieldSet:
    return FieldSet(
        contacts=Access(d["contacts"]), birth_date=d["birth_date"], payments=d["payments"]
    )


def grant_out(g: Grant) -> dict[str, Any]:
    return {
        "person_id": g.person_id,
        "scope": g.scope.value,
        "fields": fields_out(g.fields),
        "starts_at": dt_out(g.starts_at),
        "ends_at": dt_out(g.ends_at),
        "student_ids": sorted(g.student_ids),
        "class_ids": sorted(g.class_ids),
        "revoked_at": None if g.revoked_at is None else dt_out(g.revoked_at),
    }


def grant_in(grant_id: str, d: Mapping[str, Any]) -> Grant:
    return Grant(
        id=grant_id,
        person_id=d["person_id"],
        scope=Scope(d["scope"]),
        fields=fields_in(d["fields"]),
        starts_at=dt_in(d["starts_at"]),
        ends_at=dt_in(d["ends_at"]),
        student_ids=frozenset(d["student_ids"]),
        class_ids=frozenset(d["class_ids"]),
        revoked_at=None if d["revoked_at"] is None else dt_in(d["revoked_at"]),
    )


def grants_of(uow: UnitOfWork, person_id: str) -> list[Grant]:
    """Every grant the person holds, ended or not (filed under ``person:<id>``)."""
    found = []
    for key, _ in uow.records.scan(GRANTS, f"person:{person_id}"):
        doc = uow.records.get(GRANTS, key)
        if doc is not None:
            found.append(grant_in(key, doc))
    return found


def check_payer(uow: UnitOfWork, payer_id: str | None, student_id: str) -> None:
    """A guardian paying on a child's behalf (``payer_id``; ``None``: the student pays)
    holds the "pay" role on a link to the child, or ``PayerNotAllowed`` is raised. Run
    inside the paying command's unit of work, so a link removed meanwhile is seen."""
    check_optional_id(payer_id, "payer_id")
    if payer_id is None:
        return
    doc = uow.records.get(GUARDIANS, payer_id)
    roles = None if doc is None or doc.get("removed") else doc["children"].get(student_id)
    if roles is None or GuardianRole.PAY.value not in roles:
        raise PayerNotAllowed(payer_id, student_id)


# --- the check -----------------------------------------------------------------------


#: what a read's query asks of the gate: the field set the actor has for a student
Look = Callable[[str], FieldSet]
Runner = Callable[..., Any]


class Refused(Exception):
    """Raised by a query for one student whose field set is refused."""


#: the earliest and latest instants, the ends of a span no grant starts or ends within
_DAWN = datetime.min.replace(tzinfo=UTC)
_DUSK = datetime.max.replace(tzinfo=UTC)
#: a span of time in which a person's grants stay as they are, and the field set the gate
#: decided for each student read in it
_Span = tuple[datetime, datetime, dict[str, FieldSet]]


@attrs.define(kw_only=True, eq=False)
class _Actor:
    """What the gate knows of an actor, under one access revision: what it read of them,
    and the field sets it decided from that (when her class and stage cannot change
    them) while the time stays within one span of their grants."""

    member: StaffMember | None
    grants: tuple[Grant, ...]
    guardian: Mapping[str, Any] | None
    revoked: bool = False
    #: whether what they see of a student turns on her class or stage
    by_facts: bool = True
    #: the instants a grant of theirs starts or ends, in order: a field set decided at
    #: one instant holds until the next of them
    turns: tuple[datetime, ...] = ()
    #: the span the decisions kept are for (replaced whole, so threads sharing the
    #: person never mix two spans' decisions)
    span: _Span | None = None

    def decided(self, now: datetime) -> dict[str, FieldSet]:
        """The field sets decided in the span ``now`` falls in, by student (a new, empty
        one when ``now`` left the span, or too many are kept)."""
        span = self.span
        if span is not None and span[0] <= now < span[1] and len(span[2]) < DECISIONS_KEPT:
            return span[2]
        at = bisect.bisect_right(self.turns, now)
        lo = self.turns[at - 1] if at else _DAWN
        hi = self.turns[at] if at < len(self.turns) else _DUSK
        self.span = span = (lo, hi, {})
        return span[2]


class AccessGate:
    """Decides what an actor sees of a student and audits the unmasked reads.

    ``policy`` decides for actors who are not in the staff registry (the school's
    :class:`AccessPolicy`; role based by default, as before the registry); ``roles`` is
    each staff role's scope and field set.

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> gate = AccessGate()
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     gate.fields(uow, Actor(id="u9", role="support"), "s1",
    ...                 datetime(2026, 3, 1, tzinfo=timezone.utc)).contacts
    <Access.MASKED: 'masked'>
    """

    def __init__(
        self,
        policy: AccessPolicy | None = None,
        roles: Mapping[StaffRole, RoleRule] = DEFAULT_ROLES,
        auditors: frozenset[str] = AUDITORS,
    ) -> None:
        self.policy: AccessPolicy = policy or RoleBasedPolicy()
        self.roles = dict(roles)
        #: what was read of each person, by (id, reads as guardian, access revision)
        self._known: dict[tuple[str, bool, str], _Actor] = {}
        #: the roles (named by an actor not on the registry) that may read the audit log
        self.auditors = frozenset(auditors)
        #: where unmasked reads file their rows: ``None`` in the read's transaction, else
        #: an :class:`AuditBuffer` (``School.build(audit="buffered")``) or its journaled
        #: kind (``audit="journal"``)
        self.audit: AuditBuffer | None = None
        #: actors already found valid (:func:`check_actor`)
        self._checked: set[object] = set()
        #: the same, by identity (an Actor is frozen)
        self._same: dict[int, Actor] = {}
        #: what was read of each person (by id, reads as guardian, and the place of the
        #: commit mark: a connection) and what the mark saw there when it was read
        #: (``records.commit_mark``, where the store has one)
        self._marked: dict[tuple[str, bool, Hashable], tuple[Hashable, _Actor]] = {}

    def flush_audit(self) -> None:
        """Write the rows this gate's buffer still holds (nothing to do when it writes
        synchronously): every audit query calls it first."""
        if self.audit is not None:
            self.audit.flush()

    def may_audit(self, uow: UnitOfWork, actor: Actor) -> bool:
        """Whether ``actor`` may read the audit log: the library (:data:`SYSTEM`), staff
        registered as ``ADMIN`` and active, or an actor not on the registry whose role is
        one of ``auditors``; never a person whose grants were all revoked.

        >>> from eduengine import InMemoryStore
        >>> with InMemoryStore().unit_of_work() as uow:
        ...     [AccessGate().may_audit(uow, Actor(id="u1", role=r)) for r in ("admin", "academic")]
        [True, False]
        """
        if actor.role == SYSTEM.role:
            return True
        if uow.records.get(REVOKED, actor.id) is not None:
            return False
        staff = uow.records.get(STAFF, actor.id)
        if staff is not None:
            return bool(staff["active"]) and staff["role"] == StaffRole.ADMIN.value
        return actor.role in self.auditors

    def check_actor(self, actor: object) -> Actor:
        """:func:`check_actor`, once per actor and gate (its ids are checked by pattern, a
        measurable share of a read's check): a read's services call it first.

        >>> AccessGate().check_actor(Actor(id="u9", role="support")).id
        'u9'
        """
        if type(actor) is Actor and self._same.get(id(actor)) is actor:
            return actor  # this very (frozen) object passed: no hash of its fields
        try:
            known = actor in self._checked
        except TypeError:  # unhashable (class_ids not a frozenset): check it every time
            return check_actor(actor)
        checked = cast(Actor, actor) if known else check_actor(actor)
        if len(self._checked) >= ACTORS_KEPT or len(self._same) >= ACTORS_KEPT:
            self._checked.clear()
            self._same.clear()
        self._checked.add(checked)
        if type(checked) is Actor:
            self._same[id(checked)] = checked  # held, so its id is not reused meanwhile
        return checked

    _check_actor = check_actor

    def fields(
        self,
        uow: UnitOfWork,
        actor: Actor,
        student_id: str,
        now: datetime,
        known: _Actor | None = None,
        *,
        student: Mapping[str, Any] | None = None,
    ) -> FieldSet:
        """What ``actor`` sees of ``student_id`` at ``now`` (``student``: her document,
        if the caller read it in this unit of work already)."""
        if actor.role == "system":
            return WHOLE
        who = known or self._actor(uow, actor)
        if who.revoked:
            return NOTHING
        if who.by_facts:
            return self._decide(uow, actor, who, student_id, now, student)
        # her class and stage do not count: what the person sees of her turns only on
        # what the gate read of them (under their access revision), her id and which of
        # their grants are active, so it is decided once per span of their grants
        decided = who.decided(now)
        seen = decided.get(student_id)
        if seen is None:
            seen = decided[student_id] = self._decide(uow, actor, who, student_id, now, student)
        return seen

    def _decide(
        self,
        uow: UnitOfWork,
        actor: Actor,
        who: _Actor,
        student_id: str,
        now: datetime,
        student: Mapping[str, Any] | None,
    ) -> FieldSet:
        rule = None if who.member is None else self.roles.get(who.member.role)
        doc = student
        if doc is None and who.by_facts:
            doc = uow.records.get(STUDENTS, student_id)
        facts = StudentFacts(
            student_id=student_id,
            class_id=None if doc is None else doc.get("class_id"),
            stage="registered" if doc is None else doc.get("stage", "registered"),
        )
        seen = decide(who.member, rule, who.grants, facts, now)
        if who.member is None:
            # not on the staff registry: the school's policy decides, as it always did
            legacy = uow.records.get(LEGACY_GRANTS, f"{actor.id}:{student_id}")
            granted = legacy is not None and dt_in(legacy["until"]) > now
            seen = seen.union(FieldSet.of(self.policy.access(actor, facts.class_id, granted)))
        if who.guardian is not None and not who.guardian.get("removed"):
            roles = who.guardian["children"].get(student_id)
            if roles is not None and GuardianRole.SEE_REPORTS.value in roles:
                seen = seen.union(
                    FieldSet(
                        contacts=Access.FULL,
                        birth_date=True,
                        payments=GuardianRole.PAY.value in roles,
                    )
                )
        return seen

    def known(
        self, uow: UnitOfWork, actor: Actor, *, ahead: Iterable[tuple[str, str]] = ()
    ) -> _Actor:
        """What the gate knows of ``actor`` in ``uow`` (for :meth:`fields`' ``known``):
        their access revision is read now. ``ahead``: the documents ``(kind, key)`` the
        caller reads next anyway (the student's); where the unit of work can, the
        revision is read along with them in one statement, so the check costs no
        statement of its own.

        >>> from datetime import datetime, timezone
        >>> from eduengine import InMemoryStore
        >>> gate, helpdesk = AccessGate(), Actor(id="u9", role="support")
        >>> with InMemoryStore().unit_of_work() as uow:
        ...     who = gate.known(uow, helpdesk, ahead=[("student", "s1")])
        ...     gate.fields(uow, helpdesk, "s1", datetime(2026, 3, 1, tzinfo=timezone.utc),
        ...                 who).contacts
        <Access.MASKED: 'masked'>
        """
        return self._actor(uow, actor, ahead)

    def _actor(
        self, uow: UnitOfWork, actor: Actor, ahead: Iterable[tuple[str, str]] = ()
    ) -> _Actor:
        # the unit of work's own mark where it has one (the SQL stores): a read of no
        # document then makes no document repository only to ask the records for it
        marking = getattr(uow, "commit_mark", None)
        if marking is None:
            marking = getattr(uow.records, "commit_mark", None)
        mark = None if marking is None else marking()
        if mark is None:
            return self._current(uow, actor, ahead)
        # nothing committed since a unit of work of the same mark (SQLite: no other
        # connection's commit, none of this one's writes) read them: what it read holds,
        # and their access revision needs no read (a revocation commits, so it changes
        # the next read's mark in every process)
        place, sight = mark
        person = (actor.id, actor.role == "guardian", place)
        kept = self._marked.get(person)
        if kept is not None and kept[0] == sight:
            return kept[1]
        known = self._current(uow, actor, ahead)
        if len(self._marked) >= ACTORS_KEPT:
            self._marked.clear()
        self._marked[person] = (sight, known)
        return known

    def _current(self, uow: UnitOfWork, actor: Actor, ahead: Iterable[tuple[str, str]]) -> _Actor:
        """What the gate knows of ``actor`` under the access revision read now."""
        records = uow.records
        # only where a statement is a round trip, and a read-only one (in a write unit of
        # work a get locks first; SQLite reads in-process, where one statement for two
        # documents saves nothing): elsewhere the revision is peeked below on its own
        if ahead and getattr(records, "reads_ahead", False):
            wanted: dict[str, list[str]] = {ACCESS_REVISION: [actor.id]}
            for kind, doc in ahead:
                wanted.setdefault(kind, []).append(doc)
            records.read_ahead(wanted)  # type: ignore[attr-defined]
        # unlocked where the adapter can (a read that files its audit row runs in a write
        # unit of work): a change committed meanwhile is simply ordered after this read
        peek = getattr(records, "peek", None)
        revision = (peek or records.get)(ACCESS_REVISION, actor.id)
        if revision is None:
            # never changed since revisions exist (or not on the registry at all): a
            # token shared by every store would be no proof, so read everything
            return self._read_actor(uow, actor)
        key = (actor.id, actor.role == "guardian", str(revision["token"]))
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= ACTORS_KEPT:
                self._known.clear()
            known = self._known[key] = self._read_actor(uow, actor)
        return known

    def _read_actor(self, uow: UnitOfWork, actor: Actor) -> _Actor:
        staff = uow.records.get(STAFF, actor.id)
        guardian = uow.records.get(GUARDIANS, actor.id) if actor.role == "guardian" else None
        member = None if staff is None else staff_in(actor.id, staff)
        grants = tuple(grants_of(uow, actor.id))
        rule = None if member is None else self.roles.get(member.role)
        ends = [g.ends_at if g.revoked_at is None else min(g.ends_at, g.revoked_at) for g in grants]
        return _Actor(
            member=member,
            grants=grants,
            by_facts=_by_class_or_stage(member, rule, grants),
            turns=tuple(sorted({g.starts_at for g in grants}.union(ends))),
            # what the check looks at, never the account's contact values
            guardian=None
            if guardian is None
            else {"removed": guardian.get("removed", False), "children": guardian["children"]},
            revoked=uow.records.get(REVOKED, actor.id) is not None,
        )

    def read(
        self,
        run: Runner,
        actor: Actor | None,
        what: Sequence[str],
        query: Callable[[UnitOfWork, datetime, Look], T],
        *,
        ids: Mapping[str, str | None] | None = None,
        records: bool = False,
        stacklevel: int = 3,
        ahead: Sequence[tuple[str, str]] = (),
    ) -> T:
        """Run ``query(uow, now, look)`` read-only through ``run`` (a service's
        ``_run``); ``look(student_id)`` is the actor's field set for a student, which the
        query applies. Then one ``read`` row (fields ``what``) per student shown
        unmasked; a query that raised :class:`Refused`, or looked only at refused
        students, is refused and audited ``denied``. A missing actor sees every student
        masked (deprecated: the actor-less forms go in 0.5).

        ``records=True`` is a read of records with no contact value to mask (bookings,
        packages, orders, XP): whoever may see the student sees them whole, so every
        student shown gets its ``read`` row. The :data:`SYSTEM` actor is audited under
        :func:`audit_system`'s summary rule (its purpose: ``what``). ``stacklevel`` points
        the deprecation warning at the caller of the service method. ``ahead``: the
        documents ``(kind, key)`` the query reads first anyway (the student's), read along
        with the actor's access revision where the unit of work can (:meth:`known`)."""
        if actor is None:
            warnings.warn(
                "reading personal data without an actor is deprecated: pass actor="
                + ("" if records else "; without one the values are masked"),
                EduEngineDeprecationWarning,
                stacklevel=stacklevel,
            )
            masked: T = run(
                _as(query, lambda uow, now: query(uow, now, lambda sid: MASKED)),
                write=False,
                ids=ids,
            )
            return masked
        self._check_actor(actor)
        seen: dict[str, FieldSet] = {}
        system = actor.role == SYSTEM.role
        due: set[str] = set()
        # a read of records writes a row for every student it shows (or refuses), so it
        # files them in its own unit of work; a read that may mask opens a write one only
        # when it showed a value whole; under a buffer neither writes (refusals aside)
        buffer = self.audit
        inline = records and not system and buffer is None
        at: list[datetime] = []

        def command(uow: UnitOfWork, now: datetime) -> tuple[T | None, bool]:
            if system:
                looked: set[str] = set()

                def everything(student_id: str) -> FieldSet:
                    looked.add(student_id)
                    return WHOLE

                result = query(uow, now, everything)
                due.clear()
                due.update(s for s in looked if system_read_due(uow, s, ",".join(what), now))
                return result, False
            who = self._actor(uow, actor, ahead)

            def look(student_id: str) -> FieldSet:
                fields = seen.get(student_id)
                if fields is None:
                    fields = seen[student_id] = self.fields(uow, actor, student_id, now, who)
                return fields

            seen.clear()  # a retried unit of work looks again
            at[:] = [now]
            try:
                answer: tuple[T | None, bool] = query(uow, now, look), False
            except Refused:
                answer = None, True
            if inline:
                _audit_all(uow, actor, _rows(seen, what, answer[1], records), now)
            return answer

        result, refused = run(_as(query, command), write=inline, ids=ids)
        if system:
            if due:
                purpose = ",".join(what)
                run(
                    _as(
                        query,
                        lambda uow, now: [audit_system(uow, s, purpose, now, actor) for s in due],
                    ),
                    ids=ids,
                )
            return cast(T, result)
        rows = _rows(seen, what, refused, records)
        refused = refused or bool(rows and rows[0][1] == "denied")
        if rows and buffer is not None and not refused:
            buffer.add(actor, rows, at[-1])
        elif rows and not inline:
            # a refusal is filed at once even under a buffer: it is rare, and the trace of
            # a probe is the row a crash should least lose
            run(_as(query, lambda uow, now: _audit_all(uow, actor, rows, now)), ids=ids)
        if refused:
            raise AccessDenied(
                f"{actor.role} {actor.id!r} may not read {', '.join(what)} of "
                f"{', '.join(repr(s) for s in seen)}"
            )
        return cast(T, result)


def _by_class_or_stage(
    member: StaffMember | None, rule: RoleRule | None, grants: Sequence[Grant]
) -> bool:
    """Whether what a person sees of a student turns on her class or stage (so the
    check reads her document): the school's policy decides by class for anyone not on
    the registry; a role or grant scoped to all students or to named ones never does,
    and a check that reads only those skips the read (most staff: academic, support)."""
    if member is None:
        return True
    scopes = [g.scope for g in grants]
    if rule is not None:
        scopes.append(rule.scope)
    return any(scope in (Scope.MY_CLASSES, Scope.PROSPECTS) for scope in scopes)


def _rows(
    seen: Mapping[str, FieldSet], what: Sequence[str], refused: bool, records: bool
) -> list[tuple[str, str, tuple[str, ...]]]:
    """The audit rows of a read: ``denied`` for each refused student of a refused read,
    else ``read`` for each student shown whole (of records: each not refused)."""
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    shown = False
    fields = tuple(what)
    for sid, f in seen.items():
        if f.refused:
            continue
        shown = True
        if records or f.whole:
            rows.append((sid, "read", fields))
    if refused or (seen and not shown):
        return [(sid, "denied", ()) for sid, f in seen.items() if f.refused]
    return rows


def _as(query: Callable[..., object], command: Callable[..., R]) -> Callable[..., R]:
    """``command`` under the name of the service method that made ``query``, so its log
    record names ``DealService.get_group``, not the gate's own ``read``."""
    command.__qualname__ = getattr(query, "__qualname__", command.__qualname__)
    return command


def _audit_all(
    uow: UnitOfWork,
    actor: Actor,
    rows: Iterable[tuple[str, str, tuple[str, ...]]],
    now: datetime,
) -> None:
    for student_id, action, fields in rows:
        write_audit(uow, actor, student_id, action, fields, now)


def shown(look: Look, student_id: str) -> FieldSet:
    """The field set of a student whose record a read shows: raises :class:`Refused`
    (so the read is refused, audited ``denied``) when the actor may see nothing of her."""
    seen = look(student_id)
    if seen.refused:
        raise Refused(student_id)
    return seen


def mask_contacts(fields: FieldSet, **values: str | None) -> dict[str, str | None]:
    """``values`` (``name``, ``phone``, ``email``) as ``fields`` shows them: whole,
    masked, or ``None``."""
    masks: dict[str, Callable[[str | None], str | None]] = {
        "name": mask_name,
        "phone": mask_phone,
        "email": mask_email,
    }
    if fields.contacts is Access.FULL:
        return dict(values)
    if fields.contacts is Access.MASKED:
        return {k: masks[k](v) for k, v in values.items()}
    return dict.fromkeys(values)
