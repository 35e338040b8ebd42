"""The people registry through units of work: guardian accounts linked to children,
the staff registry with grants, and the school's audit log.

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore
>>> people = PeopleService(InMemoryStore().unit_of_work,
...                        clock=FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
>>> people.add_guardian("g1", name="李强", phone="13900001111")
>>> people.link("g1", "mei", {GuardianRole.PAY, GuardianRole.SEE_REPORTS})
>>> people.link("g1", "lei", {GuardianRole.SEE_REPORTS})
>>> sorted(people.children_of("g1"))
['lei', 'mei']
>>> people.register_staff("t1", StaffRole.HEAD_TEACHER, class_ids={"c1"})
>>> people.revoke_all("t1")
[]
"""

from __future__ import annotations

import base64
import uuid
import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Unpack

import attrs

from eduengine.errors import AccessDenied, InvalidInput, NotFound, WrongType
from eduengine.kernel.clock import require_aware
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_id, check_ids, check_instant, check_int, check_text
from eduengine.people.access import (
    AUDIT,
    AUDIT_AT,
    GRANTS,
    GUARDIANS,
    LEGACY_GRANTS,
    REVOKED,
    STAFF,
    AccessGate,
    audit_entry,
    audit_index,
    audit_order,
    check_actor,
    grant_out,
    grants_of,
    staff_in,
    staff_out,
    touch_access,
    write_audit,
)
from eduengine.people.events import (
    GrantIssued,
    GrantsRevoked,
    GuardianAdded,
    GuardianChanged,
    GuardianLinked,
    GuardianRemoved,
    GuardianUnlinked,
    StaffRegistered,
)
from eduengine.people.model import (
    Actor,
    AuditEntry,
    FieldSet,
    Grant,
    GuardianAccount,
    GuardianRole,
    Scope,
    StaffMember,
    StaffRole,
)
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions, scan_after

#: the longest name, phone number or e-mail address an account keeps
MAX_CONTACT_LENGTH = 1000


@attrs.frozen(kw_only=True)
class AuditPage:
    """One page of the audit log, oldest first; ``next`` is the cursor of the next page
    (``None`` on the last)."""

    entries: tuple[AuditEntry, ...]
    next: str | None


def child_index(student_id: str) -> str:
    """The index a guardian account is filed under for each child it is linked to."""
    return f"child:{student_id}"


def guardian_doc_index(doc: dict[str, Any]) -> dict[str, int]:
    return {child_index(sid): 0 for sid in doc["children"]}


def guardian_in(guardian_id: str, d: dict[str, Any]) -> GuardianAccount:
    return GuardianAccount(
        id=guardian_id,
        name=d["name"],
        phone=d["phone"],
        email=d["email"],
        children={sid: frozenset(map(GuardianRole, r)) for sid, r in d["children"].items()},
        removed=d["removed"],
    )


def linked_guardians(uow: UnitOfWork, student_id: str) -> list[GuardianAccount]:
    """The accounts linked to a child (read by index, never by reading every guardian)."""
    found = []
    for key, _ in uow.records.scan(GUARDIANS, child_index(student_id)):
        doc = uow.records.get(GUARDIANS, key)
        if doc is not None and not doc["removed"]:
            found.append(guardian_in(key, doc))
    return found


