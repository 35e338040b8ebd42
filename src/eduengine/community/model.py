"""The community's domain (社群 / 课程群): groups, posts and posting rate limits.

A group belongs to a class (``class:<id>``) or a course (``course:<id>``); students join
it when they are assigned to the class or enrol in the course, and leave it on a
transfer or when they churn. A post is a thread's first post or a reply in a thread;
every post passes moderation before anyone sees it (:class:`PostStatus`).

>>> class_group("A1"), course_group("ielts")
('class:A1', 'course:ielts')
>>> limits = RateLimits(member=RateLimit(per_minute=5, per_day=100),
...                     new_member=RateLimit(per_minute=1, per_day=10))
>>> from datetime import datetime, timedelta, timezone
>>> joined = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> limits.for_member(joined, joined + timedelta(days=1)).per_minute
1
>>> limits.for_member(joined, joined + timedelta(days=30)).per_minute
5
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.errors import InvalidInput, WrongType
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_duration, check_int
from eduengine.students.privacy import mask_email, mask_phone

__all__ = [
    "AccountFlag",
    "Post",
    "PostStatus",
    "RateLimit",
    "RateLimits",
    "class_group",
    "course_group",
]

#: the longest post, in characters
MAX_POST = 5_000


def class_group(class_id: str) -> str:
    """The id of a class's group."""
    return f"class:{class_id}"


def course_group(course_id: str) -> str:
    """The id of a course's group."""
    return f"course:{course_id}"


class PostStatus(enum.Enum):
    """Where a post stands: ``shown`` as written, ``masked`` (shown with words starred
    out), ``held`` for a moderator, ``blocked`` by the word list, ``rejected`` by a
    moderator. Only shown and masked posts are visible to the group."""

    SHOWN = "shown"
    MASKED = "masked"
    HELD = "held"
    BLOCKED = "blocked"
    REJECTED = "rejected"

    @property
    def visible(self) -> bool:
        return self in (PostStatus.SHOWN, PostStatus.MASKED)


_STATUS = {status.value: status for status in PostStatus}


@attrs.define(kw_only=True)
class Post:
    """One post. ``text`` is what the group sees (the masked text for a masked post);
    ``original`` what the author wrote, for moderators. A thread's first post is its own
    ``thread_id``; a reply names the post it answers (``reply_to``). ``reasons`` say why
    moderation held or blocked it. After the author's erasure both texts are empty and
    ``erased`` is set."""

    id: str
    group_id: str
    author_id: str
    thread_id: str
    reply_to: str | None
    text: str
    original: str
    status: PostStatus
    reasons: tuple[str, ...]
    posted_at: datetime
    device_id: str | None = None
    moderator_id: str | None = None
    decided_at: datetime | None = None
    erased: bool = False
    #: the post's place in its thread: 0 for the first post, then 1, 2 ... in the order
    #: they were written
    seq: int = 0

    @property
    def visible(self) -> bool:
        return self.status.visible

    def for_members(self) -> Post:
        """The post as the group reads it: phone numbers and e-mail addresses in its
        text masked (``138****5678``), no ``original`` beyond the shown text and no
        device (personal data the moderators' view keeps)."""
        shown = mask_contacts(self.text)
        return attrs.evolve(self, text=shown, original=shown, device_id=None)

    def to_record(self) -> dict[str, Any]:
        # what members read is masked once, when the post is written, so a page of posts
        # reads as fast as its rows; a text kept once where its forms agree (most posts)
        # keeps a page's documents small
        public = mask_contacts(self.text)
        return {
            "public": None if public == self.text else public,
            "id": self.id,
            "group_id": self.group_id,
            "author_id": self.author_id,
            "thread_id": self.thread_id,
            "reply_to": self.reply_to,
            "text": self.text,
            "original": None if self.original == self.text else self.original,
            "status": self.status.value,
            "reasons": list(self.reasons),
            "posted_at": dt_out(self.posted_at),
            "device_id": self.device_id,
            "moderator_id": self.moderator_id,
            "decided_at": None if self.decided_at is None else dt_out(self.decided_at),
            "erased": self.erased,
            "seq": self.seq,
        }

    @classmethod
    def for_members_from_record(cls, doc: dict[str, Any]) -> Post:
        """:meth:`for_members` of the stored post ``doc``, built at once from its
        ``public`` text (masked when written; a post stored before it is masked now)."""
        if "public" in doc:
            shown = doc["public"] if doc["public"] is not None else doc["text"]
        else:  # stored before members' texts were masked on writing
            shown = mask_contacts(doc["text"])
        decided = doc["decided_at"]
        return cls(
            id=doc["id"],
            group_id=doc["group_id"],
            author_id=doc["author_id"],
            thread_id=doc["thread_id"],
            reply_to=doc["reply_to"],
            text=shown,
            original=shown,
            status=_STATUS[doc["status"]],
            reasons=tuple(doc["reasons"]),
            posted_at=dt_in(doc["posted_at"]),
            moderator_id=doc["moderator_id"],
            decided_at=None if decided is None else dt_in(decided),
            erased=doc["erased"],
            seq=doc["seq"],
        )

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Post:
        return cls(
            id=doc["id"],
            group_id=doc["group_id"],
            author_id=doc["author_id"],
            thread_id=doc["thread_id"],
            reply_to=doc["reply_to"],
            text=doc["text"],
            original=doc["text"] if doc["original"] is None else doc["original"],
            status=PostStatus(doc["status"]),
            reasons=tuple(doc["reasons"]),
            posted_at=dt_in(doc["posted_at"]),
            device_id=doc["device_id"],
            moderator_id=doc["moderator_id"],
            decided_at=None if doc["decided_at"] is None else dt_in(doc["decided_at"]),
            erased=doc["erased"],
            seq=doc["seq"],
        )


