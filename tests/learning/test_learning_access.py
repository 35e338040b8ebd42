"""The access check on every read of a student's learning record (issue #23): works,
baseline, mastery, the review schedule, the path, recommendations, quests, "next level
by" and certificates. Whole (audited once), masked (works only), or refused (audited
``denied``); the actor-less forms warn."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.errors import AccessDenied
from eduengine.learning import Assignment, LearningService, WorkKind
from eduengine.mastery.service import MasteryService
from eduengine.milestones import Quest
from eduengine.milestones.service import MilestoneService
from eduengine.people import SYSTEM, FieldSet, Scope, StaffRole
from eduengine.people.model import Access
from eduengine.students import Actor, SchoolClass
from tests.adapters import StoreHandle
from tests.learning.helpers import set_up_course

KEY = b"a-school-key-of-32-bytes-exactly"
ANSWER = "Ann-7741 answer: hello one two"
COMMENT = "Ann-7741 comment: watch the spelling"

OFFICE = Actor(id="u-office", role="academic")
TEACHER = Actor(id="t-lin", role="teacher", class_ids=frozenset({"A"}))
SUPPORT = Actor(id="u-support", role="support")
STRANGER = Actor(id="u-stranger", role="marketing")
OTHER_TEACHER = Actor(id="t-wu", role="teacher", class_ids=frozenset({"B"}))
ANN = Actor(id="ann", role="student")
BOB = Actor(id="bob", role="student")
GUARDIAN = Actor(id="g-ann", role="guardian", student_ids=frozenset({"ann"}))


@attrs.frozen
class Setup:
    school: School
    work_id: str
    certificate_id: str


def setup(store: StoreHandle, clock: FixedClock) -> Setup:
    school = School.build(store, clock=clock, certificate_key=KEY)
    set_up_course(school.learning)
    school.students.create_class(SchoolClass(id="A", name="Level 2", capacity=12))
    for sid in ("ann", "bob"):
        school.students.register(sid, name=sid.title())
    school.students.assign("ann", "A")
    [work_id] = school.learning.assign(
        Assignment(id="dx", kind=WorkKind.DIAGNOSTIC, course_id="en1", teacher_id="t-lin"),
        student_ids=["ann"],
    )
    school.learning.submit("ann", work_id, content=ANSWER)
    school.learning.grade(
        TEACHER,
        work_id,
        score=Decimal("0.8"),
        rubric={"vocabulary": Decimal("0.7")},
        comment=COMMENT,
    )
    school.mastery.set_goals("ann", courses=["en1"])
    school.milestones.define_quest(
        Quest(
            id="q1",
            title="Earn XP",
            measure="xp_earned",
            target=100,
            ends_at=clock.now() + timedelta(days=7),
        )
    )
    cert = school.milestones.complete_course("ann", "en1", title="English 1")
    clock.advance(timedelta(days=30))  # her review is due
    return Setup(school, work_id, cert.id)


#: every read of a student's learning record that has a masked form, with what only a
#: whole read shows
MASKABLE: dict[str, tuple[Callable[[Setup, Actor | None], object], tuple[str, ...]]] = {
    "LearningService.work": (
        lambda s, a: s.school.learning.work(s.work_id, actor=a),
        (ANSWER, COMMENT, "0.8"),
    ),
    "LearningService.works_of": (
        lambda s, a: s.school.learning.works_of("ann", actor=a),
        (ANSWER, COMMENT, "0.8"),
    ),
}

#: the reads that are all results: whole or refused
STRICT: dict[str, Callable[[Setup, Actor | None], object]] = {
    "LearningService.baseline": lambda s, a: s.school.learning.baseline("ann", actor=a),
    "MasteryService.mastery": lambda s, a: s.school.mastery.mastery("ann", actor=a),
    "MasteryService.due_reviews": lambda s, a: s.school.mastery.due_reviews("ann", actor=a),
    "MasteryService.goals": lambda s, a: s.school.mastery.goals("ann", actor=a),
    "MasteryService.next_step": lambda s, a: s.school.mastery.next_step("ann", actor=a),
    "MasteryService.recommend": lambda s, a: s.school.mastery.recommend("ann", actor=a),
    "MilestoneService.quest_progress": (
        lambda s, a: s.school.milestones.quest_progress("ann", actor=a)
    ),
    "MilestoneService.next_level_by": (
        lambda s, a: s.school.milestones.next_level_by("ann", actor=a)
    ),
    "MilestoneService.certificates_of": (
        lambda s, a: s.school.milestones.certificates_of("ann", actor=a)
    ),
    "MilestoneService.certificate": (
        lambda s, a: s.school.milestones.certificate(s.certificate_id, actor=a)
    ),
}

#: public methods returning a student's learning data that are not reads under the
#: check above: answers of the caller's own command, reads that already required an
#: actor, a third party's check of a certificate it holds, the school's leaderboard
NOT_READS = {
    "LearningService.submit",
    "LearningService.grade",
    "LearningService.return_work",
    "LearningService.archive",  # an actor is required (tests/learning/test_archive.py)
    "LearningService.report",  # idem
    "MasteryService.observe",
    "MasteryService.set_goals",
    "MilestoneService.complete_course",
    "MilestoneService.certify_mastery",
    "MilestoneService.verify_certificate",
}

LEARNING_TYPES = (
    "Work",
    "dict[str, Decimal]",
    "PointMastery",
    "DueReview",
    "Goals",
    "PathStep",
    "Ranked",
    "QuestProgress",
    "NextLevel",
    "Certificate",
    "Verification",
    "ArchivePage",
    "LearningReport",
)


def learning_reads(cls: type) -> set[str]:
    found = set()
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        returns = str(inspect.signature(method).return_annotation)
        if any(t in returns for t in LEARNING_TYPES):
            found.add(f"{cls.__name__}.{name}")
    return found


def test_every_public_read_of_a_learning_record_takes_an_actor() -> None:
    for cls in (LearningService, MasteryService, MilestoneService):
        for read in learning_reads(cls) - NOT_READS:
            assert read in MASKABLE or read in STRICT, f"{read}: give it the access check"
            method = getattr(cls, read.split(".")[1])
            assert "actor" in inspect.signature(method).parameters, read


def audit_rows(school: School, actor: Actor) -> list[tuple[str, str]]:
    page = school.people.audit_log(actor=SYSTEM, actor_id=actor.id, limit=1000)
    return [(e.student_id, e.action) for e in page.entries]


@pytest.mark.parametrize("read", sorted(MASKABLE))
def test_a_work_read_is_whole_masked_or_refused_and_each_whole_read_audited_once(
    store: StoreHandle, clock: FixedClock, read: str
) -> None:
    s = setup(store, clock)
    call, values = MASKABLE[read]
    for actor in (OFFICE, TEACHER, ANN, GUARDIAN):
        whole = repr(call(s, actor))
        assert all(v in whole for v in values), (actor, whole)
        assert audit_rows(s.school, actor) == [("ann", "read")]
    masked = repr(call(s, SUPPORT))
    assert "ann" in masked and not any(v in masked for v in values), masked
    assert audit_rows(s.school, SUPPORT) == []
    for actor in (STRANGER, OTHER_TEACHER, BOB):
        with pytest.raises(AccessDenied):
            call(s, actor)
        assert audit_rows(s.school, actor) == [("ann", "denied")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anonymous = repr(call(s, None))
    assert not any(v in anonymous for v in values)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


@pytest.mark.parametrize("read", sorted(STRICT))
def test_a_learning_result_is_whole_or_refused_and_audited(
    store: StoreHandle, clock: FixedClock, read: str
) -> None:
    s = setup(store, clock)
    call = STRICT[read]
    answers = []
    for actor in (OFFICE, TEACHER, ANN, GUARDIAN):
        answers.append(call(s, actor))
        assert audit_rows(s.school, actor) == [("ann", "read")]
    assert all(a == answers[0] for a in answers)
    for actor in (SUPPORT, STRANGER, OTHER_TEACHER, BOB):
        with pytest.raises(AccessDenied):
            call(s, actor)
        assert audit_rows(s.school, actor) == [("ann", "denied")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert call(s, None) == answers[0]  # deprecated: as before the check
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_the_staff_registry_and_its_grants_open_and_close_the_learning_record(
    store: StoreHandle, clock: FixedClock
) -> None:
    s = setup(store, clock)
    people, tutor = s.school.people, Actor(id="u-tutor", role="tutor")
    people.register_staff("u-tutor", StaffRole.TUTOR)  # her students, masked
    with pytest.raises(AccessDenied):
        s.school.mastery.mastery("ann", actor=tutor)
    people.grant(
        "u-tutor",
        scope=Scope.MY_STUDENTS,
        student_ids={"ann"},
        fields=FieldSet(contacts=Access.FULL),
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=1),
    )
    assert s.school.mastery.mastery("ann", actor=tutor)
    assert s.school.learning.archive(tutor, "ann").entries  # the archive: one rule
    people.revoke_all("u-tutor")
    with pytest.raises(AccessDenied):
        s.school.learning.works_of("ann", actor=tutor)
    with pytest.raises(AccessDenied):
        s.school.learning.archive(tutor, "ann")
