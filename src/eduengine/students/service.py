"""Student records through units of work: profiles, lesson packages tied to bookings,
classes, tags and lifecycle, under an access policy with an audit trail and erasure.

Each student, package and class is one JSON document; a booking that consumes a credit
and the seat it takes are written in the same unit of work, so a credit is never spent
without a seat, nor a seat taken without a credit, and concurrent requests never drive
credits negative or return one twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import attrs

from eduengine.booking.model import Booking, BookingStatus, IdFactory
from eduengine.clock import Clock, require_aware
from eduengine.codec import dt_in, dt_out
from eduengine.erasure import ErasureRegistry, ErasureReport
from eduengine.errors import (
    AccessDenied,
    ClassFull,
    DuplicateId,
    InvalidInput,
    InvalidTransition,
    NoCredit,
)
from eduengine.messagebus import MessageBus
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.service import ServiceBase
from eduengine.students import handlers
from eduengine.students import records as rec
from eduengine.students.model import (
    PERSONAL_FIELDS,
    Guardian,
    GuardianRole,
    Profile,
    SchoolClass,
    TagRule,
    placement_level,
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
from eduengine.students.records import (
    AUDIT,
    AUDIT_SEQ,
    CLASSES,
    ENROLMENTS,
    GRANTS,
    PACKAGES,
    STUDENTS,
    ClassAssigned,
    PackageView,
    StudentErased,
    StudentRegistered,
    TagsChanged,
)

T = TypeVar("T")


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
        bus: MessageBus | None = None,
        erasure: ErasureRegistry | None = None,
    ) -> None:
        alone = bus is None
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
        if alone:
            handlers.subscribe(self.bus, free_cancel_before=free_cancel_before)
        if erasure is None:
            erasure = ErasureRegistry()
            erasure.register("students", handlers.erase_profile)
        self.erasure = erasure
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
            doc = rec.student(uow, student_id)
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
            doc = rec.student(uow, student_id)
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

    def erase(self, actor: Actor, student_id: str) -> ErasureReport:
        """Erase a student's personal data on request (注销) from every module that
        registered an eraser (profile, group deals, payments, reminders ...), in one unit
        of work. Bookings, packages, class membership and statistics stay, keyed by the
        opaque student id; the profile keeps an anonymous name; the audit trail keeps
        who did what, never values. Returns what each module removed."""

        def command(uow: UnitOfWork, now: datetime) -> ErasureReport:
            doc = rec.student(uow, student_id)
            if self._access(uow, actor, student_id, doc, now) is not Access.FULL:
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

    def guardians_with(self, student_id: str, role: GuardianRole) -> list[Guardian]:
        def query(uow: UnitOfWork, now: datetime) -> list[Guardian]:
            doc = rec.student(uow, student_id)
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
        course_id: str | None = None,
    ) -> str:
        """Sell a package of ``credits`` lessons, valid for ``valid_for`` from activation
        (pending activation until :meth:`activate_package`, unless ``activate``).

        With ``course_id`` the package covers that course only, and any seat the student
        takes in it, on any path, spends one of its credits.
        """
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
            raise InvalidInput(f"credits must be a positive int, got {credits!r}")
        if not isinstance(valid_for, timedelta) or valid_for <= timedelta(0):
            raise InvalidInput(f"valid_for must be a positive timedelta, got {valid_for!r}")
        if course_id is not None and (not isinstance(course_id, str) or not course_id):
            raise InvalidInput(f"course_id must be a non-empty string, got {course_id!r}")

        def command(uow: UnitOfWork, now: datetime) -> str:
            pid = rec.add_package(
                uow,
                student_id,
                package_id=package_id or self._new_id(),
                credits=credits,
                valid_for=valid_for,
                course_id=course_id,
                activate=activate,
                now=now,
            )
            handlers.record_purchase(uow, student_id, f"package:{pid}", now)
            return pid

        return self._run(command)

    def activate_package(self, package_id: str) -> None:
        def command(uow: UnitOfWork, now: datetime) -> None:
            pkg = rec.package(uow, package_id)
            if pkg["activated_at"] is not None:
                raise InvalidTransition(f"package {package_id!r} is already active")
            pkg["activated_at"] = dt_out(now)
            uow.records.put(PACKAGES, package_id, pkg)

        self._run(command)

    def packages_of(self, student_id: str) -> list[PackageView]:
        def query(uow: UnitOfWork, now: datetime) -> list[PackageView]:
            doc = rec.student(uow, student_id)
            return [rec.package_view(p, rec.package(uow, p), now) for p in doc["packages"]]

        return self._run(query, write=False)

    def expiring_soon(self, within: timedelta) -> list[PackageView]:
        """Active packages with credits left that expire within ``within``."""

        def query(uow: UnitOfWork, now: datetime) -> list[PackageView]:
            views = [rec.package_view(pid, p, now) for pid, p in uow.records.list(PACKAGES)]
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
            views = [rec.package_view(pid, p, now) for pid, p in uow.records.list(PACKAGES)]
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
        """Book a seat and consume a credit in one unit of work (all or nothing).

        Any active package covering the slot's course (or no course) pays, the one
        expiring first; with none, ``NoCredit`` and nothing is booked.
        """

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            doc = rec.student(uow, student_id)
            slot = uow.slots.get(slot_id)
            if not rec.usable_packages(uow, doc, now, slot.course_id, scoped_only=False):
                raise NoCredit(student_id)
            booking = slot.book(student_id, now=now, new_id=self._new_id)
            rec.consume_credit(
                uow, doc, student_id, booking.id, now, course_id=slot.course_id, scoped_only=False
            )
            return booking

        return self._run(command)

    def cancel_with_credit(self, booking_id: str) -> bool:
        """Cancel a booking paid with a credit; the credit comes back if cancelled
        ``free_cancel_before`` the start or earlier, else it is forfeited. Returns whether
        the credit came back. (Any other way of cancelling settles the credit the same
        way: the ledger is a rule on the bus.)"""

        def command(uow: UnitOfWork, now: datetime) -> bool:
            booking = uow.bookings.get(booking_id)
            if booking.status is not BookingStatus.CONFIRMED:
                raise InvalidTransition(f"booking {booking_id!r} is {booking.status.value}")
            self._credit_of(uow, booking)
            slot = uow.slots.get(booking.slot_id)
            slot.cancel(booking_id, now=now, new_id=self._new_id, student_id=booking.student_id)
            return now <= slot.start - self.free_cancel_before

        return self._run(command)

    def mark_no_show_with_credit(self, booking_id: str) -> None:
        """A no-show forfeits the credit the booking consumed."""

        def command(uow: UnitOfWork, now: datetime) -> None:
            booking = uow.bookings.get(booking_id)
            self._credit_of(uow, booking)
            slot = uow.slots.get(booking.slot_id)
            slot.mark_attendance(booking_id, BookingStatus.NO_SHOW, now=now)

        self._run(command)

    def enrolments(self, student_id: str) -> list[str]:
        """Courses the student is enrolled in (by a paid order or a formed group)."""

        def query(uow: UnitOfWork, now: datetime) -> list[str]:
            keys = uow.records.scan(ENROLMENTS, f"student:{student_id}")
            return sorted(key.partition(":")[2] for key, _ in keys)

        return self._run(query, write=False)

    def stage_history(self, student_id: str) -> list[tuple[str, datetime, str]]:
        """``(stage, since, reason)`` for every stage the student moved through, oldest
        first, starting with ``registered``."""

        def query(uow: UnitOfWork, now: datetime) -> list[tuple[str, datetime, str]]:
            doc = rec.student(uow, student_id)
            history = [("registered", dt_in(doc["facts"]["registered_at"]), "registration")]
            history += [
                (h["stage"], dt_in(h["at"]), h["reason"]) for h in doc.get("stage_history", [])
            ]
            return history

        return self._run(query, write=False)

    # --- classes -----------------------------------------------------------------------

    def create_class(self, school_class: SchoolClass) -> None:
        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CLASSES, school_class.id) is not None:
                raise DuplicateId(f"class {school_class.id!r} already exists")
            uow.records.put(CLASSES, school_class.id, {**attrs.asdict(school_class), "members": []})

        self._run(command)

    def members_of(self, class_id: str) -> list[str]:
        return self._run(
            lambda uow, now: list(rec.school_class(uow, class_id)["members"]), write=False
        )

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
            doc = rec.student(uow, student_id)
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
            doc = rec.student(uow, student_id)
            self._retag(uow, student_id, doc, now)
            return frozenset(doc["tags"]), doc["stage"]

        return self._run(command)

    # --- internals ---------------------------------------------------------------------

    def _retag(self, uow: UnitOfWork, student_id: str, doc: dict[str, Any], now: datetime) -> None:
        facts = doc["facts"]
        new = sorted(r.tag for r in self.tag_rules if r.holds(facts, now))
        old = sorted(doc["tags"])
        old_stage = doc["stage"]
        doc["tags"] = new
        # a stage that moves without a purchase moves through (in)activity
        handlers.move_stage(uow, student_id, doc, now, reason="activity")
        if new != old or doc["stage"] != old_stage:
            uow.record_events(
                [
                    TagsChanged(
                        occurred_at=now,
                        student_id=student_id,
                        added=tuple(t for t in new if t not in old),
                        removed=tuple(t for t in old if t not in new),
                        stage=doc["stage"],
                    )
                ]
            )

    def _move(self, uow: UnitOfWork, student_id: str, class_id: str, now: datetime) -> None:
        doc = rec.student(uow, student_id)
        old = doc["class_id"]
        if old == class_id:
            raise InvalidTransition(f"student {student_id!r} is already in class {class_id!r}")
        ids = sorted({class_id} | ({old} if old else set()))  # lock classes in id order
        klasses = {cid: rec.school_class(uow, cid) for cid in ids}
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

    def _credit_of(self, uow: UnitOfWork, booking: Booking) -> tuple[str, dict[str, Any]]:
        found = rec.package_of_booking(uow, rec.student(uow, booking.student_id), booking.id)
        if found is None:
            raise InvalidTransition(f"booking {booking.id!r} did not consume a package credit")
        return found

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




