"""Price rules, coupons and a quote that explains every line; checkout charges it exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from eduengine import FixedClock, InMemoryStore, School
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import (
    Conditions,
    Coupon,
    Customer,
    DiscountKind,
    Money,
    PriceRule,
)
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.students import Actor

#: the school office reading a student's records (every such read is audited)
OFFICE = Actor(id="office", role="academic")


def main() -> None:
    clock = FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    gateway = FakePaymentGateway()
    rules = [
        PriceRule(
            id="vip",
            name="VIP 10% off",
            kind=DiscountKind.PERCENT,
            value=Decimal("10"),
            priority=10,
            conditions=Conditions(student_tags=frozenset({"vip"})),
        ),
        PriceRule(
            id="summer",
            name="summer sale -30",
            kind=DiscountKind.AMOUNT,
            value=Money("30", "CNY"),
            priority=5,
            conditions=Conditions(starts_at=clock.now(), ends_at=clock.now() + timedelta(days=60)),
        ),
        PriceRule(
            id="trial",
            name="first lesson 9.9",
            kind=DiscountKind.FIXED_PRICE,
            value=Money("9.90", "CNY"),
            exclusive=True,
            conditions=Conditions(course_ids=frozenset({"trial"}), first_purchase_only=True),
        ),
    ]
    school = School.build(
        InMemoryStore(),
        clock=clock,
        gateway=gateway,
        price_rules=rules,
        max_discount=Money("150", "CNY"),
    )
    shop = school.pricing
    school.students.register("mei", name="李梅")
    shop.add_coupon(
        Coupon(
            code="BACK2SCHOOL",
            kind=DiscountKind.AMOUNT,
            value=Money("25", "CNY"),
            min_spend=Money("300", "CNY"),
            max_redemptions=1000,
            max_per_student=1,
        )
    )
    # the catalogue owns the prices: a quote prices its items from the list in effect
    catalogue = school.catalogue
    catalogue.add_item(CatalogueItem(id="ielts", kind=ItemKind.COURSE, title="IELTS"))
    catalogue.add_item(CatalogueItem(id="trial", kind=ItemKind.COURSE, title="Trial lesson"))
    catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=clock.now(),
                  prices={"ielts": Money("399.00", "CNY"), "trial": Money("99.00", "CNY")})
    )
    mei = Customer(student_id="mei", tags=frozenset({"vip"}), first_purchase=True)
    q = catalogue.quote(mei, ["ielts", "trial"], "CNY", coupons=["BACK2SCHOOL"])
    print("\n".join(q.breakdown.explain()))
    school.payments.add_method("mei", "alipay-mei")  # her account on file: the default
    order = shop.checkout("order-1", quote_id=q.id)  # charges exactly the quote's total
    print(f"charged {gateway.charges['order:order-1'].amount} for {order.id} ({order.status})")
    # a paid order is a purchase to the student records too
    stages = school.students.stage_history("mei", actor=OFFICE)
    print(f"mei's lifecycle: {[stage for stage, _, _ in stages]}")
    shop.cancel_order(order.id)
    print(f"cancelled; coupon uses now {shop.redemptions('BACK2SCHOOL')}")


if __name__ == "__main__":
    main()
