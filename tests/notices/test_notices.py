"""Notices: what is planned for whom, and delivery once per channel, per adapter."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest

from eduengine import FixedClock, InMemoryStore, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import InvalidInput, NoticeNotFound
from eduengine.levels.model import Badge, LearningEvent, XpRule
from eduengine.notices import DeliveryReport, Notice, NoticePolicy, QuietHours
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.reminders import Reminder
from eduengine.students.model import Guardian, GuardianRole
from tests.adapters import StoreHandle
from tests.notices.helpers import NoticeSchool, Provider, notice_school
from tests.payers import method_for
from tests.till import checkout


@pytest.fixture
def ns(store: StoreHandle, clock: FixedClock) -> NoticeSchool:
    return notice_school(store, clock)


def _kinds(keys: list[str]) -> list[str]:
    return sorted(key.split(":")[0] for key in keys)


def test_a_booking_is_confirmed_and_reminded_a_day_an_hour_and_15_minutes_before(
    ns: NoticeSchool,
) -> None:
    ns.school.notices.set_preferences("ann", channels=["wechat"], zone="Asia/Shanghai")
    lesson = ns.slot(in_hours=48)
    seat = ns.school.booking.book(lesson.id, "ann")
    [confirmation] = ns.deliver()
    assert confirmation == f"booking_confirmed:{seat.id}:ann:wechat"
    context = ns.provider.calls[0][1].context
    assert context["start"] == lesson.start.astimezone(_shanghai()).isoformat()
    assert (context["course"], context["tutor"], context["zone"]) == (
        "math",
        "wang",
        "Asia/Shanghai",
    )
    assert ns.deliver() == []  # once
    sent = []
    for before in (timedelta(days=1), timedelta(hours=1), timedelta(minutes=15)):
        ns.clock.set(lesson.start - before)
        sent += ns.deliver()
    assert sent == [f"class_reminder:{seat.id}:{label}:ann:wechat" for label in ("1d", "1h", "15m")]
    ns.clock.set(lesson.start)
    assert ns.deliver() == []


def _shanghai() -> ZoneInfo:
    return ZoneInfo("Asia/Shanghai")


def test_guardians_with_the_reminder_role_get_copies_on_their_own_channels(
    ns: NoticeSchool,
) -> None:
    ns.school.students.register(
        "ann",
        name="Ann",
        guardians=[
            Guardian(
                name="Mum", phone="13800000000", roles=frozenset({GuardianRole.RECEIVE_REMINDERS})
            ),
            Guardian(name="Dad", roles=frozenset({GuardianRole.PAY})),
        ],
    )
    ns.school.notices.set_preferences("ann#guardian0", channels=["sms"])
    seat = ns.school.booking.book(ns.slot(in_hours=48).id, "ann")
    assert sorted(ns.deliver()) == [
        f"booking_confirmed:{seat.id}:ann#guardian0:sms",
        f"booking_confirmed:{seat.id}:ann:in_app",
    ]
    mum = next(n for _, n in ns.provider.calls if n.recipient.role == "guardian")
    assert (mum.recipient.name, mum.recipient.phone) == ("Mum", "13800000000")


def test_cancelling_voids_pending_notices_and_sends_a_cancellation(ns: NoticeSchool) -> None:
    lesson = ns.slot(in_hours=48)
    seat = ns.school.booking.book(lesson.id, "ann")
    # a read through the school applies the booking's reactions: the confirmation waits
    assert ns.school.notices.states(f"booking_confirmed:{seat.id}:ann") == {"in_app": "pending"}
    ns.school.booking.cancel(seat.id)
    assert ns.deliver() == [f"booking_cancelled:{seat.id}:ann:in_app"]
    assert ns.school.notices.states(f"booking_confirmed:{seat.id}:ann") == {"in_app": "void"}
    ns.clock.set(lesson.start - timedelta(minutes=15))
    assert ns.deliver() == []


def test_a_seat_cancelled_before_its_reactions_ran_gets_the_cancellation_alone(
    ns: NoticeSchool,
) -> None:
    lesson = ns.slot(in_hours=48)
    seat = ns.school.booking.book(lesson.id, "ann")
    ns.school.booking.cancel(seat.id)  # both deferred: one batch applies them
    # a reaction reads the state when it runs: the cancelled seat is confirmed to no one
    assert ns.deliver() == [f"booking_cancelled:{seat.id}:ann:in_app"]
    with pytest.raises(NoticeNotFound):
        ns.school.notices.states(f"booking_confirmed:{seat.id}:ann")
    ns.clock.set(lesson.start - timedelta(minutes=15))
    assert ns.deliver() == []


def test_rescheduling_moves_the_reminders_to_the_new_class(ns: NoticeSchool) -> None:
    a, b = ns.slot(in_hours=48), ns.slot(in_hours=96)
    first = ns.school.booking.book(a.id, "ann")
    moved = ns.school.policies.reschedule(first.id, b.id)
    assert ns.deliver() == [f"booking_rescheduled:{moved.id}:ann:in_app"]
    notice = ns.provider.calls[0][1]
    assert notice.context["from_start"] == a.start.isoformat()
    assert notice.context["start"] == b.start.isoformat()
    ns.clock.set(a.start - timedelta(minutes=15))
    assert ns.deliver() == []  # nothing for the old class
    ns.clock.set(b.start - timedelta(minutes=15))
    assert _kinds(ns.deliver()) == ["class_reminder"] * 3  # 1d, 1h, 15m (worker was late)


def test_no_notice_goes_out_once_the_class_started(ns: NoticeSchool) -> None:
    lesson = ns.slot(in_hours=48)
    seat = ns.school.booking.book(lesson.id, "ann")
    ns.clock.set(lesson.start + timedelta(minutes=1))  # the workers were down for two days
    report = ns.school.notices.deliver_due("w1")
    assert ns.provider.calls == [] and report.expired == 4
    assert ns.school.notices.states(f"class_reminder:{seat.id}:15m:ann") == {"in_app": "expired"}


def test_sms_waits_for_the_morning_in_quiet_hours_unless_the_class_is_sooner(
    ns: NoticeSchool,
) -> None:
    ns.school.notices.set_preferences("ann", channels=["sms", "in_app"], zone="Asia/Shanghai")
    ns.clock.set(ns.clock.now().replace(hour=19))  # 03:00 in Shanghai
    later = ns.slot(in_hours=30)
    seat = ns.school.booking.book(later.id, "ann")
    assert ns.deliver() == [f"booking_confirmed:{seat.id}:ann:in_app"]
    ns.clock.advance(timedelta(hours=4, minutes=59))  # 07:59
    assert ns.deliver() == []
    ns.clock.advance(timedelta(minutes=1))  # 08:00
    assert ns.deliver() == [f"booking_confirmed:{seat.id}:ann:sms"]
    ns.clock.set(ns.clock.now().replace(hour=20))  # 04:00 in Shanghai, a class at 05:00
    early = ns.slot(in_hours=1)
    soon = ns.school.booking.book(early.id, "ann")
    assert sorted(key for key in ns.deliver() if soon.id in key) == [
        f"booking_confirmed:{soon.id}:ann:in_app",
        f"booking_confirmed:{soon.id}:ann:sms",
        f"class_reminder:{soon.id}:1h:ann:in_app",
        f"class_reminder:{soon.id}:1h:ann:sms",
    ]


def test_quiet_hours_can_wrap_midnight_or_not() -> None:
    from datetime import UTC, datetime

    day = QuietHours(time(12, 0), time(14, 0))
    at = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert day.ends(at) == at.replace(hour=14)
    assert day.ends(at.replace(hour=14)) is None
    night = QuietHours.parse("22:00", "07:00")
    assert night.ends(at.replace(hour=23)) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        QuietHours.parse("late", "7")


def test_a_failing_channel_is_retried_with_backoff_then_falls_back(
    store: StoreHandle, clock: FixedClock
) -> None:
    policy = NoticePolicy(max_attempts=3, backoff=timedelta(minutes=1), reminders=())
    ns = notice_school(store, clock, policy)
    ns.provider.fail = lambda notice, channel: channel == "sms"
    ns.school.notices.set_preferences("ann", channels=["sms"], fallback=["email"], quiet=None)
    seat = ns.school.booking.book(ns.slot(in_hours=48).id, "ann")
    key = f"booking_confirmed:{seat.id}:ann"
    assert ns.deliver() == [f"{key}:sms"]
    assert ns.deliver() == []  # backing off
    ns.clock.advance(timedelta(minutes=1))
    assert ns.deliver() == [f"{key}:sms"]
    ns.clock.advance(timedelta(minutes=1))
    assert ns.deliver() == []  # doubled: two minutes
    ns.clock.advance(timedelta(minutes=1))
    assert ns.deliver() == [f"{key}:sms"]  # the third failure: dead
    assert ns.deliver() == [f"{key}:email"]  # the fallback, at once
    assert ns.school.notices.states(key) == {"sms": "dead", "email": "sent"}
    assert [n.id for n in ns.school.notices.dead_letters(actor=SYSTEM)] == [key]
    assert ns.school.notices.channel_history("ann") == {
        "sms": {"failed": 2, "dead": 1},
        "email": {"sent": 1},
    }


def test_a_crashed_workers_notices_go_out_once_its_lease_ran_out(ns: NoticeSchool) -> None:
    class Crash(BaseException):
        pass

    seat = ns.school.booking.book(ns.slot(in_hours=48).id, "ann")

    def crash(notice: Notice, channel: str) -> bool:
        raise Crash

    ns.provider.fail = crash
    with pytest.raises(Crash):
        ns.school.notices.deliver_due("w1")
    ns.provider.fail = lambda notice, channel: False
    assert ns.deliver("w2") == []  # still leased to w1
    ns.clock.advance(NoticePolicy().lease)
    assert ns.deliver("w2") == [f"booking_confirmed:{seat.id}:ann:in_app"]
    assert ns.deliver("w3") == []


def test_a_worker_that_lost_its_lease_cannot_acknowledge(ns: NoticeSchool) -> None:
    seat = ns.school.booking.book(ns.slot(in_hours=48).id, "ann")
    key = f"booking_confirmed:{seat.id}:ann:in_app"
    taken_over: list[DeliveryReport] = []
    stalled: list[str] = []

    def stall(notice: Notice, channel: str) -> bool:
        if not stalled:  # w1 hangs past its lease; w2 takes the notice over meanwhile
            stalled.append(channel)
            ns.clock.advance(NoticePolicy().lease + timedelta(seconds=1))
            taken_over.append(ns.school.notices.deliver_due("w2"))
        return False

    ns.provider.fail = stall
    report = ns.school.notices.deliver_due("w1")
    assert (report.sent, report.lost) == (0, 1)
    assert taken_over[0].sent == 1
    # the one duplicate the design allows, with the same idempotency key for the provider
    assert ns.provider.keys() == [key, key]
    assert ns.school.notices.channel_history("ann") == {"in_app": {"sent": 1}}


def test_waitlist_offers_carry_their_expiry_and_lapse_with_it(ns: NoticeSchool) -> None:
    from eduengine import WaitlistMode

    start = ns.clock.now() + timedelta(hours=48)
    lesson = ns.school.booking.create_slot(
        "math", start, start + timedelta(hours=1), 1, waitlist_mode=WaitlistMode.OFFER
    )
    held = ns.school.booking.book(lesson.id, "ann")
    ns.school.booking.join_waitlist(lesson.id, "bob")
    ns.deliver()
    ns.school.booking.cancel(held.id)
    keys = ns.deliver()
    assert "seat_offered" in _kinds(keys)
    offer = next(n for k, n in ns.provider.calls if k.startswith("seat_offered"))
    assert offer.recipient.id == "bob" and offer.context["expires_at"]
    assert offer.not_after is not None and offer.not_after <= lesson.start


def test_group_members_hear_progress_a_closing_nudge_once_and_the_outcome(
    store: StoreHandle, clock: FixedClock
) -> None:
    gateway = FakePaymentGateway()
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        gateway=gateway,
        risk_rules=(),
        notices=NoticePolicy(closing_soon=(timedelta(hours=2),)),
        notifiers={"in_app": provider},
    )
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="python-101",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=3,
            max_size=4,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "spring", "ann", method_id=method_for(school.payments, "ann", "a-ann")
    )
    school.deals.join_group(group.id, "bob", method_id=method_for(school.payments, "bob", "a-bob"))
    school.notices.deliver_due("w1")
    joined = [n for _, n in provider.calls if n.context.get("joined") == "bob"]
    assert {n.recipient.id for n in joined} == {"ann", "bob"}
    assert {(n.context["members"], n.context["still_needed"]) for n in joined} == {(2, 1)}
    clock.set(group.deadline - timedelta(hours=2))
    for worker in ("w1", "w2"):
        school.notices.deliver_due(worker)
    nudges = [n for _, n in provider.calls if n.kind == "group_closing_soon"]
    assert sorted(n.recipient.id for n in nudges) == ["ann", "bob"]  # once each
    assert {n.context["still_needed"] for n in nudges} == {1}
    clock.set(group.deadline)
    school.deals.expire_due()
    school.notices.deliver_due("w1")
    kinds = [n.kind for _, n in provider.calls]
    assert kinds.count("group_failed") == 2 and kinds.count("refund_issued") == 2
    refund = next(n for _, n in provider.calls if n.kind == "refund_issued")
    assert refund.context["amount"] == "99.00 CNY"


def test_a_formed_group_voids_its_nudges(store: StoreHandle, clock: FixedClock) -> None:
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        risk_rules=(),
        notifiers={"in_app": provider},
    )
    school.deals.create_campaign(
        GroupDealCampaign(
            id="duo",
            course_id="go-101",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=2,
            max_size=2,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "duo", "ann", method_id=method_for(school.payments, "ann", "a-ann")
    )
    school.deals.join_group(group.id, "bob", method_id=method_for(school.payments, "bob", "a-bob"))
    clock.set(group.deadline - timedelta(minutes=30))
    school.notices.deliver_due("w1")
    kinds = sorted(n.kind for _, n in provider.calls)
    assert kinds == ["group_formed", "group_formed", "group_joined"]  # the opener heard
    assert school.notices.states(f"group_closing_soon:{group.id}:2h:ann") == {"in_app": "void"}


def test_a_payment_is_confirmed_with_the_schedule_and_head_teacher(ns: NoticeSchool) -> None:
    school = ns.school
    school.students.register("ann", name="Ann")
    school.students.assign("ann", _a_class(school))
    school.notices.set_head_teacher("c1", name="Ms Li", contact="wechat:li-teacher")
    lesson = ns.slot(in_hours=48)
    school.booking.book(lesson.id, "ann")
    gateway = FakePaymentGateway()
    school.pricing.gateway = gateway
    lines = [OrderLine(course_id="math", price=Money("300.00", "CNY"))]
    order = checkout(school.pricing, "o1", Customer(student_id="ann"), lines, account="a-ann")
    ns.deliver()
    paid = next(n for _, n in ns.provider.calls if n.kind == "order_paid")
    assert paid.context["amount"] == str(order.quote.total)
    assert paid.context["head_teacher"] == {"name": "Ms Li", "contact": "wechat:li-teacher"}
    assert paid.context["schedule"] == [
        {"course": "math", "tutor": "wang", "start": lesson.start.isoformat()}
    ]


def _a_class(school: School) -> str:
    from eduengine.students.model import SchoolClass

    school.students.create_class(SchoolClass(id="c1", name="Math A", capacity=30))
    return "c1"


def test_packages_about_to_expire_or_never_activated_are_nudged_once(ns: NoticeSchool) -> None:
    school = ns.school
    school.students.register("ann", name="Ann")
    school.students.register("bob", name="Bob")
    school.students.buy_package("ann", credits=10, valid_for=timedelta(days=10), activate=True)
    school.students.buy_package("bob", credits=5, valid_for=timedelta(days=30))
    assert school.notices.plan_due() == 0
    ns.clock.advance(timedelta(days=7))
    assert school.notices.plan_due() == 2  # ann's expires in 3 days; bob's waits a week
    assert school.notices.plan_due() == 0
    keys = ns.deliver()
    assert _kinds(keys) == ["package_expiring", "package_not_activated"]
    expiring = next(n for _, n in ns.provider.calls if n.kind == "package_expiring")
    assert expiring.context["credits_left"] == 10


def test_levelling_up_and_badges_are_announced(store: StoreHandle, clock: FixedClock) -> None:
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        xp_rules=[XpRule(kind="lesson", points=500)],
        badges=[Badge.at_level("b2", "Rising star", 2)],
        notifiers={"in_app": provider},
    )
    school.levels.record(
        LearningEvent(student_id="ann", kind="lesson", source_id="l1", occurred_at=clock.now())
    )
    school.notices.deliver_due("w1")
    kinds = sorted(n.kind for _, n in provider.calls)
    assert kinds == ["badge_awarded", "level_up"]
    level = next(n for _, n in provider.calls if n.kind == "level_up")
    assert level.context["level"] >= 2


def test_the_best_channel_is_the_one_the_student_opens(ns: NoticeSchool) -> None:
    ns.school.notices.set_preferences("ann", channels=["sms", "wechat"], quiet=None)
    assert ns.school.notices.best_channel("ann") is None
    for hours in (30, 40, 50):
        ns.school.booking.book(ns.slot(in_hours=hours).id, "ann")
    ns.deliver()
    for key, notice in ns.provider.calls:
        if key.endswith(":wechat"):
            assert ns.school.notices.record_outcome(notice.id, "wechat", "opened")
    assert not ns.school.notices.record_outcome(notice.id, "wechat", "opened")  # once
    assert ns.school.notices.best_channel("ann") == "wechat"
    with pytest.raises(InvalidInput):
        ns.school.notices.record_outcome(notice.id, "wechat", "liked")
    with pytest.raises(NoticeNotFound):
        ns.school.notices.record_outcome("nope", "wechat", "opened")


def test_channels_are_an_open_registry_and_preferences_are_checked(ns: NoticeSchool) -> None:
    prefs = ns.school.notices.set_preferences("ann", channels=["line"], fallback=["in_app"])
    assert prefs.channels == ("line",)
    seat = ns.school.booking.book(ns.slot(in_hours=48).id, "ann")
    ns.school.notices.deliver_due("w1")  # no notifier for "line" yet: a failed attempt
    assert ns.school.notices.states(f"booking_confirmed:{seat.id}:ann") == {"line": "pending"}
    ns.school.notices.channels.register("line", ns.provider)
    ns.clock.advance(timedelta(minutes=1))
    assert ns.deliver() == [f"booking_confirmed:{seat.id}:ann:line"]
    for bad in ([], ["SMS!"]):
        with pytest.raises(InvalidInput):
            ns.school.notices.set_preferences("ann", channels=bad)
    with pytest.raises(InvalidInput):
        ns.school.notices.set_preferences("ann", zone="Mars/Olympus")


def test_erasing_a_student_removes_their_notices(ns: NoticeSchool) -> None:
    from eduengine.students.privacy import Actor

    ns.school.students.register("ann", name="Ann")
    ns.school.notices.set_preferences("ann", channels=["sms"])
    ns.school.booking.book(ns.slot(in_hours=48).id, "ann")
    report = ns.school.students.erase(Actor(id="admin", role="admin"), "ann")
    # the booking's 4 notices (confirmation, 3 reminders) are one class document
    assert report.removed["notices"] == 2  # the class document and the preferences
    assert ns.school.notices.for_student("ann", actor=SYSTEM) == []


def test_send_due_marks_sent_only_what_the_notifier_delivered() -> None:
    from datetime import UTC, datetime

    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    school = School.build(InMemoryStore(), clock=clock, notices=None)
    start = clock.now() + timedelta(hours=48)
    for student in ("ann", "bob"):
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        school.booking.book(slot.id, student)
    sent: list[Reminder] = []

    class Flaky:
        down = True

        def send(self, reminder: Reminder) -> None:
            if self.down:
                raise ConnectionError("push service down")
            sent.append(reminder)

    flaky = Flaky()
    with pytest.raises(ConnectionError):
        school.reminders.send_due(flaky)
    flaky.down = False
    assert school.reminders.send_due(flaky) == 2  # nothing was lost
    assert sorted(r.student_id for r in sent) == ["ann", "bob"]
    assert school.reminders.send_due(flaky) == 0


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(InvalidInput):
        NoticePolicy(max_attempts=0)
    with pytest.raises(InvalidInput):
        NoticePolicy(channels=())
    with pytest.raises(InvalidInput):
        NoticePolicy(zone="Nowhere/Land")
    assert NoticePolicy().retry_after(20) == timedelta(hours=1)


def test_a_member_who_joins_a_formed_group_is_enrolled_and_told_it_formed(
    store: StoreHandle, clock: FixedClock
) -> None:
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        gateway=FakePaymentGateway(),
        risk_rules=(),
        notifiers={"in_app": provider},
    )
    school.deals.create_campaign(
        GroupDealCampaign(
            id="two-to-three",
            course_id="go-101",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=2,
            max_size=3,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "two-to-three", "ann", method_id=method_for(school.payments, "ann", "a-ann")
    )
    school.deals.join_group(group.id, "bob", method_id=method_for(school.payments, "bob", "a-bob"))
    school.deals.join_group(
        group.id, "cai", method_id=method_for(school.payments, "cai", "a-cai")
    )  # after it formed
    school.notices.deliver_due("w1")
    formed = sorted(n.recipient.id for _, n in provider.calls if n.kind == "group_formed")
    assert formed == ["ann", "bob", "cai"]  # each told once
    late = next(
        n for _, n in provider.calls if n.kind == "group_formed" and n.recipient.id == "cai"
    )
    assert late.context["joined_formed"] is True and late.context["members"] == 3
    assert school.students.enrolments("cai", actor=SYSTEM) == ["go-101"]
