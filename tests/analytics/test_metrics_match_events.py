"""Every analytics metric equals a brute-force recount of the full event history of a
generated school, on every adapter.

The school runs a random script (timetable across a DST change, bookings, waitlists,
cancellations with and without reasons, cancelled sessions, attendance and its
corrections, sign-ups, trials, orders, churn, referrals, group deals opened, joined,
cancelled and expired, erasure); a publisher records every committed event; the test
then asks each query over random periods in random time zones and compares with
:class:`tests.analytics.recount.Recount`, which shares no code with the projection.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine.analytics import Period
from tests.adapters import StoreHandle, make_store
from tests.analytics.recount import Recount
from tests.analytics.world import CAMPAIGNS, OPS, T0, build, step

ZONES = ("UTC", "Europe/Berlin", "Asia/Shanghai", "Asia/Kolkata", "America/New_York")

periods = st.builds(
    lambda first, days, tz: Period.days(T0.date() + timedelta(days=first), days, tz),
    st.integers(-1, 3),
    st.integers(1, 4),
    st.sampled_from(ZONES),
)
scripts = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10_000)), min_size=5, max_size=45)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts, asked=st.lists(periods, min_size=1, max_size=3))
def test_every_metric_equals_a_recount_of_the_event_history(
    store: StoreHandle,
    tmp_path_factory: pytest.TempPathFactory,
    script: list[tuple[str, int]],
    asked: list[Period],
) -> None:
    handle = make_store(store.name, tmp_path_factory.mktemp("school"))
    try:
        world = build(handle)
        for op, n in script:
            step(world, op, n)
        recount = Recount(world.events.events, world.tutors, dict(CAMPAIGNS))
        analytics = world.school.analytics
        for period in asked:
            for by in ("course", "tutor", "weekday", "hour", "school"):
                assert analytics.fill_rate(period, by=by) == recount.fill_rate(period, by)
                assert analytics.attendance(period, by=by) == recount.attendance(period, by)
            for by in ("course", "school"):
                got = analytics.cancellation_reasons(period, by=by)
                assert got == recount.cancellation_reasons(period, by)
            for by in ("course", "weekday", "hour"):
                assert analytics.lead_time(period, by=by) == recount.lead_time(period, by)
            assert analytics.peak_hours(period) == recount.peak_hours(period)
            for by in ("course", "campaign", "opener", "school"):
                assert analytics.group_metrics(period, by=by) == recount.group_metrics(period, by)
            assert analytics.new_students(period) == recount.new_students(period)
            assert analytics.churn_reasons(period) == recount.churn_reasons(period)
            assert analytics.funnel(period) == recount.funnel(period)
            assert analytics.renewal_rate(period) == recount.renewal_rate(period)
            assert analytics.referral_rate(period) == recount.referral_rate(period)
            assert analytics.active_students(period) == recount.active_students(period)
        segments = {(r.dimension, r.key): r.students for r in analytics.segments()}
        stages = recount.stages_now()
        for stage in ("registered", "trial", "first_purchase", "renewed", "churned"):
            assert segments["stage", stage] == stages.get(stage, 0)
        spend = recount.spend_now()
        bands = {"0-500": (0, 500), "500-2000": (500, 2000), "2000+": (2000, 10**9)}
        for label, (lo, hi) in bands.items():
            # the first band holds everyone below the second bound: students who never
            # paid, and those a refund of a payment made before they registered left below 0
            expected = sum(1 for v in spend.values() if (lo == 0 or Decimal(lo) <= v) and v < hi)
            assert segments["spend:CNY", label] == expected, label
    finally:
        handle.close()
