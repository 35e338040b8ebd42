"""Student records through units of work: profiles, lesson packages tied to bookings,
classes, tags and lifecycle, under an access policy with an audit trail and erasure.

Each student, package and class is one JSON document; a booking that consumes a credit
and the seat it takes are written in the same unit of work, so a credit is never spent
without a seat, nor a seat taken without a credit, and concurrent requests never drive
credits negative or return one twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.booking.model import Booking, BookingStatus, IdFactory
from eduengine.clock import Clock, require_aware
from eduengine.codec import dt_in, dt_out
from eduengine.errors import (
    AccessDenied,
    ClassFull,
    DuplicateId,
    InvalidInput,
    InvalidTransition,
    NoCredit,
    NotFound,
    StudentNotFound,
)
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.service import ServiceBase
from eduengine.students.model import (
    PERSONAL_FIELDS,
    Guardian,
    GuardianRole,
    Profile,
    SchoolClass,
    TagRule,
    placement_level,
    stage,
)
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

T = TypeVar("T")

STUDENTS = "student"
PACKAGES = "lesson_package"
CLASSES = "school_class"
AUDIT = "audit"
AUDIT_SEQ = "audit_seq"
GRANTS = "access_grant"


@attrs.frozen(kw_only=True)
class StudentRegistered(DomainEvent):
    student_id: str


@attrs.frozen(kw_only=True)
class CreditConsumed(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    credits_left: int


@attrs.frozen(kw_only=True)
class CreditReturned(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    credits_left: int


@attrs.frozen(kw_only=True)
class CreditForfeited(DomainEvent):
    student_id: str
    package_id: str
    booking_id: str
    reason: str


@attrs.frozen(kw_only=True)
class ClassAssigned(DomainEvent):
    student_id: str
    class_id: str
    from_class_id: str | None


@attrs.frozen(kw_only=True)
class TagsChanged(DomainEvent):
    student_id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    stage: str


@attrs.frozen(kw_only=True)
class StudentErased(DomainEvent):
    student_id: str


@attrs.frozen(kw_only=True)
class PackageView:
    id: str
    student_id: str
    credits: int
    credits_left: int
    status: str  # pending_activation | active | expired
    purchased_at: datetime
    expires_at: datetime | None


class StudentService(ServiceBase):
    """Profiles, packages, classes, tags and privacy.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> svc = StudentService(InMemoryStore().unit_of_work,
    ...                      clock=FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    >>> svc.register("s1", name="王小明", phone="13812341234")
    >>> svc.view(Actor(id="u9", role="support"), "s1").phone
    '138****1234'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: AccessPolicy | None = None,
        tag_rules: Sequence[TagRule] = (),
        free_cancel_before: timedelta = timedelta(hours=24),
        placement_bands: Mapping[int, int] | None = None,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id)
        self.policy: AccessPolicy = policy or RoleBasedPolicy()
        self.tag_rules = tuple(tag_rules)
        self.free_cancel_before = free_cancel_before
        self.placement_bands = dict(placement_bands or {0: 1, 40: 2, 70: 3})

    # --- profiles ------------------------------------------------------------------------

    def register(
        self,
        student_id: str,
        *,
        name: str,
        phone: str | None = None,
        email: str | None = None,
        birth_date: date | None = None,
        guardians: Sequence[Guardian] = (),
    ) -> None:
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
                },
            )
            uow.record_events([StudentRegistered(occurred_at=now, student_id=student_id)])

        self._run(command)

    def view(self, actor: Actor, student_id: str) -> Profile:
        """Read a profile as ``actor`` sees it (full, masked or refused); always audited."""

        def command(uow: UnitOfWork, now: datetime) -> Profile:
            doc = _student(uow, student_id)
            access = self._access(uow, actor, student_id, doc, now)
            if access is Access.NONE:
                raise _Refused()
            self._audit(uow, actor, student_id, "read", (), now)
            return _profile(student_id, doc, masked=access is Access.MASKED)

        return self._audited(actor, student_id, command)

    def update(self, actor: Actor, student_id: str, **fields: Any) -> None:
        """Change contact fields (name, phone, email); needs full access; audited."""
        unknown = set(fields) - {"name", "phone", "email"}
        if unknown:
            raise InvalidInput(f"cannot update {sorted(unknown)}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = _student(uow, student_id)
            if doc["erased"]:
                raise InvalidTransition(f"student {student_id!r} was erased")
            if self._access(uow, actor, student_id, doc, now) is not Access.FULL:
                raise _Refused()
            doc.update(fields)
            uow.records.put(STUDENTS, student_id, doc)
            self._audit(uow, actor, student_id, "update", tuple(sorted(fields)), now)

        self._audited(actor, student_id, command)

    def grant(self, actor: Actor, student_id: str, until: datetime) -> None:
        """A temporary full-access grant for ``actor`` on one student."""
        require_aware("until", until)
        self._run(
            lambda uow, now: uow.records.put(
                GRANTS, f"{actor.id}:{student_id}", {"until": dt_out(until)}
            )
        )

    def revoke(self, actor: Actor, student_id: str) -> None:
        """Revoke a grant at once."""
        self._run(lambda uow, now: uow.records.delete(GRANTS, f"{actor.id}:{student_id}"))

    def audit_trail(self, student_id: str) -> list[AuditEntry]:
        def query(uow: UnitOfWork, now: datetime) -> list[AuditEntry]:
            return [
                AuditEntry(
                    at=dt_in(d["at"]),
                    actor_id=d["actor_id"],
                    role=d["role"],
                    student_id=d["student_id"],
                    action=d["action"],
                    fields=tuple(d["fields"]),
                )
                for _, d in uow.records.list(AUDIT)
                if d["student_id"] == student_id
            ]

        return self._run(query, write=False)

    def erase(self, actor: Actor, student_id: str) -> None:
        """Erase a student's personal data on request (注销). Bookings, packages, class
        membership and statistics stay, keyed by the opaque student id; the profile keeps
        an anonymous name; the audit trail keeps who did what, never values."""

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = _student(uow, student_id)
            if self._access(uow, actor, student_id, doc, now) is not Access.FULL:
                raise _Refused()
            for name in PERSONAL_FIELDS:
                doc[name] = None
            doc["name"] = f"erased-{uuid.uuid5(uuid.NAMESPACE_URL, student_id).hex[:8]}"
            doc["guardians"] = []
            doc["erased"] = True
            uow.records.put(STUDENTS, student_id, doc)
            self._audit(uow, actor, student_id, "erase", PERSONAL_FIELDS, now)
            uow.record_events([StudentErased(occurred_at=now, student_id=student_id)])

        self._audited(actor, student_id, command)

    def guardians_with(self, student_id: str, role: GuardianRole) -> list[Guardian]:
        def query(uow: UnitOfWork, now: datetime) -> list[Guardian]:
            doc = _student(uow, student_id)
            return [g for g in map(_guardian_in, doc["guardians"]) if role in g.roles]

        return self._run(query, write=False)

    # --- lesson packages ---------------------------------------------------------------

    def buy_package(
        self,
        student_id: str,
        *,
        credits: int,
        valid_for: timedelta,
        package_id: str | None = None,
        activate: bool = False,
    ) -> str:
        """Sell a package of ``credits`` lessons, valid for ``valid_for`` from activation
        (pending activation until :meth:`activate_package`, unless ``activate``)."""
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
            raise InvalidInput(f"credits must be a positive int, got {credits!r}")
        if not isinstance(valid_for, timedelta) or valid_for <= timedelta(0):
            raise InvalidInput(f"valid_for must be a positive timedelta, got {valid_for!r}")

        def command(uow: UnitOfWork, now: datetime) -> str:
            doc = _student(uow, student_id)
            pid = package_id or self._new_id()
            if uow.records.get(PACKAGES, pid) is not None:
                raise DuplicateId(f"package {pid!r} already exists")
            uow.records.put(
                PACKAGES,
                pid,
                {
                    "student_id": student_id,
                    "credits": credits,
                    "valid_for_s": valid_for.total_seconds(),
                    "purchased_at": dt_out(now),
                    "activated_at": dt_out(now) if activate else None,
                    "uses": {},
                },
            )
            doc["packages"].append(pid)
            doc["facts"]["purchases"] += 1
            doc["facts"]["last_active"] = dt_out(now)
            uow.records.put(STUDENTS, student_id, doc)
            return pid

        return self._run(command)

    def activate_package(self, package_id: str) -> None:
        def command(uow: UnitOfWork, now: datetime) -> None:
            pkg = _package(uow, package_id)
            if pkg["activated_at"] is not None:
                raise InvalidTransition(f"package {package_id!r} is already active")
            pkg["activated_at"] = dt_out(now)
            uow.records.put(PACKAGES, package_id, pkg)

        self._run(command)

    def packages_of(self, student_id: str) -> list[PackageView]:
        def query(uow: UnitOfWork, now: datetime) -> list[PackageView]:
            doc = _student(uow, student_id)
            return [_package_view(pid, _package(uow, pid), now) for pid in doc["packages"]]

        return self._run(query, write=False)

    def expiring_soon(self, within: timedelta) -> list[PackageView]:
        """Active packages with credits left that expire within ``within``."""

        def query(uow: UnitOfWork, now: datetime) -> list[PackageView]:
            views = [_package_view(pid, p, now) for pid, p in uow.records.list(PACKAGES)]
            return [
                v
                for v in views
                if v.status == "active"
                and v.credits_left > 0
                and v.expires_at is not None
                and v.expires_at <= now + within
            ]

        return self._run(query, write=False)

    def never_activated(self, older_than: timedelta = timedelta(0)) -> list[PackageView]:
        """Purchased but not yet activated (待激活) packages, oldest first."""

        def query(uow: UnitOfWork, now: datetime) -> list[PackageView]:
            views = [_package_view(pid, p, now) for pid, p in uow.records.list(PACKAGES)]
            return sorted(
                (
                    v
                    for v in views
                    if v.status == "pending_activation" and v.purchased_at <= now - older_than
                ),
                key=lambda v: v.purchased_at,
            )

        return self._run(query, write=False)

    def book_with_credit(self, slot_id: str, student_id: str) -> Booking:
        """Book a seat and consume a credit in one unit of work (all or nothing)."""

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            doc = _student(uow, student_id)
            usable = [
                (pid, pkg)
                for pid, pkg in ((p, _package(uow, p)) for p in doc["packages"])
                if _package_view(pid, pkg, now).status == "active"
                and _package_view(pid, pkg, now).credits_left > 0
            ]
            if not usable:
                raise NoCredit(student_id)
            # spend the credit that expires first
            pid, pkg = min(
                usable, key=lambda item: (_package_view(item[0], item[1], now).expires_at, item[0])
            )
            booking = uow.slots.get(slot_id).book(student_id, now=now, new_id=self._new_id)
            pkg["uses"][booking.id] = "consumed"
            uow.records.put(PACKAGES, pid, pkg)
            doc["facts"]["last_active"] = dt_out(now)
            uow.records.put(STUDENTS, student_id, doc)
            uow.record_events(
                [
                    CreditConsumed(
                        occurred_at=now,
                        student_id=student_id,
                        package_id=pid,
                        booking_id=booking.id,
                        credits_left=_package_view(pid, pkg, now).credits_left,
                    )
                ]
            )
            return booking

        return self._run(command)

    def cancel_with_credit(self, booking_id: str) -> bool:
        """Cancel; the credit comes back if cancelled ``free_cancel_before`` the start or
        earlier, else it is forfeited. Returns whether the credit came back."""

        def command(uow: UnitOfWork, now: datetime) -> bool:
            booking = uow.bookings.get(booking_id)
            if booking.status is not BookingStatus.CONFIRMED:
                raise InvalidTransition(f"booking {booking_id!r} is {booking.status.value}")
            slot = uow.slots.get(booking.slot_id)
            pid, pkg = self._package_of_booking(uow, booking)
            slot.cancel(booking_id, now=now, new_id=self._new_id, student_id=booking.student_id)
            free = now <= slot.start - self.free_cancel_before
            pkg["uses"][booking_id] = "returned" if free else "forfeited"
            uow.records.put(PACKAGES, pid, pkg)
            if free:
                uow.record_events(
                    [
                        CreditReturned(
                            occurred_at=now,
                            student_id=booking.student_id,
                            package_id=pid,
                            booking_id=booking_id,
                            credits_left=_package_view(pid, pkg, now).credits_left,
                        )
                    ]
                )
            else:
                uow.record_events(
                    [
                        CreditForfeited(
                            occurred_at=now,
                            student_id=booking.student_id,
                            package_id=pid,
                            booking_id=booking_id,
                            reason="late cancellation",
                        )
                    ]
                )
            return free

        return self._run(command)

    def mark_no_show_with_credit(self, booking_id: str) -> None:
        """A no-show forfeits the credit the booking consumed."""

        def command(uow: UnitOfWork, now: datetime) -> None:
            booking = uow.bookings.get(booking_id)
            slot = uow.slots.get(booking.slot_id)
            slot.mark_attendance(booking_id, BookingStatus.NO_SHOW, now=now)
            pid, pkg = self._package_of_booking(uow, booking)
            pkg["uses"][booking_id] = "forfeited"
            uow.records.put(PACKAGES, pid, pkg)
            uow.record_events(
                [
                    CreditForfeited(
                        occurred_at=now,
                        student_id=booking.student_id,
                        package_id=pid,
                        booking_id=booking_id,
                        reason="no-show",
                    )
                ]
            )

        self._run(command)

    # --- classes -----------------------------------------------------------------------

    def create_class(self, school_class: SchoolClass) -> None:
        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CLASSES, school_class.id) is not None:
                raise DuplicateId(f"class {school_class.id!r} already exists")
            uow.records.put(CLASSES, school_class.id, {**attrs.asdict(school_class), "members": []})

        self._run(command)

    def members_of(self, class_id: str) -> list[str]:
        return self._run(lambda uow, now: list(_class(uow, class_id)["members"]), write=False)

    def assign(self, student_id: str, class_id: str) -> None:
        """Put a student in a class (or move them there: an atomic transfer)."""
        self._run(lambda uow, now: self._move(uow, student_id, class_id, now))

    transfer = assign

    def auto_assign(
        self,
        student_id: str,
        *,
        placement_score: int,
        age: int | None = None,
        time_slot: str | None = None,
    ) -> str:
        """Place a student from a placement test score: the least full class that suits
        the level (from ``placement_bands``), age and preferred time, with a free seat."""
        level = placement_level(placement_score, self.placement_bands)

        def command(uow: UnitOfWork, now: datetime) -> str:
            candidates = []
            for cid, data in uow.records.list(CLASSES):
                klass = SchoolClass(**{k: v for k, v in data.items() if k != "members"})
                if klass.suits(level, age, time_slot) and len(data["members"]) < klass.capacity:
                    candidates.append((len(data["members"]) / klass.capacity, cid))
            if not candidates:
                raise ClassFull("(any suitable class)", 0)
            chosen = min(candidates)[1]
            self._move(uow, student_id, chosen, now)
            return chosen

        return self._run(command)

    # --- tags and lifecycle ------------------------------------------------------------

    def record_activity(self, student_id: str, kind: str, *, module: str | None = None) -> None:
        """Feed the facts tags and stages are computed from: ``login``, ``trial_booked``,
        ``module_completed`` (with ``module``)."""
        if kind not in {"login", "trial_booked", "module_completed"}:
            raise InvalidInput(f"unknown activity {kind!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = _student(uow, student_id)
            facts = doc["facts"]
            facts["last_active"] = dt_out(now)
            if kind == "login":
                facts["last_login"] = dt_out(now)
            elif kind == "trial_booked":
                facts["trial"] = True
            elif module is not None and module not in facts["modules"]:
                facts["modules"].append(module)
            self._retag(uow, student_id, doc, now)

        self._run(command)

    def refresh_tags(self, student_id: str) -> tuple[frozenset[str], str]:
        """Re-evaluate time-based tags (e.g. inactive for 14 days) and the stage."""

        def command(uow: UnitOfWork, now: datetime) -> tuple[frozenset[str], str]:
            doc = _student(uow, student_id)
            self._retag(uow, student_id, doc, now)
            return frozenset(doc["tags"]), doc["stage"]

        return self._run(command)

    # --- internals ---------------------------------------------------------------------

    def _retag(self, uow: UnitOfWork, student_id: str, doc: dict[str, Any], now: datetime) -> None:
        facts = doc["facts"]
        new = sorted(r.tag for r in self.tag_rules if r.holds(facts, now))
        old = sorted(doc["tags"])
        new_stage = stage(facts, now)
        if new != old or new_stage != doc["stage"]:
            uow.record_events(
                [
                    TagsChanged(
                        occurred_at=now,
                        student_id=student_id,
                        added=tuple(t for t in new if t not in old),
                        removed=tuple(t for t in old if t not in new),
                        stage=new_stage,
                    )
                ]
            )
        doc["tags"], doc["stage"] = new, new_stage
        uow.records.put(STUDENTS, student_id, doc)

    def _move(self, uow: UnitOfWork, student_id: str, class_id: str, now: datetime) -> None:
        doc = _student(uow, student_id)
        old = doc["class_id"]
        if old == class_id:
            raise InvalidTransition(f"student {student_id!r} is already in class {class_id!r}")
        ids = sorted({class_id} | ({old} if old else set()))  # lock classes in id order
        klasses = {cid: _class(uow, cid) for cid in ids}
        target = klasses[class_id]
        if len(target["members"]) >= target["capacity"]:
            raise ClassFull(class_id, target["capacity"])
        if old:
            klasses[old]["members"].remove(student_id)
            uow.records.put(CLASSES, old, klasses[old])
        target["members"].append(student_id)
        uow.records.put(CLASSES, class_id, target)
        doc["class_id"] = class_id
        uow.records.put(STUDENTS, student_id, doc)
        uow.record_events(
            [
                ClassAssigned(
                    occurred_at=now, student_id=student_id, class_id=class_id, from_class_id=old
                )
            ]
        )

    def _package_of_booking(self, uow: UnitOfWork, booking: Booking) -> tuple[str, dict[str, Any]]:
        doc = _student(uow, booking.student_id)
        for pid in doc["packages"]:
            pkg = _package(uow, pid)
            if pkg["uses"].get(booking.id) == "consumed":
                return pid, pkg
        raise InvalidTransition(f"booking {booking.id!r} did not consume a package credit")

    def _access(
        self, uow: UnitOfWork, actor: Actor, student_id: str, doc: dict[str, Any], now: datetime
    ) -> Access:
        grant = uow.records.get(GRANTS, f"{actor.id}:{student_id}")
        granted = grant is not None and dt_in(grant["until"]) > now
        return self.policy.access(actor, doc["class_id"], granted)

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        student_id: str,
        action: str,
        fields: Sequence[str],
        now: datetime,
    ) -> None:
        # a counter document orders entries that share an instant (and serialises writers)
        counter = uow.records.get(AUDIT_SEQ, "next") or {"n": 0}
        counter["n"] += 1
        uow.records.put(AUDIT_SEQ, "next", counter)
        uow.records.put(
            AUDIT,
            f"{counter['n']:012d}",
            {
                "at": dt_out(now),
                "actor_id": actor.id,
                "role": actor.role,
                "student_id": student_id,
                "action": action,
                "fields": list(fields),
            },
        )

    def _audited(
        self, actor: Actor, student_id: str, command: Callable[[UnitOfWork, datetime], T]
    ) -> T:
        """Run ``command``; a refusal is audited in a unit of work of its own."""
        try:
            return self._run(command)
        except _Refused:
            pass
        self._run(lambda uow, now: self._audit(uow, actor, student_id, "denied", (), now))
        raise AccessDenied(f"{actor.role} {actor.id!r} may not access student {student_id!r}")


