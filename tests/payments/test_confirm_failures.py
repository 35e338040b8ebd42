"""A charge the provider confirmed, whose confirming unit of work then dies, on every
adapter: the caller hears ``PaymentOutcomeUnknown`` (the money moved, the place or order
is held), never ``PersistenceError`` ("nothing was written"), and the same command run
again settles it under the same key.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign, GroupState
from eduengine.errors import PaymentOutcomeUnknown, PersistenceError, problem_details
from eduengine.payments import Charge, FakePaymentGateway, Fault
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory, open_read_only
from eduengine.service_layer.runner import ServiceBase
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.payers import method_for
from tests.till import checkout

PRICE = Money("50.00", "CNY")
FEE = Money("30.00", "CNY")
LINES = [OrderLine(course_id="py", price=Money("199.00", "CNY"))]


class ChargeThenCrash(FakePaymentGateway):
    """Charges for real; when armed, the next commit of the wrapped services fails."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_next_commit = False
        self.armed = False

    def charge(self, key: str, account: str, amount: Money) -> Charge:
        made = super().charge(key, account, amount)
        self.crash_next_commit = self.armed
        self.armed = False
        return made


def crash_after_charge(service: ServiceBase, gateway: ChargeThenCrash) -> None:
    real: UnitOfWorkFactory = service._uow

    def factory(read_only: bool = False) -> UnitOfWork:
        # takes read_only as the stores' factories do (a query opens read-only)
        uow = open_read_only(real) if read_only else real()
        if gateway.crash_next_commit:
            gateway.crash_next_commit = False

            def commit() -> None:
                raise PersistenceError("the database went away during commit")

            uow.commit = commit  # type: ignore[method-assign]
        return uow

    service._uow = factory


@attrs.define
class World:
    school: School
    gateway: ChargeThenCrash
    clock: FixedClock


@pytest.fixture
def world(store: StoreHandle) -> Iterator[World]:
    clock = FixedClock(T0)
    gateway = ChargeThenCrash()
    school = School.build(
        store,
        clock=clock,
        gateway=gateway,
        policy=CancellationPolicy(max_violations=None, late_fee=FEE),
        reminders=None,
        risk_rules=(),
    )
    for service in (school.deals, school.pricing, school.fees):
        crash_after_charge(service, gateway)
    school.deals.create_campaign(
        GroupDealCampaign(
            id="c",
            course_id="py",
            list_price=Money("80", "CNY"),
            group_price=PRICE,
            required_size=2,
            duration=timedelta(hours=2),
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    yield World(school, gateway, clock)


def _net(gateway: FakePaymentGateway, account: str) -> Money:
    return gateway.balance(account) or Money.zero("CNY")


def test_a_join_whose_confirmation_dies_after_the_charge_is_outcome_unknown_and_resumes(
    world: World,
) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.armed = True
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    assert lost.value.group_id == group.id
    bob = world.school.deals.get_group(group.id, actor=SYSTEM).member("bob")
    assert bob is not None and bob.status == "pending"  # the place stays reserved
    assert lost.value.key == bob.charge_key
    assert _net(world.gateway, "acct-bob") == -PRICE  # the money moved
    again = world.school.deals.join_group(
        group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
    )
    bob = again.member("bob")
    assert bob is not None and bob.status == "paid" and bob.access
    assert again.state is GroupState.FORMED
    assert _net(world.gateway, "acct-bob") == -PRICE  # charged once
    assert world.school.payments.count_open() == 0


def test_an_open_whose_confirmation_dies_after_the_charge_names_its_group(world: World) -> None:
    world.gateway.armed = True
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.deals.open_group(
            "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
        )
    assert lost.value.group_id is not None
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    assert group.id == lost.value.group_id
    ann = group.member("ann")
    assert ann is not None and ann.status == "paid"
    assert _net(world.gateway, "acct-ann") == -PRICE


def test_a_checkout_whose_confirmation_dies_after_the_charge_is_outcome_unknown(
    world: World,
) -> None:
    world.gateway.armed = True
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        checkout(world.school.pricing, "o1", Customer(student_id="ann"), LINES, account="acct-ann")
    assert lost.value.order_id == "o1" and lost.value.group_id is None
    assert world.school.pricing.get_order("o1", actor=SYSTEM).status == "pending"
    order = checkout(
        world.school.pricing, "o1", Customer(student_id="ann"), LINES, account="acct-ann"
    )
    assert order.status == "paid"
    assert _net(world.gateway, "acct-ann") == -Money("199.00", "CNY")


def test_a_late_fee_whose_marking_dies_after_the_charge_is_outcome_unknown(world: World) -> None:
    world.school.payments.add_method("ann", "acct-ann")
    slot = world.school.booking.create_slot(
        "math", T0 + timedelta(hours=2), T0 + timedelta(hours=3), capacity=3
    )
    seat = world.school.booking.book(slot.id, "ann")
    world.gateway.script(Fault.DECLINE)  # the fee tried on commit is declined; retried later
    world.school.booking.cancel(seat.id)
    world.gateway.armed = True
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.fees.collect(seat.id)
    assert lost.value.booking_id == seat.id
    assert world.school.fees.collect(seat.id)  # same key: the charge is found, not repeated
    assert _net(world.gateway, "acct-ann") == -FEE


def test_the_outcome_unknown_message_says_things_once_and_survives_pickling(
    world: World,
) -> None:
    group = world.school.deals.open_group(
        "c", "ann", method_id=method_for(world.school.payments, "ann", "acct-ann")
    )
    world.gateway.script(Fault.TIMEOUT_AFTER)
    with pytest.raises(PaymentOutcomeUnknown) as lost:
        world.school.deals.join_group(
            group.id, "bob", method_id=method_for(world.school.payments, "bob", "acct-bob")
        )
    message = str(lost.value)
    assert message.count("outcome unknown") == 1
    assert message.count("retry the same command") == 1
    assert message.count(lost.value.key) == 1
    assert lost.value.group_id == group.id
    again = pickle.loads(pickle.dumps(lost.value))
    assert (again.key, again.group_id, again.order_id, again.booking_id) == (
        lost.value.key,
        group.id,
        None,
        None,
    )
    assert str(again) == message
    problem = problem_details(lost.value)
    assert problem["group_id"] == group.id and problem["key"] == lost.value.key