@attrs.frozen(kw_only=True)
class AccountFlag:
    """Why a member's account is flagged (广告账号): the spam ``signal``, when, the post
    that raised it, and the devices the member posted from (personal data: shown only
    to a reader with the payments field set).

    >>> from datetime import datetime, timezone
    >>> AccountFlag(member_id="dan", signal="contact", post_id="p1",
    ...             at=datetime(2026, 3, 2, tzinfo=timezone.utc)).devices
    ()
    """

    member_id: str
    signal: str
    at: datetime
    post_id: str
    devices: tuple[str, ...] = ()


_PHONE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask_contacts(text: str) -> str:
    """``text`` with mobile numbers and e-mail addresses masked as the access policy
    masks contact data.

    >>> mask_contacts("call 13812345678 or mail amy@example.com")
    'call 138****5678 or mail a***@example.com'
    """
    text = _PHONE.sub(lambda m: mask_phone(m.group()) or "", text)
    return _EMAIL.sub(lambda m: mask_email(m.group()) or "", text)


def _count(instance: object, attribute: Any, value: Any) -> None:
    check_int(value, attribute.name, low=1)


@attrs.frozen(kw_only=True)
class RateLimit:
    """At most ``per_minute`` posts in any 60 seconds and ``per_day`` in any 24 hours
    (rolling windows: a burst at 23:59 is not forgiven at midnight); every post taken
    counts, held and blocked ones too."""

    per_minute: int = attrs.field(validator=_count)
    per_day: int = attrs.field(validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.per_day < self.per_minute:
            raise InvalidInput(f"per_day ({self.per_day}) is below per_minute ({self.per_minute})")


def _limit(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, RateLimit):
        raise WrongType(f"{attribute.name} must be a RateLimit, got {value!r}", field="limits")


def _new_for(instance: object, attribute: Any, value: Any) -> None:
    check_duration(value, attribute.name, high=timedelta(days=3650))


@attrs.frozen(kw_only=True)
class RateLimits:
    """发言频率控制: ``member``'s limits, and the stricter ``new_member`` ones for the
    first ``new_for`` after a member first joined a group."""

    member: RateLimit = attrs.field(default=RateLimit(per_minute=5, per_day=200), validator=_limit)
    new_member: RateLimit = attrs.field(
        default=RateLimit(per_minute=2, per_day=20), validator=_limit
    )
    new_for: timedelta = attrs.field(default=timedelta(days=7), validator=_new_for)

    def is_new(self, joined_at: datetime, now: datetime) -> bool:
        return now - joined_at < self.new_for

    def for_member(self, joined_at: datetime, now: datetime) -> RateLimit:
        """The limits that hold for a member who first joined at ``joined_at``."""
        return self.new_member if self.is_new(joined_at, now) else self.member
