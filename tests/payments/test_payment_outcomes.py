"""Money is never lost: charges whose answer is lost, on every adapter.

Each test is one of the measured bugs of "Money is never lost" (a provider that charges
but whose answer is lost, rather than a decline), and fails on the code before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign, GroupState
from eduengine.errors import CouponRefused, PaymentOutcomeUnknown
from eduengine.payments import FakePaymentGateway, Fault
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.pricing.events import OrderPaid
from eduengine.pricing.rules import Coupon, Customer, DiscountKind, OrderLine
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.payers import method_for
from tests.till import checkout

PRICE = Money("50.00", "CNY")
FEE = Money("30.00", "CNY")
SETTLE = timedelta(minutes=15)
LINES = [OrderLine(course_id="py", price=Money("199.00", "CNY"))]


@attrs.define
class World:
    school: School
    gateway: FakePaymentGateway
    clock: FixedClock
    paid: list[OrderPaid]

    def checkout(self, order_id: str, student: str = "ann", coupons: tuple[str, ...] = ()) -> str:
        order = checkout(
            self.school.pricing,
            order_id,
            Customer(student_id=student),
            LINES,
            coupons=coupons,
            account=f"acct-{student}",
        )
        return order.status

    def status(self, order_id: str) -> str:
        return self.school.pricing.get_order(order_id, actor=SYSTEM).status

    def settle_later(self) -> int:
        self.clock.advance(SETTLE + timedelta(seconds=1))
        return self.school.payments.reconcile()


@pytest.fixture
def world(store: StoreHandle) -> Iterator[World]:
    clock = FixedClock(T0)
    gateway = FakePaymentGateway()
    school = School.build(
        store,
        clock=clock,
        gateway=gateway,
        policy=CancellationPolicy(max_violations=None, late_fee=FEE),
        reminders=None,
        risk_rules=(),
        settle_payments_after=SETTLE,
    )
    paid: list[OrderPaid] = []
    school.bus.publishers.append(_Collect(paid))
    school.pricing.add_coupon(
        Coupon(code="ONCE", kind=DiscountKind.AMOUNT, value=Money("20", "CNY"), max_redemptions=1)
    )
    school.deals.create_campaign(
        GroupDealCampaign(
            id="c",
            course_id="py",
            list_price=Money("80", "CNY"),
            group_price=PRICE,
            required_size=3,
            duration=timedelta(hours=2),
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    yield World(school, gateway, clock, paid)


class _Collect:
    def __init__(self, into: list[OrderPaid]) -> None:
        self.into = into

    def publish(self, events: object) -> None:
        self.into += [e for e in events if isinstance(e, OrderPaid)]  # type: ignore[attr-defined]


def _net(gateway: FakePaymentGateway, account: str) -> Money:
    return gateway.balance(account) or Money.zero("CNY")


# --- group deals ---------------------------------------------------------------------


def test_a_joiner_whose_answer_was_lost_retries_the_join_and_is_confirmed(world: World) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    member = world.school.deals.get_group(group.id, actor=SYSTEM).member("bob")
    assert member is not None and member.status == "pending"
    assert lost.value.key == member.charge_key
    again = world.school.deals.join_group(
        group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
    )  # no refusal
    bob = again.member("bob")
    assert bob is not None and bob.status == "paid"
    assert _net(world.gateway, "acct-bob") == -PRICE  # charged once
    assert world.school.payments.count_open() == 0


def test_an_opener_whose_answer_was_lost_resumes_the_same_group(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.school.deals.open_group(
            "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
        )
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )  # no limit hit
    ann = group.member("ann")
    assert ann is not None and ann.status == "paid"
    assert _net(world.gateway, "acct-ann") == -PRICE
    assert len(world.gateway.charges) == 1


def test_a_lost_join_charge_is_refunded_when_the_group_fails(world: World) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    world.clock.advance(timedelta(hours=3))
    world.school.deals.expire_due()
    assert world.school.deals.get_group(group.id, actor=SYSTEM).state is GroupState.FAILED
    assert world.settle_later() >= 1
    assert _net(world.gateway, "acct-ann") == Money.zero("CNY")
    assert _net(world.gateway, "acct-bob") == Money.zero("CNY")  # was never refunded
    assert world.school.payments.count_open() == 0


def test_a_join_retried_after_the_group_failed_asks_instead_of_charging(world: World) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.script(Fault.TIMEOUT_BEFORE)
    with pytest.raises(PaymentOutcomeUnknown):
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    world.clock.advance(timedelta(hours=3))
    world.school.deals.expire_due()
    after = world.school.deals.join_group(
        group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
    )
    assert after.member("bob") is None  # the place is released, nothing was charged
    assert world.gateway.balance("acct-bob") is None


def test_a_charge_landing_after_the_place_was_released_is_refunded(world: World) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.script(Fault.TIMEOUT_BEFORE)
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    world.settle_later()
    assert (
        world.school.deals.get_group(group.id, actor=SYSTEM).member("bob") is None
    )  # place released
    # the provider processes the lost request after all, and says so
    world.gateway.charge(lost.value.key, "acct-bob", PRICE)
    for kind, key in world.gateway.take_notifications() * 2:  # delivered twice
        assert kind == "succeeded"
        world.school.payments.notify_succeeded(key)
    assert _net(world.gateway, "acct-bob") == Money.zero("CNY")
    assert len(world.gateway.refunds) == 1
    assert world.school.payments.count_open() == 0


# --- checkout ------------------------------------------------------------------------


def test_a_lost_checkout_answer_is_resumed_by_the_same_order_id(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.checkout("o1", coupons=("ONCE",))
    assert lost.value.key == "order:o1"
    assert world.status("o1") == "payment_unknown"
    assert world.checkout("o1", coupons=("ONCE",)) == "paid"  # no DuplicateId
    assert _net(world.gateway, "acct-ann") == -Money("179.00", "CNY")
    assert world.school.pricing.redemptions("ONCE") == 1
    assert [e.order_id for e in world.paid] == ["o1"]


def test_a_lost_checkout_charge_is_confirmed_by_reconcile(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1")
    assert world.school.payments.reconcile() == 0  # too young: the call may be under way
    assert world.settle_later() == 1
    assert world.status("o1") == "paid"
    assert world.school.payments.count_open() == 0


def test_an_abandoned_checkout_expires_and_releases_its_coupon(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_BEFORE)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1", coupons=("ONCE",))
    with pytest.raises(CouponRefused):  # held by the pending order
        world.checkout("o2", student="bob", coupons=("ONCE",))
    assert world.settle_later() == 1
    assert world.status("o1") == "expired"
    assert world.school.pricing.redemptions("ONCE") == 0
    assert world.checkout("o3", student="bob", coupons=("ONCE",)) == "paid"
    assert world.gateway.balance("acct-ann") is None


def test_cancelling_a_pending_order_that_was_not_charged_releases_it(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_BEFORE)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1", coupons=("ONCE",))
    world.school.pricing.cancel_order("o1")
    assert world.status("o1") == "cancelled"
    assert world.school.pricing.redemptions("ONCE") == 0
    assert world.school.payments.count_open() == 0


def test_cancelling_a_pending_order_that_was_charged_refunds_it(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1", coupons=("ONCE",))
    world.school.pricing.cancel_order("o1")
    assert world.status("o1") == "cancelled"
    assert _net(world.gateway, "acct-ann") == Money.zero("CNY")
    assert world.school.pricing.redemptions("ONCE") == 0


def test_cancelling_a_pending_order_while_the_provider_is_unreachable_changes_nothing(
    world: World, store: StoreHandle
) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1", coupons=("ONCE",))
    before = store.snapshot()
    world.gateway.unreachable = True
    with pytest.raises(PaymentOutcomeUnknown, match="cannot be cancelled"):
        world.school.pricing.cancel_order("o1")
    assert store.snapshot() == before


def test_a_lost_refund_leaves_the_order_refund_due_until_reconciled(world: World) -> None:
    assert world.checkout("o1") == "paid"
    world.gateway.script(Fault.TIMEOUT_BEFORE)
    with pytest.raises(PaymentOutcomeUnknown):
        world.school.pricing.cancel_order("o1")
    assert world.status("o1") == "refund_due"
    world.settle_later()
    assert world.status("o1") == "cancelled"
    assert _net(world.gateway, "acct-ann") == Money.zero("CNY")


def test_repeated_and_late_notifications_change_nothing(world: World) -> None:
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown):
        world.checkout("o1")
    notes = world.gateway.take_notifications()
    assert notes == [("succeeded", "order:o1")]
    assert world.school.payments.notify_succeeded("order:o1") is True
    assert world.school.payments.notify_succeeded("order:o1") is False
    assert world.school.payments.notify_failed("order:o1") is False  # late, out of order
    assert world.school.payments.notify_succeeded("order:nobody") is False
    assert world.status("o1") == "paid"
    assert [e.order_id for e in world.paid] == ["o1"]  # enrolled once


# --- late fees -----------------------------------------------------------------------


def test_a_late_fee_whose_answer_was_lost_is_charged_once_and_marked(world: World) -> None:
    world.school.payments.add_method("ann", "acct-ann")
    slot = world.school.booking.create_slot(
        "math", T0 + timedelta(hours=2), T0 + timedelta(hours=3), capacity=3
    )
    seat = world.school.booking.book(slot.id, "ann")
    world.gateway.script(Fault.TIMEOUT_AFTER)
    world.school.booking.cancel(seat.id)  # the fee is tried on commit; its answer is lost
    [fee] = world.school.fees.fees_of("ann", actor=SYSTEM)
    assert fee.state == "due"
    assert world.settle_later() == 1
    [fee] = world.school.fees.fees_of("ann", actor=SYSTEM)
    assert fee.state == "charged"
    world.clock.advance(timedelta(days=2))
    assert world.school.fees.collect_due() == 0
    assert _net(world.gateway, "acct-ann") == -FEE
