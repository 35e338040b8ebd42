"""A generated school for the analytics tests: a random script of the commands a school
runs (timetable, bookings, cancellations with reasons, attendance, sign-ups, orders,
group deals, referrals, churn, erasure), with every committed event recorded."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.booking import events as ev
from eduengine.deals import GroupDealCampaign
from eduengine.errors import EduEngineError
from eduengine.levels import LearningEvent, XpRule
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
from eduengine.students.privacy import Actor
from tests.adapters import StoreHandle

#: a Friday, two days before Europe's clocks go forward (2026-03-29 01:00 UTC)
T0 = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
COURSES = ("math", "art", "code")
TUTORS = ("wang", "li", None)
REASONS = (None, "sick", "schedule_conflict", "price")
CAMPAIGNS = {"spring": "math", "summer": "code"}
OPS = (
    "slot",
    "slot",
    "book",
    "book",
    "book",
    "waitlist",
    "cancel",
    "cancel_slot",
    "capacity",
    "mark",
    "mark",
    "tick",
    "register",
    "trial",
    "order",
    "churn",
    "refer",
    "open_group",
    "join_group",
    "cancel_group",
    "expire",
    "erase",
    "cancel_series",
    "series",
    "share",
    "join_via",
)


@attrs.define
class World:
    school: School
    clock: FixedClock
    events: InMemoryEventBus
    tutors: dict[str, str | None] = attrs.field(factory=dict)
    slots: list[str] = attrs.field(factory=list)
    series: list[str] = attrs.field(factory=list)
    bookings: list[str] = attrs.field(factory=list)
    students: list[str] = attrs.field(factory=list)
    groups: list[str] = attrs.field(factory=list)
    counter: itertools.count[int] = attrs.field(factory=itertools.count)

    def new_id(self) -> str:
        return f"x{next(self.counter):05d}"


def build(handle: StoreHandle, *, feed: bool = False) -> World:
    """The school on ``handle``: its reactions run in each command's unit of work (a
    store without a feed, what :class:`tests.analytics.recount.Recount` is checked
    against), or with ``feed`` as projections of the store's feed, after each commit."""
    clock = FixedClock(T0)
    events = InMemoryEventBus()

    class Store:
        unit_of_work = staticmethod(handle.unit_of_work)

    school = School.build(
        handle if feed else Store(),
        clock=clock,
        gateway=FakePaymentGateway(),
        publisher=events,
        risk_rules=(),
        reminders=None,
        xp_rules=[XpRule(kind="lesson_attended", points=60)],
    )
    world = World(school=school, clock=clock, events=events)
    for cid, course in CAMPAIGNS.items():
        school.deals.create_campaign(
            GroupDealCampaign(
                id=cid,
                course_id=course,
                list_price=Money("199", "CNY"),
                group_price=Money("99", "CNY"),
                required_size=2,
                max_size=3,
                duration=timedelta(hours=20),
                starts_at=T0,
                ends_at=T0 + timedelta(days=60),
                max_opened_per_student=5,
                max_joined_per_student=5,
            )
        )
    # the courses' prices (what orders quote) and each student's payment method on file
    for course in COURSES:
        school.catalogue.add_item(CatalogueItem(id=course, kind=ItemKind.COURSE, title=course))
    prices = {c: Money(150 * (1 + i), "CNY") for i, c in enumerate(COURSES)}
    school.catalogue.publish(PriceList(id="base", currency="CNY", valid_from=T0, prices=prices))
    for n in range(9):
        school.payments.add_method(student(n), f"acct-{student(n)}")
    return world


def pick(items: list[str], n: int) -> str | None:
    return items[n % len(items)] if items else None


def step(world: World, op: str, n: int) -> None:
    """Run one command; a refusal is part of school life (and must change nothing)."""
    actions: dict[str, Callable[[World, int], object]] = {
        "slot": _slot,
        "series": _series,
        "book": _book,
        "waitlist": _waitlist,
        "cancel": _cancel,
        "cancel_slot": _cancel_slot,
        "capacity": _capacity,
        "mark": _mark,
        "tick": _tick,
        "register": _register,
        "trial": _trial,
        "order": _order,
        "churn": _churn,
        "refer": _refer,
        "open_group": _open_group,
        "join_group": _join,
        "cancel_group": _cancel_group,
        "expire": _expire,
        "erase": _erase,
        "cancel_series": _cancel_series,
        "xp": _xp,
        "share": _share,
        "join_via": _join_via,
    }
    with contextlib.suppress(EduEngineError):
        actions[op](world, n)


def student(n: int) -> str:
    return f"st{n % 9}"


