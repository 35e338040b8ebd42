"""Guardian accounts shared by siblings, each link with its roles; the audit log query
(issue #24), on every adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied, InvalidInput, NotFound, WrongType
from eduengine.notices import NoticePolicy
from eduengine.people import SYSTEM
from eduengine.students import Actor, GuardianRole
from tests.adapters import StoreHandle
from tests.notices.helpers import Provider

OFFICE = Actor(id="u-office", role="academic")
DAD = Actor(id="g-li", role="guardian")


def family(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(
        store,
        clock=clock,
        notices=NoticePolicy(reminders=()),
        notifiers={"in_app": Provider()},
    )
    for child in ("mei", "lei"):
        school.students.register(child, name=f"李{child}")
    school.people.add_guardian("g-li", name="李强", phone="13900002222")
    school.people.link("g-li", "mei", {GuardianRole.SEE_REPORTS, GuardianRole.PAY})
    school.people.link("g-li", "lei", {GuardianRole.SEE_REPORTS, GuardianRole.RECEIVE_REMINDERS})
    return school


def book(school: School, clock: FixedClock, student: str) -> str:
    start = clock.now() + timedelta(hours=48)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    return school.booking.book(slot.id, student).id


def test_a_guardian_of_two_children_sees_both_and_holds_each_links_roles(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    assert school.people.children_of("g-li") == {
        "mei": frozenset({GuardianRole.SEE_REPORTS, GuardianRole.PAY}),
        "lei": frozenset({GuardianRole.SEE_REPORTS, GuardianRole.RECEIVE_REMINDERS}),
    }
    assert school.students.view(DAD, "mei").name == "李mei"
    assert school.students.view(DAD, "lei").name == "李lei"
    payers = school.students.guardians_with("mei", GuardianRole.PAY, actor=OFFICE)
    assert [(g.id, g.name, g.phone) for g in payers] == [("g-li", "李强", "13900002222")]
    assert school.students.guardians_with("lei", GuardianRole.PAY, actor=OFFICE) == []
    # reminders go only where the link holds the role
    lei_seat, mei_seat = book(school, clock, "lei"), book(school, clock, "mei")
    ids = [n.id for n in school.notices.for_student("lei", actor=OFFICE)]
    assert f"booking_confirmed:{lei_seat}:g-li" in ids
    ids = [n.id for n in school.notices.for_student("mei", actor=OFFICE)]
    assert f"booking_confirmed:{mei_seat}:g-li" not in ids


def test_links_are_edited_and_a_removed_guardian_gets_nothing_after_removal(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    school.people.link("g-li", "mei", {GuardianRole.SEE_REPORTS})  # no longer pays
    assert school.students.guardians_with("mei", GuardianRole.PAY, actor=OFFICE) == []
    school.people.update_guardian("g-li", phone="13900003333")
    got = school.students.guardians_with("lei", GuardianRole.SEE_REPORTS, actor=OFFICE)
    assert got[0].phone == "13900003333"
    school.people.unlink("g-li", "mei")
    with pytest.raises(AccessDenied):
        school.students.view(DAD, "mei")
    school.people.remove_guardian("g-li")
    with pytest.raises(AccessDenied):
        school.students.view(DAD, "lei")
    seat = book(school, clock, "lei")
    ids = [n.id for n in school.notices.for_student("lei", actor=OFFICE)]
    assert f"booking_confirmed:{seat}:g-li" not in ids
    assert school.students.guardians_with("lei", GuardianRole.SEE_REPORTS, actor=OFFICE) == []
    with pytest.raises(NotFound):
        school.people.children_of("g-li")
    types = [e.type for e in school.feed.events_since(0, limit=1000)]
    assert [t for t in types if t.startswith("people.guardian")] == [
        "people.guardian_added",
        "people.guardian_linked",
        "people.guardian_linked",
        "people.guardian_linked",
        "people.guardian_changed",
        "people.guardian_unlinked",
        "people.guardian_removed",
    ]


def test_bad_guardian_input_is_refused_and_changes_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    with pytest.raises(InvalidInput):
        school.people.add_guardian("g-li", name="again")
    with pytest.raises(WrongType):
        school.people.link("g-li", "mei", {"pay"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        school.people.update_guardian("g-li", name=" ")
    assert school.people.children_of("g-li")["mei"] == frozenset(
        {GuardianRole.SEE_REPORTS, GuardianRole.PAY}
    )


def test_the_audit_log_pages_by_student_actor_and_period_and_outlives_erasure(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    support = Actor(id="u-support", role="support")
    for _ in range(3):
        school.students.view(OFFICE, "mei")
        school.students.view(support, "lei")
        clock.advance(timedelta(days=10))
    pages, after = [], None
    while True:
        page = school.people.audit_log(actor=SYSTEM, student_id="mei", limit=2, after=after)
        pages.append(page.entries)
        if page.next is None:
            break
        after = page.next
    assert [len(p) for p in pages] == [2, 1]
    assert {e.actor_id for p in pages for e in p} == {"u-office"}
    by_support = school.people.audit_log(actor=SYSTEM, actor_id="u-support").entries
    assert [e.student_id for e in by_support] == ["lei", "lei", "lei"]
    start = clock.now() - timedelta(days=25)
    in_period = school.people.audit_log(actor=SYSTEM, since=start, until=start + timedelta(days=10))
    assert [(e.actor_id, e.student_id) for e in in_period.entries] == [
        ("u-office", "mei"),
        ("u-support", "lei"),
    ]
    school.students.erase(OFFICE, "mei")
    trail = school.people.audit_log(actor=SYSTEM, student_id="mei").entries
    assert [e.action for e in trail] == ["read", "read", "read", "erase"]
    assert "李mei" not in repr(trail)
    assert school.people.children_of("g-li") == {
        "lei": frozenset({GuardianRole.SEE_REPORTS, GuardianRole.RECEIVE_REMINDERS})
    }
    with pytest.raises(InvalidInput):
        school.people.audit_log(actor=SYSTEM, after="not a cursor")
