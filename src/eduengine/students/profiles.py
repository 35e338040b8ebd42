"""Student profiles and guardians under an access policy: every read and change is
audited (a refusal too), temporary grants widen access, and erasure (注销) runs every
module's eraser in one unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, Unpack

import attrs

from eduengine.errors import (
    AccessDenied,
    DuplicateId,
    InvalidInput,
    InvalidTransition,
    WrongType,
)
from eduengine.kernel.clock import require_aware
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import (
    check_id,
    check_ids,
    check_instant,
    check_optional_id,
    check_text,
)
from eduengine.people.access import (
    AccessGate,
    Look,
    Refused,
    audit_index,
    audit_order,
    mask_contacts,
    shown,
)
from eduengine.people.model import FieldSet
from eduengine.people.service import linked_guardians
from eduengine.service_layer.erasure import ErasureRegistry, ErasureReport
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import handlers
from eduengine.students import records as rec
from eduengine.students.events import StudentErased, StudentRegistered
from eduengine.students.model import PERSONAL_FIELDS, Guardian, GuardianRole, Profile
from eduengine.students.privacy import (
    Access,
    AccessPolicy,
    Actor,
    AuditEntry,
    RoleBasedPolicy,
    mask_email,
    mask_name,
    mask_phone,
)
from eduengine.students.records import AUDIT, GRANTS, STUDENTS, ServiceOptions

T = TypeVar("T")

#: what a read of the audit trail shows of a student (the audit rows' fields)
AUDIT_FIELDS = ("audit_trail",)


class ProfileService(ServiceBase):
    """Profiles, guardians, access grants, the audit trail and erasure.

    ``policy`` decides who sees a profile in full, masked or not at all (role based by
    default); ``erasure`` is the school's registry of erasers (built alone: one that
    scrubs the profile). The other arguments are :class:`ServiceBase`'s.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> profiles = ProfileService(InMemoryStore().unit_of_work,
    ...                           clock=FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    >>> profiles.register("s1", name="王小明", email="ming@example.com")
    >>> profiles.view(Actor(id="u9", role="support"), "s1").email
    'm***@example.com'
    >>> [e.action for e in profiles.audit_trail("s1", actor=Actor(id="u1", role="academic"))]
    ['read']
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: AccessPolicy | None = None,
        erasure: ErasureRegistry | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self._init_profiles(policy, erasure)

    def _init_profiles(self, policy: AccessPolicy | None, erasure: ErasureRegistry | None) -> None:
        # apart from ServiceBase.__init__ so that StudentService sets up all four once
        if erasure is None:
            erasure = ErasureRegistry()
            erasure.register("students", handlers.erase_profile)
        self.erasure = erasure
        self.policy: AccessPolicy = policy or RoleBasedPolicy()
        self.gate = AccessGate(self.policy)

    def register(
        self,
        student_id: str,
        *,
        name: str,
        phone: str | None = None,
        email: str | None = None,
        birth_date: date | None = None,
        guardians: Sequence[Guardian] = (),
        region: str | None = None,
    ) -> None:
        """Create a student's profile (stage ``registered``, no class, no tags).

        ``region`` is where her data belongs (data residency); a store kept for one
        region refuses another with :class:`~eduengine.errors.WrongRegion`, and stamps
        its own on a student registered without one."""
        check_id(student_id, "student_id")
        check_optional_id(region, "region")
        _check_contact({"name": name, "phone": phone, "email": email})
        _check_guardians(guardians)
        if birth_date is not None and not isinstance(birth_date, date):
            raise WrongType(f"birth_date must be a date, got {birth_date!r}", field="birth_date")
        if not isinstance(student_id, str) or not student_id:
            raise InvalidInput("student_id must be a non-empty string")
        if not isinstance(name, str) or not name:
            raise InvalidInput("a student needs a name")

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(STUDENTS, student_id) is not None:
                raise DuplicateId(f"student {student_id!r} already exists")
            uow.records.put(
                STUDENTS,
                student_id,
                {
                    "name": name,
                    "phone": phone,
                    "email": email,
                    "birth_date": None if birth_date is None else birth_date.isoformat(),
                    "guardians": [_guardian_out(g) for g in guardians],
                    "class_id": None,
                    "tags": [],
                    "stage": "registered",
                    "erased": False,
                    "facts": {
                        "registered_at": dt_out(now),
                        "purchases": 0,
                        "modules": [],
                        "last_login": None,
                        "last_active": dt_out(now),
                        "trial": False,
                    },
                    "packages": [],
                    "region": region,
                },
            )
            uow.record_events([StudentRegistered(occurred_at=now, student_id=student_id)])

        self._run(command, ids={"student_id": student_id})

    def view(self, actor: Actor, student_id: str) -> Profile:
        """Read a profile as ``actor`` sees it (full, masked or refused); always audited."""
        self.gate.check_actor(actor)
        check_id(student_id, "student_id")

        buffer = self.gate.audit
        at: list[datetime] = []

        def command(uow: UnitOfWork, now: datetime) -> Profile:
            # the actor's access revision read along with her document
            who = None
            if actor.role != "system":
                who = self.gate.known(uow, actor, ahead=[(STUDENTS, student_id)])
            doc = rec.student(uow, student_id)
            fields = self.gate.fields(uow, actor, student_id, now, who, student=doc)
            if fields.refused:
                raise _Refused()
            if buffer is None:
                self._audit(uow, actor, student_id, "read", (), now)
            at[:] = [now]
            return _profile(student_id, doc, fields)

        profile = self._audited(actor, student_id, command, write=buffer is None)
        if buffer is not None:
            buffer.add(actor, [(student_id, "read", ())], at[-1])
        return profile

    def update(self, actor: Actor, student_id: str, **fields: Any) -> None:
        """Change contact fields (name, phone, email); needs full access; audited."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        unknown = set(fields) - {"name", "phone", "email"}
        if unknown:
            raise InvalidInput(f"cannot update {sorted(unknown)}")
        _check_contact(fields)

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = rec.student(uow, student_id)
            if doc["erased"]:
                raise InvalidTransition(f"student {student_id!r} was erased")
            if self._access(uow, actor, student_id, doc, now).contacts is not Access.FULL:
                raise _Refused()
            doc.update(fields)
            uow.records.put(STUDENTS, student_id, doc)
            self._audit(uow, actor, student_id, "update", tuple(sorted(fields)), now)

        self._audited(actor, student_id, command)

    def grant(self, actor: Actor, student_id: str, until: datetime) -> None:
        """A temporary full-access grant for ``actor`` on one student."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        check_instant(until, "until")
        require_aware("until", until)
        self._run(
            lambda uow, now: uow.records.put(
                GRANTS, f"{actor.id}:{student_id}", {"until": dt_out(until)}
            ),
            ids={"student_id": student_id},
        )

    def revoke(self, actor: Actor, student_id: str) -> None:
        """Revoke a grant at once."""
        _check_actor(actor)
        check_id(student_id, "student_id")
        self._run(
            lambda uow, now: uow.records.delete(GRANTS, f"{actor.id}:{student_id}"),
            ids={"student_id": student_id},
        )

    def audit_trail(self, student_id: str, *, actor: Actor | None = None) -> list[AuditEntry]:
        """Who read, changed, erased or was refused a student's profile, oldest first,
        read as ``actor`` (refused unless the actor may see her; the read itself is
        audited, after the rows it answers with: docs/privacy.md). Without an actor
        (deprecated) it is read as before."""
        check_id(student_id, "student_id")
        self.gate.flush_audit()

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[AuditEntry]:
            shown(look, student_id)
            keys = [k for k, _ in uow.records.scan(AUDIT, f"student:{student_id}")]
            docs = [d for d in (uow.records.get(AUDIT, k) for k in keys) if d is not None]
            return [
                AuditEntry(
                    at=dt_in(d["at"]),
                    actor_id=d["actor_id"],
                    role=d["role"],
                    student_id=d["student_id"],
                    action=d["action"],
                    fields=tuple(d["fields"]),
                )
                for d in docs
            ]

        return self.gate.read(
            self._run, actor, AUDIT_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def reindex_audit(self) -> int:
        """File audit entries written before the trail was indexed by student (a one-off
        upgrade step: it reads every entry); returns how many."""

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            uow.records.put(AUDIT, key, doc, index=audit_index(doc, audit_order(key, doc)))

        return self._refile_all(AUDIT, refile)

    def erase(self, actor: Actor, student_id: str) -> ErasureReport:
        """Erase a student's personal data on request (注销) from every module that
        registered an eraser (profile, group deals, payments, reminders ...), in one unit
        of work. Bookings, packages, class membership and statistics stay, keyed by the
        opaque student id; the profile keeps an anonymous name; the audit trail keeps
        who did what, never values. Returns what each module removed."""
        _check_actor(actor)
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> ErasureReport:
            doc = rec.student(uow, student_id)
            if self._access(uow, actor, student_id, doc, now).contacts is not Access.FULL:
                raise _Refused()
            report = self.erasure.erase(uow, student_id, now)
            self._audit(uow, actor, student_id, "erase", PERSONAL_FIELDS, now)
            uow.record_events(
                [
                    StudentErased(
                        occurred_at=now,
                        student_id=student_id,
                        removed=tuple(sorted(report.removed.items())),
                    )
                ]
            )
            return report

        return self._audited(actor, student_id, command)

    def guardians_with(
        self, student_id: str, role: GuardianRole, *, actor: Actor | None = None
    ) -> list[Guardian]:
        """The student's guardians who hold ``role`` (pay, see reports, get reminders):
        the contact rows given at registration and the linked accounts, as ``actor``
        sees them (whole reads audited once; see docs/privacy.md). Without an actor
        (deprecated) the contacts are masked."""
        check_id(student_id, "student_id")
        if not isinstance(role, GuardianRole):
            raise WrongType(f"role must be a GuardianRole, got {role!r}", field="role")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Guardian]:
            doc = rec.student(uow, student_id)
            fields = look(student_id)
            if fields.refused:
                raise Refused()
            rows = [g for g in map(_guardian_in, doc["guardians"]) if role in g.roles]
            rows += [
                Guardian(
                    id=account.id,
                    name=account.name,
                    phone=account.phone,
                    email=account.email,
                    roles=account.children[student_id],
                )
                for account in linked_guardians(uow, student_id)
                if role in account.children[student_id]
            ]
            shown = [mask_contacts(fields, name=g.name, phone=g.phone, email=g.email) for g in rows]
            return [
                attrs.evolve(g, name=s["name"] or "", phone=s["phone"], email=s["email"])
                for g, s in zip(rows, shown, strict=True)
            ]

        return self.gate.read(
            self._run,
            actor,
            ("guardians",),
            query,
            ids={"student_id": student_id},
            ahead=[(STUDENTS, student_id)],
        )

    # --- internals ---------------------------------------------------------------------

    def _access(
        self, uow: UnitOfWork, actor: Actor, student_id: str, doc: dict[str, Any], now: datetime
    ) -> FieldSet:
        # the one check (staff registry, grants, the school's policy) every read shares
        return self.gate.fields(uow, actor, student_id, now, student=doc)

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        student_id: str,
        action: str,
        fields: Sequence[str],
        now: datetime,
    ) -> None:
        rec.write_audit(uow, actor, student_id, action, fields, now)

    def _audited(
        self,
        actor: Actor,
        student_id: str,
        command: Callable[[UnitOfWork, datetime], T],
        *,
        write: bool = True,
    ) -> T:
        """Run ``command``; a refusal is audited in a unit of work of its own."""
        try:
            return self._run(command, write=write, ids={"student_id": student_id})
        except _Refused:
            pass
        self._run(
            lambda uow, now: self._audit(uow, actor, student_id, "denied", (), now),
            ids={"student_id": student_id},
        )
        raise AccessDenied(f"{actor.role} {actor.id!r} may not access student {student_id!r}")


