"""Mastery, spaced review, the learning path and recommendations through the unit of work.

**Storage** (the record port, one JSON document each):

- ``mastery_student`` / student id: every point she has met, with its estimate (a
  decimal string, :data:`~eduengine.mastery.model.PLACES` places), how often it was
  observed and when last, and its review card; filed under the index ``review_due`` at
  its earliest due review (microseconds), so a school-wide sweep of due reviews reads
  only the students who have one.
- ``mastery_goals`` / student id: her goal points and courses.
- ``mastery_point`` / point id: prerequisites and BKT parameters (the school's
  curriculum: a small kind, read whole).
- ``mastery_course`` / course id: the knowledge points the course exercises.
- ``review_settings`` / version: the FSRS settings each stored card's version names.
- ``mastery_graph`` / ``school``: a version counter whose lock serialises changes of the
  prerequisite graph, so two concurrent definitions never store a cycle together.

:func:`observe_in` is the observation as a plain function of a unit of work, for a
projection (the learning record's graded work) to call inside its own; the service's
:meth:`MasteryService.observe` runs it in a command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from eduengine.booking.model import SlotStatus
from eduengine.booking.queries import read_summaries
from eduengine.booking.timetable import TIMETABLE, course_index
from eduengine.errors import InvalidInput, PrerequisitesDisagree, SlotNotFound
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.inputs import (
    check_duration,
    check_id,
    check_ids,
    check_instant,
    check_int,
)
from eduengine.mastery.events import GoalsSet, MasteryUpdated, ReviewScheduled
from eduengine.mastery.model import DEFAULT_PARAMS, BktParams, Score, check_score, update
from eduengine.mastery.path import MASTERED, DueReview, PathStep, check_graph, next_step
from eduengine.mastery.recommend import (
    Goals,
    Lesson,
    OpenSlot,
    Ranked,
    rank_courses,
    rank_slots,
)
from eduengine.mastery.review import DEFAULT_REVIEW, ReviewCard, ReviewSettings, rating_for, review
from eduengine.people.learning_access import LearningGate
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = [
    "MasteryService",
    "PointMastery",
    "define_curriculum_in",
    "erase_mastery",
    "mastery_in",
    "observe_in",
    "prior_in",
]

T = TypeVar("T")

STUDENTS = "mastery_student"
GOALS = "mastery_goals"
POINTS = "mastery_point"
COURSES = "mastery_course"
SETTINGS = "review_settings"
#: one document whose lock serialises every change of the prerequisite graph
GRAPH = "mastery_graph"
#: students by their earliest due review (micros)
REVIEW_DUE = "review_due"
#: the lessons of her booking history that recommendations learn her habits from
HISTORY = 50


@attrs.frozen(kw_only=True)
class PointMastery:
    """One student's state on one knowledge point."""

    point_id: str
    mastery: Decimal
    observations: int
    last_observed: datetime
    card: ReviewCard | None


