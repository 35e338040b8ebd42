"""A guardian pays on a child's behalf (issue #24): an order, a package or a group place,
the payer recorded beside the learner; without the "pay" role refused; a removed
guardian gets nothing after removal. On every adapter."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.analytics.model import Period
from eduengine.deals import GroupDealCampaign
from eduengine.errors import AccessDenied, DuplicateId, PayerNotAllowed
from eduengine.notices import NoticePolicy
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Customer, Money, OrderLine
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.students import Actor, GuardianRole
from tests.adapters import StoreHandle
from tests.notices.helpers import Provider
from tests.payers import method_for
from tests.till import checkout

DAD = Actor(id="g-li", role="guardian")


def family(store: StoreHandle, clock: FixedClock) -> School:
    """mei and lei, their father g-li (pays for mei only), and a group deal to join."""
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        notices=NoticePolicy(reminders=()),
        notifiers={"in_app": Provider()},
    )
    for child in ("mei", "lei", "bo"):
        school.students.register(child, name=f"李{child}")
    school.people.add_guardian("g-li", name="李强", phone="13900002222")
    school.people.link("g-li", "mei", {GuardianRole.SEE_REPORTS, GuardianRole.PAY})
    school.people.link("g-li", "lei", {GuardianRole.SEE_REPORTS, GuardianRole.RECEIVE_REMINDERS})
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("299", "CNY"),
            group_price=Money("199", "CNY"),
            required_size=2,
            max_size=5,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    return school


def li_card(school: School, guardian: str, child: str) -> str:
    """The guardian's method charging ``wx-li`` for ``child`` (filed on first use; a
    guardian without the "pay" role files it too: paying with it is what is refused)."""
    method_id = f"m-{guardian}-{child}"
    with contextlib.suppress(DuplicateId):
        school.payments.add_method(
            guardian, "wx-li", method_id=method_id, pays_for=[child], default=False
        )
    return method_id


def test_a_guardian_of_two_pays_for_one_childs_place_and_sees_both_childrens_reports(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    group = school.deals.open_group(
        "spring", "bo", method_id=method_for(school.payments, "bo", "wx-bo")
    )
    joined = school.deals.join_group(
        group.id, "mei", method_id=li_card(school, "g-li", "mei"), payer="g-li"
    )
    assert joined.member("mei") is not None
    [paid] = [
        e.event
        for e in school.feed.events_since(0, limit=1000)
        if e.type == "deals.member_joined" and getattr(e.event, "student_id", "") == "mei"
    ]
    assert getattr(paid, "payer_id", None) == "g-li"
    # a package and an order for mei are paid by him too, each recorded
    package = school.students.buy_package(
        "mei", credits=10, valid_for=timedelta(days=90), payer="g-li"
    )
    [bought] = school.students.packages_of("mei", actor=DAD)
    assert (bought.id, bought.payer_id) == (package, "g-li")
    order = checkout(
        school.pricing,
        "o-mei",
        Customer(student_id="mei"),
        [OrderLine(course_id="math", price=Money("99", "CNY"))],
        account="wx-li",
        payer="g-li",
    )
    assert order.payer_id == "g-li"
    types = {e.type: e.event for e in school.feed.events_since(0, limit=1000)}
    assert getattr(types["pricing.order_paid"], "payer_id", None) == "g-li"
    assert getattr(types["students.package_bought"], "payer_id", None) == "g-li"
    # his reports: both children's
    week = Period.week(date(2026, 3, 2), "UTC")
    school.learning.send_reports(week, student_ids=["mei", "lei"])
    assert school.learning.report(DAD, "mei", week) is not None
    assert school.learning.report(DAD, "lei", week) is not None
    assert school.students.view(DAD, "lei").name == "李lei"


@pytest.mark.parametrize("what", ["order", "package", "group place"])
def test_a_guardian_without_the_pay_role_is_refused_and_nothing_is_taken(
    store: StoreHandle, clock: FixedClock, what: str
) -> None:
    school = family(store, clock)
    group = school.deals.open_group(
        "spring", "bo", method_id=method_for(school.payments, "bo", "wx-bo")
    )
    before = school.feed.head()
    with pytest.raises(PayerNotAllowed) as refused:
        if what == "order":
            checkout(
                school.pricing,
                "o-lei",
                Customer(student_id="lei"),
                [OrderLine(course_id="math", price=Money("99", "CNY"))],
                account="wx-li",
                payer="g-li",
            )
        elif what == "package":
            school.students.buy_package(
                "lei", credits=10, valid_for=timedelta(days=90), payer="g-li"
            )
        else:
            school.deals.join_group(
                group.id,
                "lei",
                method_id=li_card(school, "g-li", "lei"),
                payer="g-li",
            )
    assert isinstance(refused.value, AccessDenied)
    assert (refused.value.payer_id, refused.value.student_id) == ("g-li", "lei")
    assert school.feed.head() == before
    assert school.students.packages_of("lei", actor=DAD) == []
    assert school.deals.get_group(group.id, actor=SYSTEM).member("lei") is None


def test_a_removed_guardian_gets_nothing_after_removal(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    week = Period.week(date(2026, 3, 2), "UTC")
    school.people.remove_guardian("g-li")
    school.learning.send_reports(week, student_ids=["mei", "lei"])
    start = clock.now() + timedelta(hours=48)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    school.booking.book(slot.id, "lei")
    office = Actor(id="u-office", role="academic")
    notices = [n for sid in ("mei", "lei") for n in school.notices.for_student(sid, actor=office)]
    assert notices and not [n for n in notices if n.id.endswith(":g-li")]
    for child in ("mei", "lei"):
        with pytest.raises(AccessDenied):
            school.learning.report(DAD, child, week)
        with pytest.raises(AccessDenied):
            school.students.view(DAD, child)
        with pytest.raises(AccessDenied):
            school.booking.bookings_for_student(child, actor=DAD)
    with pytest.raises(PayerNotAllowed):
        school.students.buy_package("mei", credits=1, valid_for=timedelta(days=9), payer="g-li")
    denied = school.people.audit_log(actor=SYSTEM, actor_id="g-li").entries
    assert [e.action for e in denied] == ["denied"] * 6


def test_a_guardian_pays_for_a_quoted_order_and_package_and_one_without_pay_takes_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    school.catalogue.add_item(CatalogueItem(id="py", kind=ItemKind.COURSE))
    school.catalogue.add_item(
        CatalogueItem(id="pack", kind=ItemKind.PACKAGE, credits=4, valid_for=timedelta(days=30))
    )
    school.catalogue.publish(
        PriceList(
            id="base",
            currency="CNY",
            valid_from=clock.now(),
            prices={"py": Money("99", "CNY"), "pack": Money("300", "CNY")},
        )
    )
    for child in ("mei", "lei"):
        school.payments.add_method(child, f"wx-{child}")
    # lei's father holds no "pay" role for her: refused, and her quotes stay unused
    lei_course = school.catalogue.quote("lei", ["py"], "CNY")
    lei_pack = school.catalogue.quote("lei", ["pack"], "CNY")
    with pytest.raises(PayerNotAllowed):
        school.pricing.checkout("o-lei", quote_id=lei_course.id, payer="g-li")
    with pytest.raises(PayerNotAllowed):
        school.students.buy_package("lei", quote_id=lei_pack.id, payer="g-li")
    assert school.students.packages_of("lei", actor=SYSTEM) == []
    assert school.pricing.checkout("o-lei", quote_id=lei_course.id).status == "paid"
    # mei's quotes, paid by him: recorded on the order, the package and their events
    course = school.catalogue.quote("mei", ["py"], "CNY")
    order = school.pricing.checkout("o-mei", quote_id=course.id, payer="g-li")
    assert (order.status, order.payer_id) == ("paid", "g-li")
    pack = school.catalogue.quote("mei", ["pack"], "CNY")
    package = school.students.buy_package("mei", quote_id=pack.id, payer="g-li")
    [bought] = school.students.packages_of("mei", actor=DAD)
    assert (bought.id, bought.payer_id, bought.credits) == (package, "g-li", 4)
    events = [e.event for e in school.feed.events_since(0, limit=1000)]
    assert [
        (type(e).__name__, getattr(e, "payer_id", None))
        for e in events
        if type(e).__name__ in ("OrderPaid", "PackageBought")
        and getattr(e, "student_id", "") == "mei"
    ] == [("OrderPaid", "g-li"), ("PackageBought", "g-li")]


def test_a_guardian_pays_for_the_place_of_a_child_who_opens_a_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = family(store, clock)
    before = school.feed.head()
    with pytest.raises(PayerNotAllowed) as refused:  # no "pay" role on his link to lei
        school.deals.open_group(
            "spring", "lei", method_id=li_card(school, "g-li", "lei"), payer="g-li"
        )
    assert (refused.value.payer_id, refused.value.student_id) == ("g-li", "lei")
    assert school.feed.head() == before  # no group opened, nothing charged
    with pytest.raises(PayerNotAllowed):  # nobody's guardian
        school.deals.open_group(
            "spring",
            "mei",
            method_id=li_card(school, "g-wang", "mei"),
            payer="g-wang",
        )
    group = school.deals.open_group(
        "spring", "mei", method_id=li_card(school, "g-li", "mei"), payer="g-li"
    )
    opener = school.deals.get_group(group.id, actor=SYSTEM).member("mei")
    assert opener is not None and opener.payer_id == "g-li"
    [paid] = [
        e.event
        for e in school.feed.events_since(0, limit=1000)
        if e.type == "deals.member_joined" and getattr(e.event, "student_id", "") == "mei"
    ]
    assert getattr(paid, "is_initiator", None) is True
    assert getattr(paid, "payer_id", None) == "g-li"
    # lei opens her own group and pays for it herself: no payer recorded
    own = school.deals.open_group(
        "spring", "lei", method_id=method_for(school.payments, "lei", "wx-lei")
    ).member("lei")
    assert own is not None and own.payer_id is None
