"""The analytics edge cases, pinned on every adapter: empty periods, time-zone bucketing
across DST (and a half-hour zone), corrected attendance, cancelled and still-open
groups, erased students (counted, never identified), reason codes on every cancel and
churn path, and the rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.analytics import Period
from eduengine.deals import GroupDealCampaign
from eduengine.errors import InvalidInput, InvalidTransition
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.students.privacy import Actor
from tests.adapters import StoreHandle
from tests.payers import method_for
from tests.till import checkout

T0 = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # Friday; Berlin goes to summer time on Sunday


@attrs.define
class Bench:
    school: School
    clock: FixedClock
    events: InMemoryEventBus


@pytest.fixture
def bench(store: StoreHandle) -> Iterator[Bench]:
    clock = FixedClock(T0)
    events = InMemoryEventBus()

    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    school = School.build(
        Store(), clock=clock, gateway=FakePaymentGateway(), publisher=events, risk_rules=()
    )
    yield Bench(school, clock, events)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def lesson(b: Bench, start: datetime, course: str = "math", capacity: int = 4) -> str:
    slot = b.school.booking.create_slot(
        course, start, start + timedelta(hours=1), capacity=capacity, tutor_id="wang"
    )
    return slot.id


def test_an_empty_period_answers_with_no_rows_and_no_rates(bench: Bench) -> None:
    a, period = bench.school.analytics, Period.week(date(2026, 3, 23), "Asia/Shanghai")
    assert a.fill_rate(period) == [] and a.attendance(period, by="hour") == []
    assert a.cancellation_reasons(period) == [] and a.lead_time(period) == []
    assert a.peak_hours(period) == [] and a.group_metrics(period) == []
    assert a.new_students(period) == 0 and a.active_students(period) == 0
    assert a.renewal_rate(period).rate is None and a.referral_rate(period).rate is None
    assert [r.students for r in a.funnel(period)] == [0, 0, 0, 0]
    assert a.churn_reasons(period) == [] and a.time_to_level_up(period) == []


def test_hours_and_weekdays_are_read_in_the_zone_asked_across_a_dst_change(
    bench: Bench,
) -> None:
    # Berlin, Sunday 29 March 2026: 01:30 CET, then (clocks jump 02:00 -> 03:00) 03:30 CEST
    for start in (at(29, 0, 30), at(29, 1, 30), at(28, 22, 30), at(29, 22, 30)):
        lesson(bench, start)
    a = bench.school.analytics
    sunday = Period.days(date(2026, 3, 29), 1, "Europe/Berlin")
    assert sunday.end.astimezone(UTC) - sunday.start.astimezone(UTC) == timedelta(hours=23)
    # 22:30 UTC on the 28th is 23:30 on Saturday; 22:30 UTC on the 29th is Monday 00:30
    assert [(r.key, r.offered) for r in a.fill_rate(sunday, by="hour")] == [
        ("01:00", 4),
        ("03:00", 4),
    ]
    weekend = Period.days(date(2026, 3, 28), 3, "Europe/Berlin")
    assert [(r.key, r.offered) for r in a.fill_rate(weekend, by="weekday")] == [
        ("mon", 4),
        ("sat", 4),
        ("sun", 8),
    ]
    # the week after the change is still seven local days
    assert weekend.previous().start == datetime(2026, 3, 25, tzinfo=sunday.tz)
    # a half-hour zone shows the UTC hour's local start (documented caveat)
    kolkata = Period.days(date(2026, 3, 29), 1, "Asia/Kolkata")
    assert [r.key for r in a.fill_rate(kolkata, by="hour")] == ["03:30", "05:30", "06:30"]


def test_a_corrected_attendance_mark_moves_the_seat_and_never_counts_twice(
    bench: Bench,
) -> None:
    slot = lesson(bench, T0 + timedelta(hours=2))
    seat = bench.school.booking.book(slot, "ann")
    bench.school.booking.book(slot, "bob")
    bench.clock.advance(timedelta(hours=3))
    bench.school.booking.mark_attended(seat.id)
    bench.school.booking.mark_no_show(seat.id)
    (row,) = bench.school.analytics.attendance(Period.days(T0.date(), 1), by="school")
    assert (row.booked, row.attended, row.no_show, row.unmarked) == (2, 0, 1, 1)
    assert row.no_show_rate == 1 and row.attendance_rate == 0


def test_every_cancel_path_carries_its_reason_code_and_a_bad_code_changes_nothing(
    bench: Bench,
) -> None:
    b = bench.school
    series = b.booking.create_series(
        "code", "FREQ=DAILY;COUNT=3", T0 + timedelta(days=1), timedelta(hours=1), capacity=3
    )
    b.booking.book_series(series.id, "ann")
    one = lesson(bench, T0 + timedelta(days=2))
    seats = [b.booking.book(one, s).id for s in ("bob", "cat", "dan")]
    b.booking.cancel(seats[0], reason_code="sick")
    b.policies.cancel(seats[1], reason_code="price")
    before = b.analytics.cancellation_reasons(Period.days(T0.date(), 1))
    with pytest.raises(InvalidInput):
        b.booking.cancel(seats[2], reason_code="")
    with pytest.raises(InvalidInput):
        b.booking.cancel_slot(one, reason_code="x" * 65)
    assert b.analytics.cancellation_reasons(Period.days(T0.date(), 1)) == before
    assert len(b.booking.cancel_series(series.id, "ann", reason_code="moved_away")) == 3
    with pytest.raises(InvalidTransition):
        b.booking.cancel_series(series.id, "ann")
    b.booking.cancel_slot(one, reason_code="tutor_sick")
    got = {(r.reason, r.count) for r in b.analytics.cancellation_reasons(Period.days(T0.date(), 1))}
    assert got == {("moved_away", 3), ("sick", 1), ("price", 1), ("tutor_sick", 1)}
    # a cancelled session offers nothing and holds nothing: it leaves no row
    rows = b.analytics.fill_rate(Period.days(T0.date(), 3), by="course")
    assert [(r.key, r.offered, r.booked) for r in rows] == [("code", 6, 0)]


def test_churn_takes_a_reason_and_activity_brings_the_student_back(bench: Bench) -> None:
    b = bench.school
    b.students.register("ann", name="安")
    b.students.churn("ann", reason_code="price")
    with pytest.raises(InvalidTransition):
        b.students.churn("ann")
    assert b.students.stage_history("ann", actor=SYSTEM)[-1][::2] == ("churned", "price")
    bench.clock.advance(timedelta(hours=1))
    b.students.record_activity("ann", "trial_booked")
    assert b.students.stage_history("ann", actor=SYSTEM)[-1][0] == "trial"
    day = Period.days(T0.date(), 1)
    assert [(r.key, r.count) for r in b.analytics.churn_reasons(day)] == [("price", 1)]
    assert [r.students for r in b.analytics.funnel(day)] == [1, 1, 0, 0]


def test_cancelled_failed_formed_and_still_open_groups_are_each_accounted_for(
    bench: Bench,
) -> None:
    deals = bench.school.deals
    deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199", "CNY"),
            group_price=Money("99", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
            max_opened_per_student=3,
        )
    )
    formed = deals.open_group(
        "spring", "ann", method_id=method_for(bench.school.payments, "ann", "a")
    )
    deals.join_group(formed.id, "bob", method_id=method_for(bench.school.payments, "bob", "b"))
    cancelled = deals.open_group(
        "spring", "cat", method_id=method_for(bench.school.payments, "cat", "c")
    )
    deals.cancel_group(cancelled.id)
    failed = deals.open_group(
        "spring", "dan", method_id=method_for(bench.school.payments, "dan", "d")
    )
    bench.clock.advance(timedelta(hours=25))
    deals.expire_due()
    deals.open_group(
        "spring", "eve", method_id=method_for(bench.school.payments, "eve", "e")
    )  # still open
    week = Period.week(T0.date())
    (row,) = bench.school.analytics.group_metrics(week, by="school")
    assert (row.opened, row.formed, row.failed, row.cancelled, row.still_open) == (4, 1, 1, 1, 1)
    assert row.success_rate == Decimal("0.5") and row.formed_share == Decimal("0.25")
    assert row.orders == 5 and row.average_order_value == Money("99", "CNY")
    assert deals.get_group(failed.id, actor=SYSTEM).state.value == "failed"


def test_erased_students_are_counted_but_never_identified(bench: Bench) -> None:
    b = bench.school
    for sid in ("ann", "bob"):
        b.students.register(sid, name=f"name-{sid}")
    b.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199", "CNY"),
            group_price=Money("99", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    group = b.deals.open_group("spring", "ann", method_id=method_for(b.payments, "ann", "a"))
    b.deals.join_group(group.id, "bob", method_id=method_for(b.payments, "bob", "b"))
    b.students.erase(Actor(id="dpo", role="admin"), "ann")
    day = Period.days(T0.date(), 1)
    assert b.analytics.new_students(day) == 2
    rows = b.analytics.group_metrics(day, by="opener")
    assert [(r.key, r.opened, r.new_students) for r in rows] == [("erased", 1, 1)]
    everything = repr(
        [rows, b.analytics.segments(), b.analytics.funnel(day), b.analytics.stage_moves(day)]
    )
    assert "ann" not in everything and "name-ann" not in everything


def test_rebuild_replays_the_feed_and_recovers_what_documents_lost(store: StoreHandle) -> None:
    """What the stored documents no longer hold (a cancelled seat's reason, the first of
    two marks, spend) is recovered from the feed."""
    clock = FixedClock(T0)
    b = School.build(store, clock=clock, gateway=FakePaymentGateway(), risk_rules=())
    b.students.register("ann", name="安")
    slot = b.booking.create_slot(
        "math", T0 + timedelta(hours=5), T0 + timedelta(hours=6), capacity=4, tutor_id="wang"
    )
    seat = b.booking.book(slot.id, "ann")
    b.booking.cancel(b.booking.book(slot.id, "bob").id, reason_code="sick")
    checkout(
        b.pricing,
        "o1",
        Customer(student_id="ann"),
        [OrderLine(course_id="math", price=Money("300", "CNY"))],
        account="a",
    )
    clock.advance(timedelta(hours=6))
    b.booking.mark_no_show(seat.id)
    b.booking.mark_attended(seat.id)  # corrected
    week = Period.week(T0.date())

    def figures() -> object:
        a = b.analytics
        return (
            a.fill_rate(week, by="hour"),
            a.attendance(week, by="tutor"),
            a.cancellation_reasons(week, by="course"),
            a.lead_time(week),
            a.funnel(week),
            a.new_students(week),
            a.active_students(week),
            a.stage_moves(week),
            a.segments(spend_bands=(0, 100, 500)),
        )

    live = figures()
    assert [(r.reason, r.count) for r in b.analytics.cancellation_reasons(week)] == [("sick", 1)]
    done = b.analytics.rebuild(batch=1)
    assert done["events"] > 0 and done["documents"] > 0 and done["position"] == b.feed.head()
    assert figures() == live


def test_a_school_built_without_analytics_keeps_no_counters_and_books_as_usual(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, analytics=False)
    start = at(30, 10)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=2)
    school.booking.book(slot.id, "ann")
    school.booking.cancel(school.booking.book(slot.id, "bob").id, reason_code="sick")
    assert school.booking.get_slot(slot.id, actor=SYSTEM).holds_seat("ann")
    with store.unit_of_work() as uow:
        assert uow.records.list("analytics_counter") == []
    counted = School.build(store, clock=clock)  # the same store, counting from now on
    counted.booking.book(slot.id, "cat")
    period = Period.week(date(2026, 3, 30), "UTC")
    assert [(r.key, r.booked) for r in counted.analytics.fill_rate(period)] == [("math", 1)]


@pytest.mark.parametrize("others_erased", [0, 5])
def test_an_erased_opener_is_found_among_few_or_many_erased_students(
    bench: Bench, others_erased: int
) -> None:
    """The opener check reads the projection's erased markers whole when there are few,
    by opener when there are more erased students than openers: the same answer."""
    b = bench.school
    students = ["ann", "bob", "cat"] + [f"x{n}" for n in range(others_erased)]
    for sid in students:
        b.students.register(sid, name=f"name-{sid}")
    b.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("199", "CNY"),
            group_price=Money("99", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    for opener in ("ann", "bob"):
        b.deals.open_group(
            "spring", opener, method_id=method_for(b.payments, opener, f"acct-{opener}")
        )
    for sid in ["ann", *students[3:]]:
        b.students.erase(Actor(id="dpo", role="admin"), sid)
    day = Period.days(T0.date(), 1)
    rows = b.analytics.group_metrics(day, by="opener")
    assert [(r.key, r.opened) for r in rows] == [("bob", 1), ("erased", 1)]
    assert b.analytics.reindex() >= 1 + others_erased  # the markers are refiled too
    assert b.analytics.group_metrics(day, by="opener") == rows
