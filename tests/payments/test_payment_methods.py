"""One payment-method-on-file model for students and guardians (issue #27), used by
checkout, group joins and late fees, on every adapter."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import DuplicateId, NoPaymentMethod, PaymentMethodNotFound
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0

FEE = Money("30", "CNY")


class Family:
    """A school where mum's card pays for ann, and bob holds his own."""

    def __init__(self, store: StoreHandle, clock: FixedClock) -> None:
        self.clock = clock
        self.gateway = FakePaymentGateway()
        self.school = School.build(
            store,
            clock=clock,
            gateway=self.gateway,
            policy=CancellationPolicy(max_violations=None, late_fee=FEE),
            reminders=None,
            risk_rules=(),
        )
        self.school.catalogue.add_item(CatalogueItem(id="py", kind=ItemKind.COURSE))
        self.school.catalogue.publish(
            PriceList(id="base", currency="CNY", valid_from=T0, prices={"py": Money("99", "CNY")})
        )
        self.mum = self.school.payments.add_method(
            "mum", "tok-mum", pays_for=["ann"], label="Visa 4242", method_id="m-mum"
        )
        self.bob = self.school.payments.add_method("bob", "tok-bob", method_id="m-bob")

    def paid_by(self, account: str) -> Money:
        return -(self.gateway.balance(account) or Money("0", "CNY"))


@pytest.fixture
def family(store: StoreHandle, clock: FixedClock) -> Family:
    return Family(store, clock)


def test_a_guardians_method_is_the_default_of_the_student_it_pays_for(family: Family) -> None:
    payments = family.school.payments
    assert payments.default_method("ann", actor=SYSTEM) == family.mum
    assert payments.default_method("mum", actor=SYSTEM) == family.mum
    assert [m.id for m in payments.methods_of("ann", actor=SYSTEM)] == ["m-mum"]
    quote = family.school.catalogue.quote("ann", ["py"], "CNY")
    assert family.school.pricing.checkout("o1", quote_id=quote.id).status == "paid"
    assert family.paid_by("tok-mum") == Money("99", "CNY")


def test_a_method_that_does_not_pay_for_the_student_is_refused(family: Family) -> None:
    quote = family.school.catalogue.quote("ann", ["py"], "CNY")
    with pytest.raises(NoPaymentMethod, match="'m-bob' does not pay for them"):
        family.school.pricing.checkout("o1", quote_id=quote.id, method_id="m-bob")
    with pytest.raises(NoPaymentMethod):
        family.school.payments.set_default_method("ann", "m-bob")
    with pytest.raises(PaymentMethodNotFound):
        family.school.pricing.checkout("o1", quote_id=quote.id, method_id="m-none")
    assert family.gateway.balance("tok-bob") is None
    assert family.school.pricing.checkout("o1", quote_id=quote.id).status == "paid"


def test_a_second_method_becomes_the_default_only_when_asked(family: Family) -> None:
    payments = family.school.payments
    payments.add_method("bob", "tok-bob-2", method_id="m-bob-2")
    assert payments.default_method("bob", actor=SYSTEM) == family.bob
    payments.add_method("bob", "tok-bob-3", method_id="m-bob-3", default=True)
    assert payments.default_method("bob", actor=SYSTEM).account == "tok-bob-3"  # type: ignore[union-attr]
    payments.set_default_method("bob", "m-bob-2")
    assert payments.default_method("bob", actor=SYSTEM).account == "tok-bob-2"  # type: ignore[union-attr]
    payments.remove_method("m-bob-2")
    assert payments.default_method("bob", actor=SYSTEM) is None
    with pytest.raises(DuplicateId):
        payments.add_method("bob", "tok-x", method_id="m-bob")


def test_a_group_join_pays_with_the_default_method(family: Family) -> None:
    family.school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="py",
            list_price=Money("99", "CNY"),
            group_price=Money("59", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=3),
        )
    )
    group = family.school.deals.open_group("spring", "ann")
    assert family.school.deals.join_group(group.id, "bob").state.value == "formed"
    assert family.paid_by("tok-mum") == family.paid_by("tok-bob") == Money("59", "CNY")
    with pytest.raises(NoPaymentMethod):
        family.school.deals.open_group("spring", "eve")


def test_a_late_fee_is_charged_to_the_default_method(family: Family) -> None:
    slot = family.school.booking.create_slot(
        "math", T0 + timedelta(hours=2), T0 + timedelta(hours=3), capacity=3
    )
    seat = family.school.booking.book(slot.id, "ann")
    family.school.booking.cancel(seat.id)  # late: the fee is charged on commit
    [fee] = family.school.fees.fees_of("ann", actor=SYSTEM)
    assert fee.state == "charged" and family.paid_by("tok-mum") == FEE


def test_the_deprecated_fee_account_still_pays_when_no_method_is_on_file(
    family: Family,
) -> None:
    with pytest.warns(DeprecationWarning, match="set_payment_account"):
        family.school.fees.set_payment_account("eve", "acct-eve")
    slot = family.school.booking.create_slot(
        "math", T0 + timedelta(hours=2), T0 + timedelta(hours=3), capacity=3
    )
    family.school.booking.cancel(family.school.booking.book(slot.id, "eve").id)
    assert family.paid_by("acct-eve") == FEE


def test_erasing_a_student_deletes_their_methods_and_takes_them_off_a_guardians(
    family: Family,
) -> None:
    school = family.school
    for student in ("ann", "bob"):
        school.students.register(student, name=student.title())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        school.students.erase(Actor(id="dpo", role="admin"), "ann")
        school.students.erase(Actor(id="dpo", role="admin"), "bob")
    assert school.payments.methods_of("ann", actor=SYSTEM) == []
    assert school.payments.default_method("ann", actor=SYSTEM) is None
    assert school.payments.methods_of("bob", actor=SYSTEM) == []
    # mum's card is mum's: it stays hers, paying for nobody else now
    [kept] = school.payments.methods_of("mum", actor=SYSTEM)
    assert (kept.id, kept.pays_for) == ("m-mum", ())
