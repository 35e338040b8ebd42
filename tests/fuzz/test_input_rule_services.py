"""Fuzz of the input rule at the public commands of pricing, deals, payments, levels,
students, notices and analytics (issue #20, part 2).

Each test seeds a small school (students, a class, a package, a slot, a coupon, a paid
order, an open group, some XP, preferences) twice: on the store under test and on an
in-memory store, with the same ids. Then hypothesis calls one command at a time with one
argument fuzzed (a bad id, integer, instant, duration, text or amount; or a good one) and
the others valid, on both schools in lockstep. Every call must succeed or be refused with
an ``EduEngineError`` that is not a storage error and changed nothing
(:func:`tests.fuzz.harness.refused_cleanly`), and both adapters must give the same answer
(success on both, or a refusal of the same type).
"""

from __future__ import annotations

import itertools
import string
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.analytics import AlertRule, Period
from eduengine.deals import GroupDealCampaign
from eduengine.errors import EduEngineError
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import MAX_CAPACITY, MAX_COUNT, MAX_DURATION, MAX_ID_LENGTH
from eduengine.levels import LearningEvent, LevelCurve, XpRule
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Coupon, Customer, DiscountKind, Money, OrderLine
from eduengine.pricing.rules import quote
from eduengine.students import Actor, Guardian, GuardianRole, SchoolClass
from tests.adapters import StoreHandle
from tests.fuzz.harness import refused_cleanly
from tests.fuzz.strategies import (
    any_id,
    any_text,
    bad_amounts,
    bad_currencies,
    bad_durations,
    bad_instants,
    bad_ints,
    wrong_type_ids,
)
from tests.till import checkout, till

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor(id="root", role="admin")
LINE = OrderLine(course_id="py", price=Money("199.00", "CNY"))
WEEK = Period(T0, T0 + timedelta(days=7))

#: good ids, up to the longest allowed, in any script
good_ids = st.text(
    st.characters(categories=["L", "N", "P", "S", "Zs"], codec="utf-8"),
    min_size=1,
    max_size=MAX_ID_LENGTH,
).filter(lambda s: s.isprintable() and not s.isspace())
ids = st.one_of(any_id, good_ids)
texts = st.one_of(any_text, wrong_type_ids, st.just("x" * 1000))
ints = st.one_of(bad_ints, st.integers(0, 10), st.just(MAX_COUNT), st.just(MAX_CAPACITY))
durations = st.one_of(bad_durations, st.just(MAX_DURATION), st.just(timedelta(days=3)))
instants = st.one_of(bad_instants, st.just(T0 + timedelta(days=1)))


class Seeded:
    """A school with a little valid state, and the ids the commands need."""

    def __init__(self, store: Any) -> None:
        counter = itertools.count()
        self.school = School.build(
            store,
            clock=FixedClock(T0),
            gateway=FakePaymentGateway(),
            new_id=lambda: f"id-{next(counter)}",
            xp_rules=[XpRule(kind="lesson_attended", points=50)],
            level_curve=LevelCurve.geometric(),
            alert_rules=[AlertRule.threshold("fill", "fill_rate", notify="ops", below=1)],
        )
        s = self.school
        for student in ("ann", "bob", "cat"):
            s.students.register(student, name=student.title())
        s.students.create_class(SchoolClass(id="c1", name="Class 1", capacity=30))
        s.students.buy_package(
            "ann", credits=5, valid_for=timedelta(days=90), package_id="pkg-ann", activate=True
        )
        self.slot_id = s.booking.create_slot(
            "py", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1), 5
        ).id
        s.pricing.add_coupon(
            Coupon(code="HELLO", kind=DiscountKind.AMOUNT, value=Money("20", "CNY"))
        )
        for student in ("ann", "bob", "cat"):
            s.payments.add_method(student, f"acct-{student}")
        checkout(s.pricing, "o1", Customer(student_id="ann"), [LINE])
        s.deals.create_campaign(campaign())
        self.group_id = s.deals.open_group("spring", "ann").id
        s.levels.record(event())
        s.notices.set_preferences("ann", channels=["wechat"])


