"""Who reads a ticket and lists tickets (issue #25): the asker, the assignee, her team's
lead, support and operations staff; everyone else is refused, on every adapter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eduengine import FixedClock, School
from eduengine.desk.model import DeskSetup, Party
from eduengine.errors import AccessDenied, WrongType
from eduengine.students import Actor
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETUP = DeskSetup(zone="UTC", team_leads={"teaching": "tia", "operations": "olga"})


def build(store: StoreHandle) -> School:
    return School.build(store, clock=FixedClock(T0), desk=SETUP, reminders=None)


def test_a_ticket_is_read_by_its_asker_holder_lead_and_support_only(
    store: StoreHandle,
) -> None:
    desk = build(store).desk
    desk.set_head_teacher("c1", "hana")
    ticket = desk.open_ticket(
        category="question",
        asker=Party("guardian", "grace"),
        student_id="ann",
        class_id="c1",
        subject="Exam",
        text="When is it?",
    )
    assert (ticket.team, ticket.assignee) == ("teaching", "hana")
    desk.note(ticket.id, by="hana", text="ask the office")
    staff = [
        Actor(id="hana", role="teacher"),  # holds it
        Actor(id="tia", role="teacher"),  # leads its team
        Actor(id="sue", role="support"),
        Actor(id="oz", role="operations"),
    ]
    for actor in staff:
        assert [m.kind for m in desk.ticket(ticket.id, actor).messages] == ["asker", "note"]
    # the asker reads it as she is, without the internal notes, whatever she asks for
    asker = desk.ticket(ticket.id, Actor(id="grace", role="guardian"))
    assert [m.kind for m in asker.messages] == ["asker"]
    refused = [
        Actor(id="tom", role="teacher"),  # another teacher
        Actor(id="olga", role="teacher"),  # another team's lead
        Actor(id="ann", role="student"),  # the student it concerns did not ask it
        Actor(id="grace", role="student"),  # the asker's id in another role
        Actor(id="hana", role="guardian"),  # the holder's id as a guardian
    ]
    for actor in refused:
        with pytest.raises(AccessDenied):
            desk.ticket(ticket.id, actor)
    with pytest.raises(WrongType):
        desk.ticket(ticket.id, "sue")  # type: ignore[arg-type]
    # handed over: the old holder no longer reads it, the new one does
    desk.reassign(ticket.id, to="ivy")
    with pytest.raises(AccessDenied):
        desk.ticket(ticket.id, Actor(id="hana", role="teacher"))
    assert desk.ticket(ticket.id, Actor(id="ivy", role="teacher")).assignee == "ivy"


def test_tickets_are_listed_to_the_party_and_staff_by_what_they_may_read(
    store: StoreHandle,
) -> None:
    desk = build(store).desk
    desk.set_head_teacher("c1", "hana")
    ann = Party("student", "ann")
    question = desk.open_ticket(
        category="question", asker=ann, class_id="c1", subject="a", text="?"
    )
    complaint = desk.open_ticket(category="complaint", asker=ann, subject="b", text="!")
    both = {question.id, complaint.id}
    for actor in (Actor(id="ann", role="student"), Actor(id="sue", role="support")):
        assert {t.id for t in desk.tickets_of("student", "ann", actor)} == both
    # a teacher sees only what she holds, the operations lead only her team's
    hana = Actor(id="hana", role="teacher")
    assert [t.id for t in desk.tickets_of("student", "ann", hana)] == [question.id]
    olga = Actor(id="olga", role="manager")
    assert [t.id for t in desk.tickets_of("student", "ann", olga)] == [complaint.id]
    assert desk.tickets_of("student", "ann", Actor(id="tom", role="teacher")) == []
    for other in (Actor(id="bob", role="student"), Actor(id="ann", role="guardian")):
        with pytest.raises(AccessDenied):
            desk.tickets_of("student", "ann", other)
