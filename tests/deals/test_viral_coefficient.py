"""New paying students per group opened (``first_payment_coefficient``, what the viral
coefficient measured before sign-ups were attributed to share links; the viral
coefficient itself is tested in tests/deals/test_share_links.py).

The opener is never counted: a group nobody joined scores 0, not 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock
from eduengine.deals import DealMetrics, GroupOpened, MemberJoined
from tests.adapters import StoreHandle
from tests.deals.mall import PRICE, Mall

T = datetime(2026, 3, 2, tzinfo=UTC)


def metrics_of(mall: Mall) -> DealMetrics:
    metrics = DealMetrics()
    for event in mall.bus.events:
        metrics.apply(event)
    return metrics


@pytest.fixture
def mall(store: StoreHandle, clock: FixedClock) -> Mall:
    return Mall(store, clock)


def test_no_group_opened_has_no_coefficient() -> None:
    assert DealMetrics().first_payment_coefficient is None


def test_a_group_nobody_joined_scores_zero_though_its_opener_is_new(mall: Mall) -> None:
    mall.open("ann")  # ann's first order ever
    joined = mall.events(MemberJoined)
    assert [(e.student_id, e.new_student, e.is_initiator) for e in joined] == [  # type: ignore[attr-defined]
        ("ann", False, True)
    ]
    assert metrics_of(mall).first_payment_coefficient == Decimal(0)


def test_only_joiners_paying_their_first_order_count(mall: Mall) -> None:
    # group 1: ann opens; bob and cat are new to the school -> 2 new students
    first = mall.open("ann")
    mall.join(first, "bob")
    mall.join(first, "cat")
    assert metrics_of(mall).first_payment_coefficient == Decimal(2)
    # group 2: bob (no longer new, and its opener) opens; cat already paid once, dan is
    # new -> 1 more new student; 3 new over 2 groups
    second = mall.open("bob")
    mall.join(second, "cat")
    mall.join(second, "dan")
    metrics = metrics_of(mall)
    assert metrics.new_students == 3 and metrics.groups_opened == 2
    assert metrics.first_payment_coefficient == Decimal(3) / 2
    flags = {
        (e.group_id, e.student_id): e.new_student  # type: ignore[attr-defined]
        for e in mall.events(MemberJoined)
    }
    assert flags == {
        (first, "ann"): False,
        (first, "bob"): True,
        (first, "cat"): True,
        (second, "bob"): False,
        (second, "cat"): False,
        (second, "dan"): True,
    }


def test_a_new_student_stays_counted_when_the_group_fails_and_refunds_them(
    mall: Mall,
) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.open("cat")
    mall.clock.advance(timedelta(days=1))
    assert mall.deals.expire_due() == 2
    metrics = metrics_of(mall)
    assert metrics.groups_failed == 2
    assert metrics.first_payment_coefficient == Decimal(1) / 2  # bob, over two groups


def test_an_opener_flagged_new_by_an_older_event_is_still_not_counted() -> None:
    # Events recorded before ``is_initiator`` existed flagged an opener's first order as
    # new; the metric recognises the opener from GroupOpened.
    metrics = DealMetrics()
    metrics.apply(
        GroupOpened(occurred_at=T, group_id="g", campaign_id="c", initiator="ann",
                    share_code="ABCDEFGHJKMN", deadline=T + timedelta(days=1))
    )  # fmt: skip
    for student, new in (("ann", True), ("bob", True), ("cat", False)):
        metrics.apply(
            MemberJoined(occurred_at=T, group_id="g", student_id=student, amount=PRICE,
                         members=1, still_needed=0, seconds_left=0, new_student=new)
        )  # fmt: skip
    assert metrics.new_students == 1 and metrics.first_payment_coefficient == Decimal(1)
