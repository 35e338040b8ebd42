"""The desk's notices to staff, a projection of the event feed: each SLA warning and
breach reaches the ticket's holder and her team's lead as a notice (``sla_warning``,
``sla_breached``), once per recipient, through the notices' delivery (leases, retries,
the provider key ``<notice id>:<channel>``). A ticket in a team's queue (no holder)
reaches the lead alone.

>>> from eduengine.notices.model import NoticePolicy
>>> sorted(e.__name__ for e in staff_notice_rules(DeskSetup(), NoticePolicy()))
['SlaBreached', 'SlaWarning']
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from eduengine.desk.events import SlaBreached, SlaWarning
from eduengine.desk.model import DeskSetup
from eduengine.desk.records import TICKETS
from eduengine.kernel.events import DomainEvent
from eduengine.notices.model import SLA_BREACHED, SLA_WARNING, NoticePolicy
from eduengine.notices.planning import local, plan_staff
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork

#: the projection's name (``school.rules()``, checkpoints)
PROJECTION = "desk_notices"


def staff_notice_rules(
    setup: DeskSetup, policy: NoticePolicy
) -> dict[type[DomainEvent], list[Handler]]:
    """What the ``desk_notices`` projection plans: for a warning, notices to the
    ticket's holder and her team's lead (as ``setup`` names it); for a breach, to the
    holder and the lead the breach was escalated to."""

    def handle(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, SlaWarning | SlaBreached)
        if isinstance(event, SlaBreached):
            kind, lead = SLA_BREACHED, event.escalated_to
        else:
            kind, lead = SLA_WARNING, setup.team_leads.get(event.team)
        ticket = uow.records.get(TICKETS, event.ticket_id) or {}
        # no subject or text: they are the asker's words, erased with her, and a
        # notice to staff outlives that erasure
        about: dict[str, Any] = {
            "ticket_id": event.ticket_id,
            "target": event.target,
            "team": event.team,
            "assignee": event.assignee,
            "lead": lead,
            "category": ticket.get("category"),
            "priority": ticket.get("priority"),
        }

        def context(zone: ZoneInfo) -> dict[str, Any]:
            return {**about, "deadline": local(event.deadline, zone)}

        plan_staff(
            uow,
            policy,
            kind=kind,
            key=f"{event.ticket_id}:{event.target}",
            staff_ids=[event.assignee, lead],
            context=context,
            now=event.occurred_at,
            subject=f"ticket:{event.ticket_id}",
        )

    return {SlaWarning: [handle], SlaBreached: [handle]}