class _Refused(Exception):
    pass


#: the longest name, phone number or e-mail address a profile keeps
MAX_CONTACT_LENGTH = 1000


def _check_actor(actor: object) -> None:
    """The input rule for who acts: an Actor with an id, a role and class ids."""
    if not isinstance(actor, Actor):
        raise WrongType(f"actor must be an Actor, got {actor!r}", field="actor")
    check_id(actor.id, "actor.id")
    check_id(actor.role, "actor.role")
    check_ids(actor.class_ids, "actor.class_ids")


def _check_contact(fields: dict[str, Any]) -> None:
    """Contact fields are free text of bounded length; a name is never empty."""
    for field, value in fields.items():
        if value is not None or field == "name":
            check_text(value, field, max_length=MAX_CONTACT_LENGTH)
    if "name" in fields and not str(fields["name"]).strip():
        raise InvalidInput("a student needs a name")


def _check_guardians(guardians: object) -> None:
    if not isinstance(guardians, list | tuple) or not all(
        isinstance(g, Guardian) for g in guardians
    ):
        raise WrongType(
            f"guardians must be a list of Guardians, got {guardians!r}", field="guardians"
        )
    for g in guardians:
        _check_contact({"name": g.name, "phone": g.phone, "email": g.email})
        if not isinstance(g.roles, frozenset | set) or not all(
            isinstance(r, GuardianRole) for r in g.roles
        ):
            raise WrongType(f"guardian roles must be GuardianRoles, got {g.roles!r}", field="roles")