def campaign(**fields: Any) -> GroupDealCampaign:
    values: dict[str, Any] = {
        "id": "spring",
        "course_id": "py",
        "list_price": Money("199", "CNY"),
        "group_price": Money("99", "CNY"),
        "required_size": 2,
        "starts_at": T0,
        "ends_at": T0 + timedelta(days=30),
    }
    return GroupDealCampaign(**{**values, **fields})


def event(**fields: Any) -> LearningEvent:
    values: dict[str, Any] = {
        "student_id": "ann",
        "kind": "lesson_attended",
        "source_id": "l0",
        "occurred_at": T0,
    }
    return LearningEvent(**{**values, **fields})


def coupon(**fields: Any) -> Coupon:
    values: dict[str, Any] = {"code": "NEW", "kind": DiscountKind.AMOUNT, "value": Money(5, "CNY")}
    return Coupon(**{**values, **fields})


Command = Callable[[Seeded, Any], object]
#: (name, strategy of the fuzzed argument, the command with that argument)
Table = list[tuple[str, st.SearchStrategy[Any], Command]]


def legacy(command: Command) -> Command:
    """``command`` in a deprecated form that is its entry's subject (the caller's prices,
    ``account=``): its input rules are fuzzed, its warning (asserted in tests/pricing and
    tests/deals) recorded, not raised, so a bad value meets the rule it fuzzes."""

    def call(seeded: Seeded, value: Any) -> object:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always", EduEngineDeprecationWarning)
            return command(seeded, value)

    return call


PRICING: Table = [
    ("quote customer", ids, lambda s, v: s.school.pricing.quote(Customer(student_id=v), [LINE])),
    (
        "quote coupon",
        ids,
        lambda s, v: s.school.pricing.quote(Customer(student_id="ann"), [LINE], [v]),
    ),
    (
        "quote lines",
        st.one_of(wrong_type_ids, st.just([])),
        lambda s, v: s.school.pricing.quote(Customer(student_id="ann"), v),
    ),
    (
        "customer tags",
        st.one_of(ids, st.just("tag")),
        lambda s, v: s.school.pricing.quote(
            Customer(student_id="ann", tags=frozenset([v]) if isinstance(v, str) else v), [LINE]
        ),
    ),
    (
        "customer level",
        ints,
        lambda s, v: s.school.pricing.quote(Customer(student_id="ann", level=v), [LINE]),
    ),
    (
        "checkout order",
        ids,
        legacy(
            lambda s, v: s.school.pricing.checkout(
                v, Customer(student_id="bob"), [LINE], account="acct-bob"
            )
        ),
    ),
    (
        "checkout account",
        ids,
        legacy(
            lambda s, v: s.school.pricing.checkout(
                "o2", Customer(student_id="bob"), [LINE], account=v
            )
        ),
    ),
    (
        "checkout course",
        ids,
        legacy(
            lambda s, v: s.school.pricing.checkout(
                "o3",
                Customer(student_id="bob"),
                [OrderLine(course_id=v, price=LINE.price)],
                account="acct-bob",
            )
        ),
    ),
    (
        "checkout amount",
        st.one_of(bad_amounts, wrong_type_ids),
        legacy(
            lambda s, v: s.school.pricing.checkout(
                "o4",
                Customer(student_id="bob"),
                [OrderLine(course_id="py", price=Money(v, "CNY"))],
                account="acct-bob",
            )
        ),
    ),
    (
        "checkout currency",
        bad_currencies,
        legacy(
            lambda s, v: s.school.pricing.checkout(
                "o5",
                Customer(student_id="bob"),
                [OrderLine(course_id="py", price=Money(1, v))],
                account="acct-bob",
            )
        ),
    ),
    (
        "checkout coupons",
        st.one_of(ids, st.lists(ids, max_size=3)),
        legacy(
            lambda s, v: s.school.pricing.checkout(
                "o6", Customer(student_id="cat"), [LINE], coupons=v, account="acct-cat"
            )
        ),
    ),
    ("get order", ids, lambda s, v: s.school.pricing.get_order(v, actor=SYSTEM)),
    ("cancel order", ids, lambda s, v: s.school.pricing.cancel_order(v)),
    ("redemptions", ids, lambda s, v: s.school.pricing.redemptions(v)),
    ("coupon code", ids, lambda s, v: s.school.pricing.add_coupon(coupon(code=v))),
    (
        "coupon limit",
        ints,
        lambda s, v: s.school.pricing.add_coupon(coupon(code="LIM", max_redemptions=v)),
    ),
    (
        "coupon percent",
        st.one_of(bad_amounts, wrong_type_ids),
        lambda s, v: s.school.pricing.add_coupon(
            coupon(code="PCT", kind=DiscountKind.PERCENT, value=v)
        ),
    ),
    (
        "coupon until",
        instants,
        lambda s, v: s.school.pricing.add_coupon(coupon(code="UNTIL", valid_until=v)),
    ),
    (
        "coupon courses",
        ids,
        lambda s, v: s.school.pricing.add_coupon(
            coupon(code="FOR", course_ids=frozenset([v]) if isinstance(v, str) else v)
        ),
    ),
]

