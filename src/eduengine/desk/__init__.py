"""The service desk: leads and consultations, tickets routed with business-hour SLAs,
satisfaction surveys and reviews, and their metrics (see docs/desk.md).

``school.desk`` is a :class:`DeskService`; its ``leads``, ``satisfaction`` and
``metrics`` attributes are the other services. This package re-exports the names a
host needs to set a desk up and call it.
"""

from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import (
    DeskSetup,
    LeadContact,
    LeadRouting,
    Party,
    Priority,
    Responsible,
    Route,
    Sla,
    SlaPolicy,
    TicketCategory,
    TicketState,
)
from eduengine.desk.records import SlaAlert

__all__ = [
    "BusinessHours",
    "DeskSetup",
    "LeadContact",
    "LeadRouting",
    "Party",
    "Priority",
    "Responsible",
    "Route",
    "Sla",
    "SlaAlert",
    "SlaPolicy",
    "TicketCategory",
    "TicketState",
]
