"""The catalogue owns prices (issue #27): price lists per currency with validity and
versions, quotes that keep their prices, and checkout, group joins and package purchases
that charge a quote, never a price the caller passes. Every test runs on every adapter."""

from __future__ import annotations

import threading
import warnings
from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import (
    CatalogueItemNotFound,
    CouponRefused,
    GroupNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidMoney,
    NoPaymentMethod,
    NotForSale,
    PaymentFailed,
    QuoteExpired,
    QuoteNotFound,
    QuoteRefused,
)
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Coupon, DiscountKind, Money, PriceRule
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.pricing.rules import Conditions
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Shop:
    """A school on the store under test with a course, a package and a campaign in the
    catalogue, a base price list in CNY from T0, and ann and bob with cards on file."""

    def __init__(self, store: StoreHandle, clock: FixedClock, **build: object) -> None:
        self.clock = clock
        self.gateway = FakePaymentGateway()
        self.school = School.build(
            store,
            clock=clock,
            gateway=self.gateway,
            **build,  # type: ignore[arg-type]
        )
        cat = self.school.catalogue
        cat.add_item(CatalogueItem(id="py-101", kind=ItemKind.COURSE, title="Python 101"))
        cat.add_item(CatalogueItem(id="go-101", kind=ItemKind.COURSE))
        cat.add_item(
            CatalogueItem(
                id="ten-py",
                kind=ItemKind.PACKAGE,
                credits=10,
                valid_for=timedelta(days=90),
                course_id="py-101",
            )
        )
        cat.add_item(CatalogueItem(id="spring", kind=ItemKind.CAMPAIGN))
        cat.publish(
            PriceList(
                id="base",
                currency="CNY",
                valid_from=T0,
                prices={
                    "py-101": cny("199"),
                    "go-101": cny("99"),
                    "ten-py": cny("1500"),
                    "spring": cny("129"),
                },
            )
        )
        for student in ("ann", "bob", "cat"):
            self.school.payments.add_method(student, f"acct-{student}")

    def paid_by(self, account: str) -> Money:
        return -(self.gateway.balance(account) or cny("0"))


@pytest.fixture
def shop(store: StoreHandle, clock: FixedClock) -> Shop:
    return Shop(store, clock)


# --- price lists -------------------------------------------------------------------------


def test_checkout_charges_the_quoted_catalogue_price_to_the_default_method(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("ann", ["py-101", "go-101"], "CNY")
    assert [(q.item.id, q.price, q.price_list, q.version) for q in quote.items] == [
        ("py-101", cny("199"), "base", 1),
        ("go-101", cny("99"), "base", 1),
    ]
    assert quote.total == cny("298") and quote.expires_at == T0 + timedelta(minutes=30)
    order = shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert (order.status, order.student_id, order.quote.total) == ("paid", "ann", cny("298"))
    assert shop.paid_by("acct-ann") == cny("298")
    assert shop.school.catalogue.get_quote(quote.id, actor=SYSTEM) == quote


def test_a_price_change_never_alters_a_quote_already_given(shop: Shop) -> None:
    given = shop.school.catalogue.quote("ann", ["py-101"], "CNY")
    shop.clock.advance(timedelta(minutes=1))
    v2 = shop.school.catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=T0, prices={"py-101": cny("299")})
    )
    assert v2.version == 2
    assert shop.school.catalogue.price("py-101", "CNY") == cny("299")
    assert shop.school.catalogue.get_quote(given.id, actor=SYSTEM).total == cny("199")
    order = shop.school.pricing.checkout("o1", quote_id=given.id)
    assert order.quote.total == cny("199") and shop.paid_by("acct-ann") == cny("199")
    # the first version is kept as it was, and a new quote takes the new price
    assert shop.school.catalogue.price_list("base", 1).prices["py-101"] == cny("199")
    assert shop.school.catalogue.quote("bob", ["py-101"], "CNY").total == cny("299")


