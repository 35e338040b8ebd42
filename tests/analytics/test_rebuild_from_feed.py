"""``school.analytics.rebuild()`` replays the event feed into the same counters the live
projection kept, on every adapter: after a random school history (bookings,
cancellations with reasons, attendance and its corrections, orders, group deals paid and
refunded, referrals, churn, level-ups, erasure), every query answers the same."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryRecordRepository
from eduengine.adapters.sql import SqlRecordRepository
from eduengine.analytics import AnalyticsService, Period
from eduengine.analytics import projection as pj
from eduengine.booking.events import SlotCreated
from eduengine.deals import GroupDealCampaign, GroupOpened
from eduengine.errors import FeedUnavailable
from eduengine.events.projections import Reactions
from eduengine.kernel.codec import micros
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from tests.adapters import StoreHandle, make_store
from tests.analytics.world import OPS, T0, build, step
from tests.payers import method_for
from tests.till import checkout

ZONES = ("UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata")
#: the world's commands, with level-ups
MOVES = (*OPS, "xp", "xp", "mark", "tick")

periods = st.one_of(
    st.builds(
        lambda first, days, tz: Period.days(T0.date() + timedelta(days=first), days, tz),
        st.integers(-1, 3),
        st.integers(1, 5),
        st.sampled_from(ZONES),
    ),
    st.builds(lambda tz: Period.month(2026, 3, tz), st.sampled_from(ZONES)),
    st.builds(lambda tz: Period.week(date(2026, 3, 30), tz), st.sampled_from(ZONES)),
)
scripts = st.lists(
    st.tuples(st.sampled_from(MOVES), st.integers(0, 10_000)), min_size=5, max_size=40
)


def dashboard(a: AnalyticsService, asked: list[Period]) -> list[object]:
    """Every query's answer over each period."""
    out: list[object] = [a.segments(), a.segments(spend_bands=(0, 100, 300))]
    for p in asked:
        for by in ("course", "tutor", "weekday", "hour", "weekday_hour", "school"):
            out += [a.fill_rate(p, by=by), a.attendance(p, by=by)]
        for by in ("course", "school"):
            out.append(a.cancellation_reasons(p, by=by))
        for by in ("course", "weekday", "hour"):
            out.append(a.lead_time(p, by=by))
        for by in ("course", "campaign", "opener", "school"):
            out.append(a.group_metrics(p, by=by))
        out += [
            a.peak_hours(p),
            a.popular_courses(p),
            a.popular_tutors(p),
            a.new_students(p),
            a.stage_moves(p),
            a.churn_reasons(p),
            a.active_students(p),
            a.renewal_rate(p),
            a.referral_rate(p),
            a.funnel(p),
            a.time_to_level_up(p),
        ]
    return out


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=scripts,
    asked=st.lists(periods, min_size=1, max_size=3),
    batch=st.integers(1, 60),
)
def test_rebuild_from_the_feed_equals_the_live_counters(
    store: StoreHandle,
    tmp_path_factory: pytest.TempPathFactory,
    script: list[tuple[str, int]],
    asked: list[Period],
    batch: int,
) -> None:
    handle = make_store(store.name, tmp_path_factory.mktemp("school"))
    try:
        world = build(handle, feed=True)
        for op, n in script:
            step(world, op, n)
        school = world.school
        assert school.projections.catch_up().ok  # the live counters are up to date
        live = dashboard(school.analytics, asked)
        done = school.analytics.rebuild(batch=batch)
        assert done["position"] == school.feed.head()
        assert school.projections.checkpoints()["analytics"] == school.feed.head()
        assert dashboard(school.analytics, asked) == live
        # the school goes on counting from where the rebuild left off, once each
        step(world, "book", 1)
        step(world, "order", 2)
        again = School.build(handle, clock=world.clock, analytics=True)
        assert again.analytics.rebuild(batch=500)["events"] >= done["events"]
        assert dashboard(again.analytics, asked) == dashboard(school.analytics, asked)
    finally:
        handle.close()


