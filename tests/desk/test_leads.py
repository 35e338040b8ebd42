"""Leads on every adapter: assignment rules, consultations without an account,
conversion keeping the history, masked contact reads, erasure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from eduengine import FixedClock, School
from eduengine.desk.events import ConsultationRequested, LeadAssigned, LeadConverted
from eduengine.desk.model import DeskSetup, LeadContact, LeadRouting
from eduengine.errors import (
    AccessDenied,
    InvalidInput,
    LeadAlreadyConverted,
    LeadNotFound,
    StudentNotFound,
)
from eduengine.kernel.events import DomainEvent
from eduengine.students import Actor
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE = "13812345678"
SETUP = DeskSetup(
    zone="UTC",
    leads=LeadRouting(
        consultants=("amy", "bo", "cy"),
        by_course={"piano": ("pia",)},
        by_language={"en": ("eve", "ed")},
    ),
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def build(store: StoreHandle, recorder: Recorder | None = None) -> School:
    return School.build(store, clock=FixedClock(T0), desk=SETUP, publisher=recorder, reminders=None)


def test_leads_are_assigned_by_language_then_course_then_in_turn(store: StoreHandle) -> None:
    recorder = Recorder()
    leads = build(store, recorder).desk.leads
    contact = LeadContact(phone=PHONE)
    got = [leads.capture(source="web", contact=contact).consultant for _ in range(4)]
    assert got == ["amy", "bo", "cy", "amy"]
    assert leads.capture(source="web", contact=contact, interests=["piano"]).consultant == "pia"
    english = [
        leads.capture(source="web", contact=contact, language="en", interests=["piano"])
        for _ in range(3)
    ]
    assert [lead.consultant for lead in english] == ["eve", "ed", "eve"]
    rules = [e.rule for e in recorder.events if isinstance(e, LeadAssigned)]
    assert rules == ["round_robin"] * 4 + ["course"] + ["language"] * 3


def test_a_lead_consults_without_an_account_and_converts_keeping_its_history(
    store: StoreHandle,
) -> None:
    recorder = Recorder()
    school = build(store, recorder)
    leads = school.desk.leads
    lead = leads.capture(source="douyin", campaign="spring", contact=LeadContact(phone=PHONE))
    ticket = leads.consult(lead.id, subject="Which level?", text="My son is 8")
    assert (ticket.team, ticket.assignee, ticket.asker.kind) == ("sales", "amy", "lead")
    assert leads.lead(lead.id, Actor(id="amy", role="sales")).stage == "consult"
    with pytest.raises(StudentNotFound):
        leads.convert(lead.id, "kid")  # not registered yet
    school.students.register("kid", name="Kid", phone=PHONE)
    converted = leads.convert(lead.id, "kid")
    assert (converted.stage, converted.student_id) == ("register", "kid")
    assert converted.contact == LeadContact(phone="138****5678")  # a command's answer: masked
    support = Actor(id="sue", role="support")
    assert school.desk.ticket(ticket.id, support).student_id == "kid"  # the history follows
    assert [t.id for t in school.desk.tickets_of("lead", lead.id, support)] == [ticket.id]
    with pytest.raises(LeadAlreadyConverted):
        leads.convert(lead.id, "kid")
    assert [type(e) for e in recorder.events if isinstance(e, ConsultationRequested)] == [
        ConsultationRequested
    ]
    assert [(e.student_id, e.source) for e in recorder.events if isinstance(e, LeadConverted)] == [
        ("kid", "douyin")
    ]


def test_a_leads_contact_is_masked_for_support_and_hidden_from_others(
    store: StoreHandle,
) -> None:
    leads = build(store).desk.leads
    lead = leads.capture(
        source="web", contact=LeadContact(name="Wang Fang", phone=PHONE, email="wf@example.com")
    )
    full = leads.lead(lead.id, Actor(id="amy", role="sales"))  # her consultant
    assert full.contact == LeadContact(name="Wang Fang", phone=PHONE, email="wf@example.com")
    masked = leads.lead(lead.id, Actor(id="sue", role="support")).contact
    assert masked is not None
    assert (masked.phone, masked.name) == ("138****5678", "W********")
    assert PHONE not in json.dumps(str(masked))
    assert leads.lead(lead.id, Actor(id="root", role="admin")).contact == full.contact
    with pytest.raises(AccessDenied):
        leads.lead(lead.id, Actor(id="tom", role="teacher"))
    with pytest.raises(LeadNotFound):
        leads.lead("nope", Actor(id="root", role="admin"))
    with pytest.raises(InvalidInput):
        LeadContact(name="no way to reach")


def test_erasure_blanks_a_leads_contact_and_consultations(store: StoreHandle) -> None:
    school = build(store)
    leads = school.desk.leads
    lead = leads.capture(source="web", contact=LeadContact(phone=PHONE))
    leads.consult(lead.id, subject="call me", text=f"at {PHONE}")
    other = leads.capture(source="web", contact=LeadContact(phone="13700001111"))
    assert leads.erase(lead.id) == 3  # the phone, the subject and the message
    dump = json.dumps(store.snapshot(), default=str)
    assert PHONE not in dump  # (the other lead's phone is sealed at rest on SQLite)
    admin = Actor(id="root", role="admin")
    assert leads.lead(lead.id, admin).contact is None
    kept = leads.lead(other.id, admin).contact
    assert kept is not None and kept.phone == "13700001111"
    # erasing a student erases the lead she was
    school.students.register("kid", name="Kid")
    leads.convert(other.id, "kid")
    school.students.erase(Actor(id="root", role="admin"), "kid")
    assert "13700001111" not in json.dumps(store.snapshot(), default=str)
    assert leads.lead(other.id, admin).contact is None
