"""The community's storage and its reactions to the rest of the school.

Groups follow the students feed as projections (see :func:`membership_rules`): a student
joins a course's group on enrolment, a class's group on assignment, moves group on a
transfer, leaves every group on churn and joins them again on coming back. Each is
applied once per event after the command committed, so enrolment never waits on (or
fails with) the community.

Documents (kinds): ``community_member`` per member (groups, first join, flag, devices),
``community_group`` per group (members), ``community_post`` per post, filed under
``author:<id>`` (every post, for rate limits and erasure), ``queue`` (held),
``group:<id>`` (visible thread starts) and ``thread:<id>`` (visible posts, by their
place in the thread); ``community_thread`` per thread (how many posts it has had);
``community_text`` per post with text enough to compare (``<digest>/<group>/<post>``,
filed under ``text:<digest>``); ``community_device`` per device (accounts seen on it);
``community_words`` (the word list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eduengine.community.events import GroupJoined, GroupLeft
from eduengine.community.model import Post, PostStatus, class_group, course_group
from eduengine.community.spam import text_digest
from eduengine.kernel.codec import dt_out, micros
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students.events import ClassAssigned, StageChanged, StudentEnrolled

__all__ = [
    "DEVICES",
    "GROUPS",
    "MEMBERS",
    "POSTS",
    "TEXTS",
    "THREADS",
    "WORDS",
    "erase_student",
    "join_group",
    "leave_group",
    "membership_rules",
    "page_posts",
    "save_post",
]

MEMBERS = "community_member"
GROUPS = "community_group"
POSTS = "community_post"
TEXTS = "community_text"
THREADS = "community_thread"
DEVICES = "community_device"
WORDS = "community_words"

_CHURNED = "churned"


def _member(uow: UnitOfWork, member_id: str, now: datetime) -> dict[str, Any]:
    doc = uow.records.get(MEMBERS, member_id)
    if doc is None:
        doc = {"since": dt_out(now), "groups": [], "rejoin": [], "flag": None, "devices": []}
    return doc


def join_group(uow: UnitOfWork, group_id: str, member_id: str, reason: str, now: datetime) -> bool:
    """Put ``member_id`` in ``group_id`` (made on first use); ``False`` if already in."""
    member = _member(uow, member_id, now)
    if group_id in member["groups"]:
        return False
    group = uow.records.get(GROUPS, group_id) or {"members": []}
    member["groups"].append(group_id)
    group["members"].append(member_id)
    uow.records.put(MEMBERS, member_id, member)
    uow.records.put(GROUPS, group_id, group)
    uow.record_events(
        [GroupJoined(occurred_at=now, group_id=group_id, member_id=member_id, reason=reason)]
    )
    return True


def leave_group(uow: UnitOfWork, group_id: str, member_id: str, reason: str, now: datetime) -> bool:
    """Take ``member_id`` out of ``group_id``; ``False`` if not in it."""
    member = uow.records.get(MEMBERS, member_id)
    if member is None or group_id not in member["groups"]:
        return False
    group = uow.records.get(GROUPS, group_id) or {"members": []}
    member["groups"].remove(group_id)
    if member_id in group["members"]:
        group["members"].remove(member_id)
    uow.records.put(MEMBERS, member_id, member)
    uow.records.put(GROUPS, group_id, group)
    uow.record_events(
        [GroupLeft(occurred_at=now, group_id=group_id, member_id=member_id, reason=reason)]
    )
    return True


def on_enrolled(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, StudentEnrolled)
    join_group(uow, course_group(event.course_id), event.student_id, "enrolled", event.occurred_at)


def on_class_assigned(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, ClassAssigned)
    at = event.occurred_at
    if event.from_class_id is not None and event.from_class_id != event.class_id:
        leave_group(uow, class_group(event.from_class_id), event.student_id, "transferred", at)
    join_group(uow, class_group(event.class_id), event.student_id, "assigned", at)


def on_stage_changed(event: DomainEvent, uow: UnitOfWork) -> None:
    assert isinstance(event, StageChanged)
    at, student = event.occurred_at, event.student_id
    if event.stage == _CHURNED:
        member = uow.records.get(MEMBERS, student)
        if member is None:
            return
        left = list(member["groups"])
        for group_id in left:
            leave_group(uow, group_id, student, "churned", at)
        member = _member(uow, student, at)
        # a student who comes back finds their groups again
        member["rejoin"] = left
        uow.records.put(MEMBERS, student, member)
    elif event.previous == _CHURNED:
        member = uow.records.get(MEMBERS, student)
        if member is None or not member["rejoin"]:
            return
        rejoin = member["rejoin"]
        member["rejoin"] = []
        uow.records.put(MEMBERS, student, member)
        for group_id in rejoin:
            join_group(uow, group_id, student, "returned", at)


def membership_rules() -> dict[type[DomainEvent], list[Any]]:
    """The handlers of the ``community`` projection, by students event."""
    return {
        StudentEnrolled: [on_enrolled],
        ClassAssigned: [on_class_assigned],
        StageChanged: [on_stage_changed],
    }


def post_index(post: Post) -> dict[str, int]:
    """The indexes a post is filed under, from its status."""
    at = micros(post.posted_at)
    index = {f"author:{post.author_id}": at}
    if post.status is PostStatus.HELD:
        index["queue"] = at
    if post.visible:
        index[f"thread:{post.thread_id}"] = post.seq
        if post.reply_to is None:
            index[f"group:{post.group_id}"] = at
    return index


def save_post(uow: UnitOfWork, post: Post) -> None:
    uow.records.put(POSTS, post.id, post.to_record(), index=post_index(post))


def page_posts(
    uow: UnitOfWork,
    index: str,
    *,
    limit: int,
    after: tuple[int, str] | None = None,
    descending: bool = False,
) -> list[dict[str, Any]]:
    """The stored posts of the next ``limit`` entries of ``index`` (``thread:<id>`` by
    place, ``group:<id>`` by instant, ``queue``) strictly after the keyset cursor
    ``after`` (the ``(value, post id)`` of the last post read): one indexed query on the
    library's adapters (``scan_documents``), whatever the number of posts stored."""
    scan_documents = getattr(uow.records, "scan_documents", None)
    if scan_documents is not None:
        found = scan_documents(POSTS, index, limit=limit, after=after, descending=descending)
        return [doc for _, _, doc in found]
    # another adapter: the entries from the cursor's value on, past the ones read
    bound = None if after is None else after[0]
    want = limit + 16
    while True:
        rows = uow.records.scan(
            POSTS,
            index,
            lo=None if descending else bound,
            hi=bound if descending else None,
            limit=want,
            descending=descending,
        )
        exhausted = len(rows) < want
        if after is not None:
            cursor = after
            rows = [
                (key, value)
                for key, value in rows
                if (value, key) != cursor and ((value, key) < cursor) == descending
            ]
        if len(rows) >= limit or exhausted:
            break
        want *= 2
    docs = (uow.records.get(POSTS, key) for key, _ in rows[:limit])
    return [doc for doc in docs if doc is not None]


