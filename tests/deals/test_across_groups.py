"""Anti-abuse across the groups of one campaign: a device, IP or payment account another
student used in another group of the same campaign within the window flags both groups,
and each decision is recorded (on every adapter)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.deals import AcrossGroups, RiskDecisionRecorded, TooManyGroups
from eduengine.errors import AbuseSuspected, EduEngineError
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0
from tests.deals.mall import Mall
from tests.payers import method_for

pytestmark = pytest.mark.filterwarnings("ignore:reading personal data:DeprecationWarning")


def flagged(mall: Mall, group_id: str) -> list[tuple[str, str]]:
    return [(d["student_id"], d["level"]) for d in mall.deals.group_risk_decisions(group_id)]


def test_a_device_reused_across_two_groups_of_one_campaign_is_flagged_in_both(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    first = mall.deals.open_group(
        "spring", "ann", method_id=method_for(mall.payments, "ann", "wx-ann"), device_id="phone-1"
    ).id
    clock.advance(timedelta(hours=1))
    second = mall.deals.open_group(
        "spring", "bob", method_id=method_for(mall.payments, "bob", "wx-bob"), device_id="phone-1"
    ).id
    assert flagged(mall, first) == [("ann", "review")]
    assert flagged(mall, second) == [("bob", "review")]
    [about_bob] = mall.deals.risk_decisions("bob")
    assert about_bob["group_id"] == second
    reason = f"device ••• also in group {first} of the campaign (student ann)"
    assert about_bob["reasons"] == [reason]
    [about_ann] = mall.deals.risk_decisions("ann")
    assert about_ann["group_id"] == first and "student bob" in about_ann["reasons"][0]
    decisions = mall.events(RiskDecisionRecorded)
    assert sorted((e.student_id, e.group_id) for e in decisions) == sorted(  # type: ignore[attr-defined]
        [("ann", first), ("bob", second)]
    )
    # a joiner of a third group on the same device flags it too, and both earlier ones
    third = mall.deals.open_group(
        "spring", "cat", method_id=method_for(mall.payments, "cat", "wx-cat")
    ).id
    mall.deals.join_group(
        third, "dan", method_id=method_for(mall.payments, "dan", "wx-dan"), device_id="phone-1"
    )
    assert flagged(mall, third) == [("dan", "review")]
    assert flagged(mall, first) == [("ann", "review"), ("ann", "review")]
    assert flagged(mall, second) == [("bob", "review"), ("bob", "review")]


def test_six_ids_on_one_device_each_opening_a_group_are_all_flagged(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    groups = []
    for n in range(6):
        groups.append(
            mall.deals.open_group(
                "spring",
                f"id{n}",
                method_id=method_for(mall.payments, f"id{n}", f"wx-{n}"),
                device_id="farm-1",
            ).id
        )
    assert all(flagged(mall, g) for g in groups)


def test_another_campaign_or_outside_the_window_is_not_flagged(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, across_groups=AcrossGroups(window=timedelta(days=1)))
    mall.deals.create_campaign(attrs.evolve(mall.campaign, id="autumn"))
    first = mall.deals.open_group(
        "spring", "ann", method_id=method_for(mall.payments, "ann", "wx-ann"), ip="10.0.0.9"
    ).id
    other = mall.deals.open_group(
        "autumn", "bob", method_id=method_for(mall.payments, "bob", "wx-bob"), ip="10.0.0.9"
    ).id
    assert flagged(mall, first) == flagged(mall, other) == []
    clock.advance(timedelta(days=1, minutes=1))
    later = mall.deals.open_group(
        "spring", "cat", method_id=method_for(mall.payments, "cat", "wx-cat"), ip="10.0.0.9"
    ).id
    assert flagged(mall, first) == flagged(mall, later) == []


def test_a_deny_level_refuses_the_attempt_and_still_flags_the_other_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, across_groups=AcrossGroups(level="deny"))
    first = mall.deals.open_group(
        "spring", "ann", method_id=method_for(mall.payments, "ann", "wx-ann"), device_id="phone-1"
    ).id
    before = mall.deals.group_risk_decisions(first)
    with pytest.raises(AbuseSuspected, match="also in group"):
        mall.deals.open_group(
            "spring",
            "bob",
            method_id=method_for(mall.payments, "bob", "wx-bob"),
            device_id="phone-1",
        )
    assert before == [] and flagged(mall, first) == [("ann", "review")]
    assert [d["level"] for d in mall.deals.risk_decisions("bob")] == ["deny"]


def test_bad_settings_are_refused() -> None:
    bad: dict[str, Any]
    for bad in (
        {"level": "allow"},
        {"window": timedelta(0)},
        {"fields": frozenset({"email"})},
        {"fields": frozenset()},
    ):
        with pytest.raises(EduEngineError):
            AcrossGroups(**bad)


WINDOW = timedelta(hours=6)
_OPEN = st.tuples(st.just("open"), st.integers(0, 5), st.integers(0, 1))
_JOIN = st.tuples(st.just("join"), st.integers(0, 5), st.integers(0, 1), st.integers(0, 5))
STEP = st.one_of(_OPEN, _OPEN, _JOIN, _JOIN, st.tuples(st.just("wait"), st.integers(1, 4)))


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=12)
@given(steps=st.lists(STEP, min_size=4, max_size=14))
def test_flags_match_a_model_of_who_shared_a_device_with_whom(
    adapter: str, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]]
) -> None:
    """Random opens and joins on two devices: every recorded decision is the one a
    plain model predicts, no more (each flag once per attempt and group)."""
    store = make_store(adapter, tmp_path_factory.mktemp(adapter))
    try:
        clock = FixedClock(T0)
        mall = Mall(
            store,
            clock,
            risk_rules=(TooManyGroups(limit=50),),
            across_groups=AcrossGroups(window=WINDOW, fields=frozenset({"device"})),
        )
        seen: list[tuple[str, str, str, Any]] = []  # student, group, device, at
        expected: Counter[tuple[str, str]] = Counter()
        groups: list[str] = []
        for step in steps:
            if step[0] == "wait":
                clock.advance(timedelta(hours=step[1]))
                continue
            student, device = f"s{step[1]}", f"d{step[2]}"
            try:
                if step[0] == "open":
                    group = mall.deals.open_group(
                        "spring",
                        student,
                        method_id=method_for(mall.payments, student, f"a-{student}"),
                        device_id=device,
                    ).id
                    groups.append(group)
                else:
                    if not groups:
                        continue
                    group = groups[step[3] % len(groups)]
                    mall.deals.join_group(
                        group,
                        student,
                        method_id=method_for(mall.payments, student, f"a-{student}"),
                        device_id=device,
                    )
            except EduEngineError:
                continue  # a limit (one open group, already a member, full): nothing flagged
            now = clock.now()
            matches = {
                (s, g)
                for s, g, d, at in seen
                if d == device and s != student and g != group and now - WINDOW < at <= now
            }
            if matches:
                expected[student, group] += 1
            for other in matches:
                expected[other] += 1
            seen.append((student, group, device, now))
        event(f"flags: {min(sum(expected.values()), 3)}")
        recorded: Counter[tuple[str, str]] = Counter()
        for n in range(6):
            for d in mall.deals.risk_decisions(f"s{n}"):
                assert d["level"] == "review"
                recorded[d["student_id"], d["group_id"]] += 1
        assert recorded == expected
    finally:
        store.close()
