"""The gate keeps the field set it decided for a person and a student while nothing it
decides by can change (their access revision, and no grant of theirs starting or
ending), and decides again the moment one does (issue #24, the check's own cost), on
every adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied
from eduengine.people import FieldSet, Scope, StaffRole, model
from eduengine.people import access as access_module
from eduengine.people.model import Access
from eduengine.students import Actor
from tests.adapters import StoreHandle

HELPDESK = Actor(id="u-help", role="support")
OFFICE = Actor(id="u-office", role="academic")


def _school(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="王小明", phone="13812341234")
    school.students.register("bob", name="李雷", phone="13912345678")
    school.people.register_staff(HELPDESK.id, StaffRole.SUPPORT)
    return school


def test_a_kept_decision_ends_where_a_grant_of_the_person_starts_or_ends(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    start = clock.now()
    school.people.grant(
        HELPDESK.id,
        scope=Scope.MY_STUDENTS,
        student_ids=["ann"],
        fields=FieldSet(contacts=Access.FULL),
        starts_at=start + timedelta(hours=1),
        ends_at=start + timedelta(hours=2),
    )
    view = school.students.view
    for _ in range(2):  # the second read is answered from the decision kept
        assert view(HELPDESK, "ann").phone == "138****1234"
    clock.set(start + timedelta(hours=1))  # the very instant the grant starts
    assert view(HELPDESK, "ann").phone == "13812341234"
    assert view(HELPDESK, "bob").phone == "139****5678"  # not named in it
    clock.set(start + timedelta(hours=2) - timedelta(microseconds=1))
    assert view(HELPDESK, "ann").phone == "13812341234"
    clock.set(start + timedelta(hours=2))  # the instant it ends
    assert view(HELPDESK, "ann").phone == "138****1234"
    clock.set(start + timedelta(minutes=90))  # a clock set back decides again too
    assert view(HELPDESK, "ann").phone == "13812341234"
    clock.set(start)
    assert view(HELPDESK, "ann").phone == "138****1234"


def test_a_kept_decision_gives_way_to_a_revocation_and_a_new_role_at_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    school.people.grant(
        HELPDESK.id,
        scope=Scope.ALL,
        fields=FieldSet(contacts=Access.FULL),
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=1),
    )
    for _ in range(2):
        assert school.students.view(HELPDESK, "ann").phone == "13812341234"
    school.people.revoke_all(HELPDESK.id)
    with pytest.raises(AccessDenied):
        school.students.view(HELPDESK, "ann")
    school.people.register_staff(HELPDESK.id, StaffRole.ACADEMIC)
    assert school.students.view(HELPDESK, "ann").phone == "13812341234"
    school.people.register_staff(HELPDESK.id, StaffRole.SUPPORT)
    assert school.students.view(HELPDESK, "ann").phone == "138****1234"


def test_the_same_student_at_the_same_instant_is_decided_once(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = _school(store, clock)
    decided: list[str] = []
    real = model.decide

    def spy(*args: object, **kwargs: object) -> FieldSet:
        decided.append(args[3].student_id)  # type: ignore[attr-defined]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("eduengine.people.access.decide", spy)
    for _ in range(3):
        school.students.view(HELPDESK, "ann")
        school.booking.bookings_for_student("bob", actor=HELPDESK)
    # a support role reaches every student, so her class and stage never count
    assert sorted(decided) == ["ann", "bob"]
    school.people.register_staff(HELPDESK.id, StaffRole.SUPPORT)  # a new revision
    school.students.view(HELPDESK, "ann")
    assert sorted(decided) == ["ann", "ann", "bob"]


def test_the_learning_records_strict_reads_share_what_the_gate_knows_of_a_person(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = _school(store, clock)
    school.people.register_staff(OFFICE.id, StaffRole.ACADEMIC)
    read: list[str] = []
    real = access_module.AccessGate._read_actor

    def spy(gate: access_module.AccessGate, uow: object, actor: Actor) -> object:
        read.append(actor.id)
        return real(gate, uow, actor)  # type: ignore[arg-type]

    monkeypatch.setattr(access_module.AccessGate, "_read_actor", spy)
    for _ in range(3):
        assert school.mastery.mastery("ann", actor=OFFICE) == {}
    # read once, then kept under the person's access revision
    assert read == [OFFICE.id]
