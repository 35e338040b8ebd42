"""Student records: a lesson package spent on bookings, class placement, tags, stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.students import SchoolClass, StudentService, TagRule


def main() -> None:
    store = InMemoryStore()
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    slots = BookingService(store.unit_of_work, clock=clock)
    students = StudentService(
        store.unit_of_work,
        clock=clock,
        free_cancel_before=timedelta(hours=24),
        tag_rules=[TagRule.inactive_for("at-risk", 14), TagRule.completed("core-student", "core")],
        placement_bands={0: 1, 40: 2, 75: 3},
    )
    students.register("mei", name="李梅", phone="13912345678")
    package = students.buy_package("mei", credits=10, valid_for=timedelta(days=90))
    print(f"pending activation: {[p.id == package for p in students.never_activated()]}")
    students.activate_package(package)

    def slot(hours: int) -> str:
        start = clock.now() + timedelta(hours=hours)
        return slots.create_slot("reading", start, start + timedelta(hours=1), 12).id

    early, late = (
        students.book_with_credit(slot(72), "mei"),
        students.book_with_credit(slot(6), "mei"),
    )
    students.cancel_with_credit(early.id)  # 3 days ahead: the credit comes back
    students.cancel_with_credit(late.id)  # 6 hours ahead: the credit is forfeited
    print(f"credits left: {students.packages_of('mei')[0].credits_left} of 10")

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
    clock.advance(timedelta(days=20))
    tags, stage = students.refresh_tags("mei")
    print(f"tags {sorted(tags)}, lifecycle stage {stage}")


if __name__ == "__main__":
    main()
