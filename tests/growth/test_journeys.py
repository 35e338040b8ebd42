"""Journeys on every adapter: each trigger, each action, conditions that skip a step,
quiet hours and the frequency cap; every step an event, every student through it once."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

from eduengine import FixedClock, School
from eduengine.growth import JourneyStepSkipped, JourneyStepTaken, StaffTaskCreated
from eduengine.growth.journeys import (
    FrequencyCap,
    IssueCoupon,
    Journey,
    SendNotice,
    StaffTask,
    Step,
    Trigger,
)
from eduengine.growth.segments import Segment
from eduengine.kernel.events import DomainEvent
from eduengine.levels import LearningEvent, LevelCurve, XpRule
from eduengine.notices import QuietHours
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, DiscountKind, OrderLine
from tests.adapters import StoreHandle
from tests.conftest import T0

NOTICE = Step(name="nudge", action=SendNotice(template="welcome", channel="sms", language="en"))


def school_on(store: StoreHandle, clock: FixedClock, *journeys: Journey) -> School:
    school = School.build(
        store,
        clock=clock,
        journeys=journeys,
        xp_rules=[XpRule(kind="lesson", points=250)],
        level_curve=LevelCurve.flat(100, 5),
    )
    school.templates.save("welcome", "sms", "en", "Hi {{ student.name }}, your first lesson?")
    return school


def events_of(school: School, kind: type[DomainEvent]) -> list[DomainEvent]:
    found: list[DomainEvent] = []
    cursor = 0
    while True:
        batch = school.feed.events_since(cursor, limit=500)
        if not batch:
            return [e for e in found if isinstance(e, kind)]
        found += [envelope.event for envelope in batch]
        position = batch[-1].position
        assert position is not None
        cursor = position


def test_registered_and_no_purchase_sends_a_notice_from_a_template_once(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    welcome = Journey(key="welcome", trigger=Trigger.registered_no_purchase(days=3), steps=[NOTICE])
    school = school_on(store, clock, welcome)
    school.students.register("ann", name="Ann")
    school.students.register("bob", name="Bob")
    school.students.buy_package("bob", credits=5, valid_for=timedelta(days=90))
    assert school.journeys.sweep_due() == 0  # not yet: three days
    clock.advance(timedelta(days=3))
    assert school.journeys.sweep_due() == 2  # ann taken, bob skipped (he bought)
    assert school.journeys.sweep_due() == 0
    taken = events_of(school, JourneyStepTaken)
    assert [(e.student_id, e.action, e.detail) for e in taken] == [  # type: ignore[attr-defined]
        ("ann", "notice", "welcome/sms/en@1")
    ]
    skipped = events_of(school, JourneyStepSkipped)
    assert [(e.student_id, e.reason) for e in skipped] == [("bob", "purchased")]  # type: ignore[attr-defined]
    [notice] = school.notices.for_student("ann", actor=SYSTEM)
    assert notice.kind == "journey" and notice.context["template"]["version"] == 1
    assert school.journeys.passed("welcome", "nudge", "ann", actor=SYSTEM) == clock.now()
    assert school.journeys.passed("welcome", "nudge", "bob", actor=SYSTEM) is None


def test_package_triggers_coupon_and_task(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    activate = Journey(
        key="activate",
        trigger=Trigger.package_not_activated(days=7),
        steps=[
            Step(
                name="call",
                action=StaffTask(title="call to book a first lesson", assignee="desk-1"),
            )
        ],
    )
    renew = Journey(
        key="renew",
        trigger=Trigger.package_expiring(within=timedelta(days=5)),
        steps=[
            Step(name="offer", action=IssueCoupon(kind=DiscountKind.PERCENT, value=Decimal("10")))
        ],
    )
    school = school_on(store, clock, activate, renew)
    for sid in ("ann", "bob", "cy"):
        school.students.register(sid, name=sid)
    pending = school.students.buy_package("ann", credits=5, valid_for=timedelta(days=30))
    school.students.buy_package("bob", credits=5, valid_for=timedelta(days=10), activate=True)
    school.students.buy_package("cy", credits=5, valid_for=timedelta(days=10), activate=True)
    clock.advance(timedelta(days=4))
    school.students.buy_package("cy", credits=5, valid_for=timedelta(days=30))  # renewed
    clock.advance(timedelta(days=1))  # day 5: bob's and cy's packages end within 5 days
    assert school.journeys.sweep_due() == 2  # bob offered, cy skipped (renewed)
    clock.advance(timedelta(days=2))  # day 7: ann's package still not activated
    assert school.journeys.sweep_due() == 1
    assert school.journeys.sweep_due() == 0
    [task] = events_of(school, StaffTaskCreated)
    assert (task.student_id, task.assignee) == ("ann", "desk-1")  # type: ignore[attr-defined]
    [offer] = [e for e in events_of(school, JourneyStepTaken) if e.journey == "renew"]  # type: ignore[attr-defined]
    code = offer.detail  # type: ignore[attr-defined]
    line = [OrderLine(course_id="c", price=Money("100", "CNY"))]
    assert school.pricing.quote(Customer(student_id="bob"), line, [code]).total == Money(
        "90", "CNY"
    )
    skipped = events_of(school, JourneyStepSkipped)
    assert [(e.student_id, e.reason) for e in skipped] == [("cy", "renewed")]  # type: ignore[attr-defined]
    assert pending


def test_event_triggers_credits_low_level_reached_and_no_lesson(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    low = Journey(key="low", trigger=Trigger.credits_low(at_most=1), steps=[NOTICE])
    level = Journey(key="lv3", trigger=Trigger.level_reached(3), steps=[NOTICE])
    idle = Journey(
        key="idle",
        trigger=Trigger.no_lesson_booked(days=10),
        steps=[NOTICE],
        segment=Segment(stages={"first_purchase"}),
    )
    school = school_on(store, clock, low, level, idle)
    school.students.register("ann", name="Ann")
    school.students.register("bob", name="Bob")
    school.students.buy_package("ann", credits=2, valid_for=timedelta(days=90), activate=True)
    start = T0 + timedelta(days=30)
    slot = school.booking.create_slot("c", start, start + timedelta(hours=1), capacity=5)
    school.book(slot.id, "ann", require_credit=True)  # 1 left: low
    # 250 XP: from level 1 past level 3
    school.levels.record(
        LearningEvent(student_id="bob", kind="lesson", source_id="l1", occurred_at=clock.now())
    )
    assert school.journeys.sweep_due() == 2
    clock.advance(timedelta(days=9))
    school.booking.book(slot.id, "bob")  # bob's wait starts again (he is not in the segment)
    clock.advance(timedelta(days=1))
    assert school.journeys.sweep_due() == 1  # ann: 10 days since her seat
    clock.advance(timedelta(days=9))
    assert school.journeys.sweep_due() == 1  # bob: skipped, not in the segment
    taken = {(e.journey, e.student_id) for e in events_of(school, JourneyStepTaken)}  # type: ignore[attr-defined]
    assert taken == {("low", "ann"), ("lv3", "bob"), ("idle", "ann")}


def test_quiet_hours_and_the_cap_hold_steps_back(store: StoreHandle) -> None:
    clock = FixedClock(T0.replace(hour=23))  # UTC, the notice policy's default zone
    quiet = QuietHours(time(22, 0), time(8, 0))
    cap = FrequencyCap(count=1, window=timedelta(days=2))
    first = Journey(
        key="first",
        trigger=Trigger.registered_no_purchase(days=0),
        steps=[NOTICE],
        quiet_hours=quiet,
        cap=cap,
    )
    second = Journey(
        key="second", trigger=Trigger.no_lesson_booked(days=0), steps=[NOTICE], cap=cap
    )
    school = school_on(store, clock, first, second)
    school.students.register("ann", name="Ann")
    assert school.journeys.sweep_due() == 1  # second (no quiet hours); first waits for 08:00
    clock.advance(timedelta(hours=9))  # 08:00: quiet hours over, but the cap is used
    assert school.journeys.sweep_due() == 0
    clock.advance(timedelta(days=2))
    assert school.journeys.sweep_due() == 1
    times = sorted(e.occurred_at for e in events_of(school, JourneyStepTaken))
    assert times[1] - times[0] >= timedelta(days=2)
    assert times[1].time() >= time(8, 0)


def test_a_step_waits_for_its_template_and_other_journeys_go_on(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    missing = Journey(
        key="missing",
        trigger=Trigger.registered_no_purchase(days=0),
        steps=[Step(name="hi", action=SendNotice(template="later", channel="sms"))],
    )
    task = Journey(
        key="task",
        trigger=Trigger.registered_no_purchase(days=0),
        steps=[Step(name="call", action=StaffTask(title="call"))],
    )
    school = school_on(store, clock, missing, task)
    school.students.register("ann", name="Ann")
    assert school.journeys.sweep_due() == 1  # the task; the notice has no template yet
    school.templates.save("later", "sms", "en", "Hi {{ student.name }}")
    assert school.journeys.sweep_due() == 1
    assert school.journeys.passed("missing", "hi", "ann", actor=SYSTEM) == clock.now()


def test_a_step_goes_on_each_recipients_best_channel_when_the_school_says_so(
    store: StoreHandle,
) -> None:
    from eduengine.notices import NoticePolicy
    from eduengine.notices.model import GUARDIAN_KINDS
    from eduengine.students import Actor, Guardian, GuardianRole
    from tests.notices.helpers import Provider

    office = Actor(id="u-office", role="academic")

    clock = FixedClock(T0)
    provider = Provider()
    step = Step(name="hi", action=SendNotice(template="welcome", channel="sms"))
    best = Step(name="hi", action=SendNotice(template="welcome", channel="sms", best_channel=True))
    school = School.build(
        store,
        clock=clock,
        journeys=[
            Journey(key="first", trigger=Trigger.registered_no_purchase(days=1), steps=[step]),
            Journey(key="second", trigger=Trigger.registered_no_purchase(days=2), steps=[best]),
        ],
        notifiers={"sms": provider, "wechat": provider, "email": provider},
        notices=NoticePolicy(guardian_kinds=GUARDIAN_KINDS | {"journey"}, quiet=None),
    )
    school.templates.save("welcome", "sms", "en", "Hi {{ student.name }}")
    mum = Guardian(name="Mum", phone="1380000", roles=frozenset({GuardianRole.RECEIVE_REMINDERS}))
    school.students.register("ann", name="Ann", guardians=[mum])
    for recipient in ("ann", "ann#guardian0"):
        school.notices.set_preferences(recipient, channels=["sms", "wechat"], quiet=None)
    clock.advance(timedelta(days=1))
    assert school.journeys.sweep_due() == 1
    school.notices.deliver_due("w1")
    opened = {"ann": "wechat", "ann#guardian0": "sms"}
    for key, notice in provider.calls:
        if key.endswith(":" + opened[notice.recipient.id]):
            school.notices.record_outcome(notice.id, opened[notice.recipient.id], "opened")
    clock.advance(timedelta(days=1))
    assert school.journeys.sweep_due() == 1
    sent = {
        n.recipient.id: n.channels
        for n in school.notices.for_student("ann", actor=office)
        if n.context["journey"] == "second"
    }
    assert sent == {"ann": ("wechat",), "ann#guardian0": ("sms",)}
    firsts = {
        n.recipient.id: n.channels
        for n in school.notices.for_student("ann", actor=office)
        if n.context["journey"] == "first"
    }
    assert firsts == {"ann": ("sms", "wechat"), "ann#guardian0": ("sms", "wechat")}