DEALS: Table = [
    ("get group", ids, lambda s, v: s.school.deals.get_group(v, actor=SYSTEM)),
    ("group by code", ids, lambda s, v: s.school.deals.group_by_code(v)),
    ("closing soon", durations, lambda s, v: s.school.deals.closing_soon(v)),
    ("risk decisions", ids, lambda s, v: s.school.deals.risk_decisions(v, actor=SYSTEM)),
    ("referrer", ids, lambda s, v: s.school.deals.register_referral(v, "cat")),
    ("referred", ids, lambda s, v: s.school.deals.register_referral("bob", v)),
    ("open campaign", ids, lambda s, v: s.school.deals.open_group(v, "bob")),
    (
        "open initiator",
        ids,
        legacy(lambda s, v: s.school.deals.open_group("spring", v, account="acct-x")),
    ),
    (
        "open account",
        ids,
        legacy(lambda s, v: s.school.deals.open_group("spring", "cat", account=v)),
    ),
    (
        "open device",
        ids,
        lambda s, v: s.school.deals.open_group("spring", "cat", device_id=v),
    ),
    (
        "open ip",
        ids,
        lambda s, v: s.school.deals.open_group("spring", "cat", ip=v),
    ),
    ("join group", ids, lambda s, v: s.school.deals.join_group(v, "bob")),
    (
        "join student",
        ids,
        legacy(lambda s, v: s.school.deals.join_group(s.group_id, v, account="acct-j")),
    ),
    (
        "join account",
        ids,
        legacy(lambda s, v: s.school.deals.join_group(s.group_id, "bob", account=v)),
    ),
    (
        "join device",
        ids,
        lambda s, v: s.school.deals.join_group(s.group_id, "bob", device_id=v),
    ),
    ("leave group", ids, lambda s, v: s.school.deals.leave_group(v, "ann")),
    ("leave student", ids, lambda s, v: s.school.deals.leave_group(s.group_id, v)),
    ("cancel group", ids, lambda s, v: s.school.deals.cancel_group(v)),
    ("expire due", ints, lambda s, v: s.school.deals.expire_due(batch_size=v)),
    ("campaign id", ids, lambda s, v: s.school.deals.create_campaign(campaign(id=v))),
    (
        "campaign course",
        ids,
        lambda s, v: s.school.deals.create_campaign(campaign(id="c-course", course_id=v)),
    ),
    (
        "campaign size",
        ints,
        lambda s, v: s.school.deals.create_campaign(campaign(id="c-size", required_size=v)),
    ),
    (
        "campaign duration",
        durations,
        lambda s, v: s.school.deals.create_campaign(campaign(id="c-dur", duration=v)),
    ),
    (
        "campaign start",
        instants,
        lambda s, v: s.school.deals.create_campaign(campaign(id="c-start", starts_at=v)),
    ),
    (
        "campaign max size",
        ints,
        lambda s, v: s.school.deals.create_campaign(campaign(id="c-max", max_size=v)),
    ),
    (
        "campaign opens per student",
        ints,
        lambda s, v: s.school.deals.create_campaign(
            campaign(id="c-opens", max_opened_per_student=v)
        ),
    ),
    (
        "campaign price",
        st.one_of(bad_amounts, wrong_type_ids),
        lambda s, v: s.school.deals.create_campaign(
            campaign(id="c-price", group_price=Money(v, "CNY"))
        ),
    ),
]