def _guardian_out(g: Guardian) -> dict[str, Any]:
    return {
        "name": g.name,
        "phone": g.phone,
        "email": g.email,
        "roles": sorted(r.value for r in g.roles),
    }


def _guardian_in(d: dict[str, Any]) -> Guardian:
    return Guardian(
        name=d["name"],
        phone=d["phone"],
        email=d["email"],
        roles=frozenset(GuardianRole(r) for r in d["roles"]),
    )


def _profile(student_id: str, doc: dict[str, Any], fields: FieldSet) -> Profile:
    masked = fields.contacts is not Access.FULL
    guardians = tuple(_guardian_in(g) for g in doc["guardians"])
    if masked:
        guardians = tuple(
            attrs.evolve(
                g,
                name=mask_name(g.name) or "",
                phone=mask_phone(g.phone),
                email=mask_email(g.email),
            )
            for g in guardians
        )
    name = doc["name"]
    if name is None and doc["erased"]:
        name = rec.anonymous_name(student_id)  # sealed with her data key, now shredded
    return Profile(
        student_id=student_id,
        name=mask_name(name) if masked and not doc["erased"] else name,
        phone=mask_phone(doc["phone"]) if masked else doc["phone"],
        email=mask_email(doc["email"]) if masked else doc["email"],
        birth_date=doc["birth_date"] if fields.birth_date else None,
        guardians=guardians,
        class_id=doc["class_id"],
        tags=frozenset(doc["tags"]),
        stage=doc["stage"],
        erased=doc["erased"],
        region=doc.get("region"),
    )
