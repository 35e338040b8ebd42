"""The moderated community (社群): class and course groups, posts, the moderator queue.

Every post passes moderation in the unit of work that stores it: the member's rate
limits (one member's posts are taken one at a time under their record's lock, so any
number of processes cannot post past a limit), the school's word list, and the spam
signals. A post is then ``shown``, ``masked``, ``held`` for a moderator or ``blocked``.

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore
>>> from eduengine.community import Word, WordAction
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> community = CommunityService(InMemoryStore().unit_of_work, clock=clock)
>>> community.set_words([Word("代开发票"), Word("笨蛋", action=WordAction.MASK)])
1
>>> _ = community.join("class:A1", "ann"), community.join("class:A1", "bob")
>>> hello = community.post("class:A1", "ann", "今天的作业是第三单元")
>>> hello.status.value
'shown'
>>> community.post("class:A1", "bob", "你这个笨-蛋", reply_to=hello.id).text
'你这个***'
>>> community.post("class:A1", "bob", "代開發票 dkfp").status.value
'blocked'
>>> from eduengine.students import Actor
>>> [p.text for p in community.thread(hello.id, actor=Actor(id="ann", role="student"))]
['今天的作业是第三单元', '你这个***']
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Unpack

import attrs

from eduengine.analytics.model import Period
from eduengine.community import handlers as rec
from eduengine.community.events import (
    AccountFlagged,
    FlagCleared,
    PostApproved,
    PostBlocked,
    PostHeld,
    PostPublished,
    PostRejected,
)
from eduengine.community.metrics import ActivityRow, activity
from eduengine.community.model import (
    MAX_POST,
    AccountFlag,
    Post,
    PostStatus,
    RateLimit,
    RateLimits,
    mask_contacts,
)
from eduengine.community.moderation import Screening, Word, WordAction, WordFilter, fold
from eduengine.community.spam import SpamRules, SpamSignal, contact_handles, text_digest
from eduengine.errors import (
    InvalidInput,
    InvalidTransition,
    NotAGroupMember,
    PostingTooFast,
    PostNotFound,
    WrongType,
)
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import check_id, check_int, check_optional_id, check_text
from eduengine.people.access import AccessGate, Look, Refused, check_actor
from eduengine.people.model import Access, Actor, FieldSet
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = ["CommunityService"]

_MINUTE = 60_000_000
_DAY = 24 * 3600 * _MINUTE // 60
_WORDS_KEY = "list"
#: the most word list entries a school may keep
MAX_WORDS = 200_000


class CommunityService(ServiceBase):
    """Groups, posts, moderation and community metrics of one school.

    ``limits`` are the posting :class:`RateLimits`, ``spam`` the :class:`SpamRules`; the
    other arguments are :class:`ServiceBase`'s. The word list is stored (every process
    sees the same one) and compiled once per process per version.
    """

    #: the access check of the reads of personal data (School.build passes the school's)
    gate: AccessGate = AccessGate()

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        limits: RateLimits | None = None,
        spam: SpamRules | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        if limits is not None and not isinstance(limits, RateLimits):
            raise WrongType(f"limits must be RateLimits, got {limits!r}", field="limits")
        if spam is not None and not isinstance(spam, SpamRules):
            raise WrongType(f"spam must be SpamRules, got {spam!r}", field="spam")
        self.limits = limits or RateLimits()
        self.spam = spam or SpamRules()
        self._filter_lock = threading.Lock()
        self._filter: tuple[int, WordFilter] = (0, WordFilter([]))

    # --- the word list -----------------------------------------------------------------

    def set_words(self, words: Sequence[Word]) -> int:
        """Replace the school's word list; returns its new version (every process picks
        it up on its next post)."""
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise WrongType(f"words must be a list of Word, got {words!r}", field="words")
        if len(words) > MAX_WORDS:
            raise InvalidInput(f"a word list holds at most {MAX_WORDS} words, got {len(words)}")
        compiled = WordFilter(words)  # refuses a bad entry before anything is stored

        def command(uow: UnitOfWork, now: datetime) -> int:
            old = uow.records.get(rec.WORDS, _WORDS_KEY)
            version = 1 if old is None else int(old["version"]) + 1
            doc = {"version": version, "words": [w.to_record() for w in compiled.words]}
            uow.records.put(rec.WORDS, _WORDS_KEY, doc, index={"version": version})
            return version

        version = self._run(command)
        with self._filter_lock:
            if version > self._filter[0]:
                self._filter = (version, compiled)
        return version

    def words(self) -> list[Word]:
        """The school's word list."""

        def query(uow: UnitOfWork, now: datetime) -> list[Word]:
            doc = uow.records.get(rec.WORDS, _WORDS_KEY)
            return [] if doc is None else [Word.from_record(w) for w in doc["words"]]

        return self._run(query, write=False)

    def screen(self, text: str) -> Screening:
        """What the current word list finds in ``text`` (nothing is stored)."""
        check_text(text, "text", max_length=MAX_POST)
        return self._run(lambda uow, now: self._words(uow).screen(text), write=False)

    def screen_in(self, uow: UnitOfWork, text: str) -> Screening:
        """What the current word list finds in ``text``, inside ``uow`` (the desk's
        reviews pass the same list as posts, in the unit of work that stores them)."""
        return self._words(uow).screen(text)

    def _words(self, uow: UnitOfWork) -> WordFilter:
        # the version is an index value: reading it takes no lock, so posts in many
        # groups never queue behind one another for the word list
        found = uow.records.scan(rec.WORDS, "version", limit=1)
        version = found[0][1] if found else 0
        with self._filter_lock:
            cached_version, cached = self._filter
        if version == cached_version:
            return cached
        docs = dict(uow.records.list(rec.WORDS))
        doc = docs.get(_WORDS_KEY)
        version = 0 if doc is None else int(doc["version"])
        compiled = WordFilter([] if doc is None else [Word.from_record(w) for w in doc["words"]])
        with self._filter_lock:
            if version >= self._filter[0]:
                self._filter = (version, compiled)
        return compiled

    # --- groups -------------------------------------------------------------------------

    def join(self, group_id: str, member_id: str) -> bool:
        """Add a member to a group by hand (a tutor, a head teacher, a student the feed
        did not place); ``False`` if already in it. Students join their class and course
        groups by themselves."""
        check_id(group_id, "group_id")
        check_id(member_id, "member_id")
        return self._run(
            lambda uow, now: rec.join_group(uow, group_id, member_id, "added", now),
            ids={"group_id": group_id, "member_id": member_id},
        )

    def leave(self, group_id: str, member_id: str) -> bool:
        """Take a member out of a group; ``False`` if not in it."""
        check_id(group_id, "group_id")
        check_id(member_id, "member_id")
        return self._run(
            lambda uow, now: rec.leave_group(uow, group_id, member_id, "removed", now),
            ids={"group_id": group_id, "member_id": member_id},
        )

    def members_of(self, group_id: str, *, actor: Actor | None = None) -> list[str]:
        """A group's members, in the order they joined: all of them for a member of the
        group; for anyone else those the access check lets ``actor`` see (refused when
        it sees none of them)."""
        check_id(group_id, "group_id")

        def members(uow: UnitOfWork) -> list[str]:
            doc = uow.records.get(rec.GROUPS, group_id)
            return [] if doc is None else list(doc["members"])

        if actor is not None:
            listed = self._run(
                lambda uow, now: members(uow), write=False, ids={"group_id": group_id}
            )
            if check_actor(actor).id in listed:
                return listed  # members see each other

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[str]:
            return [m for m in members(uow) if not look(m).refused]

        return self.gate.read(
            self._run, actor, ("community_groups",), query, ids={"group_id": group_id}
        )

    def groups_of(self, member_id: str, *, actor: Actor | None = None) -> list[str]:
        """The groups a member is in, for the member herself or as the access check lets
        ``actor`` see her (``AccessDenied`` if it refuses)."""
        check_id(member_id, "member_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[str]:
            itself = actor is not None and actor.id == member_id
            if not itself and look(member_id).refused:
                raise Refused()
            doc = uow.records.get(rec.MEMBERS, member_id)
            return [] if doc is None else list(doc["groups"])

        return self.gate.read(
            self._run, actor, ("community_groups",), query, ids={"member_id": member_id}
        )

    # --- posting ------------------------------------------------------------------------

    def post(
        self,
        group_id: str,
        author_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        device: str | None = None,
    ) -> Post:
        """Post ``text`` in a group (a new thread, or a reply to the visible post
        ``reply_to``), from ``device`` (the device's id) if the host knows it. The
        device is personal data: it is kept for the spam signals, never logged.

        Raises :class:`NotAGroupMember`, :class:`PostNotFound` (``reply_to`` is not a
        visible post of the group) or :class:`PostingTooFast` (nothing is stored); else
        returns the post, moderated: see its ``status`` and ``reasons``.
        """
        check_id(group_id, "group_id")
        check_id(author_id, "author_id")
        check_text(text, "text", max_length=MAX_POST)
        if not text.strip():
            raise InvalidInput("a post needs some text")
        check_optional_id(reply_to, "reply_to")
        check_optional_id(device, "device")
        post_id = self._new_id()

        def command(uow: UnitOfWork, now: datetime) -> Post:
            return self._post(uow, now, post_id, group_id, author_id, text, reply_to, device)

        return self._run(command, ids={"group_id": group_id, "author_id": author_id})

    def _post(
        self,
        uow: UnitOfWork,
        now: datetime,
        post_id: str,
        group_id: str,
        author_id: str,
        text: str,
        reply_to: str | None,
        device_id: str | None,
    ) -> Post:
        # the member's record is locked first: one member's posts are judged one at a
        # time, so the rate limits hold across threads and processes
        member = uow.records.get(rec.MEMBERS, author_id)
        if member is None or group_id not in member["groups"]:
            raise NotAGroupMember(author_id, group_id)
        thread_id = post_id
        seq = 0
        if reply_to is not None:
            parent = uow.records.get(rec.POSTS, reply_to)
            if (
                parent is None
                or parent["group_id"] != group_id
                or not PostStatus(parent["status"]).visible
            ):
                raise PostNotFound(reply_to)
            thread_id = parent["thread_id"]
            # replies are numbered under the thread's lock: a thread reads in the order
            # its posts were written, even those written in the same microsecond
            counter = uow.records.get(rec.THREADS, thread_id) or {"posts": 1}
            seq = counter["posts"]
            uow.records.put(rec.THREADS, thread_id, {"posts": seq + 1})
        joined = dt_in(member["since"])
        self._check_rate(uow, author_id, self.limits.for_member(joined, now), now)

        screening = self._words(uow).screen(text)
        reasons: list[str] = []
        signals: list[SpamSignal] = []
        if screening.action is WordAction.BLOCK:
            status = PostStatus.BLOCKED
            reasons = [f"word:{w}" for w in screening.words]
        else:
            if screening.action is WordAction.HOLD:
                reasons += [f"word:{w}" for w in screening.words]
            if self.limits.is_new(joined, now):
                handles = contact_handles(text)
                reasons += [f"contact:{kind}" for kind in handles]
                if handles:
                    signals.append(SpamSignal.CONTACT)
            if self._repeated(uow, text, group_id, post_id, now):
                reasons.append("repeated_text")
                signals.append(SpamSignal.REPEATED_TEXT)
            if device_id is not None and self._shared_device(uow, member, author_id, device_id):
                reasons.append("shared_device")
                signals.append(SpamSignal.SHARED_DEVICE)
            if member["flag"] is not None:
                reasons.append("flagged_account")
            if reasons:
                status = PostStatus.HELD
            elif screening.action is WordAction.MASK:
                status = PostStatus.MASKED
            else:
                status = PostStatus.SHOWN
        post = Post(
            id=post_id,
            group_id=group_id,
            author_id=author_id,
            thread_id=thread_id,
            reply_to=reply_to,
            text=screening.masked,
            original=text,
            status=status,
            reasons=tuple(reasons),
            posted_at=now,
            device_id=device_id,
            seq=seq,
        )
        rec.save_post(uow, post)
        events: list[Any] = []
        if status.visible:
            events.append(
                PostPublished(
                    occurred_at=now,
                    post_id=post_id,
                    group_id=group_id,
                    author_id=author_id,
                    thread_id=thread_id,
                    reply_to=reply_to,
                    status=status.value,
                    words=screening.words,
                )
            )
        elif status is PostStatus.HELD:
            events.append(
                PostHeld(
                    occurred_at=now,
                    post_id=post_id,
                    group_id=group_id,
                    author_id=author_id,
                    reasons=post.reasons,
                )
            )
        else:
            events.append(
                PostBlocked(
                    occurred_at=now,
                    post_id=post_id,
                    group_id=group_id,
                    author_id=author_id,
                    words=screening.words,
                )
            )
        if signals and member["flag"] is None:
            member["flag"] = {"signal": signals[0].value, "at": dt_out(now), "post_id": post_id}
            uow.records.put(rec.MEMBERS, author_id, member)
            events.append(
                AccountFlagged(
                    occurred_at=now, member_id=author_id, signal=signals[0].value, post_id=post_id
                )
            )
        uow.record_events(events)
        return post

    def _check_rate(self, uow: UnitOfWork, author_id: str, limit: RateLimit, now: datetime) -> None:
        index = f"author:{author_id}"
        at = micros(now)
        for window, most, name in (
            (_MINUTE, limit.per_minute, "per minute"),
            (_DAY, limit.per_day, "per day"),
        ):
            lo = at - window + 1
            posted = uow.records.count(rec.POSTS, index, lo=lo, hi=at)
            if posted >= most:
                # the post that must age out of the window before one more fits
                rows = uow.records.scan(rec.POSTS, index, lo=lo, hi=at, limit=posted - most + 1)
                wait = rows[-1][1] + window - at if rows else window
                raise PostingTooFast(author_id, f"{most} posts {name}", -(-wait // 1_000_000))

    def _repeated(
        self, uow: UnitOfWork, text: str, group_id: str, post_id: str, now: datetime
    ) -> bool:
        if len(fold(text).text) < self.spam.repeat_min_length:
            return False
        digest = text_digest(text)
        at = micros(now)
        since = at - micros_of(self.spam.repeat_window)
        seen = uow.records.scan(rec.TEXTS, f"text:{digest}", lo=since, hi=at, limit=200)
        uow.records.put(
            rec.TEXTS,
            rec.text_key(digest, group_id, post_id),
            {},
            index={f"text:{digest}": at},
        )
        return any(rec.group_of_text_key(key) != group_id for key, _ in seen)

    def _shared_device(
        self, uow: UnitOfWork, member: dict[str, Any], author_id: str, device_id: str
    ) -> bool:
        device = uow.records.get(rec.DEVICES, device_id) or {"members": []}
        if author_id not in device["members"]:
            device["members"].append(author_id)
            uow.records.put(rec.DEVICES, device_id, device)
        if device_id not in member["devices"]:
            member["devices"].append(device_id)
            uow.records.put(rec.MEMBERS, author_id, member)
        return len(device["members"]) > self.spam.max_accounts_per_device

    # --- reading ------------------------------------------------------------------------
    #
    # Every read that can return a student's personal data (what she wrote, the devices
    # she posted from, the groups she is in) names its actor and goes through the
    # school's AccessGate (docs/privacy.md): a member of the group reads it as members do
    # (contact data in texts masked, no device), without an audit row; anyone else sees
    # each author's posts whole, masked or not at all as the gate decides, and each
    # student shown whole is audited once. Without an actor (deprecated) values are masked.

    def get(self, post_id: str, *, actor: Actor | None = None) -> Post:
        """One post, whatever its status: the moderator's view (``original`` and the
        device) as ``actor`` sees its author: texts whole with the contacts field set
        whole, with contact data masked with it masked; the device only with the
        payments field set; refused (``AccessDenied``) when the author is refused."""
        check_id(post_id, "post_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Post:
            doc = uow.records.get(rec.POSTS, post_id)
            if doc is None:
                raise PostNotFound(post_id)
            fields = look(doc["author_id"])
            if fields.refused:
                raise Refused()
            return _as_seen(Post.from_record(doc), fields)

        return self.gate.read(
            self._run, actor, ("community_posts",), query, ids={"post_id": post_id}
        )

    def threads(
        self,
        group_id: str,
        *,
        limit: int = 50,
        before: str | None = None,
        actor: Actor | None = None,
    ) -> list[Post]:
        """The visible threads of a group (their first posts), newest first: a page of
        ``limit``, after the thread ``before`` (the last one of the previous page: a
        keyset cursor, so every page is one indexed read). A member of the group reads
        them as members do (:meth:`Post.for_members`); another actor through the
        access check (see :meth:`get`; the posts of authors it refuses are left out)."""
        check_id(group_id, "group_id")
        check_int(limit, "limit", low=1, high=1000)
        check_optional_id(before, "before")

        def page(uow: UnitOfWork) -> list[dict[str, Any]]:
            after = None
            if before is not None:
                cursor = uow.records.get(rec.POSTS, before)
                if cursor is None or cursor["group_id"] != group_id or cursor["reply_to"]:
                    raise PostNotFound(before)
                after = (micros(dt_in(cursor["posted_at"])), before)
            return rec.page_posts(
                uow, f"group:{group_id}", limit=limit, after=after, descending=True
            )

        read = self._as_member(group_id, page, actor)
        if read is not None:
            return read
        query = self._seen_page(page)
        return self.gate.read(self._run, actor, ("community_posts",), query)

    def thread(
        self,
        thread_id: str,
        *,
        limit: int = 500,
        after: str | None = None,
        actor: Actor | None = None,
    ) -> list[Post]:
        """The visible posts of a thread, oldest first (its first post, then replies): a
        page of ``limit``, after the post ``after`` (the last one of the previous page).
        Read as :meth:`threads` reads."""
        check_id(thread_id, "thread_id")
        check_int(limit, "limit", low=1, high=10_000)
        check_optional_id(after, "after")
        group: list[str] = []

        def page(uow: UnitOfWork) -> list[dict[str, Any]]:
            cursor = None
            if after is not None:
                doc = uow.records.get(rec.POSTS, after)
                if doc is None or doc["thread_id"] != thread_id:
                    raise PostNotFound(after)
                cursor = (int(doc["seq"]), after)
            docs = rec.page_posts(uow, f"thread:{thread_id}", limit=limit, after=cursor)
            group[:] = [docs[0]["group_id"]] if docs else []
            return docs

        read = self._as_member(None, page, actor, group)
        if read is not None:
            return read
        query = self._seen_page(page)
        return self.gate.read(self._run, actor, ("community_posts",), query)

    def _as_member(
        self,
        group_id: str | None,
        page: Callable[[UnitOfWork], list[dict[str, Any]]],
        actor: Actor | None,
        group: list[str] | None = None,
    ) -> list[Post] | None:
        """The page as a member of its group reads it, or ``None`` when ``actor`` is not
        one (then the access check decides); one read-only unit of work."""
        if actor is None:
            return None
        who = check_actor(actor)

        def query(uow: UnitOfWork, now: datetime) -> list[Post] | None:
            docs = page(uow)
            in_group = group_id if group is None else (group[0] if group else None)
            member = uow.records.get(rec.MEMBERS, who.id)
            if in_group is not None and (member is None or in_group not in member["groups"]):
                return None
            return [Post.for_members_from_record(d) for d in docs]

        return self._run(query, write=False, ids={"group_id": group_id})

    @staticmethod
    def _seen_page(
        page: Callable[[UnitOfWork], list[dict[str, Any]]],
    ) -> Callable[[UnitOfWork, datetime, Look], list[Post]]:
        """The page as a reader who is not a member sees it: each author's posts whole
        (contacts field set whole; no device), as members read them (masked), or left
        out (refused)."""

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Post]:
            seen = []
            for doc in page(uow):
                fields = look(doc["author_id"])
                if fields.refused:
                    continue
                if fields.contacts is Access.FULL:
                    seen.append(attrs.evolve(Post.from_record(doc), device_id=None))
                else:
                    seen.append(Post.for_members_from_record(doc))
            return seen

        return query

    def queue(
        self, *, limit: int = 100, after: str | None = None, actor: Actor | None = None
    ) -> list[Post]:
        """The moderator queue: held posts, oldest first, a page of ``limit`` after the
        post ``after``; each as ``actor`` sees its author (see :meth:`get`), the posts
        of authors it refuses left out."""
        check_int(limit, "limit", low=1, high=10_000)
        check_optional_id(after, "after")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Post]:
            cursor = None
            if after is not None:
                doc = uow.records.get(rec.POSTS, after)
                if doc is None:
                    raise PostNotFound(after)
                cursor = (micros(dt_in(doc["posted_at"])), after)
            seen = []
            for doc in rec.page_posts(uow, "queue", limit=limit, after=cursor):
                fields = look(doc["author_id"])
                if not fields.refused:
                    seen.append(_as_seen(Post.from_record(doc), fields))
            return seen

        return self.gate.read(self._run, actor, ("community_posts",), query)

    # --- moderation ---------------------------------------------------------------------

    def approve(self, post_id: str, moderator_id: str) -> Post:
        """Show a held post (with the list's words starred out, if any matched)."""
        return self._decide(post_id, moderator_id, approve=True, reason=None)

    def reject(self, post_id: str, moderator_id: str, *, reason: str | None = None) -> Post:
        """Turn a held post down: it is never shown."""
        if reason is not None:
            check_text(reason, "reason", max_length=500)
        return self._decide(post_id, moderator_id, approve=False, reason=reason)

    def _decide(
        self, post_id: str, moderator_id: str, *, approve: bool, reason: str | None
    ) -> Post:
        check_id(post_id, "post_id")
        check_id(moderator_id, "moderator_id")

        def command(uow: UnitOfWork, now: datetime) -> Post:
            doc = uow.records.get(rec.POSTS, post_id)
            if doc is None:
                raise PostNotFound(post_id)
            post = Post.from_record(doc)
            if post.status is not PostStatus.HELD:
                raise InvalidTransition(
                    f"post {post_id!r} is {post.status.value}, not held: nothing to decide"
                )
            post.moderator_id = moderator_id
            post.decided_at = now
            if approve:
                post.status = PostStatus.MASKED if post.text != post.original else PostStatus.SHOWN
                event: Any = PostApproved(
                    occurred_at=now,
                    post_id=post_id,
                    group_id=post.group_id,
                    moderator_id=moderator_id,
                    status=post.status.value,
                )
            else:
                post.status = PostStatus.REJECTED
                event = PostRejected(
                    occurred_at=now,
                    post_id=post_id,
                    group_id=post.group_id,
                    moderator_id=moderator_id,
                    reason=reason,
                )
            rec.save_post(uow, post)
            uow.record_events([event])
            return post

        return self._run(command, ids={"post_id": post_id, "moderator_id": moderator_id})

    def flag_of(self, member_id: str, *, actor: Actor | None = None) -> str | None:
        """The spam signal a member's account is flagged for, or ``None``; refused
        (``AccessDenied``) when the access check refuses ``actor`` the member."""
        found = self.flag(member_id, actor=actor)
        return None if found is None else found.signal

    def flag(self, member_id: str, *, actor: Actor | None = None) -> AccountFlag | None:
        """A member's spam flag (``None``: not flagged) as ``actor`` sees the member: the
        devices she posted from only with the payments field set (devices are personal
        data, as in group deals), audited; refused when the access check refuses."""
        check_id(member_id, "member_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> AccountFlag | None:
            fields = look(member_id)
            if fields.refused:
                raise Refused()
            doc = uow.records.get(rec.MEMBERS, member_id)
            if doc is None or doc["flag"] is None:
                return None
            flag = doc["flag"]
            return AccountFlag(
                member_id=member_id,
                signal=str(flag["signal"]),
                at=dt_in(flag["at"]),
                post_id=flag["post_id"],
                devices=tuple(doc["devices"]) if fields.payments else (),
            )

        return self.gate.read(
            self._run, actor, ("community_flags",), query, ids={"member_id": member_id}
        )

    def clear_flag(self, member_id: str, moderator_id: str) -> bool:
        """Clear a member's flag (their next posts are moderated as anyone's); ``False``
        if they were not flagged."""
        check_id(member_id, "member_id")
        check_id(moderator_id, "moderator_id")

        def command(uow: UnitOfWork, now: datetime) -> bool:
            doc = uow.records.get(rec.MEMBERS, member_id)
            if doc is None or doc["flag"] is None:
                return False
            doc["flag"] = None
            uow.records.put(rec.MEMBERS, member_id, doc)
            uow.record_events(
                [FlagCleared(occurred_at=now, member_id=member_id, moderator_id=moderator_id)]
            )
            return True

        return self._run(command, ids={"member_id": member_id, "moderator_id": moderator_id})

    # --- metrics ------------------------------------------------------------------------

    def activity(self, period: Period, *, by: str = "day") -> list[ActivityRow]:
        """Community activity and moderation volumes in ``period``, per local day of its
        zone (``by="day"``) or in one ``total`` row (``by="period"``); counted by the
        ``community_metrics`` projection, so what committed since its last run is not in
        yet."""
        if not isinstance(period, Period):
            raise WrongType(f"period must be a Period, got {period!r}", field="period")
        return self._run(lambda uow, now: activity(uow, period, by), write=False)


def micros_of(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _as_seen(post: Post, fields: FieldSet) -> Post:
    """A post as a reader with ``fields`` sees its author: contact data in its texts
    masked unless the contacts field set is whole, its device only with payments."""
    if fields.contacts is not Access.FULL:
        post = attrs.evolve(
            post, text=mask_contacts(post.text), original=mask_contacts(post.original)
        )
    if not fields.payments:
        post = attrs.evolve(post, device_id=None)
    return post
