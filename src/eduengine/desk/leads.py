"""Leads and pre-sale consultations (线索 / 售前咨询): a prospect asks without an
account, is assigned to a consultant by rules, and converts into a registered student
who keeps its history.

A lead is one JSON document (kind ``desk_lead``) holding its contact (personal data:
reads are masked through the school's :class:`~eduengine.students.privacy.AccessPolicy`,
and :meth:`LeadService.erase` blanks it), its source, campaign and interests, its
consultant and how far down the funnel it went (visit, consult, register; trial and
first purchase follow from the student it became, see :mod:`eduengine.desk.metrics`).

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.desk.model import DeskSetup, LeadContact, LeadRouting
>>> from eduengine.students import Actor
>>> clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock,
...                       desk=DeskSetup(leads=LeadRouting(consultants=("amy", "bo"))))
>>> lead = school.desk.leads.capture(source="douyin", campaign="spring",
...                                  contact=LeadContact(phone="13812345678"), interests=["math"])
>>> lead.consultant, lead.stage
('amy', 'visit')
>>> ticket = school.desk.leads.consult(lead.id, subject="Level?", text="Which class fits my son?")
>>> ticket.team, ticket.assignee
('sales', 'amy')
>>> school.desk.leads.lead(lead.id, Actor(id="sue", role="support")).contact.phone
'138****5678'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Unpack

import attrs

from eduengine.desk.events import LeadAssigned, LeadCaptured, LeadConverted
from eduengine.desk.model import DeskSetup, LeadContact, Party, TicketCategory
from eduengine.desk.privacy import DeskLook, Refused, read_personal
from eduengine.desk.records import (
    LEADS,
    TICKETS,
    TicketView,
    lead_index,
    load_ticket,
    party_index,
    store_ticket,
)
from eduengine.errors import (
    AccessDenied,
    DuplicateId,
    InvalidInput,
    LeadAlreadyConverted,
    LeadNotFound,
)
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_id, check_ids, check_optional_id
from eduengine.people.access import AccessGate
from eduengine.people.model import (
    Access,
    AccessPolicy,
    Actor,
    mask_email,
    mask_name,
    mask_phone,
)
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students import records as student_records

__all__ = ["LeadService", "LeadView"]

ROUND_ROBIN = "desk_lead_turn"


@attrs.frozen(kw_only=True)
class LeadView:
    id: str
    #: whole only in :meth:`LeadService.lead` for a reader with full access (or the
    #: lead's consultant) and in what ``capture`` returns; masked elsewhere; None erased
    contact: LeadContact | None
    source: str
    campaign: str | None
    interests: tuple[str, ...]
    language: str | None
    consultant: str | None
    #: visit | consult | register (then the student's own lifecycle)
    stage: str
    student_id: str | None
    created_at: datetime


def _contact(data: dict[str, Any]) -> LeadContact | None:
    if not any(data.values()):
        return None  # erased
    return LeadContact(**data)


def _masked(contact: LeadContact | None) -> LeadContact | None:
    if contact is None:
        return None
    # masking keeps at least one channel: the attrs validator wants one
    return attrs.evolve(
        contact,
        name=mask_name(contact.name),
        phone=mask_phone(contact.phone),
        email=mask_email(contact.email),
        wechat=None if contact.wechat is None else contact.wechat[:1] + "***",
    )


def _view(lead_id: str, doc: dict[str, Any], contact: LeadContact | None) -> LeadView:
    return LeadView(
        id=lead_id,
        contact=contact,
        source=doc["source"],
        campaign=doc["campaign"],
        interests=tuple(doc["interests"]),
        language=doc["language"],
        consultant=doc["consultant"],
        stage=doc["stage"],
        student_id=doc["student_id"],
        created_at=dt_in(doc["created_at"]),
    )


def _load(uow: UnitOfWork, lead_id: str) -> dict[str, Any]:
    doc = uow.records.get(LEADS, lead_id)
    if doc is None:
        raise LeadNotFound(lead_id)
    return doc


class LeadService(ServiceBase):
    """Leads, their assignment and conversion (``school.desk.leads``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        setup: DeskSetup,
        open_ticket: Callable[..., TicketView],
        erase_lead: Callable[[UnitOfWork, str, datetime], int] | None = None,
        policy: AccessPolicy | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.setup = setup
        self._open_ticket = open_ticket
        self._erase_lead = erase_lead
        #: the access check on a lead's contact (``DeskService.gate`` sets the school's)
        self.gate = AccessGate(policy)

    def capture(
        self,
        *,
        source: str,
        contact: LeadContact,
        campaign: str | None = None,
        interests: Iterable[str] = (),
        language: str | None = None,
        lead_id: str | None = None,
    ) -> LeadView:
        """Record a visit that left a contact, and assign the lead to a consultant."""
        check_id(source, "source")
        check_optional_id(campaign, "campaign")
        check_optional_id(language, "language")
        check_optional_id(lead_id, "lead_id")
        if not isinstance(contact, LeadContact):
            raise InvalidInput(f"contact must be a LeadContact, got {contact!r}")
        courses = tuple(check_ids(list(interests), "interests"))
        new_id = lead_id or self._new_id()

        def command(uow: UnitOfWork, now: datetime) -> LeadView:
            if uow.records.get(LEADS, new_id) is not None:
                raise DuplicateId(f"lead {new_id!r} already exists")
            rule, pool = self.setup.leads.pool(course_ids=courses, language=language)
            consultant = None
            if pool:
                turn = uow.records.get(ROUND_ROBIN, rule) or {"next": 0}
                consultant = pool[turn["next"] % len(pool)]
                uow.records.put(ROUND_ROBIN, rule, {"next": turn["next"] + 1})
            doc = {
                "contact": attrs.asdict(contact),
                "source": source,
                "campaign": campaign,
                "interests": list(courses),
                "language": language,
                "consultant": consultant,
                "stage": "visit",
                "student_id": None,
                "created_at": dt_out(now),
            }
            uow.records.put(LEADS, new_id, doc, index=lead_index(doc))
            events: list[Any] = [
                LeadCaptured(
                    occurred_at=now,
                    lead_id=new_id,
                    source=source,
                    campaign=campaign,
                    course_ids=courses,
                    language=language,
                )
            ]
            if consultant is not None:
                kind = rule.split(":", 1)[0]
                events.append(
                    LeadAssigned(
                        occurred_at=now, lead_id=new_id, consultant_id=consultant, rule=kind
                    )
                )
            uow.record_events(events)
            return _view(new_id, doc, contact)

        return self._run(command, ids={"lead_id": lead_id})

    def consult(
        self, lead_id: str, *, subject: str, text: str, course_id: str | None = None
    ) -> TicketView:
        """A question before registering: a ticket of the lead, to its consultant."""
        return self._open_ticket(
            category=TicketCategory.QUESTION,
            asker=Party("lead", lead_id),
            subject=subject,
            text=text,
            course_id=course_id,
        )

    def assign(self, lead_id: str, consultant_id: str) -> LeadView:
        """Hand a lead to another consultant (by hand)."""
        check_id(lead_id, "lead_id")
        check_id(consultant_id, "consultant_id")

        def command(uow: UnitOfWork, now: datetime) -> LeadView:
            doc = _load(uow, lead_id)
            doc["consultant"] = consultant_id
            uow.records.put(LEADS, lead_id, doc, index=lead_index(doc))
            uow.record_events(
                [
                    LeadAssigned(
                        occurred_at=now, lead_id=lead_id, consultant_id=consultant_id, rule="manual"
                    )
                ]
            )
            return _view(lead_id, doc, _masked(_contact(doc["contact"])))

        return self._run(command, ids={"lead_id": lead_id, "consultant_id": consultant_id})

    def convert(self, lead_id: str, student_id: str) -> LeadView:
        """The lead registered as ``student_id`` (registered first with
        ``school.students.register``): its consultations now concern that student. A
        student comes from one lead (another: :class:`InvalidInput`); what she did
        before (a trial, a purchase) counts in the lead's funnel from now on."""
        check_id(lead_id, "lead_id")
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> LeadView:
            doc = _load(uow, lead_id)
            if doc["student_id"] is not None:
                raise LeadAlreadyConverted(lead_id, doc["student_id"])
            student_records.student(uow, student_id)  # StudentNotFound if not registered
            for other, _ in uow.records.scan(LEADS, f"student:{student_id}", limit=1):
                # one lead per student, so the funnel counts her steps once
                raise InvalidInput(
                    f"student {student_id!r} already came from lead {other!r}: "
                    f"lead {lead_id!r} cannot become her too"
                )
            doc["student_id"], doc["stage"] = student_id, "register"
            uow.records.put(LEADS, lead_id, doc, index=lead_index(doc))
            for key, _ in uow.records.scan(TICKETS, party_index("lead", lead_id)):
                ticket = load_ticket(uow, key)
                ticket.student_id = student_id
                store_ticket(uow, ticket, self.setup.hours_for(ticket.team))
            uow.record_events(
                [
                    LeadConverted(
                        occurred_at=now,
                        lead_id=lead_id,
                        student_id=student_id,
                        source=doc["source"],
                        campaign=doc["campaign"],
                    )
                ]
            )
            return _view(lead_id, doc, _masked(_contact(doc["contact"])))

        return self._run(command, ids={"lead_id": lead_id, "student_id": student_id})

    def lead(self, lead_id: str, actor: Actor) -> LeadView:
        """The lead as ``actor`` may see it, by the school's access check on the person
        it is (the student it became, else ``lead:<id>``): its consultant and roles with
        full access see the contact (audited), masked roles (support) see it masked,
        others are refused (:class:`AccessDenied`, audited ``denied``)."""
        check_id(lead_id, "lead_id")
        if not isinstance(actor, Actor):
            raise AccessDenied(f"a lead is read by an Actor, got {actor!r}")

        def query(uow: UnitOfWork, now: datetime, look: DeskLook) -> LeadView:
            doc = _load(uow, lead_id)
            fields = look(
                doc["student_id"] or f"lead:{lead_id}", whole=actor.id == doc["consultant"]
            )
            if fields.refused:
                raise Refused()
            contact = _contact(doc["contact"])
            whole = fields.contacts is Access.FULL
            return _view(lead_id, doc, contact if whole else _masked(contact))

        return read_personal(
            self._run, self.gate, actor, ("lead",), query, ids={"lead_id": lead_id}
        )

    def erase(self, lead_id: str) -> int:
        """Blank a lead's contact and its consultations' texts (on request); the funnel
        counts stay. Returns how many values were blanked."""
        check_id(lead_id, "lead_id")
        erase = self._erase_lead
        assert erase is not None, "built by DeskService, which erases leads"
        return self._run(lambda uow, now: erase(uow, lead_id, now), ids={"lead_id": lead_id})