PAYMENTS: Table = [
    ("intent", ids, lambda s, v: s.school.payments.intent(v)),
    ("open intents", ints, lambda s, v: s.school.payments.open_intents(limit=v)),
    ("reconcile age", durations, lambda s, v: s.school.payments.reconcile(settle_after=v)),
    ("reconcile batch", ints, lambda s, v: s.school.payments.reconcile(batch_size=v)),
    ("notify succeeded", ids, lambda s, v: s.school.payments.notify_succeeded(v)),
    ("notify failed", ids, lambda s, v: s.school.payments.notify_failed(v)),
    ("settle", ids, lambda s, v: s.school.payments.settle(v)),
]

LEVELS: Table = [
    (
        "event student",
        ids,
        lambda s, v: s.school.levels.record(event(student_id=v, source_id="l1")),
    ),
    ("event source", ids, lambda s, v: s.school.levels.record(event(source_id=v))),
    ("event class", ids, lambda s, v: s.school.levels.record(event(source_id="l2", class_id=v))),
    (
        "event quantity",
        ints,
        lambda s, v: s.school.levels.record(event(source_id="l3", quantity=v)),
    ),
    (
        "event time",
        instants,
        lambda s, v: s.school.levels.record(event(source_id="l4", occurred_at=v)),
    ),
    ("progress", ids, lambda s, v: s.school.levels.progress(v, actor=SYSTEM)),
    ("badges", ids, lambda s, v: s.school.levels.badges_of(v, actor=SYSTEM)),
    ("refused awards", ids, lambda s, v: s.school.levels.refused_awards(v, actor=SYSTEM)),
    ("state", ids, lambda s, v: s.school.levels.state_of(v, actor=SYSTEM)),
    ("class board", ids, lambda s, v: s.school.levels.leaderboard(class_id=v).top(3)),
    ("period board", ids, lambda s, v: s.school.levels.leaderboard(period=v).rank("ann")),
    ("top", ints, lambda s, v: s.school.levels.leaderboard().top(v)),
    ("rank", ids, lambda s, v: s.school.levels.leaderboard().rank(v)),
    ("around", ids, lambda s, v: s.school.levels.standings_around(v)),
    ("around k", ints, lambda s, v: s.school.levels.standings_around("ann", k=v)),
]

