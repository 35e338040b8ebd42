"""The audit log is read by auditors only (issue #24, docs/privacy.md): an ``admin`` (or
staff registered as ``ADMIN``) and the library's ``SYSTEM``; anyone else is refused, a
refused read of one student's rows audited ``denied`` under her. Reading the log writes
no row of its own. On every adapter."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied
from eduengine.people import SYSTEM, StaffRole
from eduengine.students import Actor
from tests.adapters import StoreHandle

ADMIN = Actor(id="u-admin", role="admin")
OFFICE = Actor(id="u-office", role="academic")  # sees every student, audits nothing


def school_with_rows(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="Ann", phone="13812341234")
    school.students.view(OFFICE, "ann")
    return school


def rows(school: School) -> list[tuple[str, str, str]]:
    page = school.people.audit_log(actor=SYSTEM, student_id="ann", limit=1000)
    return [(e.actor_id, e.action, ",".join(e.fields)) for e in page.entries]


def test_an_admin_reads_the_log_and_the_read_writes_no_row(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_rows(store, clock)
    before = rows(school)
    assert [(a, act) for a, act, _ in before] == [("u-office", "read")]
    for _ in range(2):
        page = school.people.audit_log(actor=ADMIN, student_id="ann")
        assert [(e.actor_id, e.action) for e in page.entries] == [("u-office", "read")]
        school.people.audit_log(actor=ADMIN, actor_id="u-office")
        school.people.audit_log(actor=ADMIN, since=clock.now() - timedelta(days=30))
    assert rows(school) == before


def test_anyone_else_is_refused_and_a_refused_read_of_a_student_is_audited(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_rows(store, clock)
    for reader in (OFFICE, Actor(id="ann", role="student"), Actor(id="g", role="guardian")):
        with pytest.raises(AccessDenied):
            school.people.audit_log(actor=reader, student_id="ann")
    with pytest.raises(AccessDenied):
        school.people.audit_log(actor=OFFICE, actor_id="u-office")  # no student named
    assert rows(school)[1:] == [
        ("u-office", "denied", "audit"),
        ("ann", "denied", "audit"),
        ("g", "denied", "audit"),
    ]


def test_the_registry_decides_for_staff_and_revoking_an_admin_ends_her_reads(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_rows(store, clock)
    people = school.people
    # registered staff are decided by their registry role, whatever role a caller names
    people.register_staff("u-admin", StaffRole.SUPPORT)
    with pytest.raises(AccessDenied):
        people.audit_log(actor=ADMIN, student_id="ann")
    people.register_staff("u-boss", StaffRole.ADMIN)
    boss = Actor(id="u-boss", role="academic")
    assert len(people.audit_log(actor=boss, student_id="ann").entries) == 2
    people.revoke_all("u-boss")
    with pytest.raises(AccessDenied):
        people.audit_log(actor=boss, actor_id="u-office")


def test_without_an_actor_the_log_is_read_as_before_with_a_deprecation_warning(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_with_rows(store, clock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = school.people.audit_log(student_id="ann")
    assert [e.actor_id for e in page.entries] == ["u-office"]
    assert [w.filename for w in caught if issubclass(w.category, DeprecationWarning)] == [
        __file__
    ]
