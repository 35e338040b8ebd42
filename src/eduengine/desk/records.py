"""How the desk's documents are stored, and the reads every desk service shares.

Each ticket is one JSON document (kind :data:`TICKETS`), filed under :data:`SLA_DUE` at
the first instant one of its SLA announcements falls due (so the periodic job reads
only due tickets), under ``sla:<target>:warning`` and ``sla:<target>:breach`` at the
instant each is reached while its target is unsettled (so a sweep of every open ticket
at ``t`` reads only the index entries up to ``t``), under its asker and student
(``party:<kind>:<id>``, ``student:<id>``: reads and erasure) and, until closed, under
its assignee. Each lead
is one document (kind :data:`LEADS`) filed under its consultant and the student it
became.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import TARGETS, Party, Priority, TicketCategory, TicketState
from eduengine.desk.tickets import Message, Ticket
from eduengine.errors import TicketNotFound
from eduengine.kernel.codec import dt_in, micros
from eduengine.service_layer.ports import UnitOfWork

TICKETS = "desk_ticket"
LEADS = "desk_lead"
HEAD_TEACHERS = "desk_head_teacher"
AWAY = "desk_away"
#: index: when a ticket's next SLA announcement falls due (micros)
SLA_DUE = "sla_due"
#: the SLA marks an open ticket reaches (see :meth:`Ticket.sla_marks`): one index each
SLA_MARKS = tuple(f"{t}:{k}" for t in TARGETS for k in ("warning", "breach"))
MAX_TEXT = 20_000


def assignee_index(person: str) -> str:
    return f"assignee:{person}"


def party_index(kind: str, party_id: str) -> str:
    return f"party:{kind}:{party_id}"


def sla_index(mark: str) -> str:
    """The index of an SLA mark (``first_response:breach``...): its instant (micros)."""
    return f"sla:{mark}"


def student_index(student_id: str) -> str:
    return f"student:{student_id}"


@attrs.frozen(kw_only=True)
class SlaStatus:
    """One target of a ticket: how much business time ran (paused time excluded), the
    deadline if its clock runs, and the verdict (``met`` is None until settled)."""

    target: timedelta
    elapsed: timedelta
    deadline: datetime | None
    met: bool | None
    warned: bool
    breached: bool


@attrs.frozen(kw_only=True)
class SlaAlert:
    """An open ticket's target that reached its warning (``kind="warning"``) or was
    breached (``kind="breach"``) by ``at``, announced or not."""

    ticket_id: str
    #: first_response | resolution
    target: str
    kind: str
    #: the instant the warning fell due or the breach began
    at: datetime


@attrs.frozen(kw_only=True)
class TicketView:
    id: str
    category: TicketCategory
    priority: Priority
    asker: Party
    student_id: str | None
    course_id: str | None
    class_id: str | None
    slot_id: str | None
    subject: str
    team: str
    assignee: str | None
    state: TicketState
    opened_at: datetime
    #: internal notes only in staff reads
    messages: tuple[Message, ...]


def ticket_view(ticket: Ticket, *, notes: bool) -> TicketView:
    return TicketView(
        id=ticket.id,
        category=ticket.category,
        priority=ticket.priority,
        asker=ticket.asker,
        student_id=ticket.student_id,
        course_id=ticket.course_id,
        class_id=ticket.class_id,
        slot_id=ticket.slot_id,
        subject=ticket.subject,
        team=ticket.team,
        assignee=ticket.assignee,
        state=ticket.state,
        opened_at=ticket.opened_at,
        messages=tuple(m for m in ticket.messages if notes or m.kind != "note"),
    )


def lead_index(lead: dict[str, Any]) -> dict[str, int]:
    """A lead's index entries: by consultant, and by the student it became."""
    created = micros(dt_in(lead["created_at"]))
    index = {f"consultant:{lead['consultant']}": created} if lead["consultant"] else {}
    if lead["student_id"] is not None:
        index[f"student:{lead['student_id']}"] = created
    return index


def load_tickets(uow: UnitOfWork, keys: list[str]) -> list[Ticket]:
    """The tickets of ``keys`` that exist, in key order, in one query where the store
    can (``records.get_many``)."""
    get_many = getattr(uow.records, "get_many", None)
    if get_many is None:
        docs = {key: uow.records.get(TICKETS, key) for key in sorted(set(keys))}
    else:
        docs = get_many(TICKETS, keys)
    return [Ticket.from_dict(key, doc) for key, doc in docs.items() if doc is not None]


def load_ticket(uow: UnitOfWork, ticket_id: str) -> Ticket:
    doc = uow.records.get(TICKETS, ticket_id)
    if doc is None:
        raise TicketNotFound(ticket_id)
    return Ticket.from_dict(ticket_id, doc)


def store_ticket(uow: UnitOfWork, ticket: Ticket, hours: BusinessHours) -> None:
    """Write the ticket with its index entries, and queue the events it raised."""
    index = {
        party_index(ticket.asker.kind, ticket.asker.id): micros(ticket.opened_at),
    }
    if ticket.student_id is not None:
        index[student_index(ticket.student_id)] = micros(ticket.opened_at)
    if ticket.assignee is not None and ticket.state != TicketState.CLOSED:
        index[assignee_index(ticket.assignee)] = micros(ticket.opened_at)
    due = ticket.due_at(hours)
    if due is not None:
        index[SLA_DUE] = micros(due)
    for mark, at in ticket.sla_marks(hours).items():
        index[sla_index(mark)] = micros(at)
    uow.records.put(TICKETS, ticket.id, ticket.to_dict(), index=index)
    if ticket.events:
        uow.record_events(ticket.events)
        ticket.events = []
