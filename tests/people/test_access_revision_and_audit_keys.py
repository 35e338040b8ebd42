"""The gate keeps what it read of a person while their access revision stands, and audit
rows are keyed by time with no shared counter (issue #24, the access check's speed), on
every adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied
from eduengine.kernel.codec import dt_out
from eduengine.people import SYSTEM, FieldSet, Scope, StaffRole
from eduengine.people.access import AUDIT, audit_index
from eduengine.people.model import Access
from eduengine.service_layer.crypto import InMemoryKeyProvider
from eduengine.students import Actor, GuardianRole
from tests.adapters import ADAPTERS, StoreHandle, make_store

SELLER = Actor(id="u-sales", role="sales")
DAD = Actor(id="g-li", role="guardian")


def test_a_remembered_check_sees_a_grant_a_revocation_and_a_new_role_at_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="王小明", phone="13812341234")
    people, students = school.people, school.students
    people.register_staff("u-sales", StaffRole.SUPPORT)
    for _ in range(2):  # the second read is answered from what the gate kept
        assert students.view(SELLER, "ann").phone == "138****1234"
    people.grant(
        "u-sales",
        scope=Scope.ALL,
        fields=FieldSet(contacts=Access.FULL),
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=1),
    )
    assert students.view(SELLER, "ann").phone == "13812341234"
    people.revoke_all("u-sales")
    with pytest.raises(AccessDenied):
        students.view(SELLER, "ann")
    with pytest.raises(AccessDenied):
        school.booking.bookings_for_student("ann", actor=SELLER)
    people.register_staff("u-sales", StaffRole.SUPPORT)
    assert students.view(SELLER, "ann").phone == "138****1234"


def test_a_remembered_guardian_check_sees_a_link_and_its_end_at_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.students.register("mei", name="李梅", phone="13812341234")
    school.people.add_guardian("g-li", name="李强", phone="13900002222")
    with pytest.raises(AccessDenied):
        school.students.view(DAD, "mei")
    school.people.link("g-li", "mei", {GuardianRole.SEE_REPORTS})
    assert school.students.view(DAD, "mei").phone == "13812341234"
    school.people.unlink("g-li", "mei")
    with pytest.raises(AccessDenied):
        school.students.view(DAD, "mei")


def test_audit_rows_of_one_instant_page_in_the_order_written_with_no_shared_counter(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="Ann")
    readers = [Actor(id=f"u{n}", role="academic") for n in range(5)]
    for reader in readers:  # the clock stands still: every row shares one instant
        school.students.view(reader, "ann")
    pages, after = [], None
    while True:
        page = school.people.audit_log(student_id="ann", limit=2, after=after, actor=SYSTEM)
        pages.append([e.actor_id for e in page.entries])
        if page.next is None:
            break
        after = page.next
    assert pages == [["u0", "u1"], ["u2", "u3"], ["u4"]]
    assert "audit_seq" not in store.snapshot()["records"]


def test_rows_keyed_by_the_old_counter_come_first_and_are_refiled_with_the_new(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="Ann")
    with store.unit_of_work() as uow:  # two rows as the global counter keyed them
        for n in (1, 2):
            doc = {
                "at": dt_out(clock.now() + timedelta(days=n)),
                "actor_id": f"old{n}",
                "role": "academic",
                "student_id": "ann",
                "action": "read",
                "fields": [],
            }
            uow.records.put(AUDIT, f"{n:012d}", doc, index=audit_index(doc, n))
        uow.commit()
    school.students.view(Actor(id="new", role="academic"), "ann")
    expected = ["old1", "old2", "new"]
    assert [
        e.actor_id for e in school.people.audit_log(student_id="ann", actor=SYSTEM).entries
    ] == expected
    assert school.people.reindex_audit() == 3
    assert [
        e.actor_id for e in school.people.audit_log(student_id="ann", actor=SYSTEM).entries
    ] == expected
    assert [e.actor_id for e in school.people.audit_log(actor_id="new", actor=SYSTEM).entries] == [
        "new"
    ]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sealed_values_with_quotes_escapes_and_any_script_open_as_written(
    adapter: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    handle = make_store(adapter, tmp_path_factory.mktemp(adapter), keys=InMemoryKeyProvider())
    try:
        names = ['Ann "Nan" O\'Neil', "back\\slash", "tab\there", "王小明 \u2028", '"', ""]
        for n, name in enumerate(names):
            with handle.unit_of_work() as uow:
                uow.records.put("student", f"s{n}", {"name": name, "phone": None})
                uow.commit()
        with handle.unit_of_work() as uow:
            opened = [uow.records.get("student", f"s{n}") for n in range(len(names))]
        assert [doc and doc["name"] for doc in opened] == names
    finally:
        handle.close()
