"""Tickets on every adapter: routing to the responsible person, absences, refusals that
change nothing, internal notes, escalation of a breach, erasure."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.desk.events import SlaBreached
from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import (
    TARGETS,
    DeskSetup,
    Party,
    Priority,
    Sla,
    SlaPolicy,
    TicketCategory,
)
from eduengine.errors import InvalidInput, TicketNotFound, TicketTransitionRefused
from eduengine.kernel.events import DomainEvent
from eduengine.students import Actor
from tests.adapters import StoreHandle

#: support staff: reads every ticket
STAFF = Actor(id="sue", role="support")

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
ANN = Party("student", "ann")
SETUP = DeskSetup(
    zone="UTC",
    teams={"operations": BusinessHours.always("UTC")},
    team_leads={"operations": "olga"},
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def build(store: StoreHandle, recorder: Recorder | None = None) -> tuple[School, FixedClock]:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, desk=SETUP, publisher=recorder, reminders=None)
    return school, clock


def test_each_category_is_routed_to_its_responsible_person(store: StoreHandle) -> None:
    school, _ = build(store)
    slot = school.booking.create_slot(
        "math", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1), 5, tutor_id="tom"
    )
    school.desk.set_head_teacher("class-7", "hana")
    desk = school.desk
    homework = desk.open_ticket(
        category="homework", asker=ANN, subject="Q3", text="?", slot_id=slot.id
    )
    question = desk.open_ticket(
        category=TicketCategory.QUESTION, asker=ANN, subject="Exam", text="?", class_id="class-7"
    )
    parent = desk.open_ticket(
        category=TicketCategory.PARENT_MESSAGE,
        asker=Party("guardian", "grace"),
        student_id="ann",
        subject="Absence",
        text="Ann is ill on Friday",
        class_id="class-7",
    )
    complaint = desk.open_ticket(category="complaint", asker=ANN, subject="Late", text="!")
    feedback = desk.open_ticket(category="feedback", asker=ANN, subject="Nice", text=":)")
    assert (homework.team, homework.assignee, homework.course_id) == ("teaching", "tom", "math")
    assert (question.team, question.assignee) == ("teaching", "hana")
    assert (parent.team, parent.assignee, parent.student_id) == ("teaching", "hana", "ann")
    assert (complaint.team, complaint.assignee) == ("operations", None)
    assert (feedback.team, feedback.assignee) == ("support", None)
    assert desk.assigned_to("hana") == sorted([question.id, parent.id])


def test_someone_away_is_skipped_and_her_open_tickets_are_handed_over(
    store: StoreHandle,
) -> None:
    school, clock = build(store)
    desk = school.desk
    desk.set_head_teacher("class-7", "hana")
    first = desk.open_ticket(
        category="question", asker=ANN, subject="a", text="?", class_id="class-7"
    )
    # an absence from tomorrow: nothing moves today
    away = desk.set_away("hana", T0 + timedelta(days=1), T0 + timedelta(days=3), delegate="ivy")
    assert away == 0
    assert desk.ticket(first.id, STAFF).assignee == "hana"
    clock.advance(timedelta(days=1, hours=1))
    assert desk.run_due() >= 1  # the absence began: her ticket goes to her delegate
    assert desk.ticket(first.id, STAFF).assignee == "ivy"
    second = desk.open_ticket(
        category="question", asker=ANN, subject="b", text="?", class_id="class-7"
    )
    assert second.assignee == "ivy"
    desk.set_away("ivy", clock.now(), clock.now() + timedelta(days=5))  # now: at once
    assert desk.ticket(first.id, STAFF).assignee is None  # the queue: no delegate is in
    assert desk.ticket(second.id, STAFF).assignee is None
    clock.advance(timedelta(days=3))
    third = desk.open_ticket(
        category="question", asker=ANN, subject="c", text="?", class_id="class-7"
    )
    assert third.assignee == "hana"  # back


def test_a_refused_move_changes_nothing(store: StoreHandle) -> None:
    school, clock = build(store)
    desk = school.desk
    ticket = desk.open_ticket(category="question", asker=ANN, subject="a", text="?")
    clock.advance(timedelta(days=2))  # its SLA is breached by now, not yet announced
    before = json.dumps(store.snapshot(), default=str, sort_keys=True)
    with pytest.raises(TicketTransitionRefused) as refused:
        desk.close(ticket.id, by="amy")
    assert refused.value.state == "new"
    with pytest.raises(TicketTransitionRefused):
        desk.reopen(ticket.id, by="ann")
    with pytest.raises(InvalidInput):
        desk.open_ticket(category="gossip", asker=ANN, subject="a", text="?")
    with pytest.raises(InvalidInput):
        desk.reply(ticket.id, by="amy", text="x" * 30_000)
    with pytest.raises(TicketNotFound):
        desk.reply("nope", by="amy", text="hi")
    assert json.dumps(store.snapshot(), default=str, sort_keys=True) == before


def test_notes_are_for_staff_only(store: StoreHandle) -> None:
    school, _ = build(store)
    desk = school.desk
    ticket = desk.open_ticket(category="question", asker=ANN, subject="a", text="why?")
    desk.note(ticket.id, by="amy", text="ask Tom, he knows this student")
    desk.reply(ticket.id, by="amy", text="because")
    assert [m.kind for m in desk.ticket(ticket.id, STAFF).messages] == ["asker", "note", "reply"]
    assert [m.text for m in desk.ticket(ticket.id, STAFF, for_asker=True).messages] == [
        "why?",
        "because",
    ]
    assert [t.id for t in desk.tickets_of("student", "ann", STAFF)] == [ticket.id]


def test_a_breach_is_escalated_to_the_team_lead_once(store: StoreHandle) -> None:
    recorder = Recorder()
    school, clock = build(store, recorder)
    complaint = school.desk.open_ticket(category="complaint", asker=ANN, subject="a", text="!")
    clock.advance(timedelta(hours=4, minutes=1))
    school.desk.run_due()
    school.desk.run_due()
    school.desk.reply(complaint.id, by="olga", text="sorry")
    breaches = [e for e in recorder.events if isinstance(e, SlaBreached)]
    assert [(e.target, e.escalated_to) for e in breaches] == [("first_response", "olga")]
    assert breaches[0].deadline == T0 + timedelta(hours=4)
    assert school.desk.sla(complaint.id)["first_response"].met is False


def test_erasing_a_student_blanks_her_tickets_only(store: StoreHandle) -> None:
    school, _ = build(store)
    school.students.register("ann", name="Ann", phone="13812345678")
    desk = school.desk
    mine = desk.open_ticket(
        category="question", asker=ANN, subject="My phone 13812345678", text="call 13812345678"
    )
    desk.reply(mine.id, by="amy", text="I will call 13812345678")
    other = desk.open_ticket(
        category="question", asker=Party("student", "bob"), subject="b", text="bob's text"
    )
    report = school.students.erase(Actor(id="admin", role="admin"), "ann")
    assert report.removed["desk"] == 3
    assert "13812345678" not in json.dumps(store.snapshot(), default=str)
    assert desk.ticket(other.id, STAFF).messages[0].text == "bob's text"
    assert desk.ticket(mine.id, STAFF).state.value == "open"  # the ticket and its SLA stay


def test_two_workers_running_the_job_at_once_announce_each_breach_once(
    store: StoreHandle,
) -> None:
    recorder = Recorder()
    school, clock = build(store, recorder)
    ids = [
        school.desk.open_ticket(category="complaint", asker=ANN, subject="a", text="!").id
        for _ in range(12)
    ]
    clock.advance(timedelta(hours=30))  # both targets of every ticket are breached
    done: list[int] = []
    workers = [
        threading.Thread(target=lambda: done.append(school.desk.run_due(batch=5))) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    breaches = Counter(
        (e.ticket_id, e.target) for e in recorder.events if isinstance(e, SlaBreached)
    )
    assert breaches == Counter({(t, target): 1 for t in ids for target in TARGETS})
    assert sum(done) == 2 * len(ids)


def test_targets_follow_category_and_priority(store: StoreHandle) -> None:
    urgent = Sla(timedelta(minutes=15), timedelta(hours=2))
    refunds = Sla(timedelta(hours=1), timedelta(hours=48))
    setup = DeskSetup(
        zone="UTC",
        sla=SlaPolicy(
            {
                (TicketCategory.REFUND, Priority.URGENT): urgent,
                (TicketCategory.REFUND, None): refunds,
            }
        ),
    )
    school = School.build(store, clock=FixedClock(T0), desk=setup, reminders=None)
    desk = school.desk

    def target(category: str, priority: str) -> timedelta:
        ticket = desk.open_ticket(
            category=category, priority=priority, asker=ANN, subject="s", text="t"
        )
        return desk.sla(ticket.id)["first_response"].target

    assert target("refund", "urgent") == timedelta(minutes=15)
    assert target("refund", "low") == timedelta(hours=1)
    assert target("question", "urgent") == setup.sla.default.first_response
    with pytest.raises(InvalidInput):
        target("refund", "whenever")


def test_the_sla_index_follows_new_hours_on_reindex_and_plans_clocks_stored_before_it(
    store: StoreHandle,
) -> None:
    friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    clock = FixedClock(friday_5pm)
    office = School.build(store, clock=clock, desk=DeskSetup(zone="UTC"), reminders=None)
    ticket = office.desk.open_ticket(category="feedback", asker=ANN, subject="s", text="t")
    # office hours: 1 of the 4 hours on Friday, the rest on Monday (breached at 12:00)
    assert office.desk.sla_alerts(friday_5pm + timedelta(hours=5)) == []
    monday_noon = datetime(2026, 3, 9, 12, 0, 1, tzinfo=UTC)
    assert [a.kind for a in office.desk.sla_alerts(monday_noon)] == ["breach"]
    # support goes 24/7: the stored instants follow once the school reindexes
    always = DeskSetup(zone="UTC", teams={"support": BusinessHours.always("UTC")})
    school = School.build(store, clock=clock, desk=always, reminders=None)
    school.reindex()
    late = school.desk.sla_alerts(friday_5pm + timedelta(hours=4, seconds=1))
    assert [(a.ticket_id, a.target, a.kind) for a in late] == [
        (ticket.id, "first_response", "breach")
    ]
    # a clock stored before its instants were is planned when first used
    with store.unit_of_work() as uow:
        doc = uow.records.get("desk_ticket", ticket.id)
        assert doc is not None
        for target in TARGETS:
            for name in ("deadline_at", "warn_at", "breach_at"):
                del doc["clocks"][target][name]
        uow.records.put("desk_ticket", ticket.id, doc)  # and no index entries
        uow.commit()
    assert school.desk.sla_alerts(friday_5pm + timedelta(days=9)) == []
    assert school.desk.sla(ticket.id)["first_response"].deadline == friday_5pm + timedelta(
        hours=4
    )
    school.reindex()
    assert len(school.desk.sla_alerts(friday_5pm + timedelta(hours=4, seconds=1))) == 1
    clock.set(friday_5pm + timedelta(hours=4, seconds=1))
    assert school.desk.run_due() == 1  # the breach (its warning skipped with it)
