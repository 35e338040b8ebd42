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

from datetime import datetime
from typing import Any, Unpack

import attrs

from eduengine.desk.events import ReviewPosted, SurveyAnswered, SurveySent
from eduengine.desk.model import Party
from eduengine.errors import AccessDenied, InvalidInput, SurveyAlreadyAnswered, SurveyNotFound
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import check_id, check_int, check_optional_id, check_text
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students.records import STUDENTS

__all__ = ["OCCASIONS", "Review", "SatisfactionService", "Survey"]

SURVEYS = "desk_survey"
REVIEWS = "desk_review"
OCCASIONS = ("lesson", "ticket", "term")
ERASED = "[erased]"


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
    text: str | None
    edits: int
    updated_at: datetime


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


def _review(review_id: str, doc: dict[str, Any]) -> Review:
    return Review(
        id=review_id,
        student_id=doc["student_id"],
        course_id=doc["course_id"],
        tutor_id=doc["tutor_id"],
        rating=doc["rating"],
        text=doc["text"],
        edits=doc["edits"],
        updated_at=dt_in(doc["updated_at"]),
    )


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
    """File each survey and review under its student (by its last change)."""
    filed = 0
    for kind, at in ((SURVEYS, "answered_at"), (REVIEWS, "updated_at")):
        for key, doc in uow.records.list(kind):
            when = doc.get(at) or doc["sent_at"]
            index = {f"student:{doc['student_id']}": micros(dt_in(when))}
            uow.records.put(kind, key, doc, index=index)
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
                uow.records.put(kind, key, doc, index={f"student:{student_id}": at})
                changed += 1
    return changed


class SatisfactionService(ServiceBase):
    """Surveys and reviews (``school.desk.satisfaction``)."""

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)

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

    def survey(self, survey_id: str) -> Survey:
        check_id(survey_id, "survey_id")

        def query(uow: UnitOfWork, now: datetime) -> Survey:
            doc = uow.records.get(SURVEYS, survey_id)
            if doc is None:
                raise SurveyNotFound(survey_id)
            return _survey(survey_id, doc)

        return self._run(query, write=False, ids={"survey_id": survey_id})

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
        course; an edit keeps the tutor unless another is named."""
        check_id(student_id, "student_id")
        check_id(course_id, "course_id")
        check_int(rating, "rating", low=1, high=5)
        check_optional_id(tutor_id, "tutor_id")
        if text is not None:
            check_text(text, "text", max_length=5000)
        key = f"{student_id}:{course_id}"

        def command(uow: UnitOfWork, now: datetime) -> Review:
            old = uow.records.get(REVIEWS, key)
            doc: dict[str, Any] = {
                "student_id": student_id,
                "course_id": course_id,
                "tutor_id": tutor_id or (old["tutor_id"] if old else None),
                "rating": rating,
                "text": text,
                "edits": 0 if old is None else old["edits"] + 1,
                "updated_at": dt_out(now),
            }
            uow.records.put(REVIEWS, key, doc, index={f"student:{student_id}": micros(now)})
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
                    )
                ]
            )
            return _review(key, doc)

        return self._run(
            command,
            ids={"student_id": student_id, "course_id": course_id, "tutor_id": tutor_id},
        )