def test_a_later_version_takes_over_from_its_valid_from_and_a_sale_beats_the_base(
    shop: Shop,
) -> None:
    cat = shop.school.catalogue
    cat.publish(
        PriceList(
            id="base",
            currency="CNY",
            valid_from=T0 + timedelta(days=10),
            prices={"py-101": cny("249")},
        )
    )
    cat.publish(
        PriceList(
            id="sale",
            currency="CNY",
            valid_from=T0 + timedelta(days=2),
            valid_until=T0 + timedelta(days=4),
            prices={"py-101": cny("149")},
        )
    )
    seen = [cat.price("py-101", "CNY", at=T0 + timedelta(days=d)) for d in (0, 3, 5, 11)]
    assert seen == [cny("199"), cny("149"), cny("199"), cny("249")]
    # version 2 of base does not price go-101: from day 10 the list has no price for it
    assert cat.price("go-101", "CNY", at=T0 + timedelta(days=9)) == cny("99")
    with pytest.raises(NotForSale):
        cat.price("go-101", "CNY", at=T0 + timedelta(days=10))


def test_an_item_with_no_price_in_the_currency_is_not_for_sale(shop: Shop) -> None:
    with pytest.raises(NotForSale) as refused:
        shop.school.catalogue.quote("ann", ["py-101"], "USD")
    assert refused.value.http_status == 409
    with pytest.raises(CatalogueItemNotFound):
        shop.school.catalogue.quote("ann", ["nope"], "CNY")
    with pytest.raises(NotForSale):  # before the base list starts
        shop.school.catalogue.price("py-101", "CNY", at=T0 - timedelta(seconds=1))


def test_a_price_list_keeps_its_currency_and_prices_catalogue_items_only(shop: Shop) -> None:
    cat = shop.school.catalogue
    with pytest.raises(InvalidMoney):
        cat.publish(
            PriceList(
                id="base", currency="USD", valid_from=T0, prices={"py-101": Money("1", "USD")}
            )
        )
    with pytest.raises(InvalidMoney):
        PriceList(id="usd", currency="USD", valid_from=T0, prices={"py-101": cny("1")})
    with pytest.raises(CatalogueItemNotFound):
        cat.publish(PriceList(id="x", currency="CNY", valid_from=T0, prices={"no": cny("1")}))
    assert cat.price_list("base").version == 1  # nothing was published


def test_a_quote_applies_the_price_rules_and_its_coupon(
    store: StoreHandle, clock: FixedClock
) -> None:
    rule = PriceRule(
        id="py-off",
        kind=DiscountKind.AMOUNT,
        value=cny("20"),
        conditions=Conditions(course_ids=frozenset({"py-101"})),
    )
    shop = Shop(store, clock, price_rules=[rule])
    shop.school.pricing.add_coupon(Coupon(code="TEN", kind=DiscountKind.AMOUNT, value=cny("10")))
    quote = shop.school.catalogue.quote("ann", ["py-101"], "CNY", coupon="ten")
    assert quote.total == cny("169") and quote.coupons == ("TEN",)
    assert quote.lines[0].adjustments == (("rule py-off", cny("20")), ("coupon TEN", cny("10")))
    shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert shop.school.pricing.redemptions("TEN") == 1


def test_a_coupon_used_up_after_the_quote_is_refused_at_checkout_and_nothing_changes(
    shop: Shop,
) -> None:
    shop.school.pricing.add_coupon(
        Coupon(code="ONE", kind=DiscountKind.AMOUNT, value=cny("10"), max_redemptions=1)
    )
    ann = shop.school.catalogue.quote("ann", ["py-101"], "CNY", coupon="ONE")
    bob = shop.school.catalogue.quote("bob", ["py-101"], "CNY", coupon="ONE")
    shop.school.pricing.checkout("o1", quote_id=bob.id)
    with pytest.raises(CouponRefused):
        shop.school.pricing.checkout("o2", quote_id=ann.id)
    assert shop.gateway.balance("acct-ann") is None
    assert shop.school.purchases.orders("ann", actor=SYSTEM).items == ()


# --- quotes refused ----------------------------------------------------------------------