def _slot(w: World, n: int) -> None:
    # starts on the hour or half past, up to four days on: across the DST change
    start = w.clock.now() + timedelta(minutes=30 * (1 + n % 190))
    tutor = TUTORS[n % 3]
    slot = w.school.booking.create_slot(
        COURSES[n % 2 + (n // 7) % 2],
        start,
        start + timedelta(hours=1),
        capacity=1 + n % 3,
        tutor_id=tutor,
    )
    w.tutors[slot.id] = tutor
    w.slots.append(slot.id)


def _series(w: World, n: int) -> None:
    tutor = TUTORS[n % 3]
    series = w.school.booking.create_series(
        COURSES[n % 3],
        "FREQ=DAILY;COUNT=3",
        w.clock.now() + timedelta(hours=2 + n % 30),
        timedelta(hours=1),
        capacity=2,
        tutor_id=tutor,
    )
    for sid in series.slot_ids:
        w.tutors[sid] = tutor
        w.slots.append(sid)
    w.series.append(series.id)
    w.school.booking.book_series(series.id, student(n))


def _book(w: World, n: int) -> None:
    slot = pick(w.slots, n)
    if slot is not None:
        w.bookings.append(w.school.booking.book(slot, student(n // 3)).id)


def _waitlist(w: World, n: int) -> None:
    slot = pick(w.slots, n)
    if slot is not None:
        w.school.booking.join_waitlist(slot, student(n // 5))


def _cancel(w: World, n: int) -> None:
    booking = pick(w.bookings, n)
    if booking is not None:
        if n % 2:
            w.school.policies.cancel(booking, reason_code=REASONS[n % 4])
        else:
            w.school.booking.cancel(booking, reason_code=REASONS[n % 4])


def _cancel_series(w: World, n: int) -> None:
    series = pick(w.series, n)
    if series is not None:
        w.school.booking.cancel_series(series, student(n), reason_code=REASONS[n % 4])


def _cancel_slot(w: World, n: int) -> None:
    slot = pick(w.slots, n)
    if slot is not None and n % 3 == 0:
        w.school.booking.cancel_slot(slot, reason_code="tutor_sick" if n % 2 else None)


def _capacity(w: World, n: int) -> None:
    slot = pick(w.slots, n)
    if slot is not None:
        w.school.booking.change_capacity(slot, n % 4)


def _mark(w: World, n: int) -> None:
    booking = pick(w.bookings, n)
    if booking is not None:
        if n % 3:
            w.school.booking.mark_attended(booking)
        else:
            w.school.booking.mark_no_show(booking)


def _tick(w: World, n: int) -> None:
    w.clock.advance(timedelta(minutes=45 * (1 + n % 40)))


def _register(w: World, n: int) -> None:
    sid = student(n)
    w.school.students.register(sid, name=f"学员{sid}")
    w.students.append(sid)


def _trial(w: World, n: int) -> None:
    w.school.students.record_activity(student(n), "trial_booked")


def _order(w: World, n: int) -> None:
    quote = w.school.catalogue.quote(student(n), [COURSES[n % 3]], "CNY")
    w.school.pricing.checkout(w.new_id(), quote_id=quote.id)


def _churn(w: World, n: int) -> None:
    w.school.students.churn(student(n), reason_code=REASONS[n % 4])


def _refer(w: World, n: int) -> None:
    w.school.deals.register_referral(student(n), student(n // 9))


def _open_group(w: World, n: int) -> None:
    sid = student(n)
    group = w.school.deals.open_group(list(CAMPAIGNS)[n % 2], sid)
    w.groups.append(group.id)


def _join(w: World, n: int) -> None:
    group = pick(w.groups, n)
    if group is not None:
        sid = student(n // 2)
        w.school.deals.join_group(group, sid)


def _share(w: World, n: int) -> None:
    """A student registers through a share link (to a group, or to the campaign)."""
    group = pick(w.groups, n) if n % 2 else None
    campaign = list(CAMPAIGNS)[n % 2]
    if group is not None:
        campaign = w.school.deals.get_group(group, actor=SYSTEM).campaign_id
    link = w.school.deals.share_link(student(n // 7), campaign, group_id=group)
    w.school.deals.registered_via(link.token, student(n))


def _join_via(w: World, n: int) -> None:
    """A student joins a group through a link its opener (or another member) shared."""
    group = pick(w.groups, n)
    if group is not None:
        sid = student(n // 3)
        campaign = w.school.deals.get_group(group, actor=SYSTEM).campaign_id
        link = w.school.deals.share_link(student(n // 5), campaign, group_id=group)
        w.school.deals.join_group(group, sid, via=link.token)


def _cancel_group(w: World, n: int) -> None:
    group = pick(w.groups, n)
    if group is not None:
        w.school.deals.cancel_group(group)


def _expire(w: World, n: int) -> None:
    w.school.deals.expire_due()


def _erase(w: World, n: int) -> None:
    if n % 4 == 0:
        w.school.students.erase(Actor(id="dpo", role="admin"), student(n))


def _xp(w: World, n: int) -> None:
    # a level-up every few lessons (the default curve): time to level up is counted
    w.school.levels.record(
        LearningEvent(
            student_id=student(n),
            kind="lesson_attended",
            source_id=f"lesson-{n}",
            occurred_at=w.clock.now(),
        )
    )


def slot_events(world: World) -> list[ev.DomainEvent]:
    return list(world.events.events)
