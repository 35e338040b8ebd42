"""Group deals (拼团) on every adapter: forming, failing, refunds, limits, risk, referrals."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock
from eduengine.deals import (
    AccessGranted,
    DealMetrics,
    GroupDealCampaign,
    GroupFormed,
    GroupState,
    MemberJoined,
    ReferralRewarded,
    RefundIssued,
)
from eduengine.errors import (
    AbuseSuspected,
    CampaignNotFound,
    DealLimitReached,
    EduEngineError,
    GroupClosed,
    GroupFull,
    GroupNotFound,
    InvalidInput,
    PaymentFailed,
)
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from tests.adapters import StoreHandle
from tests.deals.mall import PRICE, Mall
from tests.payers import method_for


@pytest.fixture
def mall(store: StoreHandle, clock: FixedClock) -> Mall:
    return Mall(store, clock)


def test_a_group_forms_at_its_size_and_everyone_gets_access_once(mall: Mall) -> None:
    gid = mall.open("ann")
    assert mall.join(gid, "bob") is GroupState.OPEN
    assert mall.join(gid, "cat") is GroupState.FORMED
    access = [(e.student_id, e.course_id) for e in mall.events(AccessGranted)]  # type: ignore[attr-defined]
    assert sorted(access) == [("ann", "python-101"), ("bob", "python-101"), ("cat", "python-101")]
    charged, refunded = mall.gateway.totals()
    assert charged == PRICE * 3 and refunded is None


def test_a_formed_group_seats_paid_members_up_to_its_max_size(mall: Mall) -> None:
    """3 to form, up to 4 here: the 4th is confirmed at once, the 5th refused."""
    gid = mall.open("ann")
    mall.join(gid, "bob")
    assert mall.join(gid, "cat") is GroupState.FORMED
    assert mall.join(gid, "dan") is GroupState.FORMED  # a place below max_size
    group = mall.deals.get_group(gid, actor=SYSTEM)
    dan = group.member("dan")
    assert dan is not None and dan.status == "paid" and dan.access
    assert len(mall.events(GroupFormed)) == 1  # formed once, at required_size
    access = sorted(e.student_id for e in mall.events(AccessGranted))  # type: ignore[attr-defined]
    assert access == ["ann", "bob", "cat", "dan"]
    [late] = [
        e
        for e in mall.events(MemberJoined)
        if isinstance(e, MemberJoined) and e.student_id == "dan"
    ]
    assert isinstance(late, MemberJoined) and late.joined_formed and late.still_needed == 0
    with pytest.raises(GroupClosed, match="formed"):
        mall.join(gid, "eve")  # max_size reached
    charged, refunded = mall.gateway.totals()
    assert charged == PRICE * 4 and refunded is None


def test_a_formed_group_takes_no_joins_after_its_deadline(mall: Mall) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.join(gid, "cat")
    mall.clock.advance(timedelta(hours=24))
    with pytest.raises(GroupClosed, match="deadline"):
        mall.join(gid, "dan")
    assert mall.deals.expire_due() == 0  # a formed group has nothing to settle
    assert mall.deals.get_group(gid, actor=SYSTEM).state is GroupState.FORMED


def test_a_group_short_at_the_deadline_fails_and_refunds_every_member_once(mall: Mall) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.clock.advance(timedelta(hours=24))
    with pytest.raises(GroupClosed, match="deadline"):
        mall.join(gid, "cat")
    assert mall.deals.expire_due() == 1
    assert mall.deals.expire_due() == 0
    group = mall.deals.get_group(gid, actor=SYSTEM)
    assert group.state is GroupState.FAILED
    assert {m.status for m in group.members} == {"refunded"}
    refunds = [e.student_id for e in mall.events(RefundIssued)]  # type: ignore[attr-defined]
    assert sorted(refunds) == ["ann", "bob"]
    assert mall.gateway.balance("acct-ann") == Money("0.00", "CNY")
    assert not mall.events(AccessGranted)


def test_a_refund_the_gateway_did_not_confirm_is_retried_by_the_next_sweep(mall: Mall) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.clock.advance(timedelta(days=1))
    mall.gateway.fail_next_refunds(1)
    mall.deals.expire_due()
    statuses = sorted(m.status for m in mall.deals.get_group(gid, actor=SYSTEM).members)
    assert statuses == ["refund_due", "refunded"]
    mall.deals.expire_due()
    assert {m.status for m in mall.deals.get_group(gid, actor=SYSTEM).members} == {"refunded"}
    assert len(mall.gateway.refunds) == 2 and len(mall.events(RefundIssued)) == 2


def test_concurrent_joins_never_overfill_a_group(mall: Mall) -> None:
    gid = mall.open("ann")
    results: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(8)

    def join(n: int) -> None:
        gate.wait()
        try:
            outcome = mall.join(gid, f"s{n}").value
        except EduEngineError as refused:
            outcome = type(refused).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=join, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    group = mall.deals.get_group(gid, actor=SYSTEM)
    assert len(group.paid) <= 4 and group.state is GroupState.FORMED
    assert len(group.paid) == 1 + sum(1 for r in results if r in ("open", "formed"))
    charged, _ = mall.gateway.totals()
    assert charged == PRICE * len(group.paid)


def test_a_member_may_leave_an_open_group_and_is_refunded(mall: Mall) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    group = mall.deals.leave_group(gid, "bob")
    assert group.member("bob") is not None and group.member("bob").status == "refunded"  # type: ignore[union-attr]
    assert mall.join(gid, "cat") is GroupState.OPEN
    assert mall.gateway.balance("acct-bob") == Money("0.00", "CNY")


def test_one_open_group_per_campaign_and_per_student_limits(mall: Mall) -> None:
    first = mall.open("ann")
    with pytest.raises(DealLimitReached, match="already opened"):
        mall.open("ann")
    second = mall.open("bob")
    with pytest.raises(DealLimitReached, match="already in open group"):
        mall.join(second, "ann")
    assert mall.deals.get_group(first, actor=SYSTEM).places_taken == 1


def test_a_forced_group_forms_with_its_real_members_when_allowed(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, force_share=Decimal("0.6"))
    gid = mall.open("ann")
    mall.join(gid, "bob")  # 2 of 3 = 67% >= 60%
    mall.clock.advance(timedelta(days=1))
    mall.deals.expire_due()
    group = mall.deals.get_group(gid, actor=SYSTEM)
    assert group.state is GroupState.FORMED and group.forced
    assert len(mall.events(AccessGranted)) == 2


def test_a_declined_charge_releases_the_reserved_place(mall: Mall) -> None:
    gid = mall.open("ann")
    mall.gateway.fail_next_charges(1)
    with pytest.raises(PaymentFailed):
        mall.join(gid, "bob")
    assert mall.deals.get_group(gid, actor=SYSTEM).member("bob") is None
    assert mall.join(gid, "bob") is GroupState.OPEN


def test_the_same_device_or_payment_account_is_denied_and_recorded(
    store: StoreHandle, mall: Mall
) -> None:
    gid = mall.deals.open_group(
        "spring",
        "ann",
        method_id=method_for(mall.payments, "ann", "acct-1"),
        device_id="phone-A",
        ip="1.1.1.1",
    )
    before = store.snapshot()
    with pytest.raises(AbuseSuspected, match="device phone-A"):
        mall.deals.join_group(
            gid.id, "bob", method_id=method_for(mall.payments, "bob", "acct-2"), device_id="phone-A"
        )
    with pytest.raises(AbuseSuspected, match="payment account acct-1"):
        mall.deals.join_group(gid.id, "cat", method_id=method_for(mall.payments, "cat", "acct-1"))
    after = store.snapshot()
    assert after["records"].get("group_deal") == before["records"].get("group_deal")
    decisions = mall.deals.risk_decisions("bob", actor=SYSTEM) + mall.deals.risk_decisions(
        "cat", actor=SYSTEM
    )
    assert [d["level"] for d in decisions] == ["deny", "deny"]
    # the same IP only flags the join for review
    mall.deals.join_group(
        gid.id, "dan", method_id=method_for(mall.payments, "dan", "acct-3"), ip="1.1.1.1"
    )
    assert [d["level"] for d in mall.deals.risk_decisions("dan", actor=SYSTEM)] == ["review"]


def test_a_referrer_is_rewarded_once_when_the_new_student_first_pays(mall: Mall) -> None:
    mall.deals.register_referral("ann", "bob")
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.join(gid, "cat")
    second = mall.open("bob")
    mall.join(second, "dan")
    rewards = [(e.referrer_id, e.referred_id) for e in mall.events(ReferralRewarded)]  # type: ignore[attr-defined]
    assert rewards == [("ann", "bob")]
    with pytest.raises(EduEngineError):
        mall.deals.register_referral("cat", "bob")


def test_metrics_come_from_events(mall: Mall) -> None:
    formed = mall.open("ann")
    mall.join(formed, "bob")
    mall.join(formed, "cat")
    failed = mall.open("dan")
    mall.clock.advance(timedelta(days=1))
    mall.deals.expire_due()
    metrics = DealMetrics()
    for event in mall.bus.events:
        metrics.apply(event)
    assert metrics.groups_opened == 2 and failed
    assert metrics.success_rate == Decimal("0.5")
    assert metrics.average_order_value == PRICE
    # bob and cat were brought in; the openers ann and dan are not (2 new over 2 groups)
    assert metrics.first_payment_coefficient == Decimal(1)
    assert metrics.viral_coefficient == Decimal(0)  # nobody came through a share link


def test_closing_soon_lists_open_groups_near_their_deadline(mall: Mall) -> None:
    gid = mall.open("ann")
    assert mall.deals.closing_soon(timedelta(hours=1)) == []
    mall.clock.advance(timedelta(hours=23, minutes=30))
    assert [g.id for g in mall.deals.closing_soon(timedelta(hours=1))] == [gid]


def test_bad_input_is_refused_and_changes_nothing(store: StoreHandle, mall: Mall) -> None:
    gid = mall.open("ann")
    mall.join(gid, "bob")
    mall.join(gid, "cat")
    mall.join(gid, "dan")  # formed and full (max_size 4)
    xs = method_for(mall.payments, "x", "a")  # filed before: the refusals change nothing
    before = store.snapshot()
    for bad, error in (
        (
            lambda: mall.deals.open_group("nope", "x", method_id=xs),
            CampaignNotFound,
        ),
        (
            lambda: mall.deals.join_group("nope", "x", method_id=xs),
            GroupNotFound,
        ),
        (
            lambda: mall.deals.join_group(gid, "x", method_id=xs),
            GroupClosed,
        ),
        (lambda: mall.deals.leave_group(gid, "zed"), EduEngineError),
        (lambda: mall.deals.cancel_group(gid), GroupClosed),
        (lambda: mall.deals.register_referral("ann", "ann"), InvalidInput),
    ):
        with pytest.raises(error):
            bad()
    assert store.snapshot() == before
    with pytest.raises(InvalidInput):
        GroupDealCampaign(
            id="x",
            course_id="c",
            list_price=PRICE,
            group_price=Money("120", "CNY"),
            required_size=2,
            starts_at=mall.clock.now(),
            ends_at=mall.clock.now() + timedelta(days=1),
        )
    assert GroupFull.__mro__[1].__name__ == "BookingRefused"


def test_two_workers_sweeping_at_once_settle_and_refund_each_member_once(mall: Mall) -> None:
    groups = [mall.open(s) for s in ("ann", "bob", "cat")]
    for n, gid in enumerate(groups):
        mall.join(gid, f"friend{n}")
    mall.clock.advance(timedelta(days=1))
    settled: list[int] = []
    gate = threading.Barrier(2)

    def worker() -> None:
        gate.wait()
        settled.append(mall.deals.expire_due())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(settled) == 3, "each group settled by exactly one worker"
    refunds = [(e.group_id, e.student_id) for e in mall.events(RefundIssued)]  # type: ignore[attr-defined]
    assert len(refunds) == len(set(refunds)) == 6
    assert len(mall.gateway.refunds) == 6
    assert all(
        mall.gateway.balance(f"acct-{s}") == Money("0.00", "CNY")
        for s in ("ann", "bob", "cat", "friend0", "friend1", "friend2")
    )