STUDENTS: Table = [
    ("register", ids, lambda s, v: s.school.students.register(v, name="New")),
    ("register name", texts, lambda s, v: s.school.students.register("n1", name=v)),
    ("register phone", texts, lambda s, v: s.school.students.register("n2", name="N", phone=v)),
    (
        "register birth",
        st.one_of(wrong_type_ids, st.just(date(2012, 5, 1))),
        lambda s, v: s.school.students.register("n3", name="N", birth_date=v),
    ),
    (
        "register guardian",
        texts,
        lambda s, v: s.school.students.register(
            "n4", name="N", guardians=[Guardian(name=v, roles=frozenset({GuardianRole.PAY}))]
        ),
    ),
    (
        "buy student",
        ids,
        lambda s, v: s.school.students.buy_package(v, credits=1, valid_for=timedelta(days=9)),
    ),
    (
        "buy credits",
        ints,
        lambda s, v: s.school.students.buy_package("bob", credits=v, valid_for=timedelta(days=9)),
    ),
    (
        "buy valid for",
        durations,
        lambda s, v: s.school.students.buy_package("bob", credits=1, valid_for=v, activate=True),
    ),
    (
        "buy package id",
        ids,
        lambda s, v: s.school.students.buy_package(
            "bob", credits=1, valid_for=timedelta(days=9), package_id=v
        ),
    ),
    (
        "buy course",
        ids,
        lambda s, v: s.school.students.buy_package(
            "bob", credits=1, valid_for=timedelta(days=9), course_id=v
        ),
    ),
    ("activate", ids, lambda s, v: s.school.students.activate_package(v)),
    ("packages of", ids, lambda s, v: s.school.students.packages_of(v, actor=SYSTEM)),
    ("expiring soon", durations, lambda s, v: s.school.students.expiring_soon(v, actor=SYSTEM)),
    ("never activated", durations, lambda s, v: s.school.students.never_activated(v, actor=SYSTEM)),
    ("book slot", ids, lambda s, v: s.school.book(v, "ann", require_credit=True)),
    ("book student", ids, lambda s, v: s.school.book(s.slot_id, v, require_credit=True)),
    ("cancel credit", ids, lambda s, v: s.school.cancel(v)),
    ("no-show credit", ids, lambda s, v: s.school.students.mark_no_show_with_credit(v)),
    ("enrolments", ids, lambda s, v: s.school.students.enrolments(v, actor=SYSTEM)),
    (
        "class id",
        ids,
        lambda s, v: s.school.students.create_class(SchoolClass(id=v, name="K", capacity=3)),
    ),
    (
        "class capacity",
        ints,
        lambda s, v: s.school.students.create_class(SchoolClass(id="k2", name="K", capacity=v)),
    ),
    ("members", ids, lambda s, v: s.school.students.members_of(v)),
    ("assign student", ids, lambda s, v: s.school.students.assign(v, "c1")),
    ("assign class", ids, lambda s, v: s.school.students.assign("bob", v)),
    ("auto assign", ints, lambda s, v: s.school.students.auto_assign("cat", placement_score=v)),
    (
        "auto assign age",
        ints,
        lambda s, v: s.school.students.auto_assign("cat", placement_score=1, age=v),
    ),
    ("activity", ids, lambda s, v: s.school.students.record_activity(v, "login")),
    (
        "activity module",
        ids,
        lambda s, v: s.school.students.record_activity("ann", "module_completed", module=v),
    ),
    ("churn", ids, lambda s, v: s.school.students.churn(v)),
    ("refresh tags", ids, lambda s, v: s.school.students.refresh_tags(v)),
    ("stage history", ids, lambda s, v: s.school.students.stage_history(v, actor=SYSTEM)),
    (
        "view actor",
        ids,
        lambda s, v: s.school.students.view(Actor(id=v, role="admin"), "ann"),
    ),
    ("view", ids, lambda s, v: s.school.students.view(ADMIN, v)),
    ("update", texts, lambda s, v: s.school.students.update(ADMIN, "ann", phone=v)),
    ("grant", instants, lambda s, v: s.school.students.grant(ADMIN, "ann", v)),
    ("revoke", ids, lambda s, v: s.school.students.revoke(ADMIN, v)),
    ("audit trail", ids, lambda s, v: s.school.students.audit_trail(v, actor=SYSTEM)),
    ("erase", ids, lambda s, v: s.school.students.erase(ADMIN, v)),
    (
        "actor classes",
        ids,
        lambda s, v: s.school.students.view(
            Actor(id="root", role="admin", class_ids=frozenset([v]) if isinstance(v, str) else v),
            "ann",
        ),
    ),
    (
        "guardians",
        ids,
        lambda s, v: s.school.students.guardians_with(v, GuardianRole.PAY, actor=SYSTEM),
    ),
]