class _Refused(Exception):
    pass


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


def _profile(student_id: str, doc: dict[str, Any], *, masked: bool) -> Profile:
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
    return Profile(
        student_id=student_id,
        name=mask_name(doc["name"]) if masked and not doc["erased"] else doc["name"],
        phone=mask_phone(doc["phone"]) if masked else doc["phone"],
        email=mask_email(doc["email"]) if masked else doc["email"],
        birth_date=None if masked else doc["birth_date"],
        guardians=guardians,
        class_id=doc["class_id"],
        tags=frozenset(doc["tags"]),
        stage=doc["stage"],
        erased=doc["erased"],
    )


def _package_view(pid: str, pkg: dict[str, Any], now: datetime) -> PackageView:
    used = sum(1 for state in pkg["uses"].values() if state in ("consumed", "forfeited"))
    activated = pkg["activated_at"]
    expires = (
        None if activated is None else dt_in(activated) + timedelta(seconds=pkg["valid_for_s"])
    )
    status = (
        "pending_activation"
        if activated is None
        else "expired"
        if expires is not None and now >= expires
        else "active"
    )
    return PackageView(
        id=pid,
        student_id=pkg["student_id"],
        credits=pkg["credits"],
        credits_left=pkg["credits"] - used,
        status=status,
        purchased_at=dt_in(pkg["purchased_at"]),
        expires_at=expires,
    )


def _student(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    doc = uow.records.get(STUDENTS, student_id) if isinstance(student_id, str) else None
    if doc is None:
        raise StudentNotFound(str(student_id))
    return doc


def _package(uow: UnitOfWork, package_id: str) -> dict[str, Any]:
    doc = uow.records.get(PACKAGES, package_id)
    if doc is None:
        raise NotFound(f"lesson package {package_id!r} not found")
    return doc


def _class(uow: UnitOfWork, class_id: str) -> dict[str, Any]:
    doc = uow.records.get(CLASSES, class_id)
    if doc is None:
        raise NotFound(f"class {class_id!r} not found")
    return doc