def test_each_touched_document_is_written_once_per_batch(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The projection buffers a batch: a counter, roll-up or student profile that many
    events touch is one write (a booking's own transaction writes none: the projection
    runs after it commits)."""
    clock = FixedClock(T0)
    school = School.build(
        store, clock=clock, inline_projections=False, gateway=FakePaymentGateway()
    )
    school.students.register("s0", name="s0")
    start = T0 + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=30)
    for n in range(20):
        school.booking.book(slot.id, f"s{n}")
    for n in range(3):
        checkout(
            school.pricing,
            f"o{n}",
            Customer(student_id="s0"),
            [OrderLine(course_id="math", price=Money("100", "CNY"))],
            account="a",
        )
    with store.unit_of_work() as uow:
        assert all(uow.records.list(kind) == [] for kind in pj.KINDS)  # none in the commands
    writes: list[tuple[str, str]] = []
    inside_put_many = [0]

    def spying(cls: type) -> None:
        # on the adapters' repositories themselves: a unit of work makes its own afresh
        # in each transaction, and a sealing store wraps them
        put, put_many = cls.put, cls.put_many  # type: ignore[attr-defined]

        def spy_put(self: object, kind: str, key: str, data: object, **kw: object) -> None:
            if not inside_put_many[0]:
                writes.append((kind, key))
            put(self, kind, key, data, **kw)

        def spy_put_many(self: object, kind: str, docs: dict[str, object]) -> None:
            writes.extend((kind, key) for key in docs)
            inside_put_many[0] += 1
            try:
                put_many(self, kind, docs)
            finally:
                inside_put_many[0] -= 1

        monkeypatch.setattr(cls, "put", spy_put)
        monkeypatch.setattr(cls, "put_many", spy_put_many)

    spying(SqlRecordRepository)
    spying(InMemoryRecordRepository)
    assert school.projections.catch_up(batch=500).get("analytics", 0) >= 25
    monkeypatch.undo()
    ours = [(kind, key) for kind, key in writes if kind in pj.KINDS]
    assert len(ours) == len(set(ours))
    assert (pj.PROFILES, "s0") in ours
    day = micros(start) // pj.DAY * pj.DAY
    assert (pj.COUNTERS, f"{pj.rollup(pj.LESSON_COURSE)}|all|{day}") in ours
    spend = {r.key: r.students for r in school.analytics.segments(spend_bands=(0, 300))}
    assert spend["300+"] == 1


def test_rebuild_needs_the_feed_and_drops_nothing_without_it(store: StoreHandle) -> None:
    clock = FixedClock(T0)

    class NoFeed:
        unit_of_work = staticmethod(store.unit_of_work)

    school = School.build(NoFeed(), clock=clock)  # its reactions run in each command
    start = T0 + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=3)
    school.booking.book(slot.id, "ann")
    week = Period.week(start.date())
    counted = school.analytics.fill_rate(week)
    with pytest.raises(FeedUnavailable):
        school.analytics.rebuild()
    assert school.analytics.fill_rate(week) == counted == school.analytics.fill_rate(week)
    assert [(r.key, r.booked) for r in counted] == [("math", 1)]


def test_what_a_student_did_before_registering_counts_the_same_live_and_rebuilt(
    store: StoreHandle,
) -> None:
    """A payment before the student registered is not in their spend, live or rebuilt
    (the student record exists by the time of the rebuild: it is dated, not looked up)."""
    world = build(store, feed=True)
    step(world, "order", 1)  # st1 pays, not registered yet
    step(world, "register", 1)
    step(world, "tick", 3)
    step(world, "order", 10)  # st1 again, registered now
    a = world.school.analytics
    live = dashboard(a, [Period.month(2026, 3)])
    bands = {
        r.key: r.students for r in a.segments(spend_bands=(0, 200, 1000)) if r.dimension != "stage"
    }
    assert bands == {"0-200": 0, "200-1000": 1, "1000+": 0}  # 300, the second order only
    a.rebuild(batch=2)
    assert dashboard(a, [Period.month(2026, 3)]) == live


def test_feed_rows_written_before_events_carried_tutor_and_course_count_alike(
    store: StoreHandle,
) -> None:
    """``SlotCreated.tutor_id`` and ``GroupOpened.course_id`` default to ``None`` in older
    feed rows: the projection then reads them once from the slot and campaign records."""
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, gateway=FakePaymentGateway(), risk_rules=())
    school.deals.create_campaign(
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
    start = T0 + timedelta(hours=3)
    slot = school.booking.create_slot(
        "art", start, start + timedelta(hours=1), capacity=2, tutor_id="li"
    )
    school.booking.book(slot.id, "ann")
    school.deals.open_group("spring", "bob", method_id=method_for(school.payments, "bob", "b"))
    week = Period.week(T0.date())
    live = dashboard(school.analytics, [week])
    assert [r.key for r in school.analytics.fill_rate(week, by="tutor")] == ["li"]
    assert [r.key for r in school.analytics.group_metrics(week, by="course")] == ["math"]

    old = [
        attrs.evolve(e.event, tutor_id=None)
        if isinstance(e.event, SlotCreated)
        else attrs.evolve(e.event, course_id=None)
        if isinstance(e.event, GroupOpened)
        else e.event
        for e in school.feed.events_since(0, 1000)
    ]
    with store.unit_of_work() as uow:
        pj.reset(uow)
        apply = Reactions(pj.analytics_rules(), [pj.flush])
        for event in old:
            for handler in apply.handlers_for(type(event)):
                handler(event, uow)
        pj.flush(uow)
        uow.commit()
    assert dashboard(school.analytics, [week]) == live
