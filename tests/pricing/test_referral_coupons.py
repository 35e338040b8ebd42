"""A referral reward is a real coupon the referrer can redeem, on every adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import CouponRefused, InvalidInput
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Coupon, Customer, DiscountKind, Money, OrderLine
from eduengine.pricing.coupons import issue_coupon
from eduengine.pricing.service import PricingService
from eduengine.referrals import ReferralReward, ReferralRewarded
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.till import checkout

REWARD = ReferralReward(kind=DiscountKind.AMOUNT, value=Money("50", "CNY"))
LINES = [OrderLine(course_id="py", price=Money("199.00", "CNY"))]


def _school(store: StoreHandle, clock: FixedClock) -> tuple[School, InMemoryEventBus]:
    bus = InMemoryEventBus()
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        risk_rules=(),
        referral_reward=REWARD,
        publisher=bus,
    )
    return school, bus


def _reward_code(bus: InMemoryEventBus) -> str:
    [rewarded] = [e for e in bus.events if isinstance(e, ReferralRewarded)]
    return rewarded.reward


def test_the_referrer_redeems_the_reward_at_checkout_and_nobody_else_can(
    store: StoreHandle, clock: FixedClock
) -> None:
    school, bus = _school(store, clock)
    school.deals.register_referral("ann", "bob")
    checkout(school.pricing, "o1", Customer(student_id="bob"), LINES, account="acct-bob")
    code = _reward_code(bus)
    assert code != "REFERRAL-50" and code.startswith("REFERRAL-")
    with pytest.raises(CouponRefused, match="another student"):
        checkout(
            school.pricing,
            "o2",
            Customer(student_id="cat"),
            LINES,
            coupons=[code],
            account="acct-cat",
        )
    order = checkout(
        school.pricing, "o3", Customer(student_id="ann"), LINES, coupons=[code], account="acct-ann"
    )
    assert order.status == "paid" and order.quote.total == Money("149.00", "CNY")
    assert school.pricing.redemptions(code) == 1
    with pytest.raises(CouponRefused):  # single use
        checkout(
            school.pricing,
            "o4",
            Customer(student_id="ann"),
            LINES,
            coupons=[code],
            account="acct-ann",
        )


def test_a_group_deal_payment_issues_the_same_kind_of_reward(
    store: StoreHandle, clock: FixedClock
) -> None:
    school, bus = _school(store, clock)
    school.deals.create_campaign(
        GroupDealCampaign(
            id="c",
            course_id="py",
            list_price=Money("80", "CNY"),
            group_price=Money("60", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    school.deals.register_referral("ann", "bob")
    for student in ("ann", "bob"):
        school.payments.add_method(student, f"acct-{student}")
    group = school.deals.open_group("c", "ann")
    school.deals.join_group(group.id, "bob")
    code = _reward_code(bus)
    quote = school.pricing.quote(Customer(student_id="ann"), LINES, coupons=[code])
    assert quote.total == Money("149.00", "CNY")


def test_the_reward_is_issued_once_however_often_it_is_issued(
    store: StoreHandle, clock: FixedClock
) -> None:
    school, bus = _school(store, clock)
    school.deals.register_referral("ann", "bob")
    bob = Customer(student_id="bob")
    checkout(school.pricing, "o1", bob, LINES, account="acct-bob")
    checkout(school.pricing, "o1", bob, LINES, account="acct-bob")  # a retried checkout
    checkout(school.pricing, "o2", bob, LINES, account="acct-bob")
    code = _reward_code(bus)  # one event
    checkout(
        school.pricing, "o3", Customer(student_id="ann"), LINES, coupons=[code], account="acct-ann"
    )
    # the rewarding event handled again issues nothing new: the used coupon stays used
    with store.unit_of_work() as uow:
        assert not issue_coupon(uow, REWARD.coupon_for("ann", "bob", clock.now()))
        uow.commit()
    assert school.pricing.redemptions(code) == 1
    with pytest.raises(CouponRefused):
        school.pricing.quote(Customer(student_id="ann"), LINES, coupons=[code])


def test_a_coupon_name_is_no_longer_taken_as_a_reward(store: StoreHandle) -> None:
    with pytest.raises(InvalidInput, match="ReferralReward"):
        PricingService(
            store.unit_of_work,
            gateway=FakePaymentGateway(),
            referral_reward="coupon:REFERRAL-50",  # type: ignore[arg-type]
        )


def test_a_coupon_issued_to_one_student_round_trips() -> None:
    coupon = Coupon(
        code="GIFT", kind=DiscountKind.AMOUNT, value=Money("5", "CNY"), student_id="ann"
    )
    assert Coupon.from_record(coupon.to_record()) == coupon
    record = coupon.to_record()
    del record["student_id"]  # stored before coupons had an owner
    assert Coupon.from_record(record).student_id is None
