"""One viral coefficient (issue #26): ``school.analytics.group_metrics`` counts the
students share links brought, as :class:`eduengine.deals.metrics.DealMetrics` does, on
every adapter."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from eduengine.analytics import Period
from eduengine.deals.metrics import DealFigures, DealMetrics
from tests.adapters import StoreHandle
from tests.analytics.world import T0, build, step

#: groups opened and joined, sign-ups through links to a group and to a campaign, joins
#: through a member's link, and a second touch (counted once)
SCRIPT = [
    ("open_group", 1),
    ("open_group", 2),
    ("open_group", 12),
    ("share", 30),
    ("share", 41),
    ("share", 43),
    ("share", 30),
    ("share", 17),
    ("share", 9),
    ("join_via", 70),
    ("join_via", 101),
    ("register", 33),
    ("share", 33),
    ("order", 55),
    ("join_via", 55 * 3),
    ("open_group", 5),
    ("share", 64),
    ("join_via", 250),
]


def test_group_metrics_viral_coefficient_is_the_attributed_one_of_deal_metrics(
    store: StoreHandle,
) -> None:
    world = build(store)
    for op, n in SCRIPT:
        step(world, op, n)
        world.clock.advance(timedelta(hours=1))
    metrics = DealMetrics()
    for event in world.events.events:
        metrics.apply(event)
    everything = Period.days(T0.date() - timedelta(days=1), 10, "Asia/Shanghai")
    analytics = world.school.analytics
    assert metrics.attributed_students >= 3  # the script brought students, not zero
    assert metrics.attributed_students != metrics.new_students  # the two definitions differ

    def same(rows: dict[str, DealFigures], by: str) -> None:
        got = {r.key: r for r in analytics.group_metrics(everything, by=by)}
        wanted = {k: f for k, f in rows.items() if f.groups_opened or f.attributed_students}
        assert set(got) == set(wanted)
        for key, figures in wanted.items():
            assert got[key].attributed_students == figures.attributed_students, (by, key)
            assert got[key].viral_coefficient == figures.viral_coefficient, (by, key)
            assert got[key].first_payment_coefficient == figures.first_payment_coefficient

    (school,) = analytics.group_metrics(everything, by="school")
    assert school.viral_coefficient == metrics.viral_coefficient
    assert school.viral_coefficient == Decimal(metrics.attributed_students) / school.opened
    assert school.first_payment_coefficient == metrics.first_payment_coefficient
    same(metrics.by_campaign, "campaign")
    same(metrics.by_opener, "opener")
    same(metrics.by_course, "course")
