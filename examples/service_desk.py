"""The service desk: a prospect asks before registering, a parent complains after class,
the complaint reaches operations, the SLA clock runs on business hours (paused while the
desk waits on the parent), a breach is announced once, a survey follows, and the desk's
metrics count it all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eduengine import FixedClock, InMemoryStore, School
from eduengine.desk import (
    BusinessHours,
    DeskSetup,
    LeadContact,
    LeadRouting,
    Party,
    Sla,
    SlaPolicy,
    TicketCategory,
)
from eduengine.desk.events import SlaBreached, SlaWarning
from eduengine.students import Actor
from eduengine.students.model import Guardian


class Log:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)


def main() -> None:
    clock = FixedClock(datetime(2026, 9, 30, 8, 0, tzinfo=UTC))  # Wed 16:00 in Beijing
    office = BusinessHours.weekly(
        "Asia/Shanghai",
        {day: [(time(9), time(12)), (time(13), time(18))] for day in range(5)},
        holidays=[date(2026, 10, d) for d in range(1, 8)],  # the National Day week
    )
    log = Log()
    school = School.build(
        InMemoryStore(),
        clock=clock,
        publisher=log,
        desk=DeskSetup(
            zone="Asia/Shanghai",
            teams={"operations": office, "sales": BusinessHours.always("Asia/Shanghai")},
            sla=SlaPolicy(
                {
                    (TicketCategory.COMPLAINT, None): Sla(
                        timedelta(hours=2), timedelta(hours=16), warn_before=timedelta(hours=1)
                    )
                }
            ),
            team_leads={"operations": "ops-lead"},
            leads=LeadRouting(consultants=("amy", "bo")),
        ),
    )
    desk = school.desk

    lead = desk.leads.capture(
        source="douyin", campaign="autumn", contact=LeadContact(phone="13812345678")
    )
    consult = desk.leads.consult(lead.id, subject="Which level?", text="My daughter is 9")
    print(f"lead {lead.id[:8]} -> consultant {lead.consultant}; ticket to {consult.team}")
    support = desk.leads.lead(lead.id, Actor(id="sue", role="support"))
    assert support.contact is not None
    print(f"support sees the phone as {support.contact.phone}")
    school.students.register("lily", name="Lily", guardians=[Guardian(name="Lily's mother")])
    desk.leads.convert(lead.id, "lily")

    complaint = desk.open_ticket(
        category="complaint",
        asker=Party("guardian", "lily-mum"),
        student_id="lily",
        subject="Homework feedback is late",
        text="No feedback on last week's essay.",
    )
    deadline = desk.sla(complaint.id)["first_response"].deadline
    print(f"complaint to {complaint.team}; first response due {deadline}")
    clock.advance(timedelta(days=8))  # the holiday week passes
    # the consultation (24/7 sales) and the complaint (office hours) are both late now
    print(f"after the holidays, run-due announced {desk.run_due()}")
    desk.wait(complaint.id, by="ops-lee", text="Which essay was it?")
    clock.advance(timedelta(days=1))  # the mother answers the next day: not counted
    desk.asker_reply(complaint.id, text="The one on autumn")
    clock.advance(timedelta(hours=1))
    desk.resolve(complaint.id, by="ops-lee", text="Feedback sent, with our apologies.")
    sla = desk.sla(complaint.id)
    print(
        f"complaint: first response met {sla['first_response'].met}, resolution met "
        f"{sla['resolution'].met} after {sla['resolution'].elapsed} of business time"
    )
    names = {consult.id: "consultation", complaint.id: "complaint"}
    for event in log.events:
        if isinstance(event, SlaWarning | SlaBreached):
            print(f"announced once: {type(event).__name__} {names[event.ticket_id]} {event.target}")

    lily = Actor(id="lily", role="student")
    survey = desk.satisfaction.survey(f"ticket:{complaint.id}:lily", actor=lily)  # sent on its own
    desk.satisfaction.answer(survey.id, by=Party("guardian", "lily#guardian0"), csat=4, nps=8)
    metrics = desk.metrics
    print("funnel (douyin):", metrics.funnel(by="source", value="douyin"))
    print("complaints per 100 students:", metrics.complaint_rate())
    print("CSAT after tickets:", metrics.satisfaction(by="occasion")["ticket"].csat)


if __name__ == "__main__":
    main()
