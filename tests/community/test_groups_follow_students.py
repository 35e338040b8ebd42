"""Class and course groups follow the students feed: joined on enrolment and class
assignment, moved on a transfer, left on churn and joined again on return; and a
student's erasure scrubs their posts. On every adapter."""

from __future__ import annotations

import json
from datetime import timedelta

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.community import GroupJoined, GroupLeft, PostStatus
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.students import Actor
from eduengine.students.model import SchoolClass
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.till import checkout

ADMIN = Actor(id="admin", role="admin")


def _school(store: StoreHandle, clock: FixedClock, events: InMemoryEventBus) -> School:
    school = School.build(
        store, clock=clock, gateway=FakePaymentGateway(), publisher=events, reminders=None
    )
    for class_id in ("A1", "B1"):
        school.students.create_class(SchoolClass(id=class_id, name=class_id, capacity=10))
    return school


def test_students_join_leave_and_rejoin_their_groups_with_the_feed(store: StoreHandle) -> None:
    clock, events = FixedClock(T0), InMemoryEventBus()
    school = _school(store, clock, events)
    c = school.community
    school.students.register("ann", name="Ann")
    checkout(
        school.pricing,
        "o1",
        Customer(student_id="ann"),
        [OrderLine(course_id="ielts", price=Money("100", "CNY"))],
        account="acct-ann",
    )
    school.students.assign("ann", "A1")
    assert sorted(c.groups_of("ann", actor=ADMIN)) == ["class:A1", "course:ielts"]
    assert c.members_of("course:ielts", actor=ADMIN) == ["ann"]

    school.students.transfer("ann", "B1")
    assert sorted(c.groups_of("ann", actor=ADMIN)) == ["class:B1", "course:ielts"]
    assert c.members_of("class:A1", actor=ADMIN) == []

    school.students.churn("ann", reason_code="price")
    assert c.groups_of("ann", actor=ADMIN) == []
    clock.advance(timedelta(days=1))
    school.students.record_activity("ann", "login")  # back: the same groups again
    assert sorted(c.groups_of("ann", actor=ADMIN)) == ["class:B1", "course:ielts"]

    # the projection's own events join the feed with its changes
    feed = [e.event for e in school.feed.events_since(0, limit=1000)]
    joined = [(e.group_id, e.reason) for e in feed if isinstance(e, GroupJoined)]
    left = [(e.group_id, e.reason) for e in feed if isinstance(e, GroupLeft)]
    assert joined == [
        ("course:ielts", "enrolled"),
        ("class:A1", "assigned"),
        ("class:B1", "assigned"),
        ("course:ielts", "returned"),
        ("class:B1", "returned"),
    ]
    assert left == [
        ("class:A1", "transferred"),
        ("course:ielts", "churned"),
        ("class:B1", "churned"),
    ]
    # each event applied once: catching up again changes nothing
    assert school.projections.catch_up().get("community") == 0


def test_erasure_scrubs_the_students_posts_and_devices(store: StoreHandle) -> None:
    clock, events = FixedClock(T0), InMemoryEventBus()
    school = _school(store, clock, events)
    c = school.community
    school.students.register("ann", name="Ann")
    school.students.register("bob", name="Bob")
    for student in ("ann", "bob"):
        school.students.assign(student, "A1")
    clock.advance(timedelta(days=8))
    secret = "我家住在幸福路七号，电话一三八"
    mine = c.post("class:A1", "ann", secret, device="device-ann-7f3a")
    clock.advance(timedelta(seconds=1))
    reply = c.post("class:A1", "bob", "收到", reply_to=mine.id, device="device-bob")
    clock.advance(timedelta(seconds=1))
    # past the new-member period a handle is no spam signal: shown
    handle = c.post("class:A1", "ann", "加我微信 annlee_1990 一起复习吧")
    assert handle.status is PostStatus.SHOWN

    report = school.students.erase(ADMIN, "ann")
    assert report.removed["community"] == 3  # two posts and the device link
    dump = json.dumps(store.snapshot(), default=str, ensure_ascii=False)
    for value in (secret, "annlee_1990", "device-ann-7f3a"):
        assert value not in dump
    # the thread keeps its shape: the erased post, then bob's reply, untouched
    thread = c.thread(mine.id, actor=ADMIN)
    assert [(p.id, p.text, p.erased) for p in thread] == [
        (mine.id, "", True),
        (reply.id, "收到", False),
    ]
    assert c.get(reply.id, actor=ADMIN).device_id == "device-bob"
    again = school.students.erase(ADMIN, "ann")
    assert again.removed["community"] == 0
