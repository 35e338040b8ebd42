"""Experiments on every adapter: exposures recorded once, stopping keeps assignments,
and per-variant results kept by the ``growth`` projection from the feed: group formation,
conversion and revenue per student, with intervals that match a reference computation
(tests/growth/test_stats.py pins SciPy's numbers for the same data)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import ExperimentFixed, ExperimentNotFound, InvalidId
from eduengine.growth import Experiment, ExperimentService, StudentExposed, Variant
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.growth.test_stats import CONTROL, TREATED
from tests.payers import method_for
from tests.till import checkout

RUNS = itertools.count()
PRICE = Experiment(
    key="price-2026",
    variants=(
        Variant("control", params={"price": Money("99", "CNY")}),
        Variant("cheap", params={"price": Money("79", "CNY")}),
    ),
)


def school_on(store: StoreHandle, clock: FixedClock | None = None) -> School:
    return School.build(
        store,
        clock=clock or FixedClock(T0),
        gateway=FakePaymentGateway(),
        publisher=InMemoryEventBus(),
        reminders=None,
    )


def students_in(experiment: Experiment, variant: str, n: int, prefix: str = "s") -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < n:
        student = f"{prefix}-{i}"
        assigned = experiment.assign(student)
        if assigned is not None and assigned.key == variant:
            found.append(student)
        i += 1
    return found


def exposures_in_feed(school: School) -> list[tuple[str, str, str]]:
    return [
        (e.experiment_key, e.student_id, e.variant)
        for e in (env.event for env in school.feed.events_since(0, limit=10_000))
        if isinstance(e, StudentExposed)
    ]


def test_a_student_is_exposed_once_however_often_and_from_however_many_services(
    store: StoreHandle,
) -> None:
    school = school_on(store)
    school.experiments.define(PRICE)
    other = ExperimentService(store.unit_of_work, clock=FixedClock(T0))  # another process
    first = school.experiments.expose("price-2026", "ann")
    assert first is not None
    for service in (school.experiments, other, school.experiments):
        assert service.expose("price-2026", "ann") == first
    assert exposures_in_feed(school) == [("price-2026", "ann", first.key)]
    assert school.experiments.exposure("price-2026", "ann", actor=SYSTEM) == first.key
    assert school.experiments.exposure("price-2026", "bob", actor=SYSTEM) is None
    assert [v.exposed for v in school.experiments.results("price-2026").variants] == (
        [1, 0] if first.key == "control" else [0, 1]
    )


def test_stopping_keeps_every_assignment_and_records_no_more_exposures(
    store: StoreHandle,
) -> None:
    school = school_on(store)
    school.experiments.define(PRICE)
    before = {s: school.experiments.expose("price-2026", s) for s in ("ann", "bob", "cai")}
    assert school.experiments.stop("price-2026") is True
    assert school.experiments.stop("price-2026") is False
    assert not school.experiments.running("price-2026")
    after = {s: school.experiments.assign("price-2026", s) for s in ("ann", "bob", "cai")}
    assert after == before
    # a student first seen after the stop still gets her variant, but is not counted
    assert school.experiments.expose("price-2026", "dan") == PRICE.assign("dan")
    assert [s for _, s, _ in exposures_in_feed(school)] == ["ann", "bob", "cai"]
    results = school.experiments.results("price-2026")
    assert not results.running
    assert sum(v.exposed for v in results.variants) == 3


def test_an_experiment_is_fixed_once_defined(store: StoreHandle) -> None:
    school = school_on(store)
    assert school.experiments.define(PRICE) == PRICE
    assert school.experiments.define(PRICE) == PRICE  # again: nothing changes
    moved = Experiment(key="price-2026", variants=(Variant("control"), Variant("cheap", 3)))
    with pytest.raises(ExperimentFixed):
        school.experiments.define(moved)
    assert school.experiments.get("price-2026") == PRICE
    assert ExperimentService(store.unit_of_work).get("price-2026") == PRICE  # as stored
    with pytest.raises(ExperimentNotFound):
        school.experiments.expose("nope", "ann")
    with pytest.raises(ExperimentNotFound):
        school.experiments.stop("nope")
    with pytest.raises(InvalidId):
        school.experiments.expose("price-2026", "")


def test_revenue_and_conversion_intervals_match_the_reference_on_fixed_data(
    store: StoreHandle,
) -> None:
    school = school_on(store)
    school.experiments.define(PRICE)
    # one student pays before her exposure: it is not hers to count
    checkout(
        school.pricing,
        "early",
        Customer(student_id="early"),
        [OrderLine(course_id="py", price=Money("500", "CNY"))],
        account="a",
    )
    school.experiments.expose("price-2026", "early")
    early = PRICE.assign("early")
    assert early is not None
    plan = {"control": CONTROL, "cheap": TREATED}
    for variant, amounts in plan.items():
        # the early student takes one of her variant's zeros (they come first)
        ahead = ["early"] if variant == early.key else []
        group = ahead + students_in(PRICE, variant, len(amounts) - len(ahead), "p")
        for student, amount in zip(group, amounts, strict=True):
            if student == "early":
                assert amount == 0
                continue
            school.experiments.expose("price-2026", student)
            if amount:
                checkout(
                    school.pricing,
                    f"o-{student}",
                    Customer(student_id=student),
                    [OrderLine(course_id="py", price=Money(amount, "CNY"))],
                    account=f"acct-{student}",
                )
    # the early student counts as exposed with revenue 0 in her variant
    results = school.experiments.results("price-2026")
    control, cheap = results.variants
    assert (control.exposed, cheap.exposed) == (20, 22)
    assert (control.converted, cheap.converted) == (8, 13)
    assert control.conversion == Decimal(8) / 20
    assert control.conversion_interval == pytest.approx(
        (0.21880653237281705, 0.6134184992377469), rel=1e-9
    )
    assert cheap.conversion_interval == pytest.approx(
        (0.38734818476315125, 0.7674418380352814), rel=1e-9
    )
    assert control.revenue == Money("1192", "CNY")
    assert control.revenue_per_student == Money("59.60", "CNY")
    assert cheap.revenue_per_student == Money("86.68", "CNY")
    # SciPy: t.interval(0.95, 19, 59.6, sem) = (18.4948, 100.7052); (40.5166, 132.8471)
    assert control.revenue_interval == (Money("18.49", "CNY"), Money("100.71", "CNY"))
    assert cheap.revenue_interval == (Money("40.52", "CNY"), Money("132.85", "CNY"))
    # SciPy: ttest_ind(treated, control, equal_var=False): 27.0818 in (-32.8312, 86.9948)
    assert control.revenue_lift is None
    assert cheap.revenue_lift == (
        Money("27.08", "CNY"),
        Money("-32.83", "CNY"),
        Money("86.99", "CNY"),
    )
    assert results.srm_p_value == pytest.approx(0.7576207236833966, rel=1e-9)
    assert not results.sample_ratio_mismatch
    # the results are a projection: rebuilt from the feed, they are the same
    school.projections.rebuild("growth")
    assert school.experiments.results("price-2026") == results


def test_group_formation_rates_per_variant_from_the_deals_feed(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = school_on(store, clock)
    sizes = Experiment(
        key="group-size",
        variants=(
            Variant("trios", params={"campaign": "trios"}),
            Variant("pairs", params={"campaign": "pairs"}),
        ),
    )
    school.experiments.define(sizes)
    for campaign, size in (("trios", 3), ("pairs", 2)):
        school.deals.create_campaign(
            GroupDealCampaign(
                id=campaign,
                course_id="py",
                list_price=Money("199", "CNY"),
                group_price=Money("99", "CNY"),
                required_size=size,
                duration=timedelta(hours=24),
                starts_at=T0,
                ends_at=T0 + timedelta(days=30),
            )
        )
    expected = {}
    for variant in ("trios", "pairs"):
        openers = students_in(sizes, variant, 4, "g")
        formed = 0
        for i, opener in enumerate(openers):
            chosen = school.experiments.expose("group-size", opener)
            assert chosen is not None and chosen.key == variant
            campaign = str(chosen.params["campaign"])
            group = school.deals.open_group(
                campaign, opener, method_id=method_for(school.payments, opener, f"acct-{opener}")
            ).id
            if i % 2 == 0:  # filled by friends who are in no experiment
                for k in range(1, 3 if campaign == "trios" else 2):
                    friend = f"friend-{opener}-{k}"
                    school.deals.join_group(
                        group,
                        friend,
                        method_id=method_for(school.payments, friend, f"acct-{friend}"),
                    )
                formed += 1
        expected[variant] = formed
    clock.advance(timedelta(days=2))
    school.deals.expire_due()
    school.projections.catch_up()
    for result in school.experiments.results("group-size").variants:
        assert (result.groups_opened, result.groups_formed, result.groups_failed) == (
            4,
            expected[result.variant],
            4 - expected[result.variant],
        )
        assert result.formation_rate == Decimal("0.5")
        assert result.converted == 4  # every opener paid her share
        # the failed groups' openers were refunded: only the formed ones' payments stay
        assert result.revenue == Money("99", "CNY") * expected[result.variant]


def test_a_lopsided_exposure_is_flagged_as_a_sample_ratio_mismatch(store: StoreHandle) -> None:
    school = school_on(store)
    school.experiments.define(PRICE)
    for student in students_in(PRICE, "control", 30, "m") + students_in(PRICE, "cheap", 5, "m"):
        school.experiments.expose("price-2026", student)
    results = school.experiments.results("price-2026")
    assert results.srm_p_value < 0.001
    assert results.sample_ratio_mismatch


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=st.lists(
        st.tuples(st.sampled_from(["ann", "bob", "cai", "dan"]), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    ),
    stop_at=st.integers(0, 12),
)
def test_exposure_is_recorded_once_per_student_under_any_interleaving(
    store: StoreHandle, calls: list[tuple[str, int]], stop_at: int
) -> None:
    clock = FixedClock(T0)
    key = f"hx-{next(RUNS)}"  # a fresh experiment per example: the store is shared
    experiment = Experiment(key=key, variants=(Variant("a"), Variant("b", 2)))
    services = [ExperimentService(store.unit_of_work, clock=clock) for _ in range(3)]
    services[0].define(experiment)
    seen: dict[str, str] = {}
    for i, (student, which) in enumerate(calls):
        if i == stop_at:
            services[which].stop(key)
        variant = services[which].expose(key, student)
        assert variant == experiment.assign(student)  # a pure function, running or not
        if i < stop_at and variant is not None:
            seen.setdefault(student, variant.key)
    recorded = {s: services[0].exposure(key, s, actor=SYSTEM) for s in ("ann", "bob", "cai", "dan")}
    assert {s: v for s, v in recorded.items() if v is not None} == seen
