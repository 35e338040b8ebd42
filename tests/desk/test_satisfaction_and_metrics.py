"""Surveys, reviews and the desk's metrics on every adapter: a consultation that
becomes a student, buys after a trial and leaves a review shows up at each funnel step
and in each metric once; the metrics rebuilt from the feed equal the live ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock, School
from eduengine.desk.events import LeadStepReached
from eduengine.desk.hours import BusinessHours
from eduengine.desk.metrics import DeskMetrics, TimeStats
from eduengine.desk.model import DeskSetup, LeadContact, LeadRouting, Party
from eduengine.errors import (
    AccessDenied,
    InvalidInput,
    SurveyAlreadyAnswered,
    SurveyNotFound,
)
from eduengine.students import Actor
from eduengine.students.model import Guardian
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday
OFFICE = Actor(id="olivia", role="academic")
SETUP = DeskSetup(
    zone="UTC",
    teams={"sales": BusinessHours.always("UTC"), "operations": BusinessHours.always("UTC")},
    leads=LeadRouting(consultants=("amy",)),
)


def build(store: StoreHandle) -> tuple[School, FixedClock]:
    clock = FixedClock(T0)
    return School.build(store, clock=clock, desk=SETUP, reminders=None), clock


def everything(metrics: DeskMetrics) -> dict[str, object]:
    return {
        "response": {by: metrics.response_times(by=by) for by in ("category", "team", "person")},
        "resolution": metrics.resolution_times(by="team"),
        "sla": metrics.sla_attainment("first_response", by="team"),
        "complaints": metrics.complaint_rate(),
        "csat": {by: metrics.satisfaction(by=by) for by in ("all", "course", "tutor")},
        "ratings": metrics.ratings(by="course"),
        "funnel": metrics.funnel(by="source", value="douyin"),
        "month": metrics.funnel(period="2026-03"),
    }


def test_a_lead_that_becomes_a_buying_reviewing_student_counts_once_everywhere(
    store: StoreHandle,
) -> None:
    school, clock = build(store)
    desk, leads = school.desk, school.desk.leads
    lead = leads.capture(source="douyin", campaign="spring", contact=LeadContact(phone="1"))
    first = leads.consult(lead.id, subject="Level?", text="?", course_id="math")
    leads.consult(lead.id, subject="Price?", text="?")  # a second consultation: one step
    clock.advance(timedelta(minutes=20))
    desk.reply(first.id, by="amy", text="Level 2")
    school.students.register("kid", name="Kid")
    leads.convert(lead.id, "kid")
    school.students.record_activity("kid", "trial_booked")
    school.students.buy_package("kid", credits=10, valid_for=timedelta(days=90))
    school.students.buy_package("kid", credits=10, valid_for=timedelta(days=90))  # renewal
    school.students.register("other", name="Other")
    complaint = desk.open_ticket(
        category="complaint", asker=Party("student", "kid"), subject="s", text="t"
    )
    clock.advance(timedelta(hours=5))  # past the 4 business hours of a first response
    desk.resolve(complaint.id, by="olga", text="refunded")
    desk.reopen(complaint.id, by="kid")
    desk.resolve(complaint.id, by="olga")  # resolved again: not a second resolution
    kid = Actor(id="kid", role="student")
    survey = desk.satisfaction.survey(f"ticket:{complaint.id}:kid", actor=kid)  # sent on its own
    desk.satisfaction.answer(survey.id, by=Party("student", "kid"), csat=4, nps=10)
    desk.satisfaction.review("kid", "math", rating=3, tutor_id="tom")
    desk.satisfaction.review("kid", "math", rating=5, text="better now")  # an edit

    metrics = desk.metrics
    assert metrics.funnel(by="source", value="douyin") == {
        "visit": 1,
        "consult": 1,
        "register": 1,
        "trial": 1,
        "first_purchase": 1,
    }
    assert metrics.funnel(by="campaign", value="spring") == metrics.funnel()
    assert metrics.response_times(by="person")["amy"] == TimeStats(
        count=1, median=timedelta(minutes=20), p90=timedelta(minutes=20)
    )
    assert metrics.resolution_times(by="category")["complaint"].count == 1
    assert metrics.sla_attainment("first_response", by="category") == {
        "complaint": Decimal(0),
        "question": Decimal(100),
    }
    assert metrics.complaint_rate() == Decimal(50)  # 1 complaint, 2 students
    assert metrics.complaint_rate(period="2026-04") == Decimal(0)  # none filed in April
    csat = metrics.satisfaction(by="occasion")["ticket"]
    assert (csat.answers, csat.csat, csat.csat_satisfied, csat.nps) == (
        1,
        Decimal("4.00"),
        Decimal("100.00"),
        Decimal("100.00"),
    )
    assert metrics.ratings(by="course") == {"math": (1, Decimal("5.00"))}
    assert metrics.ratings(by="tutor") == {"tom": (1, Decimal("5.00"))}

    live = everything(metrics)
    steps = [
        e.event.step
        for e in school.feed.events_since(0, 1000)
        if isinstance(e.event, LeadStepReached)
    ]
    assert steps == ["visit", "consult", "register", "trial", "first_purchase"]
    report = school.projections.rebuild("desk")
    assert report.ok
    assert everything(metrics) == live
    again = [e for e in school.feed.events_since(0, 1000) if isinstance(e.event, LeadStepReached)]
    assert len(again) == 5  # a rebuild announces nothing again


def test_a_lead_converted_after_its_students_trial_and_purchases_counts_each_step_once(
    store: StoreHandle,
) -> None:
    school, clock = build(store)
    leads, students, metrics = school.desk.leads, school.students, school.desk.metrics
    students.register("kid", name="Kid")
    students.record_activity("kid", "trial_booked")
    students.buy_package("kid", credits=10, valid_for=timedelta(days=90))
    students.buy_package("kid", credits=10, valid_for=timedelta(days=90))  # renewed
    clock.advance(timedelta(days=31))  # April: the lead is found and linked only now
    lead = leads.capture(source="douyin", campaign="spring", contact=LeadContact(phone="1"))
    leads.consult(lead.id, subject="Level?", text="?")
    leads.convert(lead.id, "kid")
    students.buy_package("kid", credits=10, valid_for=timedelta(days=90))
    every_step = dict.fromkeys(("visit", "consult", "register", "trial", "first_purchase"), 1)
    assert metrics.funnel() == every_step
    assert metrics.funnel(period="2026-04") == every_step  # counted when linked
    assert metrics.funnel(period="2026-03") == dict.fromkeys(every_step, 0)
    # a second lead of the same student is refused and changes nothing
    twin = leads.capture(source="wechat", contact=LeadContact(phone="2"))
    with pytest.raises(InvalidInput):
        leads.convert(twin.id, "kid")
    assert leads.lead(twin.id, Actor(id="amy", role="sales")).stage == "visit"
    assert metrics.funnel() == {**every_step, "visit": 2}
    steps = [
        e.event.step
        for e in school.feed.events_since(0, 1000)
        if isinstance(e.event, LeadStepReached) and e.event.lead_id == lead.id
    ]
    assert steps == ["visit", "consult", "register", "trial", "first_purchase"]
    live = everything(metrics)
    assert school.projections.rebuild("desk").ok
    assert everything(metrics) == live


def test_a_survey_is_sent_once_per_occasion_and_answered_once(store: StoreHandle) -> None:
    school, _ = build(store)
    school.students.register("ann", name="Ann", guardians=[Guardian(name="Grace")])
    sat = school.desk.satisfaction
    survey = sat.send("term", "2026-spring", "ann", course_id="math")
    assert sat.send("term", "2026-spring", "ann").id == survey.id
    with pytest.raises(InvalidInput):
        sat.send("birthday", "x", "ann")
    with pytest.raises(InvalidInput):
        sat.answer(survey.id, by=Party("student", "ann"), csat=6)
    with pytest.raises(InvalidInput):
        sat.answer(survey.id, by=Party("student", "ann"), nps=11)
    with pytest.raises(AccessDenied):
        sat.answer(survey.id, by=Party("student", "bob"), csat=5)
    # a guardian is one of the student's, named as notices name her
    for stranger in ("grace", "ann#guardian1", "bob#guardian0"):
        with pytest.raises(AccessDenied):
            sat.answer(survey.id, by=Party("guardian", stranger), csat=5)
    answered = sat.answer(
        survey.id, by=Party("guardian", "ann#guardian0"), nps=3, text="too fast"
    )
    assert (answered.answered_by, answered.nps, answered.csat) == ("guardian", 3, None)
    with pytest.raises(SurveyAlreadyAnswered):
        sat.answer(survey.id, by=Party("student", "ann"), csat=5)
    assert school.desk.metrics.satisfaction()["all"].nps == Decimal(-100)


def test_erasure_blanks_survey_and_review_texts(store: StoreHandle) -> None:
    school, _ = build(store)
    school.students.register("ann", name="Ann")
    sat = school.desk.satisfaction
    survey = sat.send("lesson", "slot-1", "ann")
    sat.answer(survey.id, by=Party("student", "ann"), csat=2, text="my phone is 13812345678")
    sat.review("ann", "math", rating=2, text="call me at 13812345678")
    school.students.erase(Actor(id="root", role="admin"), "ann")
    assert sat.survey(survey.id, actor=OFFICE).text == "[erased]"
    assert sat.survey(survey.id, actor=OFFICE).csat == 2  # the score stays for the metrics


def test_a_lesson_attended_sends_its_survey_once_when_the_desk_asks_for_it(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    setup = DeskSetup(zone="UTC", survey_after_lesson=True)
    school = School.build(store, clock=clock, desk=setup, reminders=None)
    start = T0 + timedelta(hours=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 3, tutor_id="tom")
    ann = school.booking.book(slot.id, "ann")
    bob = school.booking.book(slot.id, "bob")
    clock.set(start + timedelta(minutes=70))
    school.booking.mark_attended(ann.id)
    school.booking.mark_no_show(bob.id)
    survey = school.desk.satisfaction.survey(f"lesson:{slot.id}:ann", actor=OFFICE)
    assert (survey.course_id, survey.tutor_id) == ("math", "tom")
    with pytest.raises(SurveyNotFound):
        school.desk.satisfaction.survey(f"lesson:{slot.id}:bob", actor=OFFICE)  # not asked
    school.desk.satisfaction.answer(survey.id, by=Party("student", "ann"), csat=5)
    assert school.desk.metrics.satisfaction(by="tutor")["tom"].csat == Decimal("5.00")
