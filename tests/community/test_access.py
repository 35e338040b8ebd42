"""Every community read that can return a student's personal data names its actor and
goes through the school's AccessGate (issue #25 with #24): refused, masked or whole as
the actor may see, one audit row per student shown whole; a member reads her own group
as members do, unaudited; erasure leaves none of it behind. On every adapter."""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.community import CommunityService, PostStatus
from eduengine.errors import AccessDenied, PostNotFound
from eduengine.people import SYSTEM
from eduengine.students import Actor
from eduengine.students.model import SchoolClass
from tests.adapters import StoreHandle

# values found nowhere else, so a result can be searched for them
PHONE, DEVICE = "13812341234", "dev-ann-5c2e"

OFFICE = Actor(id="u-office", role="academic")
SUPPORT = Actor(id="u-support", role="support")
STRANGER = Actor(id="u-stranger", role="marketing")
ANN = Actor(id="ann", role="student")
BOB = Actor(id="bob", role="student")
OUTSIDER = Actor(id="eve", role="student")


@attrs.frozen
class Setup:
    school: School
    held: str  # a post of ann's: held, her phone in it, her device
    shown: str  # a post of ann's: shown, her phone in it


def setup(store: StoreHandle, clock: FixedClock) -> Setup:
    school = School.build(store, clock=clock, reminders=None)
    school.students.create_class(SchoolClass(id="A1", name="A1", capacity=10))
    for student in ("ann", "bob", "eve"):
        school.students.register(student, name=student.title())
    for student in ("ann", "bob"):
        school.students.assign(student, "A1")
    clock.advance(timedelta(days=8))  # past the new-member week: a phone is no signal
    shown = school.community.post("class:A1", "ann", f"有问题打 {PHONE}")
    assert shown.status is PostStatus.SHOWN
    # the same text in two groups: held, and her account flagged with her device
    school.community.join("class:B9", "ann")
    clock.advance(timedelta(seconds=1))
    text = f"加我 {PHONE} 一起复习吧同学们"
    school.community.post("class:A1", "ann", text, device=DEVICE)
    clock.advance(timedelta(minutes=1))
    held = school.community.post("class:B9", "ann", text, device=DEVICE)
    assert held.status is PostStatus.HELD
    return Setup(school, held.id, shown.id)


#: every community read that can return a personal value, with the values it can return
READS: dict[str, tuple[Callable[[Setup, Actor | None], object], tuple[str, ...]]] = {
    "CommunityService.get": (
        lambda s, a: s.school.community.get(s.held, actor=a),
        (PHONE, DEVICE),
    ),
    "CommunityService.queue": (
        lambda s, a: s.school.community.queue(actor=a),
        (PHONE, DEVICE),
    ),
    "CommunityService.threads": (
        lambda s, a: s.school.community.threads("class:A1", actor=a),
        (PHONE,),
    ),
    "CommunityService.thread": (
        lambda s, a: s.school.community.thread(s.shown, actor=a),
        (PHONE,),
    ),
    "CommunityService.flag": (
        lambda s, a: s.school.community.flag("ann", actor=a),
        (DEVICE,),
    ),
}

#: the commands whose answer is the post the caller just wrote or decided
ANSWERS_OF_COMMANDS = {
    "CommunityService.post",
    "CommunityService.approve",
    "CommunityService.reject",
}
#: reads of ids only (who is in which group), also under the check: see their own test
ID_READS = {
    "CommunityService.members_of",
    "CommunityService.groups_of",
    "CommunityService.flag_of",
}


def personal_reads() -> set[str]:
    found = set()
    for name, method in inspect.getmembers(CommunityService, inspect.isfunction):
        if name.startswith("_") or "uow" in inspect.signature(method).parameters:
            continue
        returns = str(inspect.signature(method).return_annotation)
        if "Post" in returns or "AccountFlag" in returns:
            found.add(f"CommunityService.{name}")
    return found


def test_every_community_read_of_personal_data_takes_an_actor() -> None:
    for read in personal_reads() - ANSWERS_OF_COMMANDS:
        assert read in READS, f"{read} returns personal data: give it the access check"
    for read in personal_reads() - ANSWERS_OF_COMMANDS | ID_READS:
        method = getattr(CommunityService, read.split(".")[1])
        assert "actor" in inspect.signature(method).parameters, read