NOTICES: Table = [
    ("set preferences", ids, lambda s, v: s.school.notices.set_preferences(v, channels=["sms"])),
    ("zone", ids, lambda s, v: s.school.notices.set_preferences("bob", zone=v)),
    (
        "quiet",
        st.one_of(wrong_type_ids, st.just(("22:00",)), st.just(("22:00", 5))),
        lambda s, v: s.school.notices.set_preferences("bob", quiet=v),
    ),
    (
        "channels",
        st.one_of(ids, st.lists(ids, max_size=2)),
        lambda s, v: s.school.notices.set_preferences("bob", channels=v),
    ),
    ("preferences", ids, lambda s, v: s.school.notices.preferences(v)),
    (
        "head teacher",
        ids,
        lambda s, v: s.school.notices.set_head_teacher(v, name="Li", contact="li@x"),
    ),
    (
        "head teacher name",
        texts,
        lambda s, v: s.school.notices.set_head_teacher("c1", name=v, contact="li@x"),
    ),
    ("notice", ids, lambda s, v: s.school.notices.notice(v, actor=SYSTEM)),
    ("states", ids, lambda s, v: s.school.notices.states(v)),
    ("for student", ids, lambda s, v: s.school.notices.for_student(v, actor=SYSTEM)),
    (
        "for student limit",
        ints,
        lambda s, v: s.school.notices.for_student("ann", limit=v, actor=SYSTEM),
    ),
    ("dead letters", ints, lambda s, v: s.school.notices.dead_letters(limit=v, actor=SYSTEM)),
    ("deliver worker", ids, lambda s, v: s.school.notices.deliver_due(v)),
    ("deliver batch", ints, lambda s, v: s.school.notices.deliver_due("w1", batch=v)),
    ("outcome notice", ids, lambda s, v: s.school.notices.record_outcome(v, "sms", "opened")),
    ("outcome", ids, lambda s, v: s.school.notices.record_outcome("n", "sms", v)),
    ("history", ids, lambda s, v: s.school.notices.channel_history(v)),
    ("best channel", ids, lambda s, v: s.school.notices.best_channel(v)),
    ("plan due", ints, lambda s, v: s.school.notices.plan_due(batch=v)),
]

ANALYTICS: Table = [
    (
        "period start",
        instants,
        lambda s, v: s.school.analytics.fill_rate(Period(v, T0 + timedelta(days=7))),
    ),
    ("period end", instants, lambda s, v: s.school.analytics.attendance(Period(T0, v))),
    (
        "period zone",
        ids,
        lambda s, v: s.school.analytics.no_show_rate(Period(T0, T0 + timedelta(days=1), v)),
    ),
    (
        "period days",
        ints,
        lambda s, v: s.school.analytics.new_students(Period.days(date(2026, 3, 2), v)),
    ),
    (
        "period first",
        st.one_of(wrong_type_ids, st.just(date.max), st.just(date.min)),
        lambda s, v: s.school.analytics.funnel(Period.week(v)),
    ),
    ("period month", ints, lambda s, v: s.school.analytics.active_students(Period.month(v, 3))),
    ("not a period", wrong_type_ids, lambda s, v: s.school.analytics.renewal_rate(v)),
    ("by", ids, lambda s, v: s.school.analytics.lead_time(WEEK, by=v)),
    ("limit", ints, lambda s, v: s.school.analytics.popular_courses(WEEK, limit=v)),
    ("currency", ids, lambda s, v: s.school.analytics.segments(currency=v)),
    ("spend bands", ints, lambda s, v: s.school.analytics.segments(spend_bands=[0, v])),
    ("alerts now", instants, lambda s, v: s.school.analytics.evaluate_alerts(v)),
    ("alerts checked", instants, lambda s, v: s.school.analytics.check_alerts(v)),
    ("rebuild", ints, lambda s, v: s.school.analytics.rebuild(batch=v)),
    ("alert rule", ids, lambda s, v: AlertRule.threshold(v, "fill_rate", notify="ops", below=1)),
    (
        "alert period",
        ints,
        lambda s, v: AlertRule.threshold("r", "fill_rate", notify="ops", below=1, period_days=v),
    ),
]


def outcome(seeded: Seeded, snapshot: Callable[[], Any], command: Command, value: Any) -> str:
    refusal = refused_cleanly(snapshot, lambda: command(seeded, value))
    return "ok" if refusal is None else type(refusal).__name__


