"""Alert rules: a threshold, a drop against the period before, a group below the school;
each raised once per rule per period, on the bus, naming the person to tell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.analytics import AlertRaised, AlertRule
from eduengine.errors import InvalidInput
from tests.adapters import StoreHandle

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def school(
    store: StoreHandle, rules: Sequence[AlertRule]
) -> tuple[School, FixedClock, InMemoryEventBus]:
    clock, events = FixedClock(MONDAY), InMemoryEventBus()

    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    return School.build(Store(), clock=clock, publisher=events, alert_rules=rules), clock, events


def register(s: School, clock: FixedClock, names: Sequence[str]) -> None:
    for name in names:
        s.students.register(name, name=name)
        clock.advance(timedelta(minutes=5))


def test_a_drop_against_last_week_is_raised_once_to_the_person_responsible(
    store: StoreHandle,
) -> None:
    rule = AlertRule.change("signups", "new_students", drop="0.2", notify="growth-lead")
    s, clock, events = school(store, [rule])
    register(s, clock, [f"a{i}" for i in range(5)])
    clock.set(MONDAY + timedelta(days=7))
    register(s, clock, [f"b{i}" for i in range(4)])  # 20% below: raised
    assert s.analytics.evaluate_alerts(MONDAY + timedelta(days=10)) == []  # week not over
    (alert,) = s.analytics.evaluate_alerts(MONDAY + timedelta(days=14, hours=1))
    assert (alert.notify, alert.value, alert.reference) == ("growth-lead", Decimal(4), Decimal(5))
    assert alert.period_start == datetime(2026, 3, 9, tzinfo=alert.period_start.tzinfo)
    assert [e for e in events.events if isinstance(e, AlertRaised)] == [alert]
    assert s.analytics.evaluate_alerts(MONDAY + timedelta(days=15)) == []  # once per period


def test_a_small_drop_or_a_threshold_not_crossed_raises_nothing(store: StoreHandle) -> None:
    rules = [
        AlertRule.change("signups", "new_students", drop="0.5", notify="lead"),
        AlertRule.threshold("floor", "new_students", below=1, notify="lead"),
    ]
    s, clock, _ = school(store, rules)
    register(s, clock, ["a", "b", "c"])
    clock.set(MONDAY + timedelta(days=7))
    register(s, clock, ["d", "e"])  # a third fewer: under the 50% the rule asks
    assert s.analytics.evaluate_alerts(MONDAY + timedelta(days=14)) == []
    # the week after: nobody signed up, below the floor of one (and a 100% drop)
    fired = s.analytics.evaluate_alerts(MONDAY + timedelta(days=21))
    assert sorted((a.rule_id, a.value) for a in fired) == [
        ("floor", Decimal(0)),
        ("signups", Decimal(0)),
    ]


def test_a_course_far_below_the_school_average_is_flagged_for_the_head_teacher(
    store: StoreHandle,
) -> None:
    rule = AlertRule.below_peers(
        "completion", "attendance_rate", by="course", margin="0.3", notify="head-teacher"
    )
    s, clock, _ = school(store, [rule])
    start = MONDAY + timedelta(hours=2)
    seats = {}
    for course, size in (("math", 2), ("art", 8)):
        slot = s.booking.create_slot(course, start, start + timedelta(hours=1), capacity=size)
        seats[course] = [s.booking.book(slot.id, f"{course}{i}").id for i in range(size)]
    clock.advance(timedelta(hours=3))
    s.booking.mark_attended(seats["math"][0])
    s.booking.mark_no_show(seats["math"][1])
    for seat in seats["art"]:
        s.booking.mark_attended(seat)
    (alert,) = s.analytics.evaluate_alerts(MONDAY + timedelta(days=7))
    assert (alert.key, alert.value, alert.reference) == ("math", Decimal("0.5"), Decimal("0.9"))
    assert alert.notify == "head-teacher" and "math" in alert.message


def test_a_rule_must_name_a_known_metric_and_its_bound() -> None:
    with pytest.raises(InvalidInput):
        AlertRule(id="r", metric="fill_rate", kind="change", notify="x")
    from eduengine import InMemoryStore

    with pytest.raises(InvalidInput):
        School.build(
            InMemoryStore(),
            alert_rules=[AlertRule.threshold("r", "happiness", below=1, notify="x")],
        )


def test_checking_the_alerts_shows_what_fires_and_records_nothing(store: StoreHandle) -> None:
    rule = AlertRule.change("signups", "new_students", drop="0.2", notify="growth-lead")
    s, clock, events = school(store, [rule])
    register(s, clock, [f"a{i}" for i in range(5)])
    clock.set(MONDAY + timedelta(days=7))
    register(s, clock, [f"b{i}" for i in range(4)])
    at = MONDAY + timedelta(days=14, hours=1)
    seen = s.analytics.check_alerts(at)
    assert [(a.rule_id, a.value, a.reference) for a in seen] == [
        ("signups", Decimal(4), Decimal(5))
    ]
    assert s.analytics.check_alerts(at) == seen  # however often a board asks
    assert not [e for e in events.events if isinstance(e, AlertRaised)]
    # the periodic job still raises it, once
    assert s.analytics.evaluate_alerts(at) == seen
    assert s.analytics.check_alerts(at) == seen
    with pytest.raises(InvalidInput):
        s.analytics.check_alerts(datetime(2026, 3, 20))  # naive
