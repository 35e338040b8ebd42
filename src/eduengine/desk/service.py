"""The desk's tickets through units of work: open, route, reply, wait, resolve, reopen,
close, reassign; SLA warnings and breaches from :meth:`DeskService.run_due`.

Each ticket is one JSON document (kind :data:`TICKETS`), filed under ``sla_due`` at the
first instant one of its announcements falls due, so the periodic job reads only due
tickets, and under the asker, the student and the assignee for the reads and erasure
that need them.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore
>>> from eduengine.desk.model import Party, TicketCategory
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> desk = DeskService(InMemoryStore().unit_of_work, clock=clock,
...                    setup=DeskSetup(zone="UTC"))
>>> t = desk.open_ticket(category=TicketCategory.COMPLAINT, asker=Party("student", "ann"),
...                      subject="Late tutor", text="The tutor came 20 minutes late.")
>>> t.team, t.state.value
('operations', 'new')
>>> _ = clock.advance(timedelta(hours=3, minutes=30))
>>> desk.run_due()        # a warning: 30 minutes of the 4 business hours left
1
>>> desk.reply(t.id, by="ops-lee", text="We are sorry: the lesson is refunded.").state.value
'open'
>>> desk.sla(t.id)["first_response"].met
True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, Unpack

import attrs

from eduengine.desk.events import ConsultationRequested, LeadErased
from eduengine.desk.leads import LeadService
from eduengine.desk.metrics import DeskMetrics, reindex_metrics
from eduengine.desk.model import (
    PARTY_KINDS,
    TARGETS,
    DeskSetup,
    Party,
    Priority,
    Responsible,
    TicketCategory,
    TicketState,
    route_for,
    ticket_reader,
)
from eduengine.desk.privacy import DeskLook, mask_text, read_personal, subject_of
from eduengine.desk.records import (
    AWAY,
    HEAD_TEACHERS,
    LEADS,
    MAX_TEXT,
    SLA_DUE,
    SLA_MARKS,
    TICKETS,
    SlaAlert,
    SlaStatus,
    TicketView,
    assignee_index,
    lead_index,
    load_ticket,
    load_tickets,
    party_index,
    sla_index,
    store_ticket,
    student_index,
    ticket_view,
)
from eduengine.desk.satisfaction import (
    ReviewScreen,
    SatisfactionService,
    erase_surveys,
    reindex_satisfaction,
)
from eduengine.desk.tickets import Ticket
from eduengine.errors import AccessDenied, InvalidInput, LeadNotFound, WrongType
from eduengine.kernel.codec import dt_in, dt_out, from_micros, micros
from eduengine.kernel.inputs import (
    check_id,
    check_ids,
    check_instant,
    check_int,
    check_optional_id,
    check_text,
)
from eduengine.notices.model import QuietHours, StaffContact
from eduengine.notices.planning import erase_staff, put_staff_contact
from eduengine.people.access import AccessGate, check_actor
from eduengine.people.model import Access, AccessPolicy, Actor
from eduengine.service_layer.crypto import sealed_records
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory, open_read_only
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = ["DeskService", "SlaAlert", "SlaStatus", "TicketView"]


class DeskService(ServiceBase):
    """Tickets with routing and business-hour SLAs (``school.desk``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        setup: DeskSetup | None = None,
        policy: AccessPolicy | None = None,
        review_screen: ReviewScreen | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.setup = setup or DeskSetup()
        #: leads and pre-sale consultations
        self.leads = LeadService(
            uow,
            setup=self.setup,
            policy=policy,
            open_ticket=self.open_ticket,
            erase_lead=self.erase_lead,
            **base,
        )
        #: surveys and reviews
        self.satisfaction = SatisfactionService(uow, screen=review_screen, **base)
        self.gate = AccessGate(policy)
        #: response times, SLA attainment, complaint rate, CSAT/NPS, the lead funnel
        self.metrics = DeskMetrics(uow, **base)

    @property
    def gate(self) -> AccessGate:
        """The access check on the personal data the desk reads (``School.build`` sets
        the school's one, the students' own; the leads and surveys use it too)."""
        return self._gate

    @gate.setter
    def gate(self, gate: AccessGate) -> None:
        self._gate = self.leads.gate = self.satisfaction.gate = gate

    # --- who handles what ------------------------------------------------------------------

    def set_head_teacher(self, class_id: str, staff_id: str) -> None:
        """The head teacher (班主任) of a class, to whom its questions are routed."""
        check_id(class_id, "class_id")
        check_id(staff_id, "staff_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            uow.records.put(HEAD_TEACHERS, class_id, {"staff_id": staff_id})

        self._run(command, ids={"class_id": class_id, "staff_id": staff_id})

    def set_staff_contact(
        self,
        staff_id: str,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        channels: Sequence[str] = (),
        fallback: Sequence[str] = (),
        zone: str | None = None,
        quiet: tuple[str, str] | None = None,
    ) -> StaffContact:
        """How the notices reach ``staff_id`` with the SLA warnings and breaches of the
        tickets she holds or whose team she leads (``channels``: none, the notice
        policy's; ``quiet=("22:00", "07:00")``: quiet hours for the policy's quiet
        channels, none by default). Replaces what was set; applies to notices planned
        from now on."""
        check_id(staff_id, "staff_id")
        for value, what in ((name, "name"), (phone, "phone"), (email, "email")):
            if value is not None:
                check_text(value, what, max_length=1000)
        check_optional_id(zone, "zone")
        chosen = check_ids(channels, "channels")
        backup = check_ids(fallback, "fallback")
        if quiet is not None and not (isinstance(quiet, tuple) and len(quiet) == 2):
            raise WrongType(f"quiet must be (start, end) or None, got {quiet!r}", field="quiet")
        contact = StaffContact(
            staff_id=staff_id,
            name=name,
            phone=phone,
            email=email,
            channels=tuple(chosen),
            fallback=tuple(backup),
            zone=zone,
            quiet=None if quiet is None else QuietHours.parse(*quiet),
        )
        self._run(
            lambda uow, now: put_staff_contact(uow, contact), ids={"staff_id": staff_id}
        )
        return contact

    def erase_staff_contact(self, staff_id: str) -> int:
        """Forget a staff member's contact, her notices and their channel history;
        returns how many documents were removed."""
        check_id(staff_id, "staff_id")
        return self._run(lambda uow, now: erase_staff(uow, staff_id), ids={"staff_id": staff_id})

    def set_away(
        self, staff_id: str, start: datetime, end: datetime, *, delegate: str | None = None
    ) -> int:
        """``staff_id`` is away from ``start`` to ``end``: new tickets skip her (to
        ``delegate``, else the team's queue), and her open tickets are handed over when
        the absence starts (now, if it has; else by :meth:`run_due`). Returns how many
        tickets were handed over now."""
        check_id(staff_id, "staff_id")
        check_instant(start, "start")
        check_instant(end, "end")
        check_optional_id(delegate, "delegate")
        if end <= start:
            raise InvalidInput(f"an absence must end after it starts, got {start}..{end}")
        if delegate == staff_id:
            raise InvalidInput(f"{staff_id!r} cannot be her own delegate")

        def command(uow: UnitOfWork, now: datetime) -> int:
            doc = uow.records.get(AWAY, staff_id) or {"periods": []}
            doc["periods"] = [p for p in doc["periods"] if dt_in(p["end"]) > now] + [
                {"start": dt_out(start), "end": dt_out(end), "delegate": delegate}
            ]
            uow.records.put(AWAY, staff_id, doc)
            return self._hand_over(uow, staff_id, now) if start <= now else 0

        return self._run(command, ids={"staff_id": staff_id})

    def _away(self, uow: UnitOfWork, staff_id: str, now: datetime) -> dict[str, Any] | None:
        doc = uow.records.get(AWAY, staff_id)
        for period in (doc or {"periods": []})["periods"]:
            if dt_in(period["start"]) <= now < dt_in(period["end"]):
                return dict(period)
        return None

    def _stand_in(
        self, uow: UnitOfWork, staff_id: str | None, now: datetime
    ) -> tuple[str | None, str]:
        """Who takes what ``staff_id`` would: herself, her delegate, or the queue."""
        if staff_id is None:
            return None, "routed"
        away = self._away(uow, staff_id, now)
        if away is None:
            return staff_id, "routed"
        delegate = away["delegate"]
        if delegate is not None and self._away(uow, delegate, now) is None:
            return delegate, "away"
        return None, "away"

    def _hand_over(self, uow: UnitOfWork, staff_id: str, now: datetime) -> int:
        moved = 0
        for key, _ in uow.records.scan(TICKETS, assignee_index(staff_id)):
            ticket = load_ticket(uow, key)
            if ticket.assignee != staff_id or ticket.state == TicketState.CLOSED:
                continue
            to, _ = self._stand_in(uow, staff_id, now)
            hours = self.setup.hours_for(ticket.team)
            ticket.reassign(
                team=ticket.team,
                assignee=to,
                old_hours=hours,
                new_hours=hours,
                now=now,
                reason="away",
                escalate_to=self.setup.team_leads.get(ticket.team),
            )
            store_ticket(uow, ticket, hours)
            moved += 1
        return moved

    # --- tickets -------------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        category: TicketCategory | str,
        asker: Party,
        subject: str,
        text: str,
        priority: Priority | str = Priority.NORMAL,
        student_id: str | None = None,
        course_id: str | None = None,
        class_id: str | None = None,
        slot_id: str | None = None,
        ticket_id: str | None = None,
    ) -> TicketView:
        """File a ticket and route it: the first matching route's team, and in it the
        class's head teacher, the lesson's tutor or the queue (skipping who is away).
        ``student_id`` is the student it concerns (the asker, if a student)."""
        category = _enum(TicketCategory, category, "category")
        priority = _enum(Priority, priority, "priority")
        if not isinstance(asker, Party):
            raise InvalidInput(f"asker must be a Party, got {asker!r}")
        check_text(subject, "subject", max_length=500)
        check_text(text, "text", max_length=MAX_TEXT)
        for name, value in (
            ("student_id", student_id),
            ("course_id", course_id),
            ("class_id", class_id),
            ("slot_id", slot_id),
            ("ticket_id", ticket_id),
        ):
            check_optional_id(value, name)
        about = student_id or (asker.id if asker.kind == "student" else None)
        new_id = ticket_id or self._new_id()

        def command(uow: UnitOfWork, now: datetime) -> TicketView:
            if uow.records.get(TICKETS, new_id) is not None:
                raise InvalidInput(f"ticket {new_id!r} already exists")
            route = route_for(self.setup.routes, category)
            team = route.team
            person: str | None = None
            course = course_id
            student = about
            lead = uow.records.get(LEADS, asker.id) if asker.kind == "lead" else None
            if asker.kind == "lead":
                # a pre-sale consultation: to the lead's consultant, in sales
                if lead is None:
                    raise LeadNotFound(asker.id)
                team, person = "sales", lead["consultant"]
                student = student or lead["student_id"]
                if lead["stage"] == "visit":
                    lead["stage"] = "consult"
                uow.records.put(LEADS, asker.id, lead, index=lead_index(lead))
                uow.record_events(
                    [
                        ConsultationRequested(
                            occurred_at=now, lead_id=asker.id, ticket_id=new_id, course_id=course
                        )
                    ]
                )
            elif route.responsible == Responsible.TUTOR and slot_id is not None:
                slot = uow.slots.get(slot_id)
                person, course = slot.tutor_id, course or slot.course_id
            elif route.responsible == Responsible.HEAD_TEACHER and class_id is not None:
                found = uow.records.get(HEAD_TEACHERS, class_id)
                person = None if found is None else found["staff_id"]
            assignee, reason = self._stand_in(uow, person, now)
            hours = self.setup.hours_for(team)
            ticket = Ticket.open(
                ticket_id=new_id,
                category=category,
                priority=priority,
                asker=asker,
                subject=subject,
                text=text,
                team=team,
                assignee=assignee,
                sla=self.setup.sla.for_ticket(category, priority),
                hours=hours,
                now=now,
                student_id=student,
                course_id=course,
                class_id=class_id,
                slot_id=slot_id,
                route_reason=reason,
            )
            store_ticket(uow, ticket, hours)
            return ticket_view(ticket, notes=True)

        return self._run(
            command,
            ids={
                "ticket_id": ticket_id,
                "student_id": student_id,
                "course_id": course_id,
                "class_id": class_id,
                "slot_id": slot_id,
            },
        )

    def _act(self, ticket_id: str, action: str, by: str, text: str | None) -> TicketView:
        check_id(ticket_id, "ticket_id")
        check_id(by, "by")
        if text is not None:
            check_text(text, "text", max_length=MAX_TEXT)

        def command(uow: UnitOfWork, now: datetime) -> TicketView:
            ticket = load_ticket(uow, ticket_id)
            hours = self.setup.hours_for(ticket.team)
            ticket.act(
                action,
                by=by,
                hours=hours,
                now=now,
                text=text,
                escalate_to=self.setup.team_leads.get(ticket.team),
            )
            store_ticket(uow, ticket, hours)
            return ticket_view(ticket, notes=True)

        return self._run(command, ids={"ticket_id": ticket_id})

    def reply(self, ticket_id: str, *, by: str, text: str) -> TicketView:
        """A staff answer the asker sees (the first one settles the first-response target)."""
        return self._act(ticket_id, "reply", by, text)

    def asker_reply(self, ticket_id: str, *, text: str) -> TicketView:
        """The asker writes again; a ticket waiting on her opens (its clocks run again)."""
        check_id(ticket_id, "ticket_id")

        def asker(uow: UnitOfWork, now: datetime) -> str:
            return load_ticket(uow, ticket_id).asker.id

        by = self._run(asker, write=False, ids={"ticket_id": ticket_id})
        return self._act(ticket_id, "asker_reply", by, text)

    def note(self, ticket_id: str, *, by: str, text: str) -> TicketView:
        """An internal note: staff only, no effect on the state or the clocks."""
        return self._act(ticket_id, "note", by, text)

    def wait(self, ticket_id: str, *, by: str, text: str) -> TicketView:
        """Ask the asker for something: the SLA clocks pause until she answers."""
        return self._act(ticket_id, "wait", by, text)

    def resolve(self, ticket_id: str, *, by: str, text: str | None = None) -> TicketView:
        """Settle the resolution target (and the first response, if none came yet)."""
        return self._act(ticket_id, "resolve", by, text)

    def reopen(self, ticket_id: str, *, by: str, text: str | None = None) -> TicketView:
        """A resolved ticket is not settled after all: its resolution clock runs again
        from the business time it had (a breach stays a breach)."""
        return self._act(ticket_id, "reopen", by, text)

    def close(self, ticket_id: str, *, by: str) -> TicketView:
        return self._act(ticket_id, "close", by, None)

    def reassign(self, ticket_id: str, *, to: str | None, team: str | None = None) -> TicketView:
        """Hand a ticket to ``to`` (None: the queue) in ``team`` (default: its team)."""
        check_id(ticket_id, "ticket_id")
        check_optional_id(to, "to")
        check_optional_id(team, "team")

        def command(uow: UnitOfWork, now: datetime) -> TicketView:
            ticket = load_ticket(uow, ticket_id)
            old = self.setup.hours_for(ticket.team)
            new_team = team or ticket.team
            new = self.setup.hours_for(new_team)
            ticket.reassign(
                team=new_team,
                assignee=to,
                old_hours=old,
                new_hours=new,
                now=now,
                reason="reassigned",
                escalate_to=self.setup.team_leads.get(ticket.team),
            )
            store_ticket(uow, ticket, new)
            return ticket_view(ticket, notes=True)

        return self._run(command, ids={"ticket_id": ticket_id})

    # --- reads ---------------------------------------------------------------------------

    def ticket(self, ticket_id: str, actor: Actor, *, for_asker: bool = False) -> TicketView:
        """A ticket with its messages, read by ``actor``: the asker (as the party she is,
        ``Actor(id=..., role="student" | "guardian" | "lead")``: without the internal
        notes), the assignee, her team's lead, or support and operations staff
        (``DeskSetup.staff_roles``); anyone else is refused (:class:`AccessDenied`).
        ``for_asker``: a staff member sees the ticket as its asker does. Staff see the
        phone numbers and e-mail addresses in its texts as the school's access check
        shows the contacts of the person it concerns (whole, audited; or masked), see
        :mod:`eduengine.desk.privacy`."""
        check_id(ticket_id, "ticket_id")
        check_actor(actor)

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> TicketView:
            ticket = load_ticket(uow, ticket_id)
            how = self._reader(actor, ticket)
            if how is None:
                raise AccessDenied(f"{actor.role} {actor.id!r} may not read ticket {ticket_id!r}")
            return self._as_seen(ticket, actor, how, look, notes=not for_asker)

        return read_personal(
            self._run, self.gate, actor, ("ticket",), query, ids={"ticket_id": ticket_id}
        )

    def _as_seen(
        self, ticket: Ticket, actor: Actor, how: str, look: DeskLook, *, notes: bool
    ) -> TicketView:
        """The ticket as ``actor`` (reading as ``how``) sees it."""
        view = ticket_view(ticket, notes=notes and how == "staff")
        if how == "asker":
            return view  # her own words
        # a lead's consultation is its consultant's to answer, contact and all
        fields = look(
            subject_of(ticket.student_id, ticket.asker),
            whole=ticket.asker.kind == "lead" and actor.id == ticket.assignee,
        )
        if fields.contacts is Access.FULL:
            return view
        return attrs.evolve(
            view,
            subject=mask_text(view.subject),
            messages=tuple(attrs.evolve(m, text=mask_text(m.text)) for m in view.messages),
        )

    def _reader(self, actor: Actor, ticket: Ticket) -> str | None:
        return ticket_reader(
            self.setup,
            actor_id=actor.id,
            role=actor.role,
            asker=ticket.asker,
            team=ticket.team,
            assignee=ticket.assignee,
        )

    def sla(self, ticket_id: str, *, at: datetime | None = None) -> dict[str, SlaStatus]:
        """Each target's status at ``at`` (default: now)."""
        check_id(ticket_id, "ticket_id")
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> dict[str, SlaStatus]:
            ticket = load_ticket(uow, ticket_id)
            hours = self.setup.hours_for(ticket.team)
            when = at or now
            out = {}
            for name in TARGETS:
                clock = ticket.clocks[name]
                out[name] = SlaStatus(
                    target=clock.target,
                    elapsed=clock.elapsed(hours, when),
                    deadline=clock.deadline(hours),
                    met=clock.met,
                    warned=clock.warned,
                    breached=clock.breached,
                )
            return out

        return self._run(query, write=False, ids={"ticket_id": ticket_id})

    def sla_alerts(self, at: datetime | None = None) -> list[SlaAlert]:
        """Every SLA warning and breach the open tickets have reached by ``at`` (default:
        now), announced or not, by instant: the SLA verdict of every open ticket, since a
        target not listed is on time (a breached one is listed once, as a breach).

        Read from the index alone: each target's warning and breach instants are worked
        out on its team's calendar when the ticket changes and filed under
        ``sla:<target>:<kind>``, so this reads the entries up to ``at`` and no ticket.

        >>> from datetime import datetime, timedelta, timezone
        >>> from eduengine import FixedClock, InMemoryStore
        >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
        >>> desk = DeskService(InMemoryStore().unit_of_work, clock=clock,
        ...                    setup=DeskSetup(zone="UTC"))
        >>> t = desk.open_ticket(category="complaint", asker=Party("student", "ann"),
        ...                      subject="Late", text="20 minutes late")
        >>> [(a.target, a.kind) for a in desk.sla_alerts(clock.now() + timedelta(hours=4))]
        [('first_response', 'warning')]
        >>> [(a.target, a.kind, a.at.hour)
        ...  for a in desk.sla_alerts(clock.now() + timedelta(days=1))]
        [('first_response', 'breach', 13)]
        """
        if at is not None:
            check_instant(at, "at")

        def query(uow: UnitOfWork, now: datetime) -> list[SlaAlert]:
            hi = micros(at or now)
            found: dict[tuple[str, str], tuple[str, int]] = {}
            for mark in SLA_MARKS:  # a target's warning first: its breach replaces it
                target, kind = mark.split(":")
                for key, value in uow.records.scan(TICKETS, sla_index(mark), hi=hi):
                    found[key, target] = (kind, value)
            return [
                SlaAlert(ticket_id=key, target=target, kind=kind, at=from_micros(value))
                for value, key, target, kind in sorted(
                    (value, key, target, kind) for (key, target), (kind, value) in found.items()
                )
            ]

        return self._run(query, write=False)

    def tickets_of(self, kind: str, party_id: str, actor: Actor) -> list[TicketView]:
        """The tickets a student, guardian or lead asked, oldest first (without notes),
        listed for ``actor``: the party herself and support and operations staff see them
        all; another staff member only those she holds or leads the team of; a student,
        guardian or lead listing another's tickets is refused (:class:`AccessDenied`)."""
        party = Party(kind, party_id)
        check_actor(actor)
        itself = actor.role == party.kind and actor.id == party.id
        if not itself and actor.role in PARTY_KINDS:
            raise AccessDenied(
                f"{actor.role} {actor.id!r} may not list {kind} {party_id!r}'s tickets"
            )

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> list[TicketView]:
            keys = uow.records.scan(TICKETS, party_index(party.kind, party.id))
            found = ((t, self._reader(actor, t)) for t in (load_ticket(uow, k) for k, _ in keys))
            return [
                self._as_seen(t, actor, how, look, notes=False)
                for t, how in found
                if how is not None
            ]

        return read_personal(
            self._run, self.gate, actor, ("tickets",), query, ids={"party_id": party_id}
        )

    def assigned_to(self, staff_id: str) -> list[str]:
        """Ids of the tickets assigned to ``staff_id`` that are not closed."""
        check_id(staff_id, "staff_id")

        def query(uow: UnitOfWork, now: datetime) -> list[str]:
            return [k for k, _ in uow.records.scan(TICKETS, assignee_index(staff_id))]

        return self._run(query, write=False, ids={"staff_id": staff_id})

    # --- upgrade ---------------------------------------------------------------------------

    def reindex(self) -> int:
        """File every desk document under the index entries the current code writes
        (``School.reindex``: a store whose documents lost their entries), the SLA
        instants of every ticket worked out again on its team's hours as set now.
        Returns how many documents were filed."""

        def command(uow: UnitOfWork, now: datetime) -> int:
            filed = 0
            for key, _ in uow.records.list(TICKETS):
                ticket = load_ticket(uow, key)
                hours = self.setup.hours_for(ticket.team)
                for clock in ticket.clocks.values():
                    clock.plan(hours)  # the team's hours may have changed since
                store_ticket(uow, ticket, hours)
                filed += 1
            for key, doc in uow.records.list(LEADS):
                uow.records.put(LEADS, key, doc, index=lead_index(doc))
                filed += 1
            filed += reindex_satisfaction(uow)
            filed += reindex_metrics(uow)
            return filed

        return self._run(command)

    # --- erasure ---------------------------------------------------------------------------

    def erase_student(self, uow: UnitOfWork, student_id: str, now: datetime) -> int:
        """The school's eraser for the desk: blank the subject and messages of every
        ticket a student asked or that concerns her (ids, categories and SLA measures
        stay, for the metrics). Returns how many texts were blanked."""
        keys = {k for k, _ in uow.records.scan(TICKETS, student_index(student_id))}
        keys |= {k for k, _ in uow.records.scan(TICKETS, party_index("student", student_id))}
        changed = erase_surveys(uow, student_id)
        for lead_id, _ in uow.records.scan(LEADS, f"student:{student_id}"):
            changed += self.erase_lead(uow, lead_id, now)
        return changed + self._erase(uow, sorted(keys))

    def erase_lead(self, uow: UnitOfWork, lead_id: str, now: datetime) -> int:
        """Blank a lead's contact and the texts of its consultations."""
        lead = uow.records.get(LEADS, lead_id)
        if lead is None:
            raise LeadNotFound(lead_id)
        changed = sum(1 for v in lead["contact"].values() if v is not None)
        lead["contact"] = {k: None for k in lead["contact"]}
        lead["erased"] = True
        uow.records.put(LEADS, lead_id, lead, index=lead_index(lead))
        sealed = sealed_records(uow)
        if sealed is not None:  # any copy of its contact left anywhere no longer opens
            sealed.shred(f"lead:{lead_id}")
        keys = [k for k, _ in uow.records.scan(TICKETS, party_index("lead", lead_id))]
        uow.record_events([LeadErased(occurred_at=now, lead_id=lead_id)])
        return changed + self._erase(uow, keys)

    def _erase(self, uow: UnitOfWork, keys: list[str]) -> int:
        changed = 0
        for key in keys:
            ticket = load_ticket(uow, key)
            n = ticket.erase_texts()
            if n:
                store_ticket(uow, ticket, self.setup.hours_for(ticket.team))
                changed += n
        return changed

    # --- the periodic job ------------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, batch: int = 200) -> int:
        """Announce every SLA warning and breach due by ``now`` (default: the clock's
        now), each once, and hand over the open tickets of staff whose absence began.
        Reads only due tickets; safe to run from several workers. Returns how many
        announcements and hand-overs were made."""
        check_int(batch, "batch", low=1, high=10_000)
        if now is not None:
            check_instant(now, "now")
        done = self._run(lambda uow, at: self._hand_over_started(uow, now or at))
        seen: set[str] = set()
        while True:
            at = now or self.clock.now()
            uow = open_read_only(self._uow)
            with uow:
                rows = uow.records.scan(TICKETS, SLA_DUE, hi=micros(at), limit=batch)
            keys = [k for k, _ in rows if k not in seen]
            if not keys:
                return done
            seen.update(keys)
            done += self._run(functools.partial(self._announce, keys=keys, at=now))

    def _announce(
        self, uow: UnitOfWork, now: datetime, *, keys: list[str], at: datetime | None
    ) -> int:
        now = at or now
        made = 0
        for ticket in load_tickets(uow, keys):
            hours = self.setup.hours_for(ticket.team)
            ticket.announce_due(hours, now, escalate_to=self.setup.team_leads.get(ticket.team))
            made += len(ticket.events)
            store_ticket(uow, ticket, hours)
        return made

    def _hand_over_started(self, uow: UnitOfWork, now: datetime) -> int:
        moved = 0
        for staff_id, doc in uow.records.list(AWAY):
            if any(dt_in(p["start"]) <= now < dt_in(p["end"]) for p in doc["periods"]):
                moved += self._hand_over(uow, staff_id, now)
        return moved


E = TypeVar("E", TicketCategory, Priority)


def _enum(kind: type[E], value: object, what: str) -> E:
    try:
        return kind(value)  # type: ignore[arg-type]  # a str, or refused below
    except ValueError:
        raise InvalidInput(
            f"{what} must be one of {[m.value for m in kind]}, got {value!r}"
        ) from None
