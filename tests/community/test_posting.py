"""Posts, moderation, rate limits and spam signals, on every adapter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from eduengine import FixedClock, InMemoryEventBus, School
from eduengine.analytics import Period
from eduengine.community import (
    AccountFlagged,
    FlagCleared,
    PostApproved,
    PostBlocked,
    PostHeld,
    PostPublished,
    PostRejected,
    PostStatus,
    RateLimit,
    RateLimits,
    SpamRules,
    Word,
    WordAction,
)
from eduengine.errors import (
    InvalidInput,
    InvalidTransition,
    NotAGroupMember,
    PostingTooFast,
    PostNotFound,
)
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0

MOD = Actor(id="mod1", role="admin")

LIMITS = RateLimits(
    member=RateLimit(per_minute=3, per_day=5),
    new_member=RateLimit(per_minute=1, per_day=2),
    new_for=timedelta(days=7),
)


@pytest.fixture
def world(store: StoreHandle) -> Iterator[tuple[School, FixedClock, InMemoryEventBus]]:
    clock = FixedClock(T0)
    events = InMemoryEventBus()
    school = School.build(
        store, clock=clock, publisher=events, community_limits=LIMITS, reminders=None
    )
    school.community.set_words(
        [
            Word("代开发票"),
            Word("加微信", action=WordAction.HOLD),
            Word("笨蛋", action=WordAction.MASK),
        ]
    )
    for member in ("ann", "bob", "cai"):
        school.community.join("class:A1", member)
    yield school, clock, events


def _seasoned(school: School, clock: FixedClock) -> None:
    """Everyone is past the new-member period."""
    clock.advance(timedelta(days=8))


def of(events: InMemoryEventBus, kind: type[Any]) -> list[Any]:
    return [e for e in events.events if isinstance(e, kind)]


def test_posts_are_shown_masked_held_or_blocked_by_the_word_list(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, events = world
    _seasoned(school, clock)
    c = school.community
    shown = c.post("class:A1", "ann", "第三单元的作业明天交")
    clock.advance(timedelta(seconds=1))
    masked = c.post("class:A1", "bob", "我真是个笨 蛋", reply_to=shown.id)
    clock.advance(timedelta(seconds=1))
    held = c.post("class:A1", "cai", "有问题加 微 信")
    clock.advance(timedelta(minutes=1))
    blocked = c.post("class:A1", "bob", "代開發票，量大从优")
    assert [p.status for p in (shown, masked, held, blocked)] == [
        PostStatus.SHOWN,
        PostStatus.MASKED,
        PostStatus.HELD,
        PostStatus.BLOCKED,
    ]
    assert masked.text == "我真是个* *" and masked.original == "我真是个笨 蛋"
    assert held.reasons == ("word:加微信",) and blocked.reasons == ("word:代开发票",)
    # only what moderation let through is visible
    assert [p.id for p in c.threads("class:A1", actor=MOD)] == [shown.id]
    assert [p.id for p in c.thread(shown.id, actor=MOD)] == [shown.id, masked.id]
    assert [p.id for p in c.queue(actor=MOD)] == [held.id]
    assert [e.post_id for e in of(events, PostPublished)] == [shown.id, masked.id]
    assert [e.post_id for e in of(events, PostHeld)] == [held.id]
    assert [e.post_id for e in of(events, PostBlocked)] == [blocked.id]


def test_moderators_decide_held_posts_once(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, events = world
    _seasoned(school, clock)
    c = school.community
    first = c.post("class:A1", "ann", "加微信聊聊作业")
    second = c.post("class:A1", "bob", "加微信，笨蛋")
    # a held post let through is shown as written, but for its mask words
    assert c.approve(first.id, "mod1").status is PostStatus.SHOWN
    assert c.get(second.id, actor=MOD).text == "加微信，**"
    assert c.reject(second.id, "mod1", reason="advert").status is PostStatus.REJECTED
    with pytest.raises(InvalidTransition):
        c.approve(second.id, "mod1")
    with pytest.raises(PostNotFound):
        c.approve("nope", "mod1")
    assert c.queue(actor=MOD) == []
    assert [p.id for p in c.threads("class:A1", actor=MOD)] == [first.id]
    assert [(e.post_id, e.moderator_id, e.status) for e in of(events, PostApproved)] == [
        (first.id, "mod1", "shown")
    ]
    assert [(e.post_id, e.reason) for e in of(events, PostRejected)] == [(second.id, "advert")]
    assert c.get(second.id, actor=MOD).moderator_id == "mod1"


def test_only_members_post_and_replies_stay_in_their_group(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, _ = world
    _seasoned(school, clock)
    c = school.community
    c.join("class:B2", "dan")
    with pytest.raises(NotAGroupMember):
        c.post("class:A1", "dan", "hello")
    shown = c.post("class:A1", "ann", "hello")
    with pytest.raises(PostNotFound):
        c.post("class:B2", "dan", "hi", reply_to=shown.id)  # another group's post
    blocked = c.post("class:A1", "ann", "代开发票")
    with pytest.raises(PostNotFound):
        c.post("class:A1", "bob", "what?", reply_to=blocked.id)  # not visible
    with pytest.raises(InvalidInput):
        c.post("class:A1", "ann", "   ")
    reply = c.post("class:A1", "bob", "hi", reply_to=shown.id)
    deeper = c.post("class:A1", "cai", "hi both", reply_to=reply.id)
    assert deeper.thread_id == shown.id
    assert c.leave("class:A1", "cai") and not c.leave("class:A1", "cai")
    with pytest.raises(NotAGroupMember):
        c.post("class:A1", "cai", "still here?")


def test_rate_limits_refuse_exactly_the_posts_over_them_and_store_nothing(
    world: tuple[School, FixedClock, InMemoryEventBus], store: StoreHandle
) -> None:
    school, clock, _ = world
    c = school.community
    # new: 1 a minute, 2 a day
    c.post("class:A1", "ann", "one")
    before = store.snapshot()
    with pytest.raises(PostingTooFast) as refused:
        c.post("class:A1", "ann", "two")
    assert refused.value.retry_after == 60
    assert store.snapshot() == before
    clock.advance(timedelta(seconds=59))
    with pytest.raises(PostingTooFast):
        c.post("class:A1", "ann", "two")
    clock.advance(timedelta(seconds=1))
    c.post("class:A1", "ann", "two")
    clock.advance(timedelta(minutes=5))
    with pytest.raises(PostingTooFast) as daily:
        c.post("class:A1", "ann", "three")
    assert "2 posts per day" in str(daily.value)
    # a seasoned member: 3 a minute, 5 in any 24 hours
    clock.advance(timedelta(days=8))
    for n in range(3):
        c.post("class:A1", "ann", f"post {n}")
    with pytest.raises(PostingTooFast):
        c.post("class:A1", "ann", "post 3")
    c.post("class:A1", "bob", "others are not held back")
    clock.advance(timedelta(minutes=1))
    c.post("class:A1", "ann", "post 3")
    c.post("class:A1", "ann", "post 4")
    with pytest.raises(PostingTooFast):
        c.post("class:A1", "ann", "post 5")
    clock.advance(timedelta(hours=24))
    c.post("class:A1", "ann", "a new day")


def test_a_new_member_posting_contact_handles_is_held_and_flagged(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, events = world
    c = school.community
    post = c.post("class:A1", "ann", "课后辅导加我 VX：tutor_8888")
    assert post.status is PostStatus.HELD and post.reasons == ("contact:wechat",)
    assert c.flag_of("ann", actor=MOD) == "contact"
    clock.advance(timedelta(minutes=1))
    # a flagged account's posts are held, however innocent, until a moderator clears it
    assert c.post("class:A1", "ann", "谢谢老师").reasons == ("flagged_account",)
    assert c.clear_flag("ann", "mod1") and not c.clear_flag("ann", "mod1")
    clock.advance(timedelta(days=8))
    assert c.post("class:A1", "ann", "谢谢老师").status is PostStatus.SHOWN
    # a member past the new-member period shares a number freely
    assert c.post("class:A1", "bob", "我的电话 13812345678").status is PostStatus.SHOWN
    assert [(e.member_id, e.signal, e.post_id) for e in of(events, AccountFlagged)] == [
        ("ann", "contact", post.id)
    ]
    assert [e.member_id for e in of(events, FlagCleared)] == ["ann"]


def test_the_same_text_in_another_group_is_held(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, _ = world
    _seasoned(school, clock)
    c = school.community
    c.join("course:ielts", "bob")
    ad = "限时优惠！雅思冲刺班报名立减五百元，名额有限"
    assert c.post("class:A1", "bob", ad).status is PostStatus.SHOWN
    clock.advance(timedelta(minutes=5))
    # the same words, spaced differently and in traditional characters
    again = c.post("course:ielts", "bob", "限時優惠! 雅思衝刺班 報名立減五百元, 名額有限")
    assert again.status is PostStatus.HELD and again.reasons == ("repeated_text",)
    assert c.flag_of("bob", actor=MOD) == "repeated_text"
    # anyone's copy counts: the same advert from another account is held too
    clock.advance(timedelta(minutes=5))
    assert c.post("class:A1", "cai", ad).reasons == ("repeated_text",)
    assert c.clear_flag("cai", "mod1")
    # short texts are not compared
    c.join("course:ielts", "ann")
    assert c.post("class:A1", "ann", "谢谢老师！").status is PostStatus.SHOWN
    clock.advance(timedelta(minutes=5))
    assert c.post("course:ielts", "ann", "谢谢老师！").status is PostStatus.SHOWN
    # past the window the text is new again
    clock.advance(timedelta(days=2))
    c.join("course:ielts", "cai")
    assert c.post("course:ielts", "cai", ad).status is PostStatus.SHOWN


def test_several_accounts_on_one_device_are_held_and_flagged(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, spam_rules=SpamRules(max_accounts_per_device=2))
    c = school.community
    for member in ("ann", "bob", "cai"):
        c.join("class:A1", member)
    clock.advance(timedelta(days=8))
    assert c.post("class:A1", "ann", "hi", device="phone-1").status is PostStatus.SHOWN
    assert c.post("class:A1", "bob", "hi", device="phone-1").status is PostStatus.SHOWN
    third = c.post("class:A1", "cai", "hi", device="phone-1")
    assert third.status is PostStatus.HELD and third.reasons == ("shared_device",)
    assert c.flag_of("cai", actor=MOD) == "shared_device" and c.flag_of("ann", actor=MOD) is None


def test_the_word_list_is_stored_and_read_by_every_service_on_the_store(
    world: tuple[School, FixedClock, InMemoryEventBus], store: StoreHandle
) -> None:
    school, clock, _ = world
    _seasoned(school, clock)
    other = School.build(store, clock=clock)  # another process's school
    assert other.community.screen("代开发票").action is WordAction.BLOCK
    assert school.community.set_words([Word("作弊", action=WordAction.HOLD)]) == 2
    assert other.community.post("class:A1", "ann", "代开发票").status is PostStatus.SHOWN
    assert other.community.post("class:A1", "bob", "作 弊").status is PostStatus.HELD
    assert [w.text for w in other.community.words()] == ["作弊"]


def test_activity_is_counted_per_local_day(
    world: tuple[School, FixedClock, InMemoryEventBus],
) -> None:
    school, clock, _ = world
    _seasoned(school, clock)  # 2026-03-10 09:00 UTC, 17:00 in Shanghai
    c = school.community
    first = c.post("class:A1", "ann", "hello")
    c.post("class:A1", "bob", "笨蛋", reply_to=first.id)
    held = c.post("class:A1", "cai", "加微信")
    c.post("class:A1", "cai", "代开发票")
    clock.advance(timedelta(hours=8))  # 01:00 on the 11th in Shanghai
    c.approve(held.id, "mod1")
    week = Period.week(date(2026, 3, 9), "Asia/Shanghai")
    rows = {r.key: r for r in c.activity(week)}
    assert sorted(rows) == ["2026-03-10", "2026-03-11"]
    day = rows["2026-03-10"]
    assert (day.posts, day.replies, day.published, day.masked, day.held, day.blocked) == (
        4,
        1,
        2,
        1,
        1,
        1,
    )
    assert rows["2026-03-11"].approved == 1
    (total,) = c.activity(week, by="period")
    assert (total.key, total.posts, total.approved, total.joined) == ("total", 4, 1, 0)
    joined = c.activity(Period.days(date(2026, 3, 2), 1, "Asia/Shanghai"), by="period")
    assert joined[0].joined == 3
    # the counters are a projection: dropped and rebuilt from the feed, they are the same
    before = c.activity(week)
    school.projections.rebuild("community_metrics")
    assert c.activity(week) == before
    with pytest.raises(InvalidInput):
        c.activity(week, by="hour")


def test_bad_input_is_refused_with_a_typed_error_and_changes_nothing(
    world: tuple[School, FixedClock, InMemoryEventBus], store: StoreHandle
) -> None:
    school, _, _ = world
    c = school.community
    before = store.snapshot()
    calls: list[Any] = [
        lambda: c.post("class:A1", "ann", 42),  # type: ignore[arg-type]
        lambda: c.post("class:A1", "ann", "x" * 5001),
        lambda: c.post("", "ann", "hi"),
        lambda: c.post("class:A1", "ann", "hi", reply_to=""),
        lambda: c.post("class:A1", "ann", "hi", device=7),  # type: ignore[arg-type]
        lambda: c.set_words(["代开发票"]),  # type: ignore[list-item]
        lambda: c.set_words("代开发票"),  # type: ignore[arg-type]
        lambda: c.set_words([Word("代开发票"), Word("x" * 65)]),
        lambda: c.reject("p1", "mod", reason=3),  # type: ignore[arg-type]
        lambda: c.activity("this week"),  # type: ignore[arg-type]
        lambda: c.threads("class:A1", limit=0),
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()
    assert store.snapshot() == before
    for bad in (
        lambda: RateLimit(per_minute=0, per_day=5),
        lambda: RateLimit(per_minute=5, per_day=4),
        lambda: RateLimits(member=3),  # type: ignore[arg-type]
        lambda: RateLimits(new_for=timedelta(days=-1)),
        lambda: SpamRules(max_accounts_per_device=0),
        lambda: School.build(store, community_limits="strict"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInput):
            bad()