def _student_doc(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    return uow.records.get(STUDENTS, student_id) or {"points": {}, "cards": {}}


def _save_student(uow: UnitOfWork, student_id: str, doc: dict[str, Any]) -> None:
    dues = [dt_in(card["due"]) for card in doc["cards"].values()]
    index = {REVIEW_DUE: micros(min(dues))} if dues else None
    uow.records.put(STUDENTS, student_id, doc, index=index)


def _read_point(point_id: str, doc: dict[str, Any]) -> PointMastery:
    state = doc["points"][point_id]
    card = doc["cards"].get(point_id)
    return PointMastery(
        point_id=point_id,
        mastery=Decimal(state["p"]),
        observations=int(state["n"]),
        last_observed=dt_in(state["at"]),
        card=ReviewCard.from_record(point_id, card) if card else None,
    )


def _params(uow: UnitOfWork, point_id: str, defaults: BktParams) -> BktParams:
    doc = uow.records.get(POINTS, point_id)
    if doc is None or doc.get("params") is None:
        return defaults
    return BktParams.from_record(doc["params"])


def _settings(uow: UnitOfWork, version: str, current: ReviewSettings) -> ReviewSettings:
    """The settings ``version`` names: stored once, the first time a card uses them, and
    refused if the same name is given other parameters later."""
    stored = uow.records.get(SETTINGS, version)
    if stored is None:
        if version != current.version:
            raise InvalidInput(f"no review settings are stored under version {version!r}")
        if not uow.read_only:
            uow.records.put(SETTINGS, version, current.to_record())
        return current
    settings = ReviewSettings.from_record(stored)
    if version == current.version and settings != current:
        raise InvalidInput(
            f"review settings {version!r} are stored with other parameters: "
            "give changed settings a new version"
        )
    return settings


def observe_in(
    uow: UnitOfWork,
    student_id: str,
    point_id: str,
    result: Score,
    at: datetime,
    *,
    defaults: BktParams = DEFAULT_PARAMS,
    settings: ReviewSettings = DEFAULT_REVIEW,
) -> PointMastery:
    """Apply one observation of ``point_id`` for ``student_id`` inside ``uow``: update the
    BKT estimate, review the point's FSRS card, and record :class:`MasteryUpdated` and
    :class:`ReviewScheduled`. An observation dated before the point's last one is refused
    (``InvalidInput``): estimates and cards depend on the order."""
    check_id(student_id, "student_id")
    check_id(point_id, "point_id")
    check_instant(at, "at")
    score = check_score(result)
    doc = _student_doc(uow, student_id)
    params = _params(uow, point_id, defaults)
    state = doc["points"].get(point_id)
    if state is not None and at < dt_in(state["at"]):
        raise InvalidInput(
            f"an observation of {point_id!r} for {student_id!r} at {at.isoformat()} is before "
            f"the last one at {state['at']}"
        )
    before = Decimal(state["p"]) if state is not None else params.prior
    after = update(before, params, score)
    count = (int(state["n"]) if state is not None else 0) + 1
    doc["points"][point_id] = {"p": str(after), "n": count, "at": dt_out(at)}
    stored = doc["cards"].get(point_id)
    old = ReviewCard.from_record(point_id, stored) if stored else None
    card_settings = _settings(uow, old.version if old else settings.version, settings)
    # True is a right answer (Good); a score of 1 is a perfect one (Easy)
    observed: Score = result if isinstance(result, bool) else score
    card = review(old, point_id, observed, at, card_settings)
    doc["cards"][point_id] = card.to_record()
    _save_student(uow, student_id, doc)
    uow.record_events(
        [
            MasteryUpdated(
                occurred_at=at,
                student_id=student_id,
                point_id=point_id,
                score=score,
                before=before,
                after=after,
                observations=count,
            ),
            ReviewScheduled(
                occurred_at=at,
                student_id=student_id,
                point_id=point_id,
                due=card.due,
                rating=int(rating_for(observed).value),
                version=card.version,
            ),
        ]
    )
    return _read_point(point_id, doc)


def mastery_in(uow: UnitOfWork, student_id: str) -> dict[str, PointMastery]:
    """Her state on every point she has met, inside ``uow`` (for a projection)."""
    doc = _student_doc(uow, student_id)
    return {p: _read_point(p, doc) for p in sorted(doc["points"])}


def prior_in(uow: UnitOfWork, point_id: str, defaults: BktParams = DEFAULT_PARAMS) -> Decimal:
    """The mastery a student has on ``point_id`` before any observation."""
    return _params(uow, point_id, defaults).prior


def _lock_graph(uow: UnitOfWork) -> None:
    # Two definitions may each be acyclic alone and close a cycle together (a needs b,
    # b needs a): the graph's lock, taken before the graph is read, makes the second
    # wait and then judge the graph the first committed. The put creates the document
    # (so PostgreSQL has a row) and keeps its version.
    lock = uow.records.get(GRAPH, "school") or {"version": 0}
    uow.records.put(GRAPH, "school", {"version": int(lock["version"]) + 1})


def define_curriculum_in(
    uow: UnitOfWork, course_id: str, prerequisites: Mapping[str, Sequence[str]]
) -> None:
    """Make the school's graph follow a course's curriculum, inside the unit of work that
    defines it (the learning record's ``define_curriculum``): its points with their
    prerequisites, and the course's points (for recommendations and certificates).

    The school keeps one graph: each point records the courses whose curriculum holds it,
    a point shared by courses must have the same prerequisites in each
    (:class:`~eduengine.errors.PrerequisitesDisagree`), a cycle across courses is refused
    (``PrerequisiteCycle``), and a point no curriculum holds any more leaves the graph
    (students' estimates of it stay)."""
    _lock_graph(uow)
    points = dict(uow.records.list(POINTS))
    graph = {key: tuple(doc["prerequisites"]) for key, doc in points.items()}
    for point_id, needs in prerequisites.items():
        doc = points.get(point_id)
        held = sorted(set(needs))
        others = [c for c in (doc or {}).get("courses", []) if c != course_id]
        if doc is not None and others and sorted(doc["prerequisites"]) != held:
            raise PrerequisitesDisagree(point_id, held, doc["prerequisites"], others[0])
        graph[point_id] = tuple(held)
    for point_id, doc in points.items():
        if point_id not in prerequisites and doc.get("courses") == [course_id]:
            del graph[point_id]
    check_graph(graph)
    for point_id, doc in points.items():
        owners = doc.get("courses", [])
        if point_id not in prerequisites and course_id in owners:
            if owners == [course_id]:
                uow.records.delete(POINTS, point_id)
            else:
                uow.records.put(
                    POINTS, point_id, {**doc, "courses": [c for c in owners if c != course_id]}
                )
    for point_id, needs in prerequisites.items():
        doc = points.get(point_id) or {"params": None}
        owners = sorted({*doc.get("courses", []), course_id})
        uow.records.put(
            POINTS,
            point_id,
            {**doc, "prerequisites": sorted(set(needs)), "courses": owners},
        )
    uow.records.put(COURSES, course_id, {"points": list(prerequisites), "curriculum": True})


def erase_mastery(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """The eraser of the mastery module: a student's estimates, cards and goals."""
    removed = 0
    for kind in (STUDENTS, GOALS):
        if uow.records.get(kind, student_id) is not None:
            uow.records.delete(kind, student_id)
            removed += 1
    return removed


def _check_zone(zone: object) -> str:
    if not isinstance(zone, str) or not zone:
        raise InvalidInput(f"a time zone is an IANA name like 'Asia/Shanghai', got {zone!r}")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {zone!r}") from exc
    return zone


class MasteryService(ServiceBase):
    """Mastery per knowledge point (BKT), spaced review (FSRS), the learning path and
    recommendations.

    ``defaults`` are the BKT parameters of a point defined without its own
    (:data:`~eduengine.mastery.model.DEFAULT_PARAMS` if ``None``); ``review`` the FSRS
    settings new cards are scheduled with (each card keeps its version);
    ``threshold`` the mastery at which a point counts as mastered.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    >>> mastery = MasteryService(InMemoryStore().unit_of_work, clock=clock)
    >>> mastery.define_point("add")
    >>> mastery.define_point("fractions", prerequisites=["add"])
    >>> mastery.observe("ann", "add", True).mastery
    Decimal('0.600000000000')
    >>> from eduengine.people.model import Actor
    >>> step = mastery.next_step("ann", actor=Actor(id="u1", role="academic"))
    >>> step.kind, step.point_id
    ('learn', 'add')
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        defaults: BktParams | None = None,
        review: ReviewSettings | None = None,
        threshold: Decimal = MASTERED,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        defaults = DEFAULT_PARAMS if defaults is None else defaults
        review = DEFAULT_REVIEW if review is None else review
        if not isinstance(defaults, BktParams):
            raise InvalidInput(f"defaults must be BktParams, got {defaults!r}")
        if not isinstance(review, ReviewSettings):
            raise InvalidInput(f"review must be ReviewSettings, got {review!r}")
        if not isinstance(threshold, Decimal) or not 0 < threshold <= 1:
            raise InvalidInput(f"threshold must be a Decimal in (0, 1], got {threshold!r}")
        review.scheduler()  # refuse parameters FSRS would refuse, now rather than later
        self.defaults = defaults
        self.review = review
        self.threshold = threshold
        #: the access check of the reads of a student's mastery, goals, path and
        #: recommendations (``School.build`` passes the learning record's)
        self.gate = LearningGate()

    # --- the curriculum ----------------------------------------------------------------

    def define_point(
        self,
        point_id: str,
        *,
        prerequisites: Sequence[str] = (),
        params: BktParams | None = None,
    ) -> None:
        """Define (or redefine) a knowledge point: its prerequisites and, optionally, BKT
        parameters of its own. A prerequisite cycle is refused (``PrerequisiteCycle``),
        also one two concurrent definitions would close together: every definition
        locks the school's graph (one document, kind ``mastery_graph``) first."""
        check_id(point_id, "point_id")
        needs = check_ids(list(prerequisites), "prerequisites")
        if params is not None and not isinstance(params, BktParams):
            raise InvalidInput(f"params must be BktParams, got {params!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            _lock_graph(uow)
            old = uow.records.get(POINTS, point_id) or {}
            owners = old.get("courses", [])
            # a curriculum's point keeps its curriculum's prerequisites: one graph
            if owners and sorted(old["prerequisites"]) != sorted(set(needs)):
                raise PrerequisitesDisagree(point_id, needs, old["prerequisites"], owners[0])
            graph = self._graph(uow)
            graph[point_id] = tuple(needs)
            check_graph(graph)
            uow.records.put(
                POINTS,
                point_id,
                {
                    **old,
                    "prerequisites": sorted(set(needs)),
                    "params": params.to_record() if params is not None else None,
                },
            )

        self._run(command, ids={"point_id": point_id})

    def define_course(self, course_id: str, points: Sequence[str]) -> None:
        """Say which knowledge points a course exercises (replaces what was said)."""
        check_id(course_id, "course_id")
        ids = check_ids(list(points), "points")

        def command(uow: UnitOfWork, now: datetime) -> None:
            held = uow.records.get(COURSES, course_id)
            if held is not None and held.get("curriculum"):
                raise InvalidInput(
                    f"course {course_id!r} has a curriculum: its points are the "
                    "curriculum's (school.learning.define_curriculum)"
                )
            uow.records.put(COURSES, course_id, {"points": list(dict.fromkeys(ids))})

        self._run(command, ids={"course_id": course_id})

    def prerequisites(self) -> dict[str, tuple[str, ...]]:
        """The school's prerequisite graph (point id -> its prerequisites)."""
        return self._run(lambda uow, now: self._graph(uow), write=False)

    # --- observations and mastery --------------------------------------------------------

    def observe(
        self, student_id: str, point_id: str, result: Score, at: datetime | None = None
    ) -> PointMastery:
        """Record one observation: ``True``/``False`` (right or wrong) or a score from 0
        to 1 (a Decimal or a Fraction), at ``at`` (default: now)."""
        check_id(student_id, "student_id")
        check_id(point_id, "point_id")
        check_score(result)
        if at is not None:
            check_instant(at, "at")

        def command(uow: UnitOfWork, now: datetime) -> PointMastery:
            return observe_in(
                uow,
                student_id,
                point_id,
                result,
                at or now,
                defaults=self.defaults,
                settings=self.review,
            )

        return self._run(command, ids={"student_id": student_id, "point_id": point_id})

    def mastery(self, student_id: str, *, actor: Actor | None = None) -> dict[str, PointMastery]:
        """Her state on every point she has met, by point id (sorted), read as
        ``actor`` (each read of this module is checked and audited like the learning
        archive: whole or :class:`~eduengine.errors.AccessDenied`; without an actor,
        deprecated, unchecked)."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> dict[str, PointMastery]:
            doc = _student_doc(uow, student_id)
            return {p: _read_point(p, doc) for p in sorted(doc["points"])}

        return self.gate.read_student(self._run, actor, student_id, "mastery", query)

    def due_reviews(
        self, student_id: str, at: datetime | None = None, *, actor: Actor | None = None
    ) -> list[DueReview]:
        """Her reviews due at ``at`` (default: now), most overdue first (read as
        ``actor``, as :meth:`mastery`)."""
        check_id(student_id, "student_id")
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> list[DueReview]:
            return self._due(_student_doc(uow, student_id), at or now)

        return self.gate.read_student(self._run, actor, student_id, "review_schedule", query)

    def students_with_due_reviews(
        self, at: datetime | None = None, *, limit: int = 100
    ) -> list[str]:
        """Students with a review due at ``at`` (default: now), from the ``review_due``
        index (most overdue first): for a reminder job."""
        check_int(limit, "limit", low=1)
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> list[str]:
            rows = uow.records.scan(STUDENTS, REVIEW_DUE, hi=micros(at or now), limit=limit)
            return [key for key, _ in rows]

        return self._run(query, write=False)

    # --- goals ---------------------------------------------------------------------------

    def set_goals(
        self, student_id: str, *, points: Sequence[str] = (), courses: Sequence[str] = ()
    ) -> Goals:
        """Her goals: knowledge points to master and courses to take (replaces them)."""
        check_id(student_id, "student_id")
        goals = Goals(
            points=tuple(dict.fromkeys(check_ids(list(points), "points"))),
            courses=tuple(dict.fromkeys(check_ids(list(courses), "courses"))),
        )

        def command(uow: UnitOfWork, now: datetime) -> Goals:
            uow.records.put(GOALS, student_id, goals.to_record())
            uow.record_events(
                [
                    GoalsSet(
                        occurred_at=now,
                        student_id=student_id,
                        points=goals.points,
                        courses=goals.courses,
                    )
                ]
            )
            return goals

        return self._run(command, ids={"student_id": student_id})

    def goals(self, student_id: str, *, actor: Actor | None = None) -> Goals:
        """Her goals (read as ``actor``, as :meth:`mastery`)."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> Goals:
            doc = uow.records.get(GOALS, student_id)
            return Goals.from_record(doc) if doc else Goals()

        return self.gate.read_student(self._run, actor, student_id, "goals", query)

    # --- the path and recommendations ----------------------------------------------------

    def next_step(
        self,
        student_id: str,
        *,
        at: datetime | None = None,
        prerequisites: Mapping[str, Sequence[str]] | None = None,
        actor: Actor | None = None,
    ) -> PathStep:
        """Her next step: a due review first, else the open point with the lowest mastery
        (see :mod:`eduengine.mastery.path`). ``prerequisites`` replaces the school's
        graph for this call. Read as ``actor``, as :meth:`mastery`."""
        check_id(student_id, "student_id")
        if at is not None:
            check_instant(at, "at")
        if prerequisites is not None:
            check_graph(
                {check_id(k, "point_id"): check_ids(list(v)) for k, v in prerequisites.items()}
            )

        def query(uow: UnitOfWork, now: datetime) -> PathStep:
            return self._next_step_in(uow, student_id, at or now, prerequisites=prerequisites)

        return self.gate.read_student(self._run, actor, student_id, "learning_path", query)

    def _next_step_in(
        self,
        uow: UnitOfWork,
        student_id: str,
        at: datetime,
        *,
        prerequisites: Mapping[str, Sequence[str]] | None = None,
    ) -> PathStep:
        """:meth:`next_step` inside ``uow``, unchecked: for a read that has passed the
        access check already (a learning report composes it with the rest of its reads,
        under the report's check), so it is not public."""
        doc = _student_doc(uow, student_id)
        school_graph, priors = self._curriculum(uow)
        graph = dict(prerequisites) if prerequisites is not None else school_graph
        return next_step(
            graph,
            {p: Decimal(s["p"]) for p, s in doc["points"].items()},
            self._due(doc, at),
            priors=priors,
            threshold=self.threshold,
        )

    def recommend(
        self,
        student_id: str,
        *,
        at: datetime | None = None,
        horizon: timedelta = timedelta(days=14),
        zone: str = "UTC",
        slot_ids: Sequence[str] | None = None,
        limit: int = 10,
        actor: Actor | None = None,
    ) -> Ranked:
        """The next course and slot for her, best first, each with its features and
        reasons (see :mod:`eduengine.mastery.recommend`): from her mastery, goals,
        booking history (weekdays and hours in ``zone``, tutors) and the seats left in
        the open slots starting within ``horizon`` of ``at``.

        The slots considered are those of the candidate courses (the course map's and her
        goal courses) in the horizon, found through the ``slot_time`` index and read as
        summaries (no rosters); ``slot_ids``, if given, are read instead. Read as
        ``actor``, as :meth:`mastery`.
        """
        check_id(student_id, "student_id")
        check_duration(horizon, "horizon", low=timedelta(seconds=1))
        check_int(limit, "limit", low=1)
        _check_zone(zone)
        if at is not None:
            check_instant(at, "at")
        wanted = None if slot_ids is None else check_ids(list(slot_ids), "slot_ids")

        def query(uow: UnitOfWork, now: datetime) -> Ranked:
            when = at or now
            doc = _student_doc(uow, student_id)
            mastery = {p: Decimal(s["p"]) for p, s in doc["points"].items()}
            goals_doc = uow.records.get(GOALS, student_id)
            goals = Goals.from_record(goals_doc) if goals_doc else Goals()
            history, mine = self._history(uow, student_id)
            course_points = {key: tuple(d["points"]) for key, d in uow.records.list(COURSES)}
            candidates = set(course_points) | set(goals.courses)
            open_slots = self._open_slots(uow, wanted, candidates, mine, when, horizon)
            courses = rank_courses(
                course_points,
                mastery,
                goals,
                priors=self._curriculum(uow)[1],
                open_slots=open_slots,
                threshold=self.threshold,
            )
            slots = rank_slots(courses, open_slots, history, zone=zone)
            return Ranked(
                student_id=student_id,
                at=when,
                zone=zone,
                courses=courses[:limit],
                slots=slots[:limit],
            )

        return self.gate.read_student(self._run, actor, student_id, "recommendations", query)

    # --- internals ---------------------------------------------------------------------

    @staticmethod
    def _graph(uow: UnitOfWork) -> dict[str, tuple[str, ...]]:
        return {key: tuple(doc["prerequisites"]) for key, doc in uow.records.list(POINTS)}

    def _curriculum(self, uow: UnitOfWork) -> tuple[dict[str, tuple[str, ...]], dict[str, Decimal]]:
        """The prerequisite graph and each point's prior, from one read of the points
        (decoding them is most of a path query's time)."""
        graph, priors = {}, {}
        for key, doc in uow.records.list(POINTS):
            graph[key] = tuple(doc["prerequisites"])
            priors[key] = (
                Decimal(doc["params"]["prior"]) if doc.get("params") else self.defaults.prior
            )
        return graph, priors

    @staticmethod
    def _due(doc: dict[str, Any], at: datetime) -> list[DueReview]:
        due = []
        for point_id, card in doc["cards"].items():
            when = dt_in(card["due"])
            if when <= at:
                due.append(
                    DueReview(
                        point_id=point_id,
                        due=when,
                        mastery=Decimal(doc["points"][point_id]["p"]),
                        reviews=int(card["reviews"]),
                    )
                )
        due.sort(key=lambda r: (r.due, r.point_id))
        return due

    @staticmethod
    def _history(uow: UnitOfWork, student_id: str) -> tuple[list[Lesson], set[str]]:
        """Her last :data:`HISTORY` lessons by booking time (seats held: booked, attended
        or missed: habits change, and a long history should not cost more to read), and
        the slot ids of every seat she holds."""
        held = [b for b in uow.bookings.for_student(student_id) if b.holds_seat]
        recent = sorted(held, key=lambda b: (b.created_at, b.id))[-HISTORY:]
        ids = sorted({b.slot_id for b in recent})
        slots = uow.slots.get_many(ids) if ids else []
        lessons = [Lesson(course_id=s.course_id, start=s.start, tutor_id=s.tutor_id) for s in slots]
        return lessons, {b.slot_id for b in held}

    @staticmethod
    def _open_slots(
        uow: UnitOfWork,
        wanted: list[str] | None,
        candidates: set[str],
        mine: set[str],
        at: datetime,
        horizon: timedelta,
    ) -> list[OpenSlot]:
        """The bookable slots of the ``candidate`` courses starting in ``(at, at +
        horizon]``, not hers: slots of other courses never rank, so only the candidates'
        ``slot_time`` index ranges are read (or ``wanted``, the host's ids)."""
        if wanted is not None:
            ids = set(wanted)
        else:
            lo, hi = micros(at) + 1, micros(at + horizon)
            ids = {
                key
                for course in candidates
                for key, _ in uow.records.scan(TIMETABLE, course_index(course), lo=lo, hi=hi)
            }
        summaries = read_summaries(uow, sorted(ids - mine))
        if wanted is not None and len(summaries) < len(ids - mine):
            # as before the index: a host's unknown slot id is an error, not a skip
            missing = sorted(ids - mine - {s.slot_id for s in summaries})
            raise SlotNotFound(missing[0])
        found = []
        for slot in summaries:
            if (
                slot.status == SlotStatus.OPEN.value
                and at < slot.start <= at + horizon
                and slot.seats_left > 0
            ):
                found.append(
                    OpenSlot(
                        slot_id=slot.slot_id,
                        course_id=slot.course_id,
                        start=slot.start,
                        tutor_id=slot.tutor_id,
                        seats_left=slot.seats_left,
                    )
                )
        return found
