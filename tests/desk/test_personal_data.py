"""The personal data in tickets, leads and surveys under the school's one access check
(issue #24) and erasure, on every adapter: whole (and audited once), masked, or
refused (audited ``denied``); erasing a student or a lead leaves none of her contact
data in the desk's documents."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

import pytest

from eduengine import FixedClock, School
from eduengine.desk.model import DeskSetup, LeadContact, LeadRouting, Party
from eduengine.errors import AccessDenied
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE, EMAIL = "13812341234", "ann-4417@example.com"
SETUP = DeskSetup(zone="UTC", leads=LeadRouting(consultants=("amy",)))

ADMIN = Actor(id="root", role="admin")  # a desk staff role with full access
SUPPORT = Actor(id="sue", role="support")  # a desk staff role, contacts masked
STRANGER = Actor(id="mo", role="marketing")
ANN = Actor(id="ann", role="student")


def build(store: StoreHandle) -> School:
    return School.build(store, clock=FixedClock(T0), desk=SETUP, reminders=None)


def audit(school: School, actor: Actor) -> list[tuple[str, str]]:
    page = school.people.audit_log(actor=SYSTEM, actor_id=actor.id, limit=1000)
    return [(e.student_id, e.action) for e in page.entries]


def test_a_tickets_texts_are_whole_and_audited_or_masked_as_the_access_check_says(
    store: StoreHandle,
) -> None:
    school = build(store)
    desk = school.desk
    school.students.register("ann", name="Ann")
    ticket = desk.open_ticket(
        category="complaint",
        asker=Party("student", "ann"),
        subject=f"call {PHONE}",
        text=f"mail me at {EMAIL}",
    )
    whole = desk.ticket(ticket.id, ADMIN)
    assert (whole.subject, whole.messages[0].text) == (f"call {PHONE}", f"mail me at {EMAIL}")
    assert audit(school, ADMIN) == [("ann", "read")]
    masked = desk.ticket(ticket.id, SUPPORT)
    assert PHONE not in repr(masked) and EMAIL not in repr(masked)
    assert masked.subject == "call 138****1234"
    assert audit(school, SUPPORT) == []
    # the holder answers whatever her access: the contacts masked (she is no class teacher)
    desk.reassign(ticket.id, to="olga")
    held = desk.ticket(ticket.id, Actor(id="olga", role="teacher"))
    assert PHONE not in repr(held) and held.messages[0].text.startswith("mail me at a***@")
    # the asker reads her own words, unaudited
    assert desk.ticket(ticket.id, ANN).subject == f"call {PHONE}"
    assert audit(school, ANN) == []
    with pytest.raises(AccessDenied):
        desk.ticket(ticket.id, STRANGER)
    listed = desk.tickets_of("student", "ann", ADMIN)
    assert [t.subject for t in listed] == [f"call {PHONE}"]
    assert audit(school, ADMIN) == [("ann", "read"), ("ann", "read")]
    assert PHONE not in repr(desk.tickets_of("student", "ann", SUPPORT))


def test_a_leads_contact_follows_the_access_check_and_is_audited_under_the_lead(
    store: StoreHandle,
) -> None:
    school = build(store)
    leads = school.desk.leads
    lead = leads.capture(source="douyin", contact=LeadContact(name="Ann", phone=PHONE))
    consultant = Actor(id="amy", role="sales")
    assert leads.lead(lead.id, consultant).contact == LeadContact(name="Ann", phone=PHONE)
    assert audit(school, consultant) == [(f"lead:{lead.id}", "read")]
    consultation = leads.consult(lead.id, subject="Level?", text=f"call me: {PHONE}")
    assert school.desk.ticket(consultation.id, consultant).messages[0].text.endswith(PHONE)
    assert PHONE not in repr(school.desk.ticket(consultation.id, SUPPORT))
    assert PHONE not in repr(leads.lead(lead.id, SUPPORT))
    assert audit(school, SUPPORT) == []
    with pytest.raises(AccessDenied):
        leads.lead(lead.id, STRANGER)
    assert audit(school, STRANGER) == [(f"lead:{lead.id}", "denied")]
    # once she is a student, her record decides, and the reads are hers
    school.students.register("ann", name="Ann")
    leads.convert(lead.id, "ann")
    assert leads.lead(lead.id, ADMIN).contact is not None
    assert audit(school, ADMIN) == [("ann", "read")]


def test_a_survey_answer_is_read_by_the_access_check(store: StoreHandle) -> None:
    school = build(store)
    sat = school.desk.satisfaction
    school.students.register("ann", name="Ann")
    survey = sat.send("lesson", "slot-1", "ann")
    sat.answer(survey.id, by=Party("student", "ann"), csat=2, text=f"ring {PHONE}")
    assert sat.survey(survey.id, actor=ADMIN).text == f"ring {PHONE}"
    assert audit(school, ADMIN) == [("ann", "read")]
    assert sat.survey(survey.id, actor=SUPPORT).text == "ring 138****1234"
    assert sat.survey(survey.id, actor=ANN).text == f"ring {PHONE}"
    assert audit(school, SUPPORT) == audit(school, ANN) == []
    with pytest.raises(AccessDenied):
        sat.survey(survey.id, actor=STRANGER)
    assert audit(school, STRANGER) == [("ann", "denied")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anonymous = sat.survey(survey.id)
    assert anonymous.text == "ring 138****1234" and anonymous.csat == 2
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_erasing_a_student_or_a_lead_leaves_none_of_her_contact_data_in_the_desk(
    store: StoreHandle,
) -> None:
    school = build(store)
    desk, leads, sat = school.desk, school.desk.leads, school.desk.satisfaction
    # ann was a lead, consulted, registered, asked, answered a survey and reviewed
    lead = leads.capture(source="douyin", contact=LeadContact(phone=PHONE, email=EMAIL))
    leads.consult(lead.id, subject=f"call {PHONE}", text=f"or {EMAIL}")
    school.students.register("ann", name="Ann")
    leads.convert(lead.id, "ann")
    ticket = desk.open_ticket(
        category="question", asker=Party("student", "ann"), subject="s", text=f"{PHONE}"
    )
    desk.reply(ticket.id, by="amy", text=f"I will call {PHONE}")
    survey = sat.send("lesson", "slot-1", "ann")
    sat.answer(survey.id, by=Party("student", "ann"), csat=5, text=f"mail {EMAIL}")
    sat.review("ann", "math", rating=5, text=f"ask me: {PHONE}")
    # another prospect, never a student, asks to be forgotten
    other = leads.capture(source="wechat", contact=LeadContact(wechat="wx-bo-5521"))
    leads.consult(other.id, subject="hi", text="add me: wx-bo-5521")

    school.students.erase(ADMIN, "ann")
    leads.erase(other.id)
    stored = json.dumps(store.snapshot(), default=str)
    for value in (PHONE, EMAIL, "wx-bo-5521"):
        assert value not in stored
    assert leads.lead(lead.id, ADMIN).contact is None
    assert desk.ticket(ticket.id, ADMIN).messages[0].text == "[erased]"
    assert sat.survey(survey.id, actor=ADMIN).csat == 5  # the measures stay
