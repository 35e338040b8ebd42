"""Reviews of courses and tutors pass the community's word list before they are shown
(issue #25): shown, masked, held for a moderator or blocked, like posts; a moderator's
decision is an event; on every adapter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.community import Word, WordAction
from eduengine.desk.events import ReviewApproved, ReviewPosted, ReviewRejected
from eduengine.errors import InvalidInput, InvalidTransition, ReviewNotFound
from eduengine.kernel.events import DomainEvent
from eduengine.students import Actor
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: reads the reviews whole (the school's policy: an academic sees every student)
MODERATOR = Actor(id="mod-li", role="academic")


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def build(store: StoreHandle) -> tuple[School, FixedClock, Recorder]:
    clock = FixedClock(T0)
    recorder = Recorder()
    school = School.build(store, clock=clock, publisher=recorder, reminders=None)
    school.community.set_words(
        [
            Word("代开发票"),  # block
            Word("加微信", action=WordAction.HOLD),
            Word("笨蛋", action=WordAction.MASK),
        ]
    )
    return school, clock, recorder


def test_reviews_are_shown_masked_held_or_blocked_by_the_word_list(store: StoreHandle) -> None:
    school, clock, recorder = build(store)
    sat = school.desk.satisfaction
    good = sat.review("ann", "math", rating=5, text="讲得很清楚", tutor_id="tom")
    masked = sat.review("bob", "math", rating=2, text="老师说我是笨 蛋", tutor_id="tom")
    held = sat.review("cai", "math", rating=4, text="想要资料的加 微 信", tutor_id="tom")
    blocked = sat.review("dan", "math", rating=1, text="代開發票 找我")
    bare = sat.review("eve", "math", rating=3)  # a rating alone: nothing to screen
    assert [r.status for r in (good, masked, held, blocked, bare)] == [
        "shown",
        "masked",
        "held",
        "blocked",
        "shown",
    ]
    assert masked.text == "老师说我是* *" and masked.original == "老师说我是笨 蛋"
    assert (held.text, held.words) == (None, ("加微信",))
    assert blocked.text is None and blocked.original == "代開發票 找我"
    # only what may be shown is listed, newest first, and a tutor's page agrees
    shown = [r.id for r in sat.reviews(course_id="math", actor=MODERATOR)]
    assert sorted(shown) == sorted([good.id, masked.id, bare.id])
    assert {r.id for r in sat.reviews(tutor_id="tom", actor=MODERATOR)} == {good.id, masked.id}
    assert [r.id for r in sat.review_queue(actor=MODERATOR)] == [held.id]
    statuses = [e.status for e in recorder.events if isinstance(e, ReviewPosted)]
    assert statuses == ["shown", "masked", "held", "blocked", "shown"]
    # ratings count whatever the text's fate (moderation governs the words)
    assert school.desk.metrics.ratings(by="course")["math"][0] == 5

    # an edit is screened again: the blocked review, rewritten, is shown
    clock.advance(timedelta(minutes=1))
    fixed = sat.review("dan", "math", rating=2, text="上课太快了")
    assert (fixed.status, fixed.text, fixed.edits) == ("shown", "上课太快了", 1)
    assert sat.reviews(course_id="math", actor=MODERATOR)[0].id == fixed.id
    # and a shown review edited into a held one leaves the page for the queue
    clock.advance(timedelta(minutes=1))
    sat.review("ann", "math", rating=5, text="加微信 领资料")
    assert good.id not in {r.id for r in sat.reviews(course_id="math", actor=MODERATOR)}
    assert [r.id for r in sat.review_queue(actor=MODERATOR)] == [held.id, good.id]


def test_a_moderator_decides_a_held_review_once(store: StoreHandle) -> None:
    school, _, recorder = build(store)
    sat = school.desk.satisfaction
    held = sat.review("cai", "math", rating=4, text="笨蛋才不加微信", tutor_id="tom")
    other = sat.review("dan", "math", rating=1, text="加微信 看广告")
    assert held.status == "held"
    approved = sat.approve_review(held.id, "mod-li")
    # shown with its mask words still starred
    assert (approved.status, approved.text, approved.moderator_id) == (
        "masked",
        "**才不加微信",
        "mod-li",
    )
    rejected = sat.reject_review(other.id, "mod-li", reason="advert")
    assert (rejected.status, rejected.text) == ("rejected", None)
    for decide in (sat.approve_review, sat.reject_review):
        for review_id in (held.id, other.id):
            with pytest.raises(InvalidTransition):
                decide(review_id, "mod-wu")
    with pytest.raises(ReviewNotFound):
        sat.approve_review("nobody:math", "mod-li")
    with pytest.raises(InvalidInput):
        sat.reviews()
    assert sat.review_queue(actor=MODERATOR) == []
    assert [r.id for r in sat.reviews(course_id="math", actor=MODERATOR)] == [held.id]
    assert sat.review_of(other.id, actor=MODERATOR).original == "加微信 看广告"
    decisions = [
        (type(e).__name__, e.review_id)
        for e in recorder.events
        if isinstance(e, ReviewApproved | ReviewRejected)
    ]
    assert decisions == [("ReviewApproved", held.id), ("ReviewRejected", other.id)]


def test_erasure_blanks_a_held_review_both_ways(store: StoreHandle) -> None:
    school, _, _ = build(store)
    school.students.register("cai", name="Cai")
    sat = school.desk.satisfaction
    held = sat.review("cai", "math", rating=4, text="加微信 cai_123")
    school.students.erase(Actor(id="admin", role="admin"), "cai")
    erased = sat.review_of(held.id, actor=MODERATOR)
    assert (erased.original, erased.words, erased.status) == ("[erased]", (), "held")
    # still for a moderator to close
    assert [r.id for r in sat.review_queue(actor=MODERATOR)] == [held.id]
