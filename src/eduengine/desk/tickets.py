"""The ticket aggregate: one question, homework doubt, complaint, parent's message,
refund request or feedback, its messages, its state and its two SLA clocks.

Every command first announces what fell due on the ticket's clocks up to ``now`` (so a
breach that happened before a late reply is announced by the reply's command if the
periodic job has not yet), then applies its move and raises its events. Pure: the service
loads and stores it.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine.desk.hours import BusinessHours
>>> from eduengine.desk.model import DEFAULT_SLA, Party, Priority, TicketCategory
>>> t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> hours = BusinessHours.always()
>>> ticket = Ticket.open(ticket_id="t1", category=TicketCategory.QUESTION, priority=Priority.NORMAL,
...                      asker=Party("student", "ann"), subject="Unit 3", text="Why?",
...                      team="support", sla=DEFAULT_SLA, hours=hours, now=t0)
>>> ticket.act("reply", by="amy", text="Because.", hours=hours, now=t0 + timedelta(hours=5))
>>> ticket.state.value, ticket.clocks["first_response"].met
('open', False)
>>> [type(e).__name__ for e in ticket.events][2:]
['SlaBreached', 'TicketMessageAdded', 'TicketResponded', 'TicketStateChanged']
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.desk.events import (
    SlaBreached,
    SlaWarning,
    TicketAssigned,
    TicketMessageAdded,
    TicketOpened,
    TicketResolved,
    TicketResponded,
    TicketStateChanged,
)
from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import (
    RUNNING,
    TARGETS,
    Party,
    Priority,
    Sla,
    SlaClock,
    TicketCategory,
    TicketState,
    next_state,
)
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.events import DomainEvent

__all__ = ["Message", "Ticket"]

#: what an erased message reads
ERASED = "[erased]"


@attrs.frozen(kw_only=True)
class Message:
    at: datetime
    #: asker | reply | note
    kind: str
    author_id: str
    text: str


@attrs.define(kw_only=True)
class Ticket:
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
    messages: list[Message]
    clocks: dict[str, SlaClock]
    resolutions: int = 0
    #: raised since loaded (not stored)
    events: list[DomainEvent] = attrs.field(factory=list, eq=False)

    @classmethod
    def open(
        cls,
        *,
        ticket_id: str,
        category: TicketCategory,
        priority: Priority,
        asker: Party,
        subject: str,
        text: str,
        team: str,
        sla: Sla,
        hours: BusinessHours,
        now: datetime,
        assignee: str | None = None,
        student_id: str | None = None,
        course_id: str | None = None,
        class_id: str | None = None,
        slot_id: str | None = None,
        route_reason: str = "routed",
    ) -> Ticket:
        clocks = {
            name: SlaClock.start(target=sla.target(name), warn_before=sla.warn_before, now=now)
            for name in TARGETS
        }
        for clock in clocks.values():
            clock.plan(hours)
        ticket = cls(
            id=ticket_id,
            category=category,
            priority=priority,
            asker=asker,
            student_id=student_id,
            course_id=course_id,
            class_id=class_id,
            slot_id=slot_id,
            subject=subject,
            team=team,
            assignee=assignee,
            state=TicketState.NEW,
            opened_at=now,
            messages=[Message(at=now, kind="asker", author_id=asker.id, text=text)],
            clocks=clocks,
        )
        ticket.events += [
            TicketOpened(
                occurred_at=now,
                ticket_id=ticket_id,
                category=category.value,
                priority=priority.value,
                asker_kind=asker.kind,
                asker_id=asker.id,
                course_id=course_id,
                class_id=class_id,
                slot_id=slot_id,
                student_id=student_id,
            ),
            TicketAssigned(
                occurred_at=now,
                ticket_id=ticket_id,
                team=team,
                assignee=assignee,
                previous=None,
                reason=route_reason,
            ),
        ]
        return ticket

    # --- SLA ------------------------------------------------------------------------------

    def announce_due(
        self, hours: BusinessHours, now: datetime, *, escalate_to: str | None = None
    ) -> None:
        """Raise the warnings and breaches due at ``now`` not announced yet, each once."""
        for name in TARGETS:
            clock = self.clocks[name]
            for kind, deadline in clock.due_announcements(hours, now):
                clock.warned = True
                about: dict[str, Any] = {
                    "occurred_at": now,
                    "ticket_id": self.id,
                    "target": name,
                    "deadline": deadline,
                    "team": self.team,
                    "assignee": self.assignee,
                }
                if kind == "breach":
                    clock.breached = True
                    self.events.append(SlaBreached(**about, escalated_to=escalate_to))
                else:
                    self.events.append(SlaWarning(**about))

    def due_at(self, hours: BusinessHours) -> datetime | None:
        found = [d for d in (c.due_at(hours) for c in self.clocks.values()) if d is not None]
        return min(found) if found else None

    def sla_marks(self, hours: BusinessHours) -> dict[str, datetime]:
        """``"<target>:warning" | "<target>:breach"`` -> the instant it is (or was)
        reached, for each unsettled target whose clock runs or that reached it already:
        a target not listed is on time whatever the hour."""
        marks = {}
        for name, clock in self.clocks.items():
            clock.deadline(hours)  # planned
            if clock.met is not None:
                continue
            if clock.warn_at is not None:
                marks[f"{name}:warning"] = clock.warn_at
            if clock.breach_at is not None:
                marks[f"{name}:breach"] = clock.breach_at
        return marks

    def _runs(self) -> dict[str, tuple[datetime | None, timedelta, bool | None]]:
        """How each clock runs: what its instants are worked out from."""
        return {name: (c.since, c.used, c.met) for name, c in self.clocks.items()}

    def _sync(
        self,
        hours: BusinessHours,
        now: datetime,
        before: dict[str, tuple[datetime | None, timedelta, bool | None]] | None = None,
    ) -> None:
        """Run the clocks of unsettled targets exactly while the state runs them, and
        work out on ``hours`` the instants of each clock that runs otherwise than
        ``before`` (all of them without it: a new team's calendar)."""
        for name, clock in self.clocks.items():
            if self.state in RUNNING:
                clock.resume(now)
            else:
                clock.pause(hours, now)
            if before is None or before[name] != (clock.since, clock.used, clock.met):
                clock.plan(hours)

    def _settle(self, name: str, hours: BusinessHours, now: datetime) -> None:
        """Settle a target and raise its verdict (TicketResponded, TicketResolved)."""
        clock = self.clocks[name]
        verdict: dict[str, Any] = {
            "occurred_at": now,
            "ticket_id": self.id,
            "category": self.category.value,
            "team": self.team,
            "assignee": self.assignee,
            "met": clock.settle(hours, now),
            "business_seconds": int(clock.used.total_seconds()),
        }
        if name == "first_response":
            self.events.append(TicketResponded(**verdict))
        else:
            self.events.append(TicketResolved(**verdict, times_before=self.resolutions))
            self.resolutions += 1

    # --- commands ------------------------------------------------------------------------

    def act(
        self,
        action: str,
        *,
        by: str,
        hours: BusinessHours,
        now: datetime,
        text: str | None = None,
        escalate_to: str | None = None,
    ) -> None:
        """``reply``, ``asker_reply``, ``note``, ``wait``, ``resolve``, ``reopen`` or ``close``,
        after announcing what fell due before ``now`` (see :meth:`announce_due`)."""
        self.announce_due(hours, now, escalate_to=escalate_to)
        before = self.state
        after = next_state(self.id, before, action)
        runs = self._runs()
        kind = {"asker_reply": "asker", "note": "note"}.get(action, "reply")
        if text is not None:
            self.messages.append(Message(at=now, kind=kind, author_id=by, text=text))
            self.events.append(
                TicketMessageAdded(occurred_at=now, ticket_id=self.id, kind=kind, author_id=by)
            )
        if action in ("reply", "wait", "resolve") and self.clocks["first_response"].met is None:
            self._settle("first_response", hours, now)
        if action == "resolve":
            self._settle("resolution", hours, now)
        if action == "reopen":
            self.clocks["resolution"].met = None  # the verdict waits for the next resolution
        self.state = after
        self._sync(hours, now, runs)  # a note or a second reply works nothing out again
        if after != before:
            self.events.append(
                TicketStateChanged(
                    occurred_at=now,
                    ticket_id=self.id,
                    from_state=before.value,
                    to_state=after.value,
                )
            )

    def reassign(
        self,
        *,
        team: str,
        assignee: str | None,
        old_hours: BusinessHours,
        new_hours: BusinessHours,
        now: datetime,
        reason: str,
        escalate_to: str | None = None,
    ) -> None:
        """Hand the ticket to ``team`` (its ``assignee``, or its queue); the clocks run on
        the new team's calendar from ``now`` on."""
        next_state(self.id, self.state, "reassign")
        if (team, assignee) == (self.team, self.assignee):
            return
        self.announce_due(old_hours, now, escalate_to=escalate_to)
        for clock in self.clocks.values():
            clock.pause(old_hours, now)
        previous, self.team, self.assignee = self.assignee, team, assignee
        self._sync(new_hours, now)
        self.events.append(
            TicketAssigned(
                occurred_at=now,
                ticket_id=self.id,
                team=team,
                assignee=assignee,
                previous=previous,
                reason=reason,
            )
        )

    def erase_texts(self) -> int:
        """Blank the subject and every message (erasure of the asker's personal data)."""
        changed = sum(1 for m in self.messages if m.text != ERASED)
        self.messages = [attrs.evolve(m, text=ERASED) for m in self.messages]
        if self.subject != ERASED:
            self.subject = ERASED
            changed += 1
        return changed

    # --- storage -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "priority": self.priority.value,
            "asker": [self.asker.kind, self.asker.id],
            "student_id": self.student_id,
            "course_id": self.course_id,
            "class_id": self.class_id,
            "slot_id": self.slot_id,
            "subject": self.subject,
            "team": self.team,
            "assignee": self.assignee,
            "state": self.state.value,
            "opened_at": dt_out(self.opened_at),
            "messages": [[dt_out(m.at), m.kind, m.author_id, m.text] for m in self.messages],
            "clocks": {name: clock.to_dict() for name, clock in self.clocks.items()},
            "resolutions": self.resolutions,
        }

    @classmethod
    def from_dict(cls, ticket_id: str, data: dict[str, Any]) -> Ticket:
        return cls(
            id=ticket_id,
            category=TicketCategory(data["category"]),
            priority=Priority(data["priority"]),
            asker=Party(*data["asker"]),
            student_id=data["student_id"],
            course_id=data["course_id"],
            class_id=data["class_id"],
            slot_id=data["slot_id"],
            subject=data["subject"],
            team=data["team"],
            assignee=data["assignee"],
            state=TicketState(data["state"]),
            opened_at=dt_in(data["opened_at"]),
            messages=[
                Message(at=dt_in(at), kind=kind, author_id=author, text=text)
                for at, kind, author, text in data["messages"]
            ],
            clocks={name: SlaClock.from_dict(c) for name, c in data["clocks"].items()},
            resolutions=data["resolutions"],
        )
