"""The desk's review reads under the school's access check (issue #24): a review names
its author and holds what she wrote (which may quote a phone number). ``review_of`` is
whole (audited), masked or refused (audited ``denied``) by the check on the author, her
own review whole to her; the lists (``reviews``, ``review_queue``) show an author the
reader may not see by a masked id, without what she wrote. On every adapter."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from eduengine import FixedClock, School
from eduengine.community import Word, WordAction
from eduengine.desk.privacy import mask_text
from eduengine.desk.satisfaction import Review
from eduengine.errors import AccessDenied
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle

PHONE = "13812341234"
OFFICE = Actor(id="u-office", role="academic")
SUPPORT = Actor(id="u-support", role="support")
STRANGER = Actor(id="u-stranger", role="marketing")
ANN = Actor(id="ann", role="student")


def build(store: StoreHandle) -> tuple[School, Review, Review]:
    school = School.build(store, clock=FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
    school.community.set_words([Word("加微信", action=WordAction.HOLD)])
    school.students.register("ann", name="Ann", phone=PHONE)
    sat = school.desk.satisfaction
    shown = sat.review("ann", "math", rating=5, text=f"老师很好 call {PHONE}", tutor_id="tom")
    held = sat.review("ann", "art", rating=4, text=f"加微信 {PHONE}")
    return school, shown, held


def rows(school: School, actor: Actor) -> list[tuple[str, str, tuple[str, ...]]]:
    page = school.people.audit_log(actor=SYSTEM, actor_id=actor.id)
    return [(e.student_id, e.action, e.fields) for e in page.entries]


def test_one_review_is_whole_masked_or_refused_by_the_check_on_its_author(
    store: StoreHandle,
) -> None:
    school, shown, _ = build(store)
    sat = school.desk.satisfaction
    assert sat.review_of(shown.id, actor=OFFICE) == shown
    assert rows(school, OFFICE) == [("ann", "read", ("review",))]
    masked = sat.review_of(shown.id, actor=SUPPORT)
    assert masked.original == "老师很好 call 138****1234" and masked.student_id == "ann"
    assert rows(school, SUPPORT) == []  # nothing shown whole
    with pytest.raises(AccessDenied):
        sat.review_of(shown.id, actor=STRANGER)
    assert rows(school, STRANGER) == [("ann", "denied", ())]
    assert sat.review_of(shown.id, actor=ANN) == shown  # her own review
    assert rows(school, ANN) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anonymous = sat.review_of(shown.id)
    assert PHONE not in repr(anonymous)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_the_lists_show_an_author_the_reader_may_not_see_by_a_masked_id(
    store: StoreHandle,
) -> None:
    school, shown, held = build(store)
    sat = school.desk.satisfaction
    reads: list[Callable[[Actor | None], list[Review]]] = [
        lambda a: sat.reviews(course_id="math", actor=a),
        lambda a: sat.reviews(tutor_id="tom", actor=a),
        lambda a: sat.review_queue(actor=a),
    ]
    for read in reads:
        [whole] = read(OFFICE)
        assert whole in (shown, held)
        [public] = read(STRANGER)  # the listing stays: rating and shown text
        assert (public.id, public.rating) == (whole.id, whole.rating)
        assert public.text == (None if whole.text is None else mask_text(whole.text))
        assert PHONE not in repr(public)
        assert (public.student_id, public.original) == ("a**", None)
        [masked] = read(SUPPORT)
        assert masked.student_id == "ann" and PHONE not in repr(masked)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert PHONE not in repr(read(None))
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert rows(school, OFFICE) == [("ann", "read", ("review",))] * 3
    assert rows(school, STRANGER) == rows(school, SUPPORT) == []
