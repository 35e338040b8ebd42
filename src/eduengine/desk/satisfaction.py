"""Satisfaction (满意度 / 评价): surveys after a lesson, a resolved ticket or a term, and
reviews of courses and their tutors.

A survey is sent once per occasion: its id is ``<occasion>:<subject>:<student>``, so
sending it again returns the one already sent. It is answered once, by the student or
a guardian, with a CSAT score (1-5), an NPS score (0-10) and free text (personal data:
erased with the student). A review is one per student and course, editable; each edit
is an event carrying the previous rating, so the metrics replace it rather than count
it twice.

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.desk.model import Party
>>> clock = FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock)
>>> from eduengine.students.model import Guardian
>>> school.students.register("ann", name="Ann", guardians=[Guardian(name="Grace")])
>>> sat = school.desk.satisfaction
>>> survey = sat.send("lesson", "slot-1", "ann", course_id="math", tutor_id="tom")
>>> sat.send("lesson", "slot-1", "ann").id == survey.id      # once per occasion
True
>>> sat.answer(survey.id, by=Party("guardian", "ann#guardian0"), csat=5, nps=9).csat
5
>>> sat.review("ann", "math", rating=4, text="Clear").edits
0
>>> sat.review("ann", "math", rating=5).edits          # edited: still one review
1
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any, Unpack

import attrs

from eduengine.desk.events import (
    ReviewApproved,
    ReviewPosted,
    ReviewRejected,
    SurveyAnswered,
    SurveySent,
)
from eduengine.desk.model import Party
from eduengine.desk.privacy import DeskLook, Refused, mask_text, read_personal
from eduengine.errors import (
    AccessDenied,
    InvalidInput,
    InvalidTransition,
    ReviewNotFound,
    SurveyAlreadyAnswered,
    SurveyNotFound,
)
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_id, check_int, check_optional_id, check_text
from eduengine.people.access import AccessGate
from eduengine.people.model import Access, Actor, mask_name
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students.records import STUDENTS

__all__ = ["OCCASIONS", "Review", "SatisfactionService", "Survey"]

SURVEYS = "desk_survey"
REVIEWS = "desk_review"
OCCASIONS = ("lesson", "ticket", "term")
ERASED = "[erased]"
#: a review's moderation states (as a community post's)
SHOWN, MASKED, HELD, BLOCKED, REJECTED = "shown", "masked", "held", "blocked", "rejected"
VISIBLE = frozenset({SHOWN, MASKED})
#: index: held reviews, for the moderator
QUEUE = "review_queue"
#: what the word list does to a text (None: nothing found) -> the review's state
_STATUS = {None: SHOWN, "mask": MASKED, "hold": HELD, "block": BLOCKED}

ReviewScreen = Callable[[UnitOfWork, str], tuple[str | None, str, tuple[str, ...]]]
"""The school's word list applied to a review's text in the unit of work that stores it:
the strongest action found (``"block"``, ``"hold"``, ``"mask"`` or ``None``), the text
with its ``mask`` words starred out, and the entries found. ``School.build`` wires the
community's (:class:`eduengine.community.moderation.WordFilter` over the school's list:
``school.community.set_words``)."""


@attrs.frozen(kw_only=True)
class Survey:
    id: str
    occasion: str
    subject_id: str
    student_id: str
    course_id: str | None
    tutor_id: str | None
    sent_at: datetime
    answered_at: datetime | None = None
    #: student | guardian
    answered_by: str | None = None
    csat: int | None = None
    nps: int | None = None
    text: str | None = None


@attrs.frozen(kw_only=True)
class Review:
    id: str
    student_id: str
    course_id: str
    tutor_id: str | None
    rating: int
    #: what readers see: the text, with the school's ``mask`` words starred out; None
    #: while held, blocked or rejected
    text: str | None
    edits: int
    updated_at: datetime
    #: shown | masked | held (for a moderator) | blocked (by the word list) | rejected
    status: str = "shown"
    #: what the student wrote (her own and a moderator's view)
    original: str | None = None
    #: the word list's entries found in it
    words: tuple[str, ...] = ()
    moderator_id: str | None = None


def _survey(survey_id: str, doc: dict[str, Any]) -> Survey:
    return Survey(
        id=survey_id,
        occasion=doc["occasion"],
        subject_id=doc["subject_id"],
        student_id=doc["student_id"],
        course_id=doc["course_id"],
        tutor_id=doc["tutor_id"],
        sent_at=dt_in(doc["sent_at"]),
        answered_at=dt_in(doc["answered_at"]) if doc["answered_at"] else None,
        answered_by=doc["answered_by"],
        csat=doc["csat"],
        nps=doc["nps"],
        text=doc["text"],
    )


def _masked(survey: Survey) -> Survey:
    return survey if survey.text is None else attrs.evolve(survey, text=mask_text(survey.text))


def _review(review_id: str, doc: dict[str, Any]) -> Review:
    status = doc.get("status", SHOWN)  # reviews stored before moderation were shown
    return Review(
        id=review_id,
        student_id=doc["student_id"],
        course_id=doc["course_id"],
        tutor_id=doc["tutor_id"],
        rating=doc["rating"],
        text=doc["text"] if status in VISIBLE else None,
        edits=doc["edits"],
        updated_at=dt_in(doc["updated_at"]),
        status=status,
        original=doc.get("original", doc["text"]),
        words=tuple(doc.get("words", ())),
        moderator_id=doc.get("moderator_id"),
    )


def _review_as(review: Review, contacts: Access | None) -> Review:
    """``review`` as a reader whose field set shows its author's contacts so
    (``None``: no actor, shown as to a masked role): whole; with the contacts in its
    texts starred (:func:`mask_text`); or, for a reader who may not see her, her id
    masked and what she wrote left out too (the rating and the shown text, its contacts
    starred, are the public listing)."""
    if contacts is Access.FULL:
        return review
    text = None if review.text is None else mask_text(review.text)
    if contacts is Access.NONE:
        return attrs.evolve(
            review,
            student_id=mask_name(review.student_id) or "*",
            text=text,
            original=None,
            words=(),
        )
    original = None if review.original is None else mask_text(review.original)
    return attrs.evolve(review, text=text, original=original)


def _deprecated_review_read(stacklevel: int = 3) -> None:
    warnings.warn(
        "reading reviews without an actor is deprecated: pass actor=; without one what "
        "the author wrote is masked",
        EduEngineDeprecationWarning,
        stacklevel=stacklevel,
    )


def review_index(doc: dict[str, Any]) -> dict[str, int]:
    """A review's index entries: by student (erasure), by course and tutor while its
    text may be shown, and in the moderator queue while held."""
    at = micros(dt_in(doc["updated_at"]))
    index = {f"student:{doc['student_id']}": at}
    status = doc.get("status", SHOWN)
    if status in VISIBLE:
        index[f"course:{doc['course_id']}"] = at
        if doc["tutor_id"] is not None:
            index[f"tutor:{doc['tutor_id']}"] = at
    elif status == HELD:
        index[QUEUE] = at
    return index


def guardian_ids(uow: UnitOfWork, student_id: str) -> frozenset[str]:
    """The ids of a student's guardians, ``"<student id>#guardian<n>"`` (as notices name
    them), from her record; none for a student not registered."""
    doc = uow.records.get(STUDENTS, student_id)
    guardians = [] if doc is None else doc.get("guardians", [])
    return frozenset(f"{student_id}#guardian{n}" for n in range(len(guardians)))


def survey_id_for(occasion: str, subject_id: str, student_id: str) -> str:
    return f"{occasion}:{subject_id}:{student_id}"


def send_survey(
    uow: UnitOfWork,
    now: datetime,
    *,
    occasion: str,
    subject_id: str,
    student_id: str,
    course_id: str | None = None,
    tutor_id: str | None = None,
) -> Survey:
    """Send the survey of an occasion unless it was sent (then return that one)."""
    key = survey_id_for(occasion, subject_id, student_id)
    found = uow.records.get(SURVEYS, key)
    if found is not None:
        return _survey(key, found)
    doc = {
        "occasion": occasion,
        "subject_id": subject_id,
        "student_id": student_id,
        "course_id": course_id,
        "tutor_id": tutor_id,
        "sent_at": dt_out(now),
        "answered_at": None,
        "answered_by": None,
        "csat": None,
        "nps": None,
        "text": None,
    }
    uow.records.put(SURVEYS, key, doc, index={f"student:{student_id}": micros(now)})
    uow.record_events(
        [
            SurveySent(
                occurred_at=now,
                survey_id=key,
                occasion=occasion,
                subject_id=subject_id,
                student_id=student_id,
                course_id=course_id,
                tutor_id=tutor_id,
            )
        ]
    )
    return _survey(key, doc)


def reindex_satisfaction(uow: UnitOfWork) -> int:
    """File each survey under its student (by its last change), each review under the
    entries :func:`review_index` gives it."""
    filed = 0
    for key, doc in uow.records.list(SURVEYS):
        when = doc.get("answered_at") or doc["sent_at"]
        index = {f"student:{doc['student_id']}": micros(dt_in(when))}
        uow.records.put(SURVEYS, key, doc, index=index)
        filed += 1
    for key, doc in uow.records.list(REVIEWS):
        uow.records.put(REVIEWS, key, doc, index=review_index(doc))
        filed += 1
    return filed


def erase_surveys(uow: UnitOfWork, student_id: str) -> int:
    """Blank the free text of a student's survey answers and reviews."""
    changed = 0
    for kind in (SURVEYS, REVIEWS):
        for key, at in uow.records.scan(kind, f"student:{student_id}"):
            doc = uow.records.get(kind, key)
            if doc is not None and doc["text"] not in (None, ERASED):
                doc["text"] = ERASED
                index = {f"student:{student_id}": at}
                if kind == REVIEWS:
                    doc["original"] = ERASED
                    doc["words"] = []
                    index = review_index(doc)
                uow.records.put(kind, key, doc, index=index)
                changed += 1
    return changed


