"""Segments on every adapter: counted, paged by keyset, exported; and the sweep that
moves time-based tags and inactivity churn for exactly the students whose time has come."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import InvalidInput, NotFound
from eduengine.growth.segments import RETAG_DUE, ROSTER, Segment
from eduengine.kernel.codec import micros
from eduengine.people import SYSTEM
from eduengine.students import Guardian, TagRule
from tests.adapters import StoreHandle
from tests.conftest import T0


def school_on(store: StoreHandle, clock: FixedClock) -> School:
    return School.build(store, clock=clock, tag_rules=[TagRule.inactive_for("at-risk", 14)])


def due_students(store: StoreHandle, clock: FixedClock) -> list[str]:
    with store.unit_of_work() as uow:
        return [k for k, _ in uow.records.scan(ROSTER, RETAG_DUE, hi=micros(clock.now()))]


def test_pages_by_keyset_in_registration_order(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = school_on(store, clock)
    for n in range(7):
        school.students.register(f"s{n}", name=f"S{n}")
    for n in (1, 4):
        school.students.tag(f"s{n}", "vip")
    school.segments.save("regular", Segment(tags_none={"vip"}))
    seen: list[str] = []
    cursor = None
    while True:
        page = school.segments.page("regular", after=cursor, limit=2, actor=SYSTEM)
        seen += page.student_ids
        if cursor is None:
            school.students.register("late", name="Late")  # never shifts a page
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["s0", "s2", "s3", "s5", "s6", "late"]
    assert school.segments.count("regular") == 6
    assert school.segments.count(Segment(tags_all={"vip"})) == 2
    assert list(school.segments.audience(Segment(tags_any={"vip"}), actor=SYSTEM)) == ["s1", "s4"]
    with pytest.raises(NotFound):
        school.segments.count("nope")
    with pytest.raises(InvalidInput):
        school.segments.page("regular", after="bogus", actor=SYSTEM)


def test_conditions_and_export(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = school_on(store, clock)
    school.students.register(
        "ann", name="Ann", guardians=[Guardian(name="Mum", phone="13800000000")]
    )
    school.students.register("bob", name="Bob")
    school.students.buy_package("bob", credits=3, valid_for=timedelta(days=30), activate=True)
    assert list(school.segments.audience(Segment(guardian_channel="phone"), actor=SYSTEM)) == [
        "ann"
    ]
    assert list(
        school.segments.audience(Segment(min_purchases=1, credits_left_at_most=3), actor=SYSTEM)
    ) == ["bob"]
    assert list(school.segments.audience(Segment(has_active_package=False), actor=SYSTEM)) == [
        "ann"
    ]
    assert list(school.segments.audience(Segment(stages={"first_purchase"}), actor=SYSTEM)) == [
        "bob"
    ]
    clock.advance(timedelta(days=10))
    assert list(school.segments.audience(Segment(inactive_days=7), actor=SYSTEM)) == ["ann", "bob"]
    assert list(school.segments.audience(Segment(active_within_days=7), actor=SYSTEM)) == []
    assert school.segments.sweep_due() == 2  # both never logged in: at-risk
    csv = school.segments.export(Segment(stages={"first_purchase"}), actor=SYSTEM).splitlines()
    assert csv[0] == "student_id,stage,tags,purchases,last_active,region"
    assert csv[1] == "bob,first_purchase,at-risk,1,2026-03-02T09:00:00+00:00,"


def test_saved_segments_round_trip(store: StoreHandle) -> None:
    school = school_on(store, FixedClock(T0))
    from eduengine.pricing import Money

    wanted = Segment(
        stages={"trial"},
        tags_all={"a"},
        inactive_days=3,
        min_spend=Money("10", "CNY"),
        guardian_channel="email",
        has_active_package=True,
    )
    school.segments.save("s", wanted)
    assert school.segments.get("s") == wanted


def test_the_sweep_reads_only_due_students_and_moves_them(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = school_on(store, clock)
    for sid in ("ann", "bob", "cy"):
        school.students.register(sid, name=sid)
        school.students.record_activity(sid, "login")
    school.students.buy_package("cy", credits=3, valid_for=timedelta(days=300), activate=True)
    # a due time may be early (a login moves it later without an event), never late:
    # the first sweep re-reads ann and bob, changes nothing and files their true times
    assert school.segments.sweep_due() == 2
    assert school.segments.count(Segment(tags_any={"at-risk"})) == 0
    assert due_students(store, clock) == []
    clock.advance(timedelta(days=10))
    school.students.record_activity("bob", "login")  # bob's time moves on
    clock.advance(timedelta(days=5))
    # ann and cy are due (14 days without a login); bob's due time is early (his login
    # filed nothing), so he is read once and filed at his true time
    assert sorted(due_students(store, clock)) == ["ann", "bob", "cy"]
    assert school.segments.sweep_due() == 3
    assert school.segments.sweep_due() == 0  # run twice: nothing more
    assert list(school.segments.audience(Segment(tags_all={"at-risk"}), actor=SYSTEM)) == [
        "ann",
        "cy",
    ]
    assert due_students(store, clock) == []
    assert "at-risk" in school.students.refresh_tags("ann")[0]
    clock.advance(timedelta(days=46))  # cy: 61 days without activity after buying
    assert school.segments.sweep_due() >= 1
    assert list(school.segments.audience(Segment(stages={"churned"}), actor=SYSTEM)) == ["cy"]
    assert [s for s, _, _ in school.students.stage_history("cy", actor=SYSTEM)][-1] == "churned"


def test_mastery_and_linked_guardians_channels(store: StoreHandle) -> None:
    from decimal import Decimal

    from eduengine.people import GuardianRole

    school = school_on(store, FixedClock(T0))
    for sid in ("ann", "bob", "cy"):
        school.students.register(sid, name=sid)
    for _ in range(4):
        school.mastery.observe("ann", "fractions", True)
        school.mastery.observe("bob", "fractions", False)
    # cy has not met the point: she counts at its prior, below 0.6
    weak = Segment(mastery_below={"fractions": Decimal("0.6")})
    assert list(school.segments.audience(weak, actor=SYSTEM)) == ["bob", "cy"]
    strong = Segment(mastery_at_least={"fractions": "0.6"})
    assert list(school.segments.audience(strong, actor=SYSTEM)) == ["ann"]
    school.segments.save("weak", weak)
    assert school.segments.get("weak") == weak
    # a guardian account linked to bob (not given at registration) reaches him by email
    school.people.add_guardian("g-li", name="李强", email="li@example.com")
    school.people.link("g-li", "bob", {GuardianRole.RECEIVE_REMINDERS})
    assert list(school.segments.audience(Segment(guardian_channel="email"), actor=SYSTEM)) == [
        "bob"
    ]
    assert list(school.segments.audience(Segment(guardian_channel="phone"), actor=SYSTEM)) == []
    with pytest.raises(InvalidInput):
        Segment(mastery_below={"fractions": "1.5"})
    with pytest.raises(InvalidInput):
        Segment(mastery_below={"fractions": 0.5})  # a float is no mastery bound
