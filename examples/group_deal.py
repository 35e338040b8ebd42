"""Group deals (拼团): open, share, join, form or fail with automatic refunds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from eduengine import DomainEvent, FixedClock, InMemoryStore, School
from eduengine.deals import (
    AccessGranted,
    DealMetrics,
    GroupDealCampaign,
    GroupFailed,
    GroupFormed,
    MemberJoined,
    RefundIssued,
)
from eduengine.errors import AbuseSuspected
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.students import Actor

#: the school office reading a student's records (every such read is audited)
OFFICE = Actor(id="office", role="academic")


class Live:
    """What a host would push over WebSocket: live counts of each group."""

    def __init__(self) -> None:
        self.metrics = DealMetrics()

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for e in events:
            self.metrics.apply(e)
            if isinstance(e, MemberJoined):
                print(
                    f"  {e.student_id} joined: {e.members} in, {e.still_needed} still needed, "
                    f"{e.seconds_left // 3600} h left"
                )
            elif isinstance(e, GroupFormed):
                print(f"  group formed with {', '.join(e.members)}")
            elif isinstance(e, AccessGranted):
                print(f"  access to {e.course_id} for {e.student_id}")
            elif isinstance(e, GroupFailed):
                print(f"  group failed; refunding {', '.join(e.members)}")
            elif isinstance(e, RefundIssued):
                print(f"  refunded {e.amount} to {e.student_id}")


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    gateway = FakePaymentGateway()
    live = Live()
    school = School.build(InMemoryStore(), clock=clock, gateway=gateway, publisher=live)
    deals = school.deals
    school.students.register("ann", name="Ann")
    deals.create_campaign(
        GroupDealCampaign(
            id="spring-python",
            course_id="python-101",
            list_price=Money("299.00", "CNY"),
            group_price=Money("199.00", "CNY"),
            required_size=3,
            max_size=5,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )

    # each student's payment account, on file: a join charges her default method
    for sid in ("ann", "bob", "bob-2", "cat", "dan", "eve"):
        school.payments.add_method(sid, f"wx-{sid.replace('-', '')}")

    print("group 1:")
    g1 = deals.open_group("spring-python", "ann", device_id="ann-phone")
    print(f"  ann opened a group, share code {g1.share_code}")
    shared = deals.group_by_code(g1.share_code)
    # ann's share link carries her: bob's sign-up and join are attributed to her
    link = deals.share_link("ann", "spring-python", group_id=g1.id)
    deals.registered_via(link.token, "bob")
    deals.join_group(shared.id, "bob", device_id="bob-phone", via=link.token)
    try:
        deals.join_group(shared.id, "bob-2", device_id="ann-phone")
    except AbuseSuspected as denied:
        print(f"  denied: {denied}")
    deals.join_group(shared.id, "cat", device_id="cat-phone")

    print("group 2:")
    g2 = deals.open_group("spring-python", "dan")
    dans = deals.share_link("dan", "spring-python", group_id=g2.id)
    deals.join_group(g2.id, "eve", via=dans.token)
    clock.advance(timedelta(hours=24))
    gateway.fail_next_refunds(1)  # the payment provider hiccups once
    deals.expire_due()
    deals.expire_due()  # the next sweep retries the unconfirmed refund

    # a formed group is a purchase to the student records too
    stages = school.students.stage_history("ann", actor=OFFICE)
    print(f"ann's lifecycle: {[stage for stage, _, _ in stages]}")
    m = live.metrics
    print(
        f"groups opened {m.groups_opened}, success rate {m.success_rate:.0%}, "
        f"average order {m.average_order_value}, viral coefficient {m.viral_coefficient} "
        f"(attributed sign-ups; first payments: {m.first_payment_coefficient})"
    )


if __name__ == "__main__":
    main()
