"""Cancellation windows, late fees, no-shows, restrictions, reschedules and reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import FixedClock, InMemoryStore, School
from eduengine.errors import BookingRestricted
from eduengine.payments import FakePaymentGateway
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.reminders import Reminder
from eduengine.students import Actor

#: the school office, reading students' records (each read names who reads)
OFFICE = Actor(id="office", role="academic")


class PrintNotifier:
    def send(self, reminder: Reminder) -> None:
        print(
            f"  [{reminder.channel.value}] to {reminder.student_id}: {reminder.kind} "
            f"(class at {reminder.start:%a %H:%M})"
        )


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    school = School.build(
        InMemoryStore(),
        clock=clock,
        gateway=FakePaymentGateway(),
        policy=CancellationPolicy(
            free_until=timedelta(hours=24),
            late_fee=Money("20.00", "CNY"),
            max_violations=2,
            period=timedelta(days=30),
            restrict_for=timedelta(days=7),
            max_reschedules=1,
        ),
    )
    desk, reminders = school.policies, school.reminders
    reminders.set_channel("ann", "sms")
    school.payments.add_method("ann", "alipay-ann")  # late fees charge the default method

    def slot(hours: int) -> str:
        start = clock.now() + timedelta(hours=hours)
        return school.booking.create_slot("speaking", start, start + timedelta(hours=1), 8).id

    a, b, c = slot(48), slot(72), slot(5)
    booking = school.book(a, "ann")
    print("on booking:")
    reminders.send_due(PrintNotifier())
    moved = desk.reschedule(booking.id, b)
    print(f"rescheduled free of charge to slot {moved.slot_id[:8]}")
    reminders.send_due(PrintNotifier())
    outcome = school.cancel(school.book(c, "ann").id)
    print(f"cancelled 5 hours before: late={outcome.late}, fee={outcome.fee}")
    clock.advance(timedelta(days=2, minutes=5))
    print("two days later:")
    reminders.send_due(PrintNotifier())
    clock.set(school.booking.get_slot(moved.slot_id, actor=OFFICE).start + timedelta(minutes=10))
    reminders.send_due(PrintNotifier())
    desk.mark_no_show(moved.id)
    print(f"violations: {[v.kind.value for v in desk.violations('ann', actor=OFFICE)]}")
    print(f"fees: {[(str(f.fee), f.state) for f in school.fees.fees_of('ann', actor=OFFICE)]}")
    try:
        school.booking.book(slot(24), "ann")  # the restriction holds on every service
    except BookingRestricted as refused:
        print(f"refused: {refused}")


if __name__ == "__main__":
    main()