def audit_rows(school: School, actor: Actor) -> list[tuple[str, str]]:
    page = school.people.audit_log(actor=SYSTEM, actor_id=actor.id, limit=1000)
    return [(e.student_id, e.action) for e in page.entries]


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_is_refused_masked_or_whole_and_each_whole_read_audited_once(
    store: StoreHandle, clock: FixedClock, read: str
) -> None:
    s = setup(store, clock)
    call, values = READS[read]
    whole = repr(call(s, OFFICE))
    assert all(v in whole for v in values), whole
    assert audit_rows(s.school, OFFICE) == [("ann", "read")]
    masked = repr(call(s, SUPPORT))
    assert not any(v in masked for v in values), masked
    assert audit_rows(s.school, SUPPORT) == []
    with pytest.raises(AccessDenied):
        call(s, STRANGER)
    assert audit_rows(s.school, STRANGER) == [("ann", "denied")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anonymous = repr(call(s, None))
    assert not any(v in anonymous for v in values)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_members_read_their_group_unaudited_and_others_are_refused(
    store: StoreHandle, clock: FixedClock
) -> None:
    s = setup(store, clock)
    c = s.school.community
    listed = c.threads("class:A1", actor=BOB)[-1]
    assert listed.id == s.shown and listed.text == "有问题打 138****1234"
    assert [p.text for p in c.thread(s.shown, actor=BOB)] == [listed.text]
    assert c.members_of("class:A1", actor=BOB) == ["ann", "bob"]
    assert c.groups_of("ann", actor=ANN) == ["class:A1", "class:B9"]
    assert audit_rows(s.school, BOB) == [] and audit_rows(s.school, ANN) == []
    # a student outside the group reads nothing of it, and the attempt is audited
    for read in (
        lambda: c.threads("class:A1", actor=OUTSIDER),
        lambda: c.thread(s.shown, actor=OUTSIDER),
        lambda: c.members_of("class:A1", actor=OUTSIDER),
        lambda: c.groups_of("ann", actor=OUTSIDER),
        lambda: c.flag_of("ann", actor=OUTSIDER),
    ):
        with pytest.raises(AccessDenied):
            read()
    assert ("ann", "denied") in audit_rows(s.school, OUTSIDER)
    # staff see who is in a group and where a student is, as the check lets them
    assert c.members_of("class:A1", actor=OFFICE) == ["ann", "bob"]
    assert c.groups_of("ann", actor=SUPPORT) == ["class:A1", "class:B9"]
    assert c.flag_of("ann", actor=SUPPORT) == "repeated_text"
    with pytest.raises(AccessDenied):
        c.members_of("class:A1", actor=STRANGER)


def test_pages_follow_a_keyset_cursor(store: StoreHandle, clock: FixedClock) -> None:
    s = setup(store, clock)
    c = s.school.community
    starts = [p.id for p in c.threads("class:A1", actor=BOB)][::-1]
    for n in range(5):
        clock.advance(timedelta(seconds=1))
        starts.append(c.post("class:A1", "bob", f"第{n}个问题").id)
    clock.advance(timedelta(minutes=2))  # bob's rate limit
    replies = [c.post("class:A1", "bob", f"回复{n}", reply_to=starts[0]).id for n in range(3)]
    newest_first = starts[::-1]
    first = c.threads("class:A1", limit=4, actor=BOB)
    assert [p.id for p in first] == newest_first[:4]
    rest = c.threads("class:A1", limit=4, before=first[-1].id, actor=BOB)
    assert [p.id for p in rest] == newest_first[4:]
    assert c.threads("class:A1", before=newest_first[-1], actor=BOB) == []
    # replies written in the same instant keep the order they were written in
    page = c.thread(starts[0], limit=3, actor=BOB)
    assert [p.id for p in page] == [starts[0], *replies[:2]]
    page = c.thread(starts[0], limit=3, after=page[-1].id, actor=BOB)
    assert [p.id for p in page] == replies[2:]
    with pytest.raises(PostNotFound):
        c.threads("class:A1", before=replies[0], actor=BOB)  # a reply starts no thread
    with pytest.raises(PostNotFound):
        c.thread(starts[0], after=starts[1], actor=BOB)  # another thread's post


def test_erasure_leaves_no_text_contact_or_device_of_the_student(
    store: StoreHandle, clock: FixedClock
) -> None:
    s = setup(store, clock)
    s.school.students.erase(OFFICE, "ann")
    dump = json.dumps(store.snapshot(), default=str, ensure_ascii=False)
    for value in (PHONE, "138****1234", DEVICE, "一起复习", "有问题打"):
        assert value not in dump, value
    flagged = s.school.community.flag("ann", actor=OFFICE)
    assert flagged is not None and flagged.devices == ()
    listed = s.school.community.threads("class:A1", actor=OFFICE)
    assert [(p.text, p.erased) for p in listed] == [("", True), ("", True)]
