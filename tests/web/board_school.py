"""The school the board's tests run: an alert rule on yesterday's attendance, seeded
around the real clock (the board's process reads it with the system clock)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from eduengine import FixedClock, School
from eduengine.analytics import AlertRule
from eduengine.deals import GroupDealCampaign
from eduengine.growth import Segment
from eduengine.kernel.clock import Clock
from eduengine.ops.stores import Store
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money


def board_zone(now: datetime | None = None) -> str:
    """A zone in which it is about noon now: the seeded lessons of the morning are past
    and those of the afternoon to come, whenever the test runs."""
    hour = (now or datetime.now(UTC)).astimezone(UTC).hour
    offset = 12 - hour  # local = UTC + offset; Etc/GMT names invert the sign
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


ZONE = board_zone()


def build(store: Store, clock: Clock | None = None) -> School:
    """``--school tests.web.board_school:build``."""
    rule = AlertRule(
        id="attendance",
        metric="attendance_rate",
        kind="threshold",
        notify="head-teacher",
        period_days=1,
        tz=ZONE,
        below=Decimal("0.8"),
    )
    return School.build(
        store, clock=clock, alert_rules=[rule], reminders=None, gateway=FakePaymentGateway()
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(ZONE))


def seed(store: Store) -> dict[str, str]:
    """Yesterday's poor attendance (the alert), this morning's lessons marked, this
    afternoon's booked, a group forming, packages due for renewal and two saved
    segments; returns the id of an afternoon slot with seats left."""
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    clock = FixedClock(at(today - timedelta(days=1), 7))
    school = build(store, clock)
    rng = random.Random(26)
    students = [f"学员{n:02d}" for n in range(12)]
    for sid in students:
        school.students.register(sid, name=sid)
    # yesterday: one lesson, one of three came
    slot = school.booking.create_slot(
        "数学思维", at(today - timedelta(days=1), 9), at(today - timedelta(days=1), 10), capacity=4
    )
    seats = [school.booking.book(slot.id, sid) for sid in students[:3]]
    clock.set(at(today - timedelta(days=1), 9, 10))
    school.booking.mark_attended(seats[0].id)
    for seat in seats[1:]:
        school.booking.mark_no_show(seat.id)
    # this morning: two lessons marked
    clock.set(at(today, 7))
    morning = [
        school.booking.create_slot("数学思维", at(today, 8), at(today, 9), capacity=6),
        school.booking.create_slot("python", at(today, 9), at(today, 10), capacity=5),
    ]
    marked = [school.booking.book(morning[n % 2].id, sid) for n, sid in enumerate(students[:8])]
    clock.set(at(today, 10, 5))
    for seat in marked:
        if rng.random() < 0.75:
            school.booking.mark_attended(seat.id)
        else:
            school.booking.mark_no_show(seat.id)
    # this afternoon: booked, seats left
    afternoon = school.booking.create_slot(
        "英语口语", at(today, 15), at(today, 16), capacity=8, tutor_id="陈老师"
    )
    for sid in students[:5]:
        school.booking.book(afternoon.id, sid)
    # a group forming, packages to renew, segments to act on
    school.deals.create_campaign(
        GroupDealCampaign(
            id="春季拼团",
            course_id="python",
            list_price=Money("399", "CNY"),
            group_price=Money("199", "CNY"),
            required_size=3,
            duration=timedelta(days=2),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    school.payments.add_method(students[0], "acct-0")
    school.deals.open_group("春季拼团", students[0])
    for sid in students[:3]:
        school.students.buy_package(sid, credits=10, valid_for=timedelta(days=5), activate=True)
    school.students.tag(students[4], "重点关注")
    school.segments.save("未购买学员", Segment(max_purchases=0))
    school.segments.save("重点关注学员", Segment(tags_any={"重点关注"}))
    return {"slot": afternoon.id, "zone": ZONE}
