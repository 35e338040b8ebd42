"""Upgrading a store written before indexes: ``School.reindex()`` files every document
under exactly the index entries the current code writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

from eduengine import FixedClock, InMemoryStore, School
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.deals import GroupDealCampaign
from eduengine.levels import LearningEvent, LevelCurve, XpRule
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.students import Actor
from tests.payers import method_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_busy_school(store: InMemoryStore, clock: FixedClock) -> School:
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        xp_rules=[XpRule(kind="lesson", points=10)],
        level_curve=LevelCurve.flat(100, 5),
    )
    for student in ("ann", "bob", "cat"):
        school.students.register(student, name=student.title())
        school.students.buy_package(student, credits=2, valid_for=timedelta(days=30))
        school.levels.record(
            LearningEvent(student_id=student, kind="lesson", source_id="l1", occurred_at=T0)
        )
    slot = school.booking.create_slot(
        "math", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1), 5
    )
    school.booking.book(slot.id, "ann")
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="UTC",
            weekly={d: (TimeRange(time(9), time(17)),) for d in range(7)},
        )
    )
    school.availability.book("lin", "bob", T0 + timedelta(days=1, hours=1))
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=3,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    # a method on file: reindex files it under its payer again, as every other document
    school.deals.open_group(
        "spring", "cat", method_id=method_for(school.payments, "cat", "acct-cat")
    )
    school.students.view(Actor(id="u1", role="academic"), "ann")  # an audit entry
    return school


def test_reindex_restores_every_index_entry_of_a_store_written_without_them() -> None:
    store, clock = InMemoryStore(), FixedClock(T0)
    school = a_busy_school(store, clock)
    expected = dict(store.record_index.entries)
    assert expected, "the school files its documents under indexes"
    # what a store written by the release before indexes holds: the same documents only
    with store.unit_of_work() as uow:
        for kind, docs in list(store.records.items()):
            for key, text in list(docs.items()):
                uow.records.put(kind, key, json.loads(text))
        uow.commit()
    for kind, key in list(store.record_index.entries):
        if kind == "slot_time":  # slots are filed in the timetable as they are inserted
            store.record_index.replace(kind, key, None)
    assert store.record_index.entries == {}
    assert school.reminders.due_reminders(actor=SYSTEM) == []  # blind without its index

    counts = school.reindex()

    assert store.record_index.entries == expected
    assert counts["timetable"] == 2
    # the bookings' reminders live in their class documents, refiled with the notices
    assert counts["notices"] >= 2 and counts["audit"] == 1
    assert [r.kind for r in school.reminders.due_reminders(actor=SYSTEM)] == [
        "confirmation",
        "confirmation",
    ]
