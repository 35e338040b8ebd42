"""Certificates (stable ids, an HMAC a verifier can check, one per completion) and the
"next level by" estimate; erasure of a student's milestones."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.errors import CourseNotMastered, InvalidInput, InvalidSetting, MilestoneNotFound
from eduengine.levels import LevelCurve
from eduengine.milestones import CertificateIssued, certificate_id
from eduengine.milestones.service import CERTIFICATES, STUDENTS
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0
from tests.milestones.test_quests import KEY, RULES, build, xp


def test_a_host_completed_course_gets_one_stable_certificate_that_verifies(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = build(store, clock)
    cert = school.milestones.complete_course("ann", "algebra", title="Algebra I")
    clock.advance(timedelta(days=1))
    again = school.milestones.complete_course("ann", "algebra", title="Algebra I")
    assert again == cert and cert.id == certificate_id("course", "algebra", "ann")
    assert (cert.basis, cert.title, cert.issued_at) == ("host", "Algebra I", T0)
    assert school.milestones.certificate(cert.id, actor=SYSTEM) == cert
    assert school.milestones.certificates_of("ann", actor=SYSTEM) == [cert]
    issued = [
        e.event
        for e in school.feed.events_since(0, limit=500)
        if isinstance(e.event, CertificateIssued)
    ]
    assert [(e.certificate_id, e.kind, e.subject_id) for e in issued] == [
        (cert.id, "course", "algebra")
    ]

    check = school.milestones.verify_certificate
    payload = cert.payload()
    assert check(cert.id, payload).valid
    assert not check(cert.id, {**payload, "title": "Algebra II"}).valid  # tampered
    assert check(cert.id, {**payload, "title": "Algebra II"}).reason == (
        "the signature does not match the content"
    )
    assert not check("crt_other", payload).valid
    assert not check(cert.id, {"id": cert.id}).valid  # not a certificate record
    other_school = School.build(
        store, clock=clock, reminders=None, certificate_key=b"another-school-key-32-bytes-long"
    )
    assert not other_school.milestones.verify_certificate(cert.id, payload).valid
    with pytest.raises(InvalidInput):
        check(cert.id, "not a mapping")  # type: ignore[arg-type]


def test_mastering_every_point_of_a_course_issues_its_certificate_by_itself(
    store: StoreHandle,
) -> None:
    school = build(store, FixedClock(T0))
    school.mastery.define_course("arithmetic", ["count", "add"])
    with pytest.raises(CourseNotMastered, match="count, add"):
        school.milestones.certify_mastery("ann", "arithmetic")
    for n in range(6):
        school.mastery.observe("ann", "count", True, at=T0 + timedelta(hours=n))
    with pytest.raises(CourseNotMastered, match="add below"):
        school.milestones.certify_mastery("ann", "arithmetic")
    assert school.milestones.certificates_of("ann", actor=SYSTEM) == []
    for n in range(6):
        school.mastery.observe("ann", "add", True, at=T0 + timedelta(hours=n))
    [cert] = school.milestones.certificates_of("ann", actor=SYSTEM)
    assert (cert.kind, cert.subject_id, cert.basis) == ("course", "arithmetic", "mastery")
    assert school.milestones.certify_mastery("ann", "arithmetic") == cert  # the same one
    with pytest.raises(MilestoneNotFound):
        school.milestones.certify_mastery("ann", "no-such-course")


def test_without_a_key_no_certificate_is_issued(store: StoreHandle) -> None:
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    with pytest.raises(InvalidSetting, match="certificate_key"):
        school.milestones.complete_course("ann", "algebra")
    with pytest.raises(InvalidSetting):
        School.build(store, clock=FixedClock(T0), certificate_key=b"short")


def test_next_level_by_goes_by_the_last_28_days_of_xp(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(
        store,
        clock=clock,
        reminders=None,
        xp_rules=RULES,
        level_curve=LevelCurve.explicit([0, 100, 500]),
        certificate_key=KEY,
    )
    estimate = school.milestones.next_level_by("ann", actor=SYSTEM)
    assert (estimate.by, estimate.rate_per_day) == (None, Decimal("0E-12"))
    assert estimate.reason == "no XP earned in the last 28 days, so no rate to go by"
    xp(school, "ann", 500, "old", at_days=-40)  # outside the window: level 3 at once
    top = school.milestones.next_level_by("ann", actor=SYSTEM)
    assert (top.level, top.by, top.reason) == (3, None, "already at the top level")

    xp(school, "bob", 60, "b1", at_days=-30)  # before the window
    xp(school, "bob", 28, "b2", at_days=-27)  # the window's first day (UTC dates)
    xp(school, "bob", 28, "b3", at_days=0)
    estimate = school.milestones.next_level_by("bob", actor=SYSTEM)
    assert (estimate.level, estimate.xp, estimate.xp_needed) == (2, 116, 384)
    assert (estimate.xp_in_window, estimate.window_days) == (56, 28)
    assert estimate.rate_per_day == Decimal(2)
    assert (estimate.days_needed, estimate.by) == (192, date(2026, 9, 10))
    assert "384 XP to level 3" in estimate.explain()
    later = school.milestones.next_level_by("bob", at=T0 + timedelta(days=1), actor=SYSTEM)
    assert later.xp_in_window == 28  # b2 left the window


def test_erasure_removes_her_milestones_and_her_certificates_stop_verifying(
    store: StoreHandle,
) -> None:
    school = build(store, FixedClock(T0))
    school.students.register("ann", name="Ann")
    school.milestones.define_contest(
        "pk", starts_at=T0, ends_at=T0 + timedelta(days=7), groups={"x": ["ann"], "y": ["bob"]}
    )
    xp(school, "ann", 10, "a")
    xp(school, "bob", 10, "b")
    cert = school.milestones.complete_course("ann", "algebra")
    bobs = school.milestones.complete_course("bob", "algebra")
    report = school.students.erase(Actor(id="dpo", role="admin"), "ann")
    assert report.removed["milestones"] == 3  # her ledger, her certificate, her contest line
    with store.unit_of_work() as uow:
        assert uow.records.get(STUDENTS, "ann") is None
        assert uow.records.get(CERTIFICATES, cert.id) is None
    assert school.milestones.certificates_of("ann", actor=SYSTEM) == []
    assert not school.milestones.verify_certificate(cert.id, cert.payload()).valid
    assert school.milestones.verify_certificate(bobs.id, bobs.payload()).valid
    standings = school.milestones.standings("pk")
    assert [(s.team_id, s.points, s.members) for s in standings] == [
        ("x", 10, {}),
        ("y", 10, {"bob": 10}),
    ]