def erase_guardian_links(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """The eraser of guardian links: the child is unlinked from every account, and an
    account left with no child loses its contacts (a guardian is personal data of the
    family). Returns how many links went."""
    removed = 0
    for key, _ in uow.records.scan(GUARDIANS, child_index(student_id)):
        doc = uow.records.get(GUARDIANS, key)
        if doc is None:
            continue
        doc["children"].pop(student_id, None)
        removed += 1
        if not doc["children"]:
            doc.update(name="", phone=None, email=None, removed=True)
        uow.records.put(GUARDIANS, key, doc, index=guardian_doc_index(doc))
        touch_access(uow, key)
    return removed


def _check_contact(name: object, phone: object, email: object) -> None:
    check_text(name, "name", max_length=MAX_CONTACT_LENGTH)
    if not str(name).strip():
        raise InvalidInput("a guardian needs a name")
    for field, value in (("phone", phone), ("email", email)):
        if value is not None:
            check_text(value, field, max_length=MAX_CONTACT_LENGTH)


def _check_roles(roles: object) -> frozenset[GuardianRole]:
    if not isinstance(roles, set | frozenset | list | tuple) or not all(
        isinstance(r, GuardianRole) for r in roles
    ):
        raise WrongType(f"roles must be a set of GuardianRoles, got {roles!r}", field="roles")
    return frozenset(roles)


def _cursor_out(value: int, key: str) -> str:
    return base64.urlsafe_b64encode(f"{value}:{key}".encode()).decode()


def _cursor_in(cursor: str) -> tuple[int, str]:
    try:
        value, key = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        return int(value), key
    except (ValueError, UnicodeError) as exc:
        raise InvalidInput(f"not an audit log cursor: {cursor!r}") from exc


class PeopleService(ServiceBase):
    """Guardian accounts, the staff registry, grants and the audit log (arguments:
    :class:`ServiceBase`'s)."""

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)
        # the school's access check (School.build sets its own): who may read the log
        self.gate = AccessGate()

    # --- guardians -------------------------------------------------------------------

    def add_guardian(
        self, guardian_id: str, *, name: str, phone: str | None = None, email: str | None = None
    ) -> None:
        """Open a guardian account (no child yet: :meth:`link` one)."""
        check_id(guardian_id, "guardian_id")
        _check_contact(name, phone, email)

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(GUARDIANS, guardian_id) is not None:
                raise InvalidInput(f"guardian {guardian_id!r} already exists")
            doc: dict[str, Any] = {
                "name": name,
                "phone": phone,
                "email": email,
                "children": {},
                "removed": False,
            }
            uow.records.put(GUARDIANS, guardian_id, doc)
            touch_access(uow, guardian_id)
            uow.record_events([GuardianAdded(occurred_at=now, guardian_id=guardian_id)])

        self._run(command, ids={"guardian_id": guardian_id})

    def update_guardian(self, guardian_id: str, **fields: str | None) -> None:
        """Change a guardian's ``name``, ``phone`` or ``email``."""
        check_id(guardian_id, "guardian_id")
        unknown = set(fields) - {"name", "phone", "email"}
        if unknown or not fields:
            raise InvalidInput(f"a guardian's name, phone or email, got {sorted(fields)}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = self._guardian_doc(uow, guardian_id)
            merged = {**doc, **fields}
            _check_contact(merged["name"], merged["phone"], merged["email"])
            doc.update(fields)
            uow.records.put(GUARDIANS, guardian_id, doc, index=guardian_doc_index(doc))
            touch_access(uow, guardian_id)
            uow.record_events(
                [
                    GuardianChanged(
                        occurred_at=now, guardian_id=guardian_id, fields=tuple(sorted(fields))
                    )
                ]
            )

        self._run(command, ids={"guardian_id": guardian_id})

    def link(self, guardian_id: str, student_id: str, roles: Iterable[GuardianRole]) -> None:
        """Link a guardian to a child with ``roles``, or change the roles of the link."""
        check_id(guardian_id, "guardian_id")
        check_id(student_id, "student_id")
        held = _check_roles(roles)

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = self._guardian_doc(uow, guardian_id)
            doc["children"][student_id] = sorted(r.value for r in held)
            uow.records.put(GUARDIANS, guardian_id, doc, index=guardian_doc_index(doc))
            touch_access(uow, guardian_id)
            uow.record_events(
                [
                    GuardianLinked(
                        occurred_at=now,
                        guardian_id=guardian_id,
                        student_id=student_id,
                        roles=tuple(doc["children"][student_id]),
                    )
                ]
            )

        self._run(command, ids={"guardian_id": guardian_id, "student_id": student_id})

    def unlink(self, guardian_id: str, student_id: str) -> None:
        """End a guardian's link to a child."""
        check_id(guardian_id, "guardian_id")
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = self._guardian_doc(uow, guardian_id)
            if doc["children"].pop(student_id, None) is None:
                raise NotFound(f"guardian {guardian_id!r} is not linked to {student_id!r}")
            uow.records.put(GUARDIANS, guardian_id, doc, index=guardian_doc_index(doc))
            touch_access(uow, guardian_id)
            uow.record_events(
                [GuardianUnlinked(occurred_at=now, guardian_id=guardian_id, student_id=student_id)]
            )

        self._run(command, ids={"guardian_id": guardian_id, "student_id": student_id})

    def remove_guardian(self, guardian_id: str) -> None:
        """Remove an account: every link ends and its contacts are dropped."""
        check_id(guardian_id, "guardian_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = self._guardian_doc(uow, guardian_id)
            doc.update(name="", phone=None, email=None, children={}, removed=True)
            uow.records.put(GUARDIANS, guardian_id, doc)
            touch_access(uow, guardian_id)
            shred = getattr(uow.records, "shred", None)
            if callable(shred):  # a sealing store: his data key goes too
                shred(f"guardian:{guardian_id}")
            uow.record_events([GuardianRemoved(occurred_at=now, guardian_id=guardian_id)])

        self._run(command, ids={"guardian_id": guardian_id})

    def children_of(self, guardian_id: str) -> dict[str, frozenset[GuardianRole]]:
        """The children a guardian is linked to, with the roles of each link (no
        personal value: ids and roles)."""
        check_id(guardian_id, "guardian_id")
        return self._run(
            lambda uow, now: dict(
                guardian_in(guardian_id, self._guardian_doc(uow, guardian_id)).children
            ),
            write=False,
            ids={"guardian_id": guardian_id},
        )

    def _guardian_doc(self, uow: UnitOfWork, guardian_id: str) -> dict[str, Any]:
        doc = uow.records.get(GUARDIANS, guardian_id)
        if doc is None or doc["removed"]:
            raise NotFound(f"guardian {guardian_id!r} not found")
        return doc

    # --- staff and grants ------------------------------------------------------------

    def register_staff(
        self,
        person_id: str,
        role: StaffRole,
        *,
        class_ids: Iterable[str] = (),
        student_ids: Iterable[str] = (),
    ) -> None:
        """Put a member of staff on the registry (or change their role, classes and
        assigned students); their role's scope and field set decide what they see."""
        check_id(person_id, "person_id")
        if not isinstance(role, StaffRole):
            raise WrongType(f"role must be a StaffRole, got {role!r}", field="role")
        member = StaffMember(
            id=person_id,
            role=role,
            class_ids=frozenset(check_ids(tuple(class_ids), "class_ids")),
            student_ids=frozenset(check_ids(tuple(student_ids), "student_ids")),
        )

        def command(uow: UnitOfWork, now: datetime) -> None:
            uow.records.put(STAFF, person_id, staff_out(member))
            uow.records.delete(REVOKED, person_id)  # taken on (again) after revoke_all
            touch_access(uow, person_id)
            uow.record_events(
                [StaffRegistered(occurred_at=now, person_id=person_id, role=role.value)]
            )

        self._run(command, ids={"person_id": person_id})

    def staff(self, person_id: str) -> StaffMember:
        check_id(person_id, "person_id")

        def query(uow: UnitOfWork, now: datetime) -> StaffMember:
            doc = uow.records.get(STAFF, person_id)
            if doc is None:
                raise NotFound(f"no staff member {person_id!r}")
            return staff_in(person_id, doc)

        return self._run(query, write=False, ids={"person_id": person_id})

    def grant(
        self,
        person_id: str,
        *,
        scope: Scope,
        fields: FieldSet,
        starts_at: datetime,
        ends_at: datetime,
        student_ids: Iterable[str] = (),
        class_ids: Iterable[str] = (),
    ) -> str:
        """A temporary grant: ``person_id`` sees ``fields`` of the students in
        ``scope`` from ``starts_at`` until ``ends_at``; returns its id."""
        check_id(person_id, "person_id")
        if not isinstance(scope, Scope):
            raise WrongType(f"scope must be a Scope, got {scope!r}", field="scope")
        if not isinstance(fields, FieldSet):
            raise WrongType(f"fields must be a FieldSet, got {fields!r}", field="fields")
        for what, at in (("starts_at", starts_at), ("ends_at", ends_at)):
            check_instant(at, what)
            require_aware(what, at)
        if ends_at <= starts_at:
            raise InvalidInput("a grant ends after it starts")
        grant = Grant(
            id=f"grant-{uuid.uuid4().hex[:12]}",
            person_id=person_id,
            scope=scope,
            fields=fields,
            starts_at=starts_at,
            ends_at=ends_at,
            student_ids=frozenset(check_ids(tuple(student_ids), "student_ids")),
            class_ids=frozenset(check_ids(tuple(class_ids), "class_ids")),
        )

        def command(uow: UnitOfWork, now: datetime) -> str:
            uow.records.put(
                GRANTS, grant.id, grant_out(grant), index={f"person:{person_id}": micros(starts_at)}
            )
            touch_access(uow, person_id)
            uow.record_events(
                [
                    GrantIssued(
                        occurred_at=now, person_id=person_id, grant_id=grant.id, scope=scope.value
                    )
                ]
            )
            return grant.id

        return self._run(command, ids={"person_id": person_id})

    def grants(self, person_id: str) -> list[Grant]:
        """Every grant the person was given, ended ones too."""
        check_id(person_id, "person_id")
        return self._run(
            lambda uow, now: grants_of(uow, person_id), write=False, ids={"person_id": person_id}
        )

    def revoke_all(self, person_id: str) -> list[str]:
        """End every grant the person holds at once (the registry's, and the per-student
        grants of ``students.grant``) and take them off the staff (they left): later
        reads are refused and audited as denied, whatever role a caller names for them,
        until :meth:`register_staff` takes them on again. Returns the registry grants
        ended."""
        check_id(person_id, "person_id")

        def command(uow: UnitOfWork, now: datetime) -> list[str]:
            ended = []
            for g in grants_of(uow, person_id):
                if g.revoked_at is None and g.ends_at > now:
                    uow.records.put(
                        GRANTS,
                        g.id,
                        grant_out(attrs.evolve(g, revoked_at=now)),
                        index={f"person:{person_id}": micros(g.starts_at)},
                    )
                    ended.append(g.id)
            staff = uow.records.get(STAFF, person_id)
            if staff is not None:
                staff["active"] = False
                uow.records.put(STAFF, person_id, staff)
            # the per-student grants are keyed <person>:<student> (rare: read them all)
            for key, _ in uow.records.list(LEGACY_GRANTS):
                if key.startswith(f"{person_id}:"):
                    uow.records.delete(LEGACY_GRANTS, key)
            uow.records.put(REVOKED, person_id, {"at": dt_out(now)})
            touch_access(uow, person_id)
            uow.record_events(
                [GrantsRevoked(occurred_at=now, person_id=person_id, grant_ids=tuple(ended))]
            )
            return ended

        return self._run(command, ids={"person_id": person_id})

    # --- the audit log ---------------------------------------------------------------

    def audit_log(
        self,
        *,
        actor: Actor | None = None,
        student_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Audit rows by student, by actor and/or in ``[since, until)``, oldest first,
        ``limit`` a page; pass a page's ``next`` as ``after`` for the next one. Reads
        the narrowest index (student, else actor, else instant) and filters by the rest.

        Read as ``actor``: only an auditor reads the log (:meth:`AccessGate.may_audit`:
        staff registered as ``ADMIN``, the ``admin`` role, the library's ``SYSTEM``);
        anyone else is refused (``AccessDenied``; a refused read of one student's rows
        is audited ``denied`` under her). Reading the log writes no row itself: its rows
        hold ids, roles and field names, never a value, and a read that wrote rows would
        change the log it pages through. Without an actor (deprecated) it is read as
        before.

        >>> from datetime import datetime, timezone
        >>> from eduengine import FixedClock, InMemoryStore, School
        >>> from eduengine.people import SYSTEM
        >>> from eduengine.students import Actor
        >>> school = School.build(InMemoryStore(),
        ...     clock=FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)))
        >>> school.students.register("ann", name="Ann")
        >>> _ = school.booking.bookings_for_student("ann", actor=SYSTEM)
        >>> admin = Actor(id="u-admin", role="admin")
        >>> [e.fields for e in school.people.audit_log(actor=admin, student_id="ann").entries]
        [('bookings',)]
        """
        if actor is None:
            warnings.warn(
                "reading the audit log without an actor is deprecated: pass actor= (an "
                "auditor: an admin)",
                EduEngineDeprecationWarning,
                stacklevel=2,
            )
        else:
            check_actor(actor)
        for what, value in (("student_id", student_id), ("actor_id", actor_id)):
            if value is not None:
                check_id(value, what)
        for what, at in (("since", since), ("until", until)):
            if at is not None:
                check_instant(at, what)
                require_aware(what, at)
        check_int(limit, "limit", low=1, high=10_000)
        cursor = None if after is None else _cursor_in(check_text(after, "after", max_length=200))
        # the rows of reads this process answered are in the log before it is read
        self.gate.flush_audit()
        if student_id is not None:
            index = f"student:{student_id}"
        elif actor_id is not None:
            index = f"actor:{actor_id}"
        else:
            index = AUDIT_AT
        by_time = index == AUDIT_AT
        lo = micros(since) if by_time and since is not None else None
        hi = micros(until) - 1 if by_time and until is not None else 2**62

        def wanted(doc: dict[str, Any]) -> bool:
            at = dt_in(doc["at"])
            return (
                (actor_id is None or doc["actor_id"] == actor_id)
                and (since is None or at >= since)
                and (until is None or at < until)
            )

        def query(uow: UnitOfWork, now: datetime) -> AuditPage | None:
            if actor is not None and not self.gate.may_audit(uow, actor):
                return None
            found: list[AuditEntry] = []
            position = cursor if cursor is not None else (None if lo is None else (lo - 1, ""))
            while len(found) < limit:
                rows = scan_after(uow.records, AUDIT, index, position, hi, limit)
                if not rows:
                    return AuditPage(entries=tuple(found), next=None)
                for key, value in rows:
                    position = (value, key)
                    doc = uow.records.get(AUDIT, key)
                    if doc is not None and wanted(doc):
                        found.append(audit_entry(doc))
                        if len(found) == limit:
                            break
            assert position is not None
            return AuditPage(entries=tuple(found), next=_cursor_out(*position))

        page = self._run(
            query, write=False, ids={"student_id": student_id, "actor_id": actor_id}
        )
        if page is not None:
            return page
        assert actor is not None
        if student_id is not None:
            refused = student_id  # typed for the closure

            def denied(uow: UnitOfWork, now: datetime) -> None:
                write_audit(uow, actor, refused, "denied", ("audit",), now)

            self._run(denied, ids={"student_id": student_id, "actor_id": actor_id})
        raise AccessDenied(f"{actor.role} {actor.id!r} may not read the audit log")

    def reindex_audit(self) -> int:
        """File audit rows written before the log was indexed by actor and instant (a
        one-off upgrade step: it reads every row); returns how many."""

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            uow.records.put(AUDIT, key, doc, index=audit_index(doc, audit_order(key, doc)))

        return self._refile_all(AUDIT, refile)
