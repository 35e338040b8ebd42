"""SLA warnings and breaches reach the ticket's holder and her team's lead as notices
(issue #25): planned by the ``desk_notices`` projection, delivered once per recipient
and channel through the notices' delivery, on every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.desk import BusinessHours, DeskSetup, Party, Sla, SlaPolicy, TicketCategory
from eduengine.errors import InvalidInput, WrongType
from eduengine.notices.model import Notice
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SETUP = DeskSetup(
    zone="UTC",
    teams={"operations": BusinessHours.always("UTC")},
    sla=SlaPolicy(
        {
            (TicketCategory.COMPLAINT, None): Sla(
                timedelta(hours=1), timedelta(hours=8), warn_before=timedelta(minutes=15)
            )
        }
    ),
    team_leads={"operations": "olga"},
)


class Provider:
    """A channel's provider: records what it was handed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str]] = []
        self.notices: list[Notice] = []

    def send(self, notice: Notice, channel: str, key: str) -> None:
        self.sent.append((notice.kind, notice.recipient.id, channel, key))
        self.notices.append(notice)


def build(store: StoreHandle) -> tuple[School, FixedClock, Provider]:
    clock = FixedClock(T0)
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        desk=SETUP,
        reminders=None,
        notifiers={"in_app": provider, "sms": provider},
    )
    return school, clock, provider


def complaint(school: School) -> str:
    ticket = school.desk.open_ticket(
        category="complaint",
        asker=Party("guardian", "grace"),
        student_id="ann",
        subject="The tutor was late",
        text="Twenty minutes late.",
    )
    return ticket.id


def test_warnings_and_breaches_reach_the_holder_and_her_lead_once(store: StoreHandle) -> None:
    school, clock, provider = build(store)
    desk = school.desk
    desk.set_staff_contact("li", name="Li", phone="13800000001", channels=["sms", "in_app"])
    ticket_id = complaint(school)
    desk.reassign(ticket_id, to="li")
    clock.advance(timedelta(minutes=50))
    assert desk.run_due() == 1  # the warning
    clock.advance(timedelta(minutes=20))
    assert desk.run_due() == 1  # the breach
    assert school.notices.deliver_due("w1").sent == 6
    assert school.notices.deliver_due("w2").sent == 0  # each once, whichever worker
    assert desk.run_due() == 0
    assert school.notices.deliver_due("w1").sent == 0
    assert sorted(provider.sent) == sorted(
        [
            (kind, rid, channel, f"{kind}:{ticket_id}:first_response:{rid}:{channel}")
            for kind in ("sla_warning", "sla_breached")
            for rid, channel in (
                ("staff:li", "sms"),
                ("staff:li", "in_app"),
                ("staff:olga", "in_app"),  # no contact set: the policy's channels
            )
        ]
    )
    # the notifier gets her contact, the ticket and its deadline, not the asker's words
    breach = next(
        n for n in provider.notices if n.kind == "sla_breached" and n.recipient.id == "staff:li"
    )
    assert (breach.recipient.role, breach.recipient.phone) == ("staff", "13800000001")
    assert breach.context["ticket_id"] == ticket_id
    assert breach.context["category"] == "complaint"
    assert (breach.context["assignee"], breach.context["lead"]) == ("li", "olga")
    assert breach.context["deadline"] == (T0 + timedelta(hours=1)).isoformat()
    assert "Twenty" not in str(breach.context)
    # rebuilding nothing, replaying nothing: the projection applied each event once
    assert school.notices.states(f"sla_breached:{ticket_id}:first_response:staff:li") == {
        "sms": "sent",
        "in_app": "sent",
    }


def test_a_queued_ticket_tells_the_lead_and_a_team_without_lead_its_holder(
    store: StoreHandle,
) -> None:
    school, clock, provider = build(store)
    queued = complaint(school)  # operations' queue: no holder
    for minutes in (50, 20):
        clock.advance(timedelta(minutes=minutes))
        assert school.desk.run_due() == 1  # its warning, then its breach
    school.notices.deliver_due("w1")
    assert sorted((k, r) for k, r, _, _ in provider.sent) == [
        ("sla_breached", "staff:olga"),
        ("sla_warning", "staff:olga"),
    ]
    # a question to the head teacher: her team (teaching) has no lead
    provider.sent.clear()
    school.desk.set_head_teacher("c1", "hana")
    question = school.desk.open_ticket(
        category="question", asker=Party("student", "ann"), class_id="c1", subject="a", text="?"
    )
    clock.advance(timedelta(days=3))
    school.desk.run_due()
    school.notices.deliver_due("w1")
    about_question = {r for _, r, _, key in provider.sent if key.split(":")[1] == question.id}
    assert about_question == {"staff:hana"}
    # the queued complaint's resolution target ran out meanwhile (a breach announced
    # late comes without its warning): its lead again
    about_queued = {(k, r) for k, r, _, key in provider.sent if key.split(":")[1] == queued}
    assert about_queued == {("sla_breached", "staff:olga")}


def test_a_staff_contact_is_checked_and_erased(store: StoreHandle) -> None:
    school, clock, provider = build(store)
    desk = school.desk
    with pytest.raises(InvalidInput):
        desk.set_staff_contact("li", channels=["SMS!"])
    with pytest.raises(InvalidInput):
        desk.set_staff_contact("li", zone="Mars/Base")
    with pytest.raises(WrongType):
        desk.set_staff_contact("li", quiet="22:00")  # type: ignore[arg-type]
    contact = desk.set_staff_contact("olga", email="olga@example.com", channels=["email"])
    assert contact.recipient().id == "staff:olga"
    complaint(school)
    clock.advance(timedelta(minutes=70))
    desk.run_due()
    assert school.notices.deliver_due("w1").sent == 0  # no provider for e-mail yet
    assert desk.erase_staff_contact("olga") == 3  # the contact and her two notices
    assert desk.erase_staff_contact("olga") == 0
    assert provider.sent == []