def test_an_expired_quote_is_refused_as_a_conflict_and_changes_nothing(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("ann", ["py-101"], "CNY")
    shop.clock.advance(timedelta(minutes=30))
    with pytest.raises(QuoteExpired) as refused:
        shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert refused.value.http_status == 409 and isinstance(refused.value, QuoteRefused)
    assert shop.gateway.balance("acct-ann") is None
    assert shop.school.purchases.orders("ann", actor=SYSTEM).items == ()


def test_a_quote_pays_for_one_order_and_a_retry_of_that_order_returns_it(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("ann", ["py-101"], "CNY")
    first = shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert shop.school.pricing.checkout("o1", quote_id=quote.id) == first
    with pytest.raises(QuoteRefused, match="used by order:o1"):
        shop.school.pricing.checkout("o2", quote_id=quote.id)
    other = shop.school.catalogue.quote("ann", ["go-101"], "CNY")
    with pytest.raises(IdempotencyKeyReused):
        shop.school.pricing.checkout("o1", quote_id=other.id)
    assert shop.paid_by("acct-ann") == cny("199")


def test_a_quote_whose_payment_was_declined_pays_for_a_new_order(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("ann", ["py-101"], "CNY")
    shop.gateway.fail_next_charges(1)
    with pytest.raises(PaymentFailed):
        shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert shop.school.pricing.checkout("o2", quote_id=quote.id).status == "paid"


def test_a_quote_of_another_kind_or_student_or_none_at_all_is_refused(shop: Shop) -> None:
    package = shop.school.catalogue.quote("ann", ["ten-py"], "CNY")
    with pytest.raises(QuoteRefused, match="sells a course"):
        shop.school.pricing.checkout("o1", quote_id=package.id)
    shop.school.students.register("bob", name="Bob")
    with pytest.raises(QuoteRefused, match="another student"):
        shop.school.students.buy_package("bob", quote_id=package.id)
    with pytest.raises(QuoteNotFound) as missing:
        shop.school.pricing.checkout("o1", quote_id="no-such-quote")
    assert missing.value.http_status == 404
    with pytest.raises(InvalidInput):
        shop.school.catalogue.quote("ann", ["py-101", "py-101"], "CNY")


def test_checkout_without_a_payment_method_is_refused_and_changes_nothing(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("dan", ["py-101"], "CNY")
    with pytest.raises(NoPaymentMethod) as refused:
        shop.school.pricing.checkout("o1", quote_id=quote.id)
    assert refused.value.http_status == 409
    assert shop.school.catalogue.get_quote(quote.id, actor=SYSTEM) == quote
    shop.school.payments.add_method("dan", "acct-dan")
    assert shop.school.pricing.checkout("o1", quote_id=quote.id).status == "paid"


# --- packages and groups -------------------------------------------------------------------


def test_a_package_bought_from_a_quote_takes_its_terms_and_price_from_the_catalogue(
    shop: Shop,
) -> None:
    shop.school.students.register("ann", name="Ann")
    quote = shop.school.catalogue.quote("ann", ["ten-py"], "CNY")
    pid = shop.school.students.buy_package("ann", quote_id=quote.id, activate=True)
    # a retry with the same quote and key sells nothing more
    again = shop.school.students.buy_package(
        "ann", quote_id=quote.id, package_id=pid, activate=True
    )
    assert again == pid
    assert shop.school.students.buy_package("ann", quote_id=quote.id) == pid
    [view] = shop.school.purchases.packages("ann", actor=SYSTEM)
    assert (view.credits, view.course_id, view.price, view.item_id) == (
        10,
        "py-101",
        cny("1500"),
        "ten-py",
    )
    assert view.expires_at == T0 + timedelta(days=90)
    with pytest.raises(InvalidInput):
        shop.school.students.buy_package("ann", quote_id=quote.id, credits=3)


def test_a_group_opened_prices_from_the_catalogue_and_a_join_quote_must_match_it(
    shop: Shop,
) -> None:
    shop.school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="py-101",
            list_price=cny("199"),
            group_price=cny("99"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    group = shop.school.deals.open_group("spring", "ann")
    assert group.price == cny("129")  # the catalogue's, not the campaign's 99
    shop.school.catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=T0, prices={"spring": cny("139")})
    )
    stale = shop.school.catalogue.quote("bob", ["spring"], "CNY")
    with pytest.raises(QuoteRefused, match=r"costs 129\.00 CNY"):
        shop.school.deals.join_group(group.id, "bob", quote_id=stale.id)
    assert shop.gateway.balance("acct-bob") is None
    joined = shop.school.deals.join_group(group.id, "cat")
    assert joined.state.value == "formed"
    assert shop.paid_by("acct-ann") == shop.paid_by("acct-cat") == cny("129")


# --- the deprecated forms ------------------------------------------------------------------


def test_the_price_passing_checkout_still_works_and_warns(shop: Shop) -> None:
    from eduengine.pricing import Customer, OrderLine

    lines = [OrderLine(course_id="py-101", price=cny("1"))]
    with pytest.warns(DeprecationWarning, match="quote_id"):
        order = shop.school.pricing.checkout("o1", Customer(student_id="ann"), lines)
    assert order.status == "paid" and shop.paid_by("acct-ann") == cny("1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shop.school.pricing.checkout("o2", Customer(student_id="bob"), lines, account="acct-other")
    assert {str(w.message).split(" is deprecated")[0] for w in caught} == {
        "checkout(account=...)",
        "checkout(order_id, customer, lines)",
    }
    assert shop.paid_by("acct-other") == cny("1")
    with pytest.warns(DeprecationWarning, match="join_group"), pytest.raises(GroupNotFound):
        shop.school.deals.join_group("no-group", "ann", account="acct-ann")


def test_erasing_a_student_deletes_their_quotes_used_or_not(shop: Shop) -> None:
    school = shop.school
    used = school.catalogue.quote("ann", ["py-101"], "CNY")
    school.pricing.checkout("o1", quote_id=used.id)
    fresh = school.catalogue.quote("ann", ["go-101"], "CNY")
    school.students.register("ann", name="Ann")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        report = school.students.erase(Actor(id="dpo", role="admin"), "ann")
    assert report.removed["quotes"] == 2
    for quote in (used, fresh):
        with pytest.raises(QuoteNotFound):
            school.catalogue.get_quote(quote.id, actor=SYSTEM)
    assert school.pricing.get_order("o1", actor=SYSTEM).quote.total == cny(
        "199"
    )  # the order keeps it


def test_a_currency_is_an_iso_4217_code(shop: Shop) -> None:
    with pytest.raises(InvalidMoney):
        shop.school.catalogue.quote("ann", ["py-101"], "cny")
    with pytest.raises(InvalidMoney):
        PriceList(id="x", currency="XXY", valid_from=T0, prices={"py-101": cny("1")})


def test_item_ids_may_hold_colons_and_a_free_price_is_a_price(shop: Shop) -> None:
    cat = shop.school.catalogue
    cat.add_item(CatalogueItem(id="trial:py", kind=ItemKind.COURSE))
    cat.publish(
        PriceList(id="free@trial", currency="CNY", valid_from=T0, prices={"trial:py": cny("0")})
    )
    quote = cat.quote("ann", ["trial:py"], "CNY")
    assert quote.total == cny("0")
    assert shop.school.pricing.checkout("o1", quote_id=quote.id).status == "paid"
    assert shop.gateway.balance("acct-ann") is None  # nothing to charge


def test_a_quote_raced_by_four_checkouts_pays_for_one_order(shop: Shop) -> None:
    quote = shop.school.catalogue.quote("ann", ["py-101"], "CNY")
    gate = threading.Barrier(4)
    paid: list[str] = []
    refused: list[QuoteRefused] = []

    def checkout(order_id: str) -> None:
        gate.wait()
        try:
            paid.append(shop.school.pricing.checkout(order_id, quote_id=quote.id).id)
        except QuoteRefused as error:
            refused.append(error)

    threads = [threading.Thread(target=checkout, args=(f"o{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paid) == 1 and len(refused) == 3
    assert shop.paid_by("acct-ann") == cny("199")
    assert [o.id for o in shop.school.purchases.orders("ann", actor=SYSTEM)] == paid
