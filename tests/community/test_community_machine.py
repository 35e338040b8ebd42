"""A hypothesis state machine for posting, run on every adapter: it predicts, then asserts,
each post's fate (refused for a rate limit or membership; else shown, masked, held or
blocked), with the clock moving by seconds, minutes, hours and days, members joining,
and moderators deciding and clearing flags. The model is plain Python: lists of
timestamps, a word table, a set of flagged members."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eduengine import FixedClock
from eduengine.community import (
    CommunityService,
    PostStatus,
    RateLimit,
    RateLimits,
    Word,
    WordAction,
)
from eduengine.errors import EduEngineError, NotAGroupMember, PostingTooFast
from eduengine.students import Actor
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

GROUP = "class:A1"
MOD = Actor(id="mod", role="admin")
LIMITS = RateLimits(
    member=RateLimit(per_minute=3, per_day=6),
    new_member=RateLimit(per_minute=1, per_day=3),
    new_for=timedelta(days=2),
)
#: text -> (the status it gets from the word list alone, whether it holds a contact)
TEXTS: dict[str, tuple[PostStatus, bool]] = {
    "你好，老师": (PostStatus.SHOWN, False),
    "Good morning class": (PostStatus.SHOWN, False),
    "你这个笨 蛋": (PostStatus.MASKED, False),
    "有事加 微 信": (PostStatus.HELD, False),
    "代開發票，便宜": (PostStatus.BLOCKED, False),
    "电话 138-1234-5678": (PostStatus.SHOWN, True),
}
MEMBERS = ("ann", "bob", "cai", "dan")
STEPS = [
    timedelta(seconds=1),
    timedelta(seconds=30),
    timedelta(seconds=59),
    timedelta(minutes=1),
    timedelta(hours=5),
    timedelta(hours=23, minutes=59),
    timedelta(days=1),
    timedelta(days=3),
]


@attrs.define
class ModelMember:
    since: datetime
    posts: list[datetime] = attrs.Factory(list)
    flagged: bool = False


class PostingMachine(RuleBasedStateMachine):
    adapter = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.handle: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.counter = 0
        self.svc = CommunityService(
            self.handle.unit_of_work, clock=self.clock, limits=LIMITS, new_id=self._id
        )
        self.svc.set_words(
            [
                Word("代开发票"),
                Word("加微信", action=WordAction.HOLD),
                Word("笨蛋", action=WordAction.MASK),
            ]
        )
        self.members: dict[str, ModelMember] = {}
        self.held: list[str] = []
        self.visible: list[str] = []

    def _id(self) -> str:
        self.counter += 1
        return f"p{self.counter:05d}"

    def teardown(self) -> None:
        self.handle.close()

    # --- the model ---------------------------------------------------------------------

    def predict(self, member_id: str, text: str) -> tuple[type[EduEngineError] | None, PostStatus]:
        now = self.clock.now()
        member = self.members.get(member_id)
        if member is None:
            return NotAGroupMember, PostStatus.SHOWN
        new = now - member.since < LIMITS.new_for
        limit = LIMITS.new_member if new else LIMITS.member
        minute = sum(1 for t in member.posts if now - t < timedelta(minutes=1))
        day = sum(1 for t in member.posts if now - t < timedelta(days=1))
        if minute >= limit.per_minute or day >= limit.per_day:
            return PostingTooFast, PostStatus.SHOWN
        status, contact = TEXTS[text]
        if status is not PostStatus.BLOCKED and (member.flagged or (new and contact)):
            status = PostStatus.HELD
        return None, status

    # --- rules -------------------------------------------------------------------------

    @rule(member_id=st.sampled_from(MEMBERS))
    def join(self, member_id: str) -> None:
        joined = self.svc.join(GROUP, member_id)
        assert joined == (member_id not in self.members)
        self.members.setdefault(member_id, ModelMember(since=self.clock.now()))

    @rule(member_id=st.sampled_from(MEMBERS), text=st.sampled_from(sorted(TEXTS)))
    def post(self, member_id: str, text: str) -> None:
        refusal, status = self.predict(member_id, text)
        try:
            post = self.svc.post(GROUP, member_id, text)
        except EduEngineError as refused:
            assert refusal is not None and type(refused) is refusal, (refused, refusal)
            return
        assert refusal is None, f"expected {refusal.__name__}, the post was taken"
        assert post.status is status, (text, post.status, status, post.reasons)
        member = self.members[member_id]
        member.posts.append(self.clock.now())
        new = self.clock.now() - member.since < LIMITS.new_for
        if status is not PostStatus.BLOCKED and new and TEXTS[text][1]:
            member.flagged = True
        if status is PostStatus.HELD:
            self.held.append(post.id)
        elif status.visible:
            self.visible.append(post.id)

    @rule(step=st.sampled_from(STEPS))
    def wait(self, step: timedelta) -> None:
        self.clock.advance(step)

    @precondition(lambda self: bool(self.held))
    @rule(approve=st.booleans())
    def decide(self, approve: bool) -> None:
        post_id = self.held.pop(0)
        if approve:
            assert self.svc.approve(post_id, "mod").visible
            self.visible.append(post_id)
        else:
            assert self.svc.reject(post_id, "mod").status is PostStatus.REJECTED

    @rule(member_id=st.sampled_from(MEMBERS))
    def clear(self, member_id: str) -> None:
        member = self.members.get(member_id)
        flagged = member is not None and member.flagged
        assert self.svc.clear_flag(member_id, "mod") == flagged
        if member is not None:
            member.flagged = False

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def the_queue_is_the_held_posts_oldest_first(self) -> None:
        assert [p.id for p in self.svc.queue(actor=MOD)] == self.held
        # the same, a keyset page of two at a time
        paged: list[str] = []
        while True:
            page = self.svc.queue(limit=2, after=paged[-1] if paged else None, actor=MOD)
            paged += [p.id for p in page]
            if len(page) < 2:
                break
        assert paged == self.held

    @invariant()
    def only_what_moderation_let_through_is_in_the_group(self) -> None:
        listed = [p.id for p in self.svc.threads(GROUP, limit=1000, actor=MOD)]
        shown = set(listed)
        assert shown == set(self.visible)
        # newest first, and the keyset pages of two read the same list
        paged: list[str] = []
        while True:
            page = self.svc.threads(
                GROUP, limit=2, before=paged[-1] if paged else None, actor=MOD
            )
            paged += [p.id for p in page]
            if len(page) < 2:
                break
        assert paged == listed


def _machine_for(adapter: str) -> type[PostingMachine]:
    return type(f"PostingMachine_{adapter}", (PostingMachine,), {"adapter": adapter})


for _adapter in ADAPTERS:
    _cls = _machine_for(_adapter)
    # a fresh store per example: a few examples of many steps each
    _cls.TestCase.settings = settings(max_examples=12, stateful_step_count=30, deadline=None)
    globals()[f"TestPostingMachine_{_adapter}"] = _cls.TestCase
