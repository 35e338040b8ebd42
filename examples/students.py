"""Student records: a lesson package spent on bookings, class placement, tags, stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import FixedClock, InMemoryStore, School
from eduengine.payments import FakePaymentGateway
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.students import Actor, SchoolClass, TagRule

#: the school office, reading students' records (each read names who reads)
OFFICE = Actor(id="office", role="academic")


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    school = School.build(
        InMemoryStore(),
        clock=clock,
        gateway=FakePaymentGateway(),
        policy=CancellationPolicy(free_until=timedelta(hours=24)),  # also returns credits
        tag_rules=[
            TagRule.inactive_for("at-risk", 14),
            TagRule.completed("core-student", "core"),
        ],
        placement_bands={0: 1, 40: 2, 75: 3},
    )
    students = school.students
    students.register("mei", name="李梅", phone="13912345678")
    package = students.buy_package("mei", credits=10, valid_for=timedelta(days=90))
    print(
        f"pending activation: {[p.id == package for p in students.never_activated(actor=OFFICE)]}"
    )
    students.activate_package(package)

    def slot(hours: int) -> str:
        start = clock.now() + timedelta(hours=hours)
        return school.booking.create_slot("reading", start, start + timedelta(hours=1), 12).id

    early, late = (
        school.book(slot(72), "mei", require_credit=True),
        school.book(slot(6), "mei", require_credit=True),
    )
    # cancelled on any path, a seat settles its credit: the ledger is a rule of the school
    school.booking.cancel(early.id)  # 3 days ahead: the credit comes back
    school.booking.cancel(late.id)  # 6 hours ahead: the credit is forfeited
    print(f"credits left: {students.packages_of('mei', actor=OFFICE)[0].credits_left} of 10")

    students.create_class(
        SchoolClass(
            id="r2", name="Readers 2", capacity=15, min_level=2, max_level=2, time_slot="weekend"
        )
    )
    students.create_class(SchoolClass(id="r3", name="Readers 3", capacity=15, min_level=3))
    print(f"placed in {students.auto_assign('mei', placement_score=62, time_slot='weekend')}")
    students.transfer("mei", "r3")
    print(f"moved to r3: members {students.members_of('r3')}")

    students.record_activity("mei", "login")
    students.record_activity("mei", "module_completed", module="core")
    school.catalogue.add_item(
        CatalogueItem(id="reading-plus", kind=ItemKind.COURSE, title="Reading Plus")
    )
    school.catalogue.publish(
        PriceList(id="base", currency="CNY", valid_from=clock.now(),
                  prices={"reading-plus": Money("199.00", "CNY")})
    )
    school.payments.add_method("mei", "alipay-mei")  # her account on file: the default
    quote = school.catalogue.quote("mei", ["reading-plus"], "CNY")
    school.pricing.checkout("order-1", quote_id=quote.id)  # a paid order...
    clock.advance(timedelta(days=20))
    tags, stage = students.refresh_tags("mei")
    print(f"tags {sorted(tags)}, lifecycle stage {stage}")
    for name, since, reason in students.stage_history("mei", actor=OFFICE):  # ...moves her stage
        print(f"  {since:%Y-%m-%d} {name} ({reason})")


if __name__ == "__main__":
    main()
