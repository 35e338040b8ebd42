"""How student records are stored, and the steps every student service shares.

Each student, lesson package and class is one JSON document; enrolments are one document
per (student, course), filed under ``student:<id>``. A lesson package is filed under
``pending_activation`` (its purchase time) until it is activated, then under ``expires``
(its expiry time), so the reports on packages read only the packages they list; every
write of a package goes through :func:`put_package`, which keeps that filing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.errors import DuplicateId, NotFound, StudentNotFound
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import Money
from eduengine.people.access import AUDIT as AUDIT
from eduengine.people.access import AUDIT_SEQ as AUDIT_SEQ
from eduengine.people.access import LEGACY_GRANTS
from eduengine.people.access import write_audit as write_audit
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceOptions as ServiceOptions
from eduengine.students.events import ClassAssigned as ClassAssigned
from eduengine.students.events import CreditConsumed as CreditConsumed
from eduengine.students.events import CreditForfeited as CreditForfeited
from eduengine.students.events import CreditReturned as CreditReturned
from eduengine.students.events import PackageBought as PackageBought
from eduengine.students.events import StageChanged as StageChanged
from eduengine.students.events import StudentEnrolled as StudentEnrolled
from eduengine.students.events import StudentErased as StudentErased
from eduengine.students.events import StudentRegistered as StudentRegistered
from eduengine.students.events import TagsChanged as TagsChanged

STUDENTS = "student"
PACKAGES = "lesson_package"
CLASSES = "school_class"
ENROLMENTS = "enrolment"
#: a per-student grant (``<actor>:<student>``), read by the access check
GRANTS = LEGACY_GRANTS

#: package indexes: purchase micros while not activated, expiry micros once active
PENDING_ACTIVATION = "pending_activation"
EXPIRES = "expires"


@attrs.frozen(kw_only=True)
class PackageView:
    id: str
    student_id: str
    credits: int
    credits_left: int
    status: str  # pending_activation | active | expired
    purchased_at: datetime
    expires_at: datetime | None
    course_id: str | None = None
    #: the guardian who paid for it on the student's behalf (``None``: the student)
    payer_id: str | None = None
    #: the price it was sold at (from a catalogue quote), ``None`` for one sold without
    price: Money | None = None
    #: the catalogue item it was bought as, if any
    item_id: str | None = None


def anonymous_name(student_id: str) -> str:
    return f"erased-{uuid.uuid5(uuid.NAMESPACE_URL, student_id).hex[:8]}"


def student(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    doc = uow.records.get(STUDENTS, student_id) if isinstance(student_id, str) else None
    if doc is None:
        raise StudentNotFound(str(student_id))
    return doc


def package(uow: UnitOfWork, package_id: str) -> dict[str, Any]:
    doc = uow.records.get(PACKAGES, package_id)
    if doc is None:
        raise NotFound(f"lesson package {package_id!r} not found")
    return doc


def school_class(uow: UnitOfWork, class_id: str) -> dict[str, Any]:
    doc = uow.records.get(CLASSES, class_id)
    if doc is None:
        raise NotFound(f"class {class_id!r} not found")
    return doc


def expiry(pkg: dict[str, Any]) -> datetime | None:
    """When a package's validity ends (``None`` while it is not activated)."""
    activated = pkg["activated_at"]
    return None if activated is None else dt_in(activated) + timedelta(seconds=pkg["valid_for_s"])


def package_view(pid: str, pkg: dict[str, Any], now: datetime) -> PackageView:
    used = sum(1 for state in pkg["uses"].values() if state in ("consumed", "forfeited"))
    expires = expiry(pkg)
    status = "pending_activation" if expires is None else "expired" if now >= expires else "active"
    return PackageView(
        id=pid,
        student_id=pkg["student_id"],
        credits=pkg["credits"],
        credits_left=pkg["credits"] - used,
        status=status,
        purchased_at=dt_in(pkg["purchased_at"]),
        expires_at=expires,
        course_id=pkg.get("course_id"),
        payer_id=pkg.get("payer_id"),
        price=Money.from_record(pkg["price"]) if pkg.get("price") else None,
        item_id=pkg.get("item_id"),
    )