def fuzz(store: StoreHandle, table: Table) -> Callable[..., None]:
    """A hypothesis test that calls the table's commands on ``store`` and on a memory
    store in lockstep."""
    seeded = Seeded(store.store)
    reference_store = InMemoryStore()
    reference = Seeded(reference_store)

    @settings(max_examples=5 * len(table), suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        name, values, command = table[data.draw(st.integers(0, len(table) - 1), label="command")]
        value = data.draw(values, label=name)
        here = outcome(seeded, store.snapshot, command, value)
        there = outcome(reference, reference_store.snapshot, command, value)
        assert here == there, f"{name}({value!r:.80}): {store.name} {here}, memory {there}"

    return run


@pytest.mark.parametrize(
    "table",
    [PRICING, DEALS, PAYMENTS, LEVELS, STUDENTS, NOTICES, ANALYTICS],
    ids=["pricing", "deals", "payments", "levels", "students", "notices", "analytics"],
)
def test_bad_input_is_refused_cleanly_and_alike_on_every_adapter(
    store: StoreHandle, table: Table
) -> None:
    fuzz(store, table)()


def test_the_longest_ids_and_largest_bounds_work_on_every_adapter(store: StoreHandle) -> None:
    s = Seeded(store.store).school
    longest = "学😀" * (MAX_ID_LENGTH // 2)  # 3- and 4-byte UTF-8
    other = string.ascii_letters[:26] * 4 + "x" * (MAX_ID_LENGTH - 104)
    s.students.register(longest, name="Long")
    s.students.buy_package(
        longest, credits=MAX_COUNT, valid_for=MAX_DURATION, package_id=other, activate=True
    )
    assert s.students.packages_of(longest, actor=SYSTEM)[0].credits_left == MAX_COUNT
    s.payments.add_method(longest, longest, method_id=other)  # her default
    quote_id = till(s.pricing).quote(
        Customer(student_id=longest), [OrderLine(course_id=other, price=Money("9.99", "CNY"))]
    )
    order = s.pricing.checkout(longest, quote_id=quote_id)
    assert order.status == "paid"
    assert s.payments.intent(f"order:{longest}") is not None
    s.deals.create_campaign(campaign(id=longest, required_size=MAX_CAPACITY))
    group = s.deals.open_group(longest, longest, device_id=other, ip=other)
    assert s.deals.get_group(group.id, actor=SYSTEM).capacity == MAX_CAPACITY
    award = s.levels.record(event(student_id=longest, source_id=longest, quantity=MAX_COUNT))
    assert award.awarded
    assert s.levels.leaderboard().rank(longest) == 1
    s.students.create_class(SchoolClass(id=longest, name="Big", capacity=MAX_CAPACITY))
    s.students.assign(longest, longest)
    assert s.students.members_of(longest) == [longest]
    s.notices.set_preferences(f"{longest}#{other}", channels=["sms"], zone="Asia/Shanghai")
    assert s.notices.preferences(f"{longest}#{other}").zone == "Asia/Shanghai"
    assert group.id in [g.id for g in s.deals.closing_soon(MAX_DURATION)]
    assert other in [p.id for p in s.students.expiring_soon(MAX_DURATION, actor=SYSTEM)]
    assert s.payments.reconcile(settle_after=MAX_DURATION) == 0


def test_join_group_without_a_student_is_refused_and_charges_nobody(store: StoreHandle) -> None:
    seeded = Seeded(store.store)
    refusal = refused_cleanly(
        store.snapshot,
        lambda: seeded.school.deals.join_group(seeded.group_id, None, account=None),  # type: ignore[arg-type]
    )
    assert refusal is not None and refusal.code == "invalid_id"
    assert [
        m.student_id for m in seeded.school.deals.get_group(seeded.group_id, actor=SYSTEM).members
    ] == ["ann"]


def test_a_refusal_names_the_argument() -> None:
    seeded = Seeded(InMemoryStore())
    with pytest.raises(EduEngineError, match="valid_for"):
        seeded.school.students.buy_package("ann", credits=1, valid_for=timedelta.max)
    with pytest.raises(EduEngineError, match="settle_after"):
        seeded.school.payments.reconcile(settle_after=timedelta.max)
    with pytest.raises(EduEngineError, match="within"):
        seeded.school.deals.closing_soon(timedelta.min)
    with pytest.raises(EduEngineError, match="credits"):
        seeded.school.students.buy_package("ann", credits=2**63, valid_for=timedelta(days=1))
    with pytest.raises(EduEngineError, match="customer"):
        quote([LINE], "ann")  # type: ignore[arg-type]