class SatisfactionService(ServiceBase):
    """Surveys and reviews (``school.desk.satisfaction``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        screen: ReviewScreen | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        #: the word list reviews pass (None: every review is shown as written)
        self.screen = screen
        #: the access check on survey answers (``DeskService.gate`` sets the school's)
        self.gate = AccessGate()

    def send(
        self,
        occasion: str,
        subject_id: str,
        student_id: str,
        *,
        course_id: str | None = None,
        tutor_id: str | None = None,
    ) -> Survey:
        """Send the survey after a ``lesson`` (its slot id), a ``ticket`` or a ``term``,
        once per occasion and student. (A resolved ticket's is sent by the desk's
        projection on its own.)"""
        if occasion not in OCCASIONS:
            raise InvalidInput(f"occasion must be one of {OCCASIONS}, got {occasion!r}")
        check_id(subject_id, "subject_id")
        check_id(student_id, "student_id")
        check_optional_id(course_id, "course_id")
        check_optional_id(tutor_id, "tutor_id")
        return self._run(
            lambda uow, now: send_survey(
                uow,
                now,
                occasion=occasion,
                subject_id=subject_id,
                student_id=student_id,
                course_id=course_id,
                tutor_id=tutor_id,
            ),
            ids={
                "subject_id": subject_id,
                "student_id": student_id,
                "course_id": course_id,
                "tutor_id": tutor_id,
            },
        )

    def answer(
        self,
        survey_id: str,
        *,
        by: Party,
        csat: int | None = None,
        nps: int | None = None,
        text: str | None = None,
    ) -> Survey:
        """Answer a survey, once: ``csat`` 1-5, ``nps`` 0-10 (at least one), free text.
        ``by`` is the student herself or one of her guardians, named as the notices name
        them: ``Party("guardian", "<student id>#guardian<n>")``, the ``n``-th guardian of
        her record (anyone else: :class:`AccessDenied`)."""
        check_id(survey_id, "survey_id")
        if not isinstance(by, Party) or by.kind not in ("student", "guardian"):
            raise InvalidInput(f"a survey is answered by a student or guardian, got {by!r}")
        if csat is None and nps is None:
            raise InvalidInput("an answer gives a CSAT score, an NPS score or both")
        if csat is not None:
            check_int(csat, "csat", low=1, high=5)
        if nps is not None:
            check_int(nps, "nps", low=0, high=10)
        if text is not None:
            check_text(text, "text", max_length=5000)

        def command(uow: UnitOfWork, now: datetime) -> Survey:
            doc = uow.records.get(SURVEYS, survey_id)
            if doc is None:
                raise SurveyNotFound(survey_id)
            if by.kind == "student" and by.id != doc["student_id"]:
                raise AccessDenied(f"survey {survey_id!r} is not {by.id!r}'s to answer")
            if by.kind == "guardian" and by.id not in guardian_ids(uow, doc["student_id"]):
                raise AccessDenied(
                    f"{by.id!r} is not a guardian of {doc['student_id']!r}: "
                    f"survey {survey_id!r} is not hers to answer"
                )
            if doc["answered_at"] is not None:
                raise SurveyAlreadyAnswered(survey_id)
            doc.update(answered_at=dt_out(now), answered_by=by.kind, csat=csat, nps=nps, text=text)
            uow.records.put(
                SURVEYS, survey_id, doc, index={f"student:{doc['student_id']}": micros(now)}
            )
            uow.record_events(
                [
                    SurveyAnswered(
                        occurred_at=now,
                        survey_id=survey_id,
                        occasion=doc["occasion"],
                        student_id=doc["student_id"],
                        answered_by=by.kind,
                        csat=csat,
                        nps=nps,
                        course_id=doc["course_id"],
                        tutor_id=doc["tutor_id"],
                    )
                ]
            )
            return _survey(survey_id, doc)

        return self._run(command, ids={"survey_id": survey_id})

    def survey(self, survey_id: str, *, actor: Actor | None = None) -> Survey:
        """A survey and its answer, its free text as ``actor`` may see it: the student
        herself whole; anyone else by the school's access check on the student (whole
        and audited, masked, or refused: :class:`AccessDenied`, audited ``denied``).
        Without an actor the text is masked (deprecated, as the other reads)."""
        check_id(survey_id, "survey_id")

        def load(uow: UnitOfWork) -> Survey:
            doc = uow.records.get(SURVEYS, survey_id)
            if doc is None:
                raise SurveyNotFound(survey_id)
            return _survey(survey_id, doc)

        if actor is None:
            warnings.warn(
                "reading a survey without an actor is deprecated: pass actor=; without "
                "one its text is masked",
                EduEngineDeprecationWarning,
                stacklevel=2,
            )
            found = self._run(lambda uow, now: load(uow), write=False, ids={"survey_id": survey_id})
            return _masked(found)

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> Survey:
            found = load(uow)
            if actor.role == "student" and actor.id == found.student_id:
                return found  # her own answer
            fields = look(found.student_id)
            if fields.refused:
                raise Refused()
            return found if fields.contacts is Access.FULL else _masked(found)

        return read_personal(
            self._run, self.gate, actor, ("survey",), query, ids={"survey_id": survey_id}
        )

    def review(
        self,
        student_id: str,
        course_id: str,
        *,
        rating: int,
        text: str | None = None,
        tutor_id: str | None = None,
    ) -> Review:
        """Post or edit the student's review of a course (1-5): one per student and
        course; an edit keeps the tutor unless another is named. Its text passes the
        school's word list (as a community post does) before anyone sees it: ``shown``,
        ``masked`` (its ``mask`` words starred out), ``held`` for a moderator
        (:meth:`approve_review`, :meth:`reject_review`) or ``blocked``; an edit is
        screened again. The rating counts in the metrics whatever its text's fate."""
        check_id(student_id, "student_id")
        check_id(course_id, "course_id")
        check_int(rating, "rating", low=1, high=5)
        check_optional_id(tutor_id, "tutor_id")
        if text is not None:
            check_text(text, "text", max_length=5000)
        key = f"{student_id}:{course_id}"

        def command(uow: UnitOfWork, now: datetime) -> Review:
            old = uow.records.get(REVIEWS, key)
            action: str | None = None
            shown: str | None = text
            words: tuple[str, ...] = ()
            if text is not None and self.screen is not None:
                action, shown, words = self.screen(uow, text)
            doc: dict[str, Any] = {
                "student_id": student_id,
                "course_id": course_id,
                "tutor_id": tutor_id or (old["tutor_id"] if old else None),
                "rating": rating,
                "text": shown,
                "original": text,
                "words": list(words),
                "status": _STATUS[action],
                "moderator_id": None,
                "edits": 0 if old is None else old["edits"] + 1,
                "updated_at": dt_out(now),
            }
            uow.records.put(REVIEWS, key, doc, index=review_index(doc))
            uow.record_events(
                [
                    ReviewPosted(
                        occurred_at=now,
                        review_id=key,
                        student_id=student_id,
                        course_id=course_id,
                        tutor_id=doc["tutor_id"],
                        rating=rating,
                        previous_rating=None if old is None else old["rating"],
                        edit=doc["edits"],
                        status=doc["status"],
                    )
                ]
            )
            return _review(key, doc)

        return self._run(
            command,
            ids={"student_id": student_id, "course_id": course_id, "tutor_id": tutor_id},
        )

    def reviews(
        self,
        *,
        course_id: str | None = None,
        tutor_id: str | None = None,
        limit: int = 100,
        actor: Actor | None = None,
    ) -> list[Review]:
        """The shown reviews of a course or of a tutor, newest first (held, blocked and
        rejected ones are not shown; masked ones show their starred text), each as
        ``actor`` may see its author (see :meth:`review_of`; an author the actor may not
        see is named by a masked id and her original text is left out, the rating and
        shown text stay, contacts in it starred: the listing is public). Without an actor
        (deprecated) every author is shown as to a masked role."""
        if (course_id is None) == (tutor_id is None):
            raise InvalidInput("list the reviews of a course_id or of a tutor_id")
        check_optional_id(course_id, "course_id")
        check_optional_id(tutor_id, "tutor_id")
        check_int(limit, "limit", low=1, high=10_000)
        index = f"course:{course_id}" if course_id is not None else f"tutor:{tutor_id}"
        return self._reviews_in(index, limit, descending=True, actor=actor)

    def review_queue(self, *, limit: int = 100, actor: Actor | None = None) -> list[Review]:
        """Held reviews, oldest first, for a moderator, each as ``actor`` may see its
        author (as :meth:`reviews` shows them)."""
        check_int(limit, "limit", low=1, high=10_000)
        return self._reviews_in(QUEUE, limit, descending=False, actor=actor)

    def review_of(self, review_id: str, *, actor: Actor | None = None) -> Review:
        """One review, whatever its state (the author's and a moderator's view), read as
        ``actor``: the author herself (role ``student``) whole; anyone else by the
        school's access check on the author: whole and audited (fields ``review``), with
        the contacts in its texts starred (:func:`mask_text`) for a masked role, or
        refused (``AccessDenied``, audited ``denied``). Without an actor (deprecated) it
        is shown as to a masked role."""
        check_text(review_id, "review_id", max_length=1000)

        def load(uow: UnitOfWork) -> Review:
            doc = uow.records.get(REVIEWS, review_id)
            if doc is None:
                raise ReviewNotFound(review_id)
            return _review(review_id, doc)

        if actor is None:
            _deprecated_review_read()
            found = self._run(lambda uow, now: load(uow), write=False, ids={"review_id": review_id})
            return _review_as(found, None)

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> Review:
            found = load(uow)
            if actor.role == "student" and actor.id == found.student_id:
                return found  # her own review
            fields = look(found.student_id)
            if fields.refused:
                raise Refused()
            return _review_as(found, fields.contacts)

        return read_personal(
            self._run, self.gate, actor, ("review",), query, ids={"review_id": review_id}
        )

    def approve_review(self, review_id: str, moderator_id: str) -> Review:
        """Show a held review (its ``mask`` words still starred): once."""
        return self._decide(review_id, moderator_id, approve=True, reason=None)

    def reject_review(
        self, review_id: str, moderator_id: str, *, reason: str | None = None
    ) -> Review:
        """Never show a held review's text (its rating still counts): once."""
        return self._decide(review_id, moderator_id, approve=False, reason=reason)

    def _decide(
        self, review_id: str, moderator_id: str, *, approve: bool, reason: str | None
    ) -> Review:
        check_text(review_id, "review_id", max_length=1000)
        check_id(moderator_id, "moderator_id")
        if reason is not None:
            check_text(reason, "reason", max_length=1000)

        def command(uow: UnitOfWork, now: datetime) -> Review:
            doc = uow.records.get(REVIEWS, review_id)
            if doc is None:
                raise ReviewNotFound(review_id)
            if doc.get("status") != HELD:
                raise InvalidTransition(
                    f"review {review_id!r} is {doc.get('status', SHOWN)}, not held: "
                    "only a held review is decided, once"
                )
            masked = doc["text"] != doc["original"]
            doc["status"] = (MASKED if masked else SHOWN) if approve else REJECTED
            doc["moderator_id"] = moderator_id
            uow.records.put(REVIEWS, review_id, doc, index=review_index(doc))
            event: ReviewApproved | ReviewRejected = (
                ReviewApproved(occurred_at=now, review_id=review_id, moderator_id=moderator_id)
                if approve
                else ReviewRejected(
                    occurred_at=now,
                    review_id=review_id,
                    moderator_id=moderator_id,
                    reason=reason,
                )
            )
            uow.record_events([event])
            return _review(review_id, doc)

        return self._run(command, ids={"review_id": review_id, "moderator_id": moderator_id})

    def _reviews_in(
        self, index: str, limit: int, *, descending: bool, actor: Actor | None
    ) -> list[Review]:
        def load(uow: UnitOfWork) -> list[Review]:
            rows = uow.records.scan(REVIEWS, index, limit=limit, descending=descending)
            docs = ((key, uow.records.get(REVIEWS, key)) for key, _ in rows)
            return [_review(key, doc) for key, doc in docs if doc is not None]

        if actor is None:
            _deprecated_review_read(stacklevel=4)
            found = self._run(lambda uow, now: load(uow), write=False)
            return [_review_as(r, None) for r in found]

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> list[Review]:
            out = []
            for review in load(uow):
                if actor.role == "student" and actor.id == review.student_id:
                    out.append(review)
                    continue
                out.append(_review_as(review, look(review.student_id).contacts))
            return out

        return read_personal(self._run, self.gate, actor, ("review",), query)
