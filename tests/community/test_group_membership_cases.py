"""Each way a student comes into or out of a group, one test each, on every adapter:
enrolment (a paid order, a group deal forming) joins the course's group; a transfer
leaves the old class's group and joins the new one; churn leaves every group. Being in
a group is what posting in it checks, so each test posts too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import NotAGroupMember
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.students import Actor
from eduengine.students.model import SchoolClass
from tests.adapters import StoreHandle
from tests.payers import method_for
from tests.till import checkout

OFFICE = Actor(id="u-office", role="academic")


def _school(store: StoreHandle, clock: FixedClock) -> School:
    school = School.build(store, clock=clock, gateway=FakePaymentGateway(), reminders=None)
    for class_id in ("A1", "B1"):
        school.students.create_class(SchoolClass(id=class_id, name=class_id, capacity=10))
    for student in ("ann", "bob"):
        school.students.register(student, name=student.title())
    return school


def test_paying_for_a_course_joins_its_group(store: StoreHandle, clock: FixedClock) -> None:
    school = _school(store, clock)
    with pytest.raises(NotAGroupMember):
        school.community.post("course:ielts", "ann", "hello")
    checkout(
        school.pricing,
        "o1",
        Customer(student_id="ann"),
        [OrderLine(course_id="ielts", price=Money("100", "CNY"))],
        account="acct-ann",
    )
    assert school.community.groups_of("ann", actor=OFFICE) == ["course:ielts"]
    assert school.community.post("course:ielts", "ann", "hello").visible


def test_a_group_deal_forming_joins_its_members_to_the_course_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("299", "CNY"),
            group_price=Money("199", "CNY"),
            required_size=2,
            max_size=3,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "spring", "ann", method_id=method_for(school.payments, "ann", "acct-ann")
    )
    assert school.community.members_of("course:math", actor=OFFICE) == []  # not formed yet
    school.deals.join_group(
        group.id, "bob", method_id=method_for(school.payments, "bob", "acct-bob")
    )
    assert school.community.members_of("course:math", actor=OFFICE) == ["ann", "bob"]


def test_a_transfer_leaves_the_old_class_group_and_joins_the_new(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    school.students.assign("ann", "A1")
    assert school.community.members_of("class:A1", actor=OFFICE) == ["ann"]
    school.students.transfer("ann", "B1")
    assert school.community.groups_of("ann", actor=OFFICE) == ["class:B1"]
    assert school.community.members_of("class:A1", actor=OFFICE) == []
    with pytest.raises(NotAGroupMember):
        school.community.post("class:A1", "ann", "still here?")
    assert school.community.post("class:B1", "ann", "hello B1").visible


def test_churn_leaves_every_group(store: StoreHandle, clock: FixedClock) -> None:
    school = _school(store, clock)
    school.students.assign("ann", "A1")
    school.community.join("course:ielts", "ann")
    school.students.churn("ann", reason_code="price")
    assert school.community.groups_of("ann", actor=OFFICE) == []
    assert school.community.members_of("class:A1", actor=OFFICE) == []
    for group_id in ("class:A1", "course:ielts"):
        with pytest.raises(NotAGroupMember):
            school.community.post(group_id, "ann", "bye")
