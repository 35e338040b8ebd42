"""Milestones through the unit of work: quests, "next level by", team contests and
certificates.

**Storage** (the record port, one JSON document each):

- ``milestone_quest`` / quest id: the quest (a small kind, read whole).
- ``milestone_student`` / student id: her XP per UTC day over the last
  :data:`LEDGER_DAYS` days (the rate "next level by" goes by) and her count and
  completion of each quest.
- ``milestone_contest`` / contest id: the contest, its teams' points and each member's.
- ``certificate`` / certificate id: the signed certificate, filed under the index
  ``certificates:<student id>`` by issue time.

Progress is not counted by the commands that make it: the ``milestones`` projection of
the feed (:class:`MilestoneReactions`, wired by ``School.build``) applies each
``levels.xp_awarded``, ``booking.attendance_marked`` and ``mastery.mastery_updated`` once,
and completes quests, gives their rewards and issues certificates in its own unit of
work. Whatever counts goes by the time it happened (``occurred_at``), so a late
catch-up gives what an inline one would have.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, Unpack

import attrs

from eduengine.booking.events import AttendanceMarked
from eduengine.booking.model import BookingStatus
from eduengine.errors import (
    CourseNotMastered,
    DuplicateId,
    InvalidInput,
    InvalidSetting,
    InvalidTimeRange,
    MilestoneNotFound,
)
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.events import DomainEvent, event_kind, find_kind
from eduengine.kernel.inputs import check_id, check_ids, check_instant, check_int, check_text
from eduengine.levels.board import KIND as XP_KIND
from eduengine.levels.events import XpAwarded
from eduengine.levels.model import LearningEvent, XpRule, progress
from eduengine.levels.service import LevelService
from eduengine.mastery.events import MasteryUpdated
from eduengine.mastery.path import MASTERED
from eduengine.mastery.service import COURSES as MASTERY_COURSES
from eduengine.mastery.service import STUDENTS as MASTERY_STUDENTS
from eduengine.milestones.events import (
    CertificateIssued,
    ContestDefined,
    QuestCompleted,
    QuestDefined,
)
from eduengine.milestones.model import (
    Certificate,
    NextLevel,
    Quest,
    QuestProgress,
    TeamStanding,
    certificate_id,
    estimate_next_level,
    rank_teams,
    sign,
)
from eduengine.people.access import Look, Refused
from eduengine.people.learning_access import LearningGate
from eduengine.people.model import Actor
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students.queries import class_of
from eduengine.students.records import STUDENTS as STUDENT_RECORDS

T = TypeVar("T")

__all__ = [
    "MilestoneReactions",
    "MilestoneService",
    "Verification",
    "erase_milestones",
]

QUESTS = "milestone_quest"
STUDENTS = "milestone_student"
CONTESTS = "milestone_contest"
CERTIFICATES = "certificate"
#: days of XP kept per student: the longest window "next level by" may look back
LEDGER_DAYS = 56
#: the XP kind a quest's reward is recorded under (source: the quest id, so once)
QUEST_XP = "quest_reward"
#: quests and contests by their end (micros): an event reads only those still running
ENDS = "ends"


@attrs.frozen(kw_only=True)
class Verification:
    """Whether a certificate's record is the school's: ``valid`` and why (or why not)."""

    certificate_id: str
    valid: bool
    reason: str


def _student(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    return uow.records.get(STUDENTS, student_id) or {"days": {}, "quests": {}}


def _student_locked(uow: UnitOfWork, student_id: str) -> dict[str, Any]:
    """Her document, after her student record (``class_of`` locks it): the order XP
    awards and erasure lock in, so the projection (which may give XP) and an erasure
    never wait for each other in a circle."""
    class_of(uow, student_id)
    return _student(uow, student_id)


def _unless_erased(handler: Handler) -> Handler:
    """``handler``, skipping the events of an erased student: an event of hers still in
    the feed at her erasure gives her no XP ledger, quest, contest line or certificate
    again."""

    @functools.wraps(handler)
    def guarded(event: DomainEvent, uow: UnitOfWork) -> None:
        student_id = getattr(event, "student_id", None)
        if isinstance(student_id, str):
            # her student record first: the lock order of _student_locked and erasure
            doc = uow.records.get(STUDENT_RECORDS, student_id)
            if doc is not None and doc.get("erased"):
                return
        handler(event, uow)

    return guarded


def _cert_index(student_id: str) -> str:
    return f"certificates:{student_id}"


def _put_contest(uow: UnitOfWork, contest_id: str, doc: dict[str, Any]) -> None:
    uow.records.put(CONTESTS, contest_id, doc, index={ENDS: micros(dt_in(doc["ends_at"]))})


def _running(uow: UnitOfWork, kind: str, at: datetime) -> list[str]:
    """The quests or contests (``kind``) that end after ``at``, from the index: the
    ended ones, however many, are never read again."""
    return [key for key, _ in uow.records.scan(kind, ENDS, lo=micros(at) + 1)]


def erase_milestones(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """The eraser of milestones: her XP ledger, quest progress and certificates, and her
    line in each contest (her team keeps its points: they are the team's)."""
    removed = 0
    if uow.records.get(STUDENTS, student_id) is not None:
        uow.records.delete(STUDENTS, student_id)
        removed += 1
    for key, _ in uow.records.scan(CERTIFICATES, _cert_index(student_id)):
        uow.records.delete(CERTIFICATES, key)
        removed += 1
    for key, _ in uow.records.list(CONTESTS):
        doc = uow.records.get(CONTESTS, key)
        if doc is None:
            continue
        changed = False
        for members in doc["members"].values():
            if members.pop(student_id, None) is not None:
                changed = True
        for team, roster in (doc.get("groups") or {}).items():
            if student_id in roster:
                doc["groups"][team] = [s for s in roster if s != student_id]
                changed = True
        if changed:
            _put_contest(uow, key, doc)
            removed += 1
    return removed


class MilestoneService(ServiceBase):
    """Quests, "next level by", team contests and certificates.

    ``levels`` is the school's XP service (a quest's XP and badge are given through it,
    and the level curve "next level by" reads); ``threshold`` the mastery at which a
    knowledge point counts as mastered; ``certificate_key`` the school's secret that
    signs certificates (without one none is issued); ``window_days`` how far back the
    XP rate of "next level by" looks; ``quest_events`` the event classes (each with a
    ``student_id``) that ``events`` quests may count.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore, School
    >>> from eduengine.levels import LearningEvent, XpRule
    >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    >>> school = School.build(InMemoryStore(), clock=clock, certificate_key=b"k" * 32,
    ...                       xp_rules=[XpRule(kind="lesson_attended", points=50)])
    >>> school.milestones.define_quest(Quest(id="q1", title="Earn 100 XP", measure="xp_earned",
    ...     target=100, ends_at=clock.now() + timedelta(days=7), reward_xp=20))
    >>> for n in range(2):
    ...     _ = school.levels.record(LearningEvent(student_id="ann", kind="lesson_attended",
    ...                                            source_id=f"l{n}", occurred_at=clock.now()))
    >>> from eduengine.students import Actor
    >>> office = Actor(id="u1", role="academic")
    >>> [(p.quest_id, p.count, p.status)
    ...  for p in school.milestones.quest_progress("ann", actor=office)]
    [('q1', 100, 'done')]
    >>> from eduengine.people import SYSTEM
    >>> school.levels.progress("ann", actor=SYSTEM).xp
    120
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        levels: LevelService,
        threshold: Decimal = MASTERED,
        certificate_key: bytes | None = None,
        window_days: int = 28,
        quest_events: Sequence[type[DomainEvent]] = (),
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        if not isinstance(levels, LevelService):
            raise InvalidSetting(f"levels must be a LevelService, got {levels!r}")
        if not isinstance(threshold, Decimal) or not 0 < threshold <= 1:
            raise InvalidSetting(f"threshold must be a Decimal in (0, 1], got {threshold!r}")
        if certificate_key is not None and (
            not isinstance(certificate_key, bytes) or len(certificate_key) < 16
        ):
            raise InvalidSetting("certificate_key must be bytes, at least 16 of them")
        check_int(window_days, "window_days", low=1, high=LEDGER_DAYS)
        self.levels = levels
        self.threshold = threshold
        self.certificate_key = certificate_key
        self.window_days = window_days
        self.quest_events = tuple(quest_events)
        for cls in self.quest_events:
            kind = find_kind(cls) if isinstance(cls, type) else None
            if kind is None or "student_id" not in attrs.fields_dict(cls):
                raise InvalidSetting(
                    f"quest_events are registered event classes with a student_id, got {cls!r}"
                )
        #: the type names ``events`` quests may count
        self.counted_types = frozenset(event_kind(cls).name for cls in self.quest_events)
        #: the access check of a student's milestones (``School.build`` passes the
        #: learning record's)
        self.gate = LearningGate()

    # --- quests --------------------------------------------------------------------------

    def define_quest(self, quest: Quest) -> None:
        """Open a quest to every student (or change one: progress made is kept)."""
        if not isinstance(quest, Quest):
            raise InvalidInput(f"expected a Quest, got {quest!r}")
        if quest.certificate:
            self._key()
        if quest.event_type is not None and quest.event_type not in self.counted_types:
            raise InvalidInput(
                f"events of type {quest.event_type!r} are not counted for quests: "
                "pass the class to School.build(quest_events=[...])"
            )

        def command(uow: UnitOfWork, now: datetime) -> None:
            old = uow.records.get(QUESTS, quest.id)
            if old is not None and old["measure"] != quest.measure:
                # the progress made counts the old measure: it would mean nothing
                raise InvalidInput(
                    f"quest {quest.id!r} measures {old['measure']}: a quest keeps its measure"
                )
            uow.records.put(
                QUESTS, quest.id, quest.to_record(), index={ENDS: micros(quest.ends_at)}
            )
            uow.record_events(
                [
                    QuestDefined(
                        occurred_at=now,
                        quest_id=quest.id,
                        title=quest.title,
                        measure=quest.measure,
                        target=quest.target,
                        ends_at=quest.ends_at,
                    )
                ]
            )

        self._run(command, ids={"quest_id": quest.id})

    def quests(self) -> list[Quest]:
        return self._run(lambda uow, now: _quests(uow), write=False)

    def quest_progress(
        self, student_id: str, at: datetime | None = None, *, actor: Actor | None = None
    ) -> list[QuestProgress]:
        """Her progress on every quest at ``at`` (default: now), by quest id: ``done``,
        ``open``, or ``expired`` once a quest ended before she completed it. Read as
        ``actor`` (each read of a student's milestones is checked and audited like the
        learning archive: whole or :class:`~eduengine.errors.AccessDenied`; without an
        actor, deprecated, unchecked)."""
        check_id(student_id, "student_id")
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> list[QuestProgress]:
            mine = _student(uow, student_id)["quests"]
            found = []
            for quest in _quests(uow):
                state = mine.get(quest.id) or {"n": 0, "done": None}
                done = dt_in(state["done"]) if state["done"] else None
                status = "done" if done else ("expired" if (at or now) >= quest.ends_at else "open")
                found.append(
                    QuestProgress(
                        quest_id=quest.id,
                        title=quest.title,
                        measure=quest.measure,
                        count=int(state["n"]),
                        target=quest.target,
                        ends_at=quest.ends_at,
                        status=status,
                        done_at=done,
                    )
                )
            return found

        return self.gate.read_student(self._run, actor, student_id, "quests", query)

    # --- next level by -------------------------------------------------------------------

    def next_level_by(
        self, student_id: str, at: datetime | None = None, *, actor: Actor | None = None
    ) -> NextLevel:
        """When she reaches her next level if she keeps her XP rate of the last
        ``window_days`` days (the UTC days up to and including ``at``'s), explained in
        data; ``by`` is ``None`` with a reason at a rate of zero or at the top level.
        Read as ``actor``, as :meth:`quest_progress`."""
        check_id(student_id, "student_id")
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> NextLevel:
            when = at or now
            state = uow.records.get(XP_KIND, student_id)
            xp = int(state["xp"]) if state else 0
            now_progress = progress(self.levels.curve, xp, self.levels.titles)
            thresholds = self.levels.curve.thresholds
            level = now_progress.level
            next_at = thresholds[level] if level < len(thresholds) else None
            first = (when - timedelta(days=self.window_days - 1)).date().isoformat()
            last = when.date().isoformat()
            days = _student(uow, student_id)["days"]
            in_window = sum(int(n) for day, n in days.items() if first <= day <= last)
            return estimate_next_level(
                level=level,
                xp=xp,
                next_at=next_at,
                xp_in_window=in_window,
                window_days=self.window_days,
                at=when,
            )

        return self.gate.read_student(self._run, actor, student_id, "next_level", query)

    # --- team contests -------------------------------------------------------------------

    def define_contest(
        self,
        contest_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        classes: Sequence[str] = (),
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """A contest between ``classes`` (each a team; a student's XP counts for the class
        she is a member of when it is counted) or ``groups`` (team id -> its students):
        XP awarded from ``starts_at`` up to ``ends_at`` (excluded) counts."""
        check_id(contest_id, "contest_id")
        check_instant(starts_at, "starts_at")
        check_instant(ends_at, "ends_at")
        if starts_at >= ends_at:
            raise InvalidTimeRange("a contest starts before it ends")
        teams = check_ids(list(classes), "classes")
        members: dict[str, list[str]] = {}
        if groups is not None:
            if teams:
                raise InvalidInput("a contest is between classes or between groups, not both")
            seen: set[str] = set()
            for team, students in groups.items():
                check_id(team, "team id")
                ids = check_ids(list(students), f"students of {team!r}")
                if seen & set(ids):
                    raise InvalidInput(f"a student is in two teams: {sorted(seen & set(ids))}")
                seen |= set(ids)
                members[team] = sorted(set(ids))
            teams = list(members)
        if len(set(teams)) < 2:
            raise InvalidInput("a contest has at least two teams")
        teams = sorted(set(teams))

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CONTESTS, contest_id) is not None:
                raise DuplicateId(f"contest {contest_id!r} already exists")
            _put_contest(
                uow,
                contest_id,
                {
                    "starts_at": dt_out(starts_at),
                    "ends_at": dt_out(ends_at),
                    "by": "groups" if groups is not None else "classes",
                    "groups": members,
                    "points": {team: 0 for team in teams},
                    "members": {team: {} for team in teams},
                },
            )
            uow.record_events(
                [
                    ContestDefined(
                        occurred_at=now,
                        contest_id=contest_id,
                        teams=tuple(teams),
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                ]
            )

        self._run(command, ids={"contest_id": contest_id})

    def standings(self, contest_id: str) -> list[TeamStanding]:
        """The contest's leaderboard: teams by points, ties to the smaller team id, with
        each member's points."""
        check_id(contest_id, "contest_id")

        def query(uow: UnitOfWork, now: datetime) -> list[TeamStanding]:
            doc = uow.records.get(CONTESTS, contest_id)
            if doc is None:
                raise MilestoneNotFound("contest", contest_id)
            return rank_teams({team: int(n) for team, n in doc["points"].items()}, doc["members"])

        return self._run(query, write=False, ids={"contest_id": contest_id})

    # --- certificates --------------------------------------------------------------------

    def complete_course(
        self, student_id: str, course_id: str, *, title: str | None = None
    ) -> Certificate:
        """The host says she completed ``course_id``: issue her certificate (or return
        the one issued before: one per student and course)."""
        check_id(student_id, "student_id")
        check_id(course_id, "course_id")
        name = check_text(title or course_id, "title", max_length=200)
        key = self._key()

        def command(uow: UnitOfWork, now: datetime) -> Certificate:
            return issue_in(uow, key, student_id, "course", course_id, name, "host", now)

        return self._run(command, ids={"student_id": student_id, "course_id": course_id})

    def certify_mastery(
        self, student_id: str, course_id: str, *, title: str | None = None
    ) -> Certificate:
        """Issue her certificate for ``course_id`` if she has mastered every knowledge
        point the course exercises (``mastery.define_course``); else ``CourseNotMastered``
        names the points still below the threshold. The ``milestones`` projection does
        this by itself when an observation masters a course's last point."""
        check_id(student_id, "student_id")
        check_id(course_id, "course_id")
        name = check_text(title or course_id, "title", max_length=200)
        key = self._key()

        def command(uow: UnitOfWork, now: datetime) -> Certificate:
            missing = self._not_mastered(uow, student_id, course_id)
            if missing:
                raise CourseNotMastered(course_id, missing)
            return issue_in(uow, key, student_id, "course", course_id, name, "mastery", now)

        return self._run(command, ids={"student_id": student_id, "course_id": course_id})

    def certificates_of(self, student_id: str, *, actor: Actor | None = None) -> list[Certificate]:
        """Her certificates, oldest first (read as ``actor``, as :meth:`quest_progress`)."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> list[Certificate]:
            found = []
            for key, _ in uow.records.scan(CERTIFICATES, _cert_index(student_id)):
                doc = uow.records.get(CERTIFICATES, key)
                if doc is not None:
                    found.append(Certificate.from_payload(doc))
            return found

        return self.gate.read_student(self._run, actor, student_id, "certificates", query)

    def certificate(self, certificate_id: str, *, actor: Actor | None = None) -> Certificate:
        """One certificate, read as ``actor`` (as :meth:`quest_progress`; a third party
        checks one it was handed with :meth:`verify_certificate`)."""
        check_id(certificate_id, "certificate_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Certificate:
            doc = uow.records.get(CERTIFICATES, certificate_id)
            if doc is None:
                raise MilestoneNotFound("certificate", certificate_id)
            certificate = Certificate.from_payload(doc)
            if not look(certificate.student_id).whole:
                raise Refused()
            return certificate

        return self.gate.read_record(
            self._run,
            actor,
            ("certificates",),
            query,
            ids={"certificate_id": certificate_id},
            strict=True,
        )

    def verify_certificate(self, certificate_id: str, payload: Mapping[str, Any]) -> Verification:
        """Whether ``payload`` (a certificate's record as :meth:`Certificate.payload`
        handed it out) is a certificate this school issued under ``certificate_id``: its
        signature is the school key's HMAC of its content, and the school still holds it
        unchanged (an erased student's certificates no longer verify)."""
        check_id(certificate_id, "certificate_id")
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"a certificate payload is a mapping, got {type(payload).__name__}")
        key = self._key()

        def verdict(valid: bool, reason: str) -> Verification:
            return Verification(certificate_id=certificate_id, valid=valid, reason=reason)

        try:
            claimed = Certificate.from_payload(payload)
        except (KeyError, TypeError, ValueError, InvalidInput):
            return verdict(False, "the payload is not a certificate record")
        if claimed.id != certificate_id:
            return verdict(False, "the payload is another certificate's")
        if not isinstance(claimed.signature, str) or not hmac.compare_digest(
            claimed.signature, sign(key, claimed.content())
        ):
            return verdict(False, "the signature does not match the content")

        def query(uow: UnitOfWork, now: datetime) -> Verification:
            stored = uow.records.get(CERTIFICATES, certificate_id)
            if stored is None:
                return verdict(False, "the school holds no such certificate")
            if Certificate.from_payload(stored) != claimed:
                return verdict(False, "the school's record differs")
            return verdict(True, "signed by the school and on its record")

        return self._run(query, write=False, ids={"certificate_id": certificate_id})

    # --- internals -----------------------------------------------------------------------

    def _key(self) -> bytes:
        if self.certificate_key is None:
            raise InvalidSetting(
                "certificates need the school's key: School.build(certificate_key=...)"
            )
        return self.certificate_key

    def _not_mastered(self, uow: UnitOfWork, student_id: str, course_id: str) -> list[str]:
        course = uow.records.get(MASTERY_COURSES, course_id)
        if course is None:
            raise MilestoneNotFound("course", course_id)
        doc = uow.records.get(MASTERY_STUDENTS, student_id) or {"points": {}}
        return [
            point
            for point in course["points"]
            if point not in doc["points"] or Decimal(doc["points"][point]["p"]) < self.threshold
        ]


def _quests(uow: UnitOfWork) -> list[Quest]:
    return [Quest.from_record(doc) for _, doc in uow.records.list(QUESTS)]


def issue_in(
    uow: UnitOfWork,
    key: bytes,
    student_id: str,
    kind: str,
    subject_id: str,
    title: str,
    basis: str,
    at: datetime,
) -> Certificate:
    """Issue a certificate inside ``uow``, once: the one issued before for the same
    student, kind and subject is returned unchanged."""
    found = uow.records.get(CERTIFICATES, certificate_id(kind, subject_id, student_id))
    if found is not None:
        return Certificate.from_payload(found)
    cert = Certificate.issue(
        key,
        student_id=student_id,
        kind=kind,
        subject_id=subject_id,
        title=title,
        basis=basis,
        at=at,
    )
    uow.records.put(
        CERTIFICATES,
        cert.id,
        cert.payload(),
        index={_cert_index(student_id): micros(at)},
    )
    uow.record_events(
        [
            CertificateIssued(
                occurred_at=at,
                student_id=student_id,
                certificate_id=cert.id,
                kind=kind,
                subject_id=subject_id,
                basis=basis,
            )
        ]
    )
    return cert


class MilestoneReactions:
    """The ``milestones`` projection's handlers: each counted event moves her XP ledger,
    her quests and the contests it falls in; a quest reaching its target is completed
    and rewarded in the same unit of work, exactly once (its completion is stored with
    its progress, and the reward XP's source is the quest)."""

    def __init__(self, service: MilestoneService) -> None:
        self.service = service

    def table(self) -> dict[type[DomainEvent], list[Handler]]:
        table: dict[type[DomainEvent], list[Handler]] = {
            XpAwarded: [_unless_erased(self.on_xp_awarded)],
            AttendanceMarked: [_unless_erased(self.on_attendance)],
            MasteryUpdated: [_unless_erased(self.on_mastery)],
        }
        for cls in self.service.quest_events:
            table.setdefault(cls, []).append(_unless_erased(self.on_counted_event))
        return table

    def on_counted_event(self, event: DomainEvent, uow: UnitOfWork) -> None:
        """One of the student's events of a type ``events`` quests count."""
        student = getattr(event, "student_id", None)
        if not isinstance(student, str):
            return
        doc = _student_locked(uow, student)
        kind = event_kind(type(event)).name
        self._advance(uow, doc, student, "events", 1, event.occurred_at, event_type=kind)

    def on_xp_awarded(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, XpAwarded)
        at, student = event.occurred_at, event.student_id
        doc = _student_locked(uow, student)
        day = at.date().isoformat()
        doc["days"][day] = int(doc["days"].get(day, 0)) + event.points
        # keep the days any window can still need, counted back from the latest one
        oldest = (
            (dt_in(max(doc["days"]) + "T00:00:00+00:00") - timedelta(days=LEDGER_DAYS))
            .date()
            .isoformat()
        )
        doc["days"] = {d: n for d, n in doc["days"].items() if d > oldest}
        self._advance(uow, doc, student, "xp_earned", event.points, at)
        for key in _running(uow, CONTESTS, at):
            contest = uow.records.get(CONTESTS, key)
            if contest is None or not dt_in(contest["starts_at"]) <= at:
                continue
            team = self._team(uow, contest, student)
            if team is None:
                continue
            contest["points"][team] = int(contest["points"][team]) + event.points
            members = contest["members"][team]
            members[student] = int(members.get(student, 0)) + event.points
            _put_contest(uow, key, contest)

    def on_attendance(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, AttendanceMarked)
        attended = BookingStatus.ATTENDED.value
        # a correction to attended counts once; one away from it takes nothing back
        if event.status != attended or event.previous == attended:
            return
        doc = _student_locked(uow, event.student_id)
        self._advance(uow, doc, event.student_id, "lessons_attended", 1, event.occurred_at)

    def on_mastery(self, event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, MasteryUpdated)
        threshold = self.service.threshold
        if not (event.before < threshold <= event.after):
            return
        student, at = event.student_id, event.occurred_at
        doc = _student_locked(uow, student)
        self._advance(uow, doc, student, "points_mastered", 1, at)
        key = self.service.certificate_key
        if key is None:
            return
        for course_id, course in uow.records.list(MASTERY_COURSES):
            if event.point_id in course["points"] and not self.service._not_mastered(
                uow, student, course_id
            ):
                issue_in(uow, key, student, "course", course_id, course_id, "mastery", at)

    def _team(self, uow: UnitOfWork, contest: Mapping[str, Any], student: str) -> str | None:
        if contest["by"] == "groups":
            return next((t for t, ids in contest["groups"].items() if student in ids), None)
        klass = class_of(uow, student)
        return klass if klass in contest["points"] else None

    def _advance(
        self,
        uow: UnitOfWork,
        doc: dict[str, Any],
        student: str,
        measure: str,
        amount: int,
        at: datetime,
        *,
        event_type: str | None = None,
    ) -> None:
        """Count ``amount`` for her open quests of ``measure`` (and ``event_type``) that
        ``at`` falls in, store her document, and complete (and reward) the quests it
        takes to their target."""
        done: list[tuple[Quest, int]] = []
        for key in _running(uow, QUESTS, at):
            found = uow.records.get(QUESTS, key)
            quest = Quest.from_record(found) if found is not None else None
            if (
                quest is None
                or quest.measure != measure
                or quest.event_type != event_type
                or not quest.counts_at(at)
            ):
                continue
            state = doc["quests"].setdefault(quest.id, {"n": 0, "done": None})
            if state["done"]:
                continue
            state["n"] = int(state["n"]) + amount
            if state["n"] >= quest.target:
                state["done"] = dt_out(at)
                done.append((quest, int(state["n"])))
        uow.records.put(STUDENTS, student, doc)
        for quest, count in done:
            self._complete(uow, student, quest, count, at)

    def _complete(
        self, uow: UnitOfWork, student: str, quest: Quest, count: int, at: datetime
    ) -> None:
        uow.record_events(
            [
                QuestCompleted(
                    occurred_at=at,
                    student_id=student,
                    quest_id=quest.id,
                    count=count,
                    reward_xp=quest.reward_xp,
                    reward_badge=quest.reward_badge,
                )
            ]
        )
        levels = self.service.levels
        if quest.reward_xp:
            levels.record_in(
                uow,
                LearningEvent(
                    student_id=student, kind=QUEST_XP, source_id=quest.id, occurred_at=at
                ),
                rule=XpRule(kind=QUEST_XP, points=quest.reward_xp),
            )
        if quest.reward_badge is not None:
            levels.grant_badge_in(uow, student, quest.reward_badge, quest.title, at)
        if quest.certificate and self.service.certificate_key is not None:
            issue_in(
                uow,
                self.service.certificate_key,
                student,
                "quest",
                quest.id,
                quest.title,
                "quest",
                at,
            )