def put_package(uow: UnitOfWork, package_id: str, pkg: dict[str, Any]) -> None:
    """Write a package with its index entry: ``pending_activation`` at its purchase time
    until activated, then ``expires`` at its expiry time (a put replaces the entries, so
    a package is never filed under both)."""
    expires = expiry(pkg)
    bought = micros(dt_in(pkg["purchased_at"]))
    state = {PENDING_ACTIVATION: bought} if expires is None else {EXPIRES: micros(expires)}
    # and under the student, in purchase order (their account page pages by it)
    index = {**state, f"student:{pkg['student_id']}": bought}
    uow.records.put(PACKAGES, package_id, pkg, index=index)


def add_package(
    uow: UnitOfWork,
    student_id: str,
    *,
    package_id: str,
    credits: int,
    valid_for: timedelta,
    course_id: str | None,
    activate: bool,
    now: datetime,
    payer_id: str | None = None,
) -> str:
    """Store a new package for a registered student and count it as a purchase fact."""
    doc = student(uow, student_id)
    if uow.records.get(PACKAGES, package_id) is not None:
        raise DuplicateId(f"package {package_id!r} already exists")
    put_package(
        uow,
        package_id,
        {
            "student_id": student_id,
            "credits": credits,
            "valid_for_s": valid_for.total_seconds(),
            "purchased_at": dt_out(now),
            "activated_at": dt_out(now) if activate else None,
            "course_id": course_id,
            "uses": {},
            **({"payer_id": payer_id} if payer_id is not None else {}),
        },
    )
    doc["packages"].append(package_id)
    uow.records.put(STUDENTS, student_id, doc)
    return package_id


def package_of_booking(
    uow: UnitOfWork, doc: dict[str, Any], booking_id: str
) -> tuple[str, dict[str, Any]] | None:
    """The package whose credit ``booking_id`` holds (consumed), if any."""
    for pid in doc["packages"]:
        pkg = package(uow, pid)
        if pkg["uses"].get(booking_id) == "consumed":
            return pid, pkg
    return None


def usable_packages(
    uow: UnitOfWork, doc: dict[str, Any], now: datetime, course_id: str | None, *, scoped_only: bool
) -> list[tuple[str, dict[str, Any], PackageView]]:
    """Active packages with a credit left that cover ``course_id``: scoped to it, or (unless
    ``scoped_only``) scoped to no course."""
    found = []
    for pid in doc["packages"]:
        pkg = package(uow, pid)
        view = package_view(pid, pkg, now)
        scope = pkg.get("course_id")
        covers = scope == course_id if scoped_only else scope in (None, course_id)
        if covers and view.status == "active" and view.credits_left > 0:
            found.append((pid, pkg, view))
    return found


def consume_credit(
    uow: UnitOfWork,
    doc: dict[str, Any],
    student_id: str,
    booking_id: str,
    now: datetime,
    *,
    course_id: str | None,
    scoped_only: bool = True,
) -> str | None:
    """Spend the credit that expires first on ``booking_id``; returns the package id, or
    ``None`` when no package covers the course."""
    usable = usable_packages(uow, doc, now, course_id, scoped_only=scoped_only)
    if not usable:
        return None
    pid, pkg, _ = min(usable, key=lambda item: (item[2].expires_at, item[0]))
    pkg["uses"][booking_id] = "consumed"
    put_package(uow, pid, pkg)
    doc["facts"]["last_active"] = dt_out(now)
    uow.records.put(STUDENTS, student_id, doc)
    uow.record_events(
        [
            CreditConsumed(
                occurred_at=now,
                student_id=student_id,
                package_id=pid,
                booking_id=booking_id,
                credits_left=package_view(pid, pkg, now).credits_left,
            )
        ]
    )
    return pid


def settle_credit(
    uow: UnitOfWork,
    found: tuple[str, dict[str, Any]],
    student_id: str,
    booking_id: str,
    now: datetime,
    *,
    returned: bool,
    reason: str,
) -> None:
    """Give a booking's credit back (``returned``) or forfeit it."""
    pid, pkg = found
    pkg["uses"][booking_id] = "returned" if returned else "forfeited"
    put_package(uow, pid, pkg)
    event: DomainEvent
    if returned:
        event = CreditReturned(
            occurred_at=now,
            student_id=student_id,
            package_id=pid,
            booking_id=booking_id,
            credits_left=package_view(pid, pkg, now).credits_left,
        )
    else:
        event = CreditForfeited(
            occurred_at=now,
            student_id=student_id,
            package_id=pid,
            booking_id=booking_id,
            reason=reason,
        )
    uow.record_events([event])
