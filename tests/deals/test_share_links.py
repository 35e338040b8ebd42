"""Group-deal loops: share links attribute registrations and joins to their sharer, the
referrer's reward is a coupon issued after the referee's first paid order and clawed
back if that order is refunded within the window, on every adapter."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.deals import (
    AccessGranted,
    DealMetrics,
    GroupDealCampaign,
    GroupOpened,
    GroupState,
    JoinAttributed,
    MemberJoined,
    RegistrationAttributed,
    ShareLinkCreated,
)
from eduengine.errors import CouponRefused, InvalidInput, ShareLinkNotFound
from eduengine.kernel.events import DomainEvent
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.pricing import Customer, DiscountKind, Money, OrderLine
from eduengine.referrals import ReferralClawedBack, ReferralReward, ReferralRewarded
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0
from tests.payers import method_for
from tests.till import checkout

REWARD = ReferralReward(kind=DiscountKind.AMOUNT, value=Money("50", "CNY"))
LINES = [OrderLine(course_id="py", price=Money("199.00", "CNY"))]


def _school(store: StoreHandle, clock: FixedClock, reward: ReferralReward = REWARD) -> School:
    school = School.build(
        store, clock=clock, gateway=FakePaymentGateway(), risk_rules=(), referral_reward=reward
    )
    for campaign, size in (("duo", 2), ("trio", 3)):
        school.deals.create_campaign(
            GroupDealCampaign(
                id=campaign,
                course_id="py",
                list_price=Money("80", "CNY"),
                group_price=Money("60", "CNY"),
                required_size=size,
                starts_at=T0,
                ends_at=T0 + timedelta(days=30),
            )
        )
    return school


def feed(school: School) -> list[DomainEvent]:
    school.projections.catch_up()
    events: list[DomainEvent] = []
    cursor = 0
    while batch := school.feed.events_since(cursor, 500):
        events += [envelope.event for envelope in batch]
        cursor = batch[-1].position or cursor + len(batch)
    return events


def of(events: list[DomainEvent], kind: type[DomainEvent]) -> list[DomainEvent]:
    return [e for e in events if isinstance(e, kind)]


def test_a_share_link_chain_of_three_generations_attributes_rewards_and_claws_back_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    deals = school.deals
    # generation 1: ann opens a pair and shares it; bob registers and joins through it
    g1 = deals.open_group("duo", "ann", method_id=method_for(school.payments, "ann", "wx-ann")).id
    link_a = deals.share_link("ann", "duo", group_id=g1)
    assert deals.share_link("ann", "duo", group_id=g1) == link_a  # the same link again
    for _ in range(2):  # a retried registration attributes once
        deals.registered_via(link_a.token, "bob")
    for _ in range(2):  # a retried join (same key) takes one place, attributed once
        joined = deals.join_group(
            g1,
            "bob",
            method_id=method_for(school.payments, "bob", "wx-bob"),
            via=link_a.token,
            idempotency_key="join-bob",
        )
    assert joined.state is GroupState.FORMED
    # generation 2: bob opens a trio and shares it; cat registers and joins through it
    g2 = deals.open_group("trio", "bob", method_id=method_for(school.payments, "bob", "wx-bob")).id
    link_b = deals.share_link("bob", "trio", group_id=g2)
    deals.registered_via(link_b.token, "cat")
    deals.join_group(
        g2, "cat", method_id=method_for(school.payments, "cat", "wx-cat"), via=link_b.token
    )
    # generation 3: cat shares the pair campaign; dan registers through it and buys
    link_c = deals.share_link("cat", "duo")
    deals.registered_via(link_c.token, "dan")
    checkout(school.pricing, "o-dan", Customer(student_id="dan"), LINES, account="wx-dan")

    events = feed(school)
    rewards = {(e.referrer_id, e.referred_id): e.reward for e in of(events, ReferralRewarded)}  # type: ignore[attr-defined]
    assert len(of(events, ReferralRewarded)) == 3
    assert set(rewards) == {("ann", "bob"), ("bob", "cat"), ("cat", "dan")}
    # bob spends the reward cat earned him before cat's group fails
    checkout(school.pricing,
        "o-bob", Customer(student_id="bob"), LINES, coupons=[rewards["bob", "cat"]],
        account="wx-bob",
    )  # fmt: skip

    clock.advance(timedelta(days=1, hours=1))
    assert deals.expire_due() == 1  # bob's trio fails: bob and cat are refunded
    assert deals.expire_due() == 0
    school.pricing.cancel_order("o-dan")  # dan's first order refunded: cat's reward goes
    school.projections.catch_up()
    school.projections.catch_up()  # run again: nothing applied twice

    events = feed(school)
    registered = of(events, RegistrationAttributed)
    assert [(e.student_id, e.sharer_id, e.first_touch, e.referred) for e in registered] == [  # type: ignore[attr-defined]
        ("bob", "ann", True, True),
        ("cat", "bob", True, True),
        ("dan", "cat", True, True),
    ]
    joins = of(events, JoinAttributed)
    assert [(e.student_id, e.sharer_id, e.group_id, e.first_touch) for e in joins] == [  # type: ignore[attr-defined]
        ("bob", "ann", g1, False),
        ("cat", "bob", g2, False),
    ]
    assert len(of(events, ShareLinkCreated)) == 3
    assert len(of(events, ReferralRewarded)) == 3
    clawed = of(events, ReferralClawedBack)
    assert [(e.referrer_id, e.referred_id, e.used, e.debt) for e in clawed] == [  # type: ignore[attr-defined]
        ("bob", "cat", True, Money("50", "CNY")),  # spent already: a debt
        ("cat", "dan", False, None),  # unused: revoked
    ]
    assert [d["coupon"] for d in deals.referral_debts("bob", actor=SYSTEM)] == [
        rewards["bob", "cat"]
    ]
    assert deals.referral_debts("cat", actor=SYSTEM) == []
    with pytest.raises(CouponRefused, match="revoked"):
        school.pricing.quote(Customer(student_id="cat"), LINES, coupons=[rewards["cat", "dan"]])
    # ann's reward stands: bob's order in a formed group was never refunded
    quote = school.pricing.quote(Customer(student_id="ann"), LINES, coupons=[rewards["ann", "bob"]])
    assert quote.total == Money("149.00", "CNY")

    bob = deals.attribution("bob", actor=SYSTEM)
    assert bob is not None and bob.referrer == "ann" and bob.touches == 2
    assert (bob.first.via, bob.last.via, bob.last.group_id) == ("registration", "join", g1)
    assert deals.attribution("ann", actor=SYSTEM) is None

    metrics = DealMetrics()
    for event in events:
        metrics.apply(event)
    # bob, cat and dan were brought by a link; two groups were opened
    assert metrics.attributed_students == 3 and metrics.groups_opened == 2
    assert metrics.viral_coefficient == Decimal(3) / 2
    assert metrics.by_opener["ann"].attributed_students == 1
    assert metrics.by_campaign["duo"].attributed_students == 2  # bob, dan
    assert metrics.by_campaign["trio"].groups_failed == 1


def test_a_refund_after_the_window_keeps_the_reward(store: StoreHandle, clock: FixedClock) -> None:
    school = _school(
        store,
        clock,
        ReferralReward(
            kind=DiscountKind.AMOUNT, value=Money("50", "CNY"), claw_back_within=timedelta(days=1)
        ),
    )
    link = school.deals.share_link("ann", "duo")
    school.deals.registered_via(link.token, "bob")
    checkout(school.pricing, "o1", Customer(student_id="bob"), LINES, account="wx-bob")
    clock.advance(timedelta(days=2))
    school.pricing.cancel_order("o1")
    events = feed(school)
    assert of(events, ReferralClawedBack) == []
    [rewarded] = of(events, ReferralRewarded)
    code = rewarded.reward  # type: ignore[attr-defined]
    quote = school.pricing.quote(Customer(student_id="ann"), LINES, coupons=[code])
    assert quote.total == Money("149.00", "CNY")


def test_a_later_order_refunded_claws_nothing_back(store: StoreHandle, clock: FixedClock) -> None:
    school = _school(store, clock)
    link = school.deals.share_link("ann", "duo")
    school.deals.registered_via(link.token, "bob")
    checkout(school.pricing, "o1", Customer(student_id="bob"), LINES, account="wx-bob")
    checkout(school.pricing, "o2", Customer(student_id="bob"), LINES, account="wx-bob")
    school.pricing.cancel_order("o2")  # not the order that earned the reward
    assert of(feed(school), ReferralClawedBack) == []


def test_first_touch_stays_last_touch_moves_and_only_the_first_sharer_refers(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    deals = school.deals
    ann, cat = deals.share_link("ann", "duo"), deals.share_link("cat", "duo")
    deals.registered_via(ann.token, "bob")
    clock.advance(timedelta(minutes=5))
    g = deals.open_group("duo", "dan", method_id=method_for(school.payments, "dan", "wx-dan")).id
    dans = deals.share_link("dan", "duo", group_id=g)
    deals.join_group(
        g, "bob", method_id=method_for(school.payments, "bob", "wx-bob"), via=dans.token
    )
    deals.registered_via(cat.token, "bob")
    bob = deals.attribution("bob", actor=SYSTEM)
    assert bob is not None
    assert (bob.first.sharer_id, bob.last.sharer_id, bob.touches, bob.referrer) == (
        "ann", "cat", 3, "ann",
    )  # fmt: skip
    events = feed(school)
    [rewarded] = of(events, ReferralRewarded)
    assert rewarded.referrer_id == "ann"  # type: ignore[attr-defined]
    # bob paid before cat's link reached him: no longer a new student there
    flags = [(e.sharer_id, e.new_student, e.referred) for e in of(events, RegistrationAttributed)]  # type: ignore[attr-defined]
    assert flags == [("ann", True, True), ("cat", False, False)]
    # following one's own link attributes nothing
    assert deals.registered_via(ann.token, "ann") is None


def test_share_links_refuse_bad_input_and_change_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = _school(store, clock)
    g = school.deals.open_group(
        "duo", "ann", method_id=method_for(school.payments, "ann", "wx-ann")
    ).id
    bobs = method_for(school.payments, "bob", "wx-bob")  # filed before: nothing changes below
    before = store.snapshot()
    with pytest.raises(ShareLinkNotFound):
        school.deals.registered_via("no-such-token", "bob")
    with pytest.raises(ShareLinkNotFound):
        school.deals.join_group(g, "bob", method_id=bobs, via="no-such-token")
    with pytest.raises(InvalidInput):
        school.deals.share_link("ann", "trio", group_id=g)  # a group of another campaign
    with pytest.raises(InvalidInput):
        school.deals.share_link("", "duo")
    assert store.snapshot() == before


def test_members_of_different_courses_of_one_price_band_form_one_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock, gateway=FakePaymentGateway(), risk_rules=())
    school.deals.create_campaign(
        GroupDealCampaign(
            id="band",
            course_id="py",
            course_ids=frozenset({"py", "js", "go"}),
            list_price=Money("80", "CNY"),
            group_price=Money("60", "CNY"),
            required_size=3,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    g = school.deals.open_group(
        "band", "ann", method_id=method_for(school.payments, "ann", "wx-ann"), course_id="js"
    ).id
    school.deals.join_group(
        g, "bob", method_id=method_for(school.payments, "bob", "wx-bob")
    )  # the campaign's own course
    with pytest.raises(InvalidInput, match="covers"):
        school.deals.join_group(
            g, "cat", method_id=method_for(school.payments, "cat", "wx-cat"), course_id="rust"
        )
    formed = school.deals.join_group(
        g, "cat", method_id=method_for(school.payments, "cat", "wx-cat"), course_id="go"
    )
    assert formed.state is GroupState.FORMED
    assert {m.student_id: m.course_id for m in formed.members} == {
        "ann": "js",
        "bob": "py",
        "cat": "go",
    }
    events = feed(school)
    granted = {e.student_id: e.course_id for e in of(events, AccessGranted)}  # type: ignore[attr-defined]
    assert granted == {"ann": "js", "bob": "py", "cat": "go"}
    [opened] = of(events, GroupOpened)
    assert opened.course_id == "js"  # type: ignore[attr-defined]
    metrics = DealMetrics()
    for event in events:
        metrics.apply(event)
    assert Counter({c: f.orders for c, f in metrics.by_course.items()}) == Counter(
        {"js": 1, "py": 1, "go": 1}
    )
    assert metrics.by_course["js"].groups_formed == 1  # the group counts under its opener's
    assert len(of(events, MemberJoined)) == 3


def test_a_campaign_must_cover_its_own_course() -> None:
    with pytest.raises(InvalidInput, match="must include"):
        GroupDealCampaign(
            id="band",
            course_id="py",
            course_ids=frozenset({"js"}),
            list_price=Money("80", "CNY"),
            group_price=Money("60", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )


WINDOW = timedelta(days=2)
STUDENTS = 4
_REGISTER = st.tuples(st.just("register"), st.integers(0, STUDENTS - 1), st.integers(0, 2))
_BUY = st.tuples(st.just("buy"), st.integers(0, STUDENTS - 1))
#: sign-ups and orders weigh more than refunds and waits, so most runs earn rewards
LOOP_STEP = st.one_of(
    _REGISTER,
    _REGISTER,
    _BUY,
    _BUY,
    st.tuples(st.just("refund"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(6, 30)),
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=15)
@given(steps=st.lists(LOOP_STEP, min_size=6, max_size=18))
def test_attribution_rewards_and_claw_backs_follow_a_model_exactly_once(
    adapter: str, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]]
) -> None:
    """Random sign-ups through three sharers' links, first and later orders, refunds and
    waits: every touch, reward and claw-back is the one a plain model predicts, once."""
    store = make_store(adapter, tmp_path_factory.mktemp(adapter))
    try:
        clock = FixedClock(T0)
        reward = ReferralReward(
            kind=DiscountKind.AMOUNT, value=Money("50", "CNY"), claw_back_within=WINDOW
        )
        school = _school(store, clock, reward)
        links = [school.deals.share_link(f"s{j}", "duo").token for j in range(3)]
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        touches: dict[str, int] = {}
        referrer: dict[str, str] = {}
        paid: dict[str, int] = {}
        orders: list[tuple[str, str]] = []  # order id, student: paid, not yet refunded
        earned: dict[str, tuple[str, Any]] = {}  # referee -> (order id, rewarded at)
        rewards: set[tuple[str, str]] = set()
        clawed: list[tuple[str, str]] = []
        attributed = 0
        for n, step in enumerate(steps):
            if step[0] == "wait":
                clock.advance(timedelta(hours=step[1]))
            elif step[0] == "register":
                student, sharer = f"s{step[1]}", step[2]
                school.deals.registered_via(links[sharer], student)
                if student == f"s{sharer}" or last.get(student) == sharer:
                    continue  # her own link, or the same touch again
                if student not in first:
                    first[student] = sharer
                    if not paid.get(student):
                        referrer[student] = f"s{sharer}"
                last[student] = sharer
                touches[student] = touches.get(student, 0) + 1
                attributed += 1
            elif step[0] == "buy":
                # mostly a student who came through a link, so that rewards are earned
                came = sorted(first)
                student = came[step[1] % len(came)] if came and step[1] else f"s{step[1]}"
                order = f"o{n}"
                checkout(school.pricing, order, Customer(student_id=student), LINES, account="a")
                paid[student] = paid.get(student, 0) + 1
                orders.append((order, student))
                if paid[student] == 1 and student in referrer:
                    rewards.add((referrer[student], student))
                    earned[student] = (order, clock.now())
            elif orders:
                order, student = orders.pop(step[1] % len(orders))
                school.pricing.cancel_order(order)
                got = earned.get(student)
                if got is not None and got[0] == order and clock.now() <= got[1] + WINDOW:
                    clawed.append((referrer[student], student))
        note(f"claw-backs: {min(len(clawed), 2)}, rewards: {min(len(rewards), 2)}")
        events = feed(school)
        school.projections.catch_up()
        assert feed(school) == events  # nothing more to apply
        assert len(of(events, RegistrationAttributed)) == attributed
        got_rewards = [(e.referrer_id, e.referred_id) for e in of(events, ReferralRewarded)]  # type: ignore[attr-defined]
        assert sorted(got_rewards) == sorted(rewards)  # each once
        got_clawed = [(e.referrer_id, e.referred_id) for e in of(events, ReferralClawedBack)]  # type: ignore[attr-defined]
        assert got_clawed == clawed
        for i in range(STUDENTS):
            student = f"s{i}"
            found = school.deals.attribution(student, actor=SYSTEM)
            if student not in first:
                assert found is None
                continue
            assert found is not None
            assert (found.first.sharer_id, found.last.sharer_id, found.touches) == (
                f"s{first[student]}",
                f"s{last[student]}",
                touches[student],
            )
            assert found.referrer == referrer.get(student)
    finally:
        store.close()