def text_key(digest: str, group_id: str, post_id: str) -> str:
    return f"{digest}/{group_id}/{post_id}"


def group_of_text_key(key: str) -> str:
    return key.split("/", 1)[1].rsplit("/", 1)[0]


def erase_student(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Scrub the personal content of ``student_id``'s posts (an
    :data:`eduengine.service_layer.erasure.Eraser`): both texts and the device of every
    post, the text digests kept for spam checks, and the student's device links. A post
    stays in its thread as an empty, ``erased`` post, so replies keep their place.
    Returns how many documents changed; running it again changes nothing."""
    # the member's record first, as a post takes it: erasure and a post never wait for
    # each other in a circle
    member = uow.records.get(MEMBERS, student_id)
    changed = 0
    for key, _ in uow.records.scan(POSTS, f"author:{student_id}"):
        doc = uow.records.get(POSTS, key)
        if doc is None or doc["author_id"] != student_id or doc["erased"]:
            continue
        post = Post.from_record(doc)
        uow.records.delete(TEXTS, text_key(text_digest(post.original), post.group_id, post.id))
        post.text = post.original = ""
        post.device_id = None
        post.erased = True
        save_post(uow, post)
        changed += 1
    if member is not None and member["devices"]:
        for device_id in member["devices"]:
            device = uow.records.get(DEVICES, device_id)
            if device is not None and student_id in device["members"]:
                device["members"].remove(student_id)
                if device["members"]:
                    uow.records.put(DEVICES, device_id, device)
                else:
                    uow.records.delete(DEVICES, device_id)
        member["devices"] = []
        uow.records.put(MEMBERS, student_id, member)
        changed += 1
    return changed
