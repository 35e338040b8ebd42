"""Members read posts without their authors' contact data or devices (issue #25): phone
numbers and e-mail addresses in a shown post are masked, the device and the original
stay in the moderators' view; on every adapter."""

from __future__ import annotations

from datetime import timedelta

from eduengine import FixedClock, School
from eduengine.community.model import PostStatus
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0

ANN = Actor(id="ann", role="student")
ADMIN = Actor(id="mod", role="admin")


def test_members_read_posts_with_contact_data_masked(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, reminders=None)
    community = school.community
    for member in ("ann", "bob"):
        community.join("class:A1", member)
    clock.advance(timedelta(days=8))  # past the new-member week: contacts are not held
    post = community.post(
        "class:A1", "ann", "作业问题打我电话 13812345678 或 ann.li@example.com", device="dev-1"
    )
    assert post.status is PostStatus.SHOWN
    reply = community.post("class:A1", "bob", "好的 +86 13900001111", reply_to=post.id)
    (listed,) = community.threads("class:A1", actor=ANN)
    assert listed.text == "作业问题打我电话 138****5678 或 a***@example.com"
    assert (listed.original, listed.device_id) == (listed.text, None)
    thread = community.thread(post.id, actor=ANN)
    assert [p.text for p in thread] == [listed.text, "好的 +86********1111"]
    assert all("13812345678" not in str(p) for p in community.thread(post.id, actor=ANN))
    # the moderators' view keeps what was written, and the device for the spam signals
    kept = community.get(post.id, actor=ADMIN)
    assert (kept.original, kept.device_id) == (post.original, "dev-1")
    assert community.get(reply.id, actor=ADMIN).text == "好的 +86 13900001111"
