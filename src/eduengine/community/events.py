"""The events of the community: joining and leaving groups, posts and their moderation.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(PostHeld).name, event_kind(PostHeld).aggregate_type
('community.post_held', 'post')
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "AccountFlagged",
    "FlagCleared",
    "GroupJoined",
    "GroupLeft",
    "PostApproved",
    "PostBlocked",
    "PostHeld",
    "PostPublished",
    "PostRejected",
]


@event_type("community.group_joined", aggregate="community_group", field="group_id")
@attrs.frozen(kw_only=True)
class GroupJoined(DomainEvent):
    """A member joined a class or course group (``reason``: ``enrolled``, ``assigned``,
    ``returned`` after churn, ``added`` by hand)."""

    group_id: str
    member_id: str
    reason: str


@event_type("community.group_left", aggregate="community_group", field="group_id")
@attrs.frozen(kw_only=True)
class GroupLeft(DomainEvent):
    """A member left a group (``reason``: ``transferred``, ``churned``, ``removed``)."""

    group_id: str
    member_id: str
    reason: str


@event_type("community.post_published", aggregate="post", field="post_id")
@attrs.frozen(kw_only=True)
class PostPublished(DomainEvent):
    """A post is shown to its group: as written (``status`` ``shown``) or with the
    matched words starred out (``masked``)."""

    post_id: str
    group_id: str
    author_id: str
    thread_id: str
    reply_to: str | None
    status: str
    words: tuple[str, ...] = ()


@event_type("community.post_held", aggregate="post", field="post_id")
@attrs.frozen(kw_only=True)
class PostHeld(DomainEvent):
    """A post waits in the moderator queue; ``reasons`` say why (``word:<word>``,
    ``contact:<kind>``, ``repeated_text``, ``shared_device``, ``flagged_account``)."""

    post_id: str
    group_id: str
    author_id: str
    reasons: tuple[str, ...]


@event_type("community.post_blocked", aggregate="post", field="post_id")
@attrs.frozen(kw_only=True)
class PostBlocked(DomainEvent):
    """A post matched a blocking word: it is kept for the record, never shown."""

    post_id: str
    group_id: str
    author_id: str
    words: tuple[str, ...]


@event_type("community.post_approved", aggregate="post", field="post_id")
@attrs.frozen(kw_only=True)
class PostApproved(DomainEvent):
    """A moderator let a held post through (``status``: ``shown`` or ``masked``)."""

    post_id: str
    group_id: str
    moderator_id: str
    status: str


@event_type("community.post_rejected", aggregate="post", field="post_id")
@attrs.frozen(kw_only=True)
class PostRejected(DomainEvent):
    """A moderator turned a held post down: it is never shown."""

    post_id: str
    group_id: str
    moderator_id: str
    reason: str | None


@event_type("community.account_flagged", aggregate="member", field="member_id")
@attrs.frozen(kw_only=True)
class AccountFlagged(DomainEvent):
    """A spam signal flagged an account (广告账号识别): its posts are held until a
    moderator clears it. ``signal``: ``contact``, ``repeated_text`` or ``shared_device``."""

    member_id: str
    signal: str
    post_id: str | None


@event_type("community.flag_cleared", aggregate="member", field="member_id")
@attrs.frozen(kw_only=True)
class FlagCleared(DomainEvent):
    """A moderator cleared an account's flag."""

    member_id: str
    moderator_id: str
