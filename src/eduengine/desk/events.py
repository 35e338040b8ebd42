"""The events of the service desk: tickets and their SLAs, leads, surveys and reviews.

Events carry ids, categories and measures, never the text of a message or a lead's
contact: the feed outlives erasure.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(SlaBreached).name, event_kind(SlaBreached).aggregate_type
('desk.sla_breached', 'ticket')
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "ConsultationRequested",
    "LeadAssigned",
    "LeadCaptured",
    "LeadConverted",
    "LeadErased",
    "LeadStepReached",
    "ReviewApproved",
    "ReviewPosted",
    "ReviewRejected",
    "SlaBreached",
    "SlaWarning",
    "SurveyAnswered",
    "SurveySent",
    "TicketAssigned",
    "TicketMessageAdded",
    "TicketOpened",
    "TicketResolved",
    "TicketResponded",
    "TicketStateChanged",
]


# --- tickets ---------------------------------------------------------------------------


@event_type("desk.ticket_opened", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketOpened(DomainEvent):
    ticket_id: str
    category: str
    priority: str
    #: student | guardian | lead
    asker_kind: str
    asker_id: str
    course_id: str | None = None
    class_id: str | None = None
    slot_id: str | None = None
    #: the student the ticket concerns (the asker, or a guardian's student), if known
    student_id: str | None = None


@event_type("desk.ticket_assigned", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketAssigned(DomainEvent):
    ticket_id: str
    team: str
    #: None: the team's queue
    assignee: str | None
    previous: str | None
    #: routed | reassigned | away
    reason: str


@event_type("desk.ticket_message_added", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketMessageAdded(DomainEvent):
    ticket_id: str
    #: asker | reply | note (internal, never shown to the asker)
    kind: str
    author_id: str


@event_type("desk.ticket_state_changed", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketStateChanged(DomainEvent):
    ticket_id: str
    from_state: str
    to_state: str


@event_type("desk.ticket_responded", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketResponded(DomainEvent):
    """The first response: its business time and whether its target was met."""

    ticket_id: str
    category: str
    team: str
    assignee: str | None
    business_seconds: int
    met: bool


@event_type("desk.ticket_resolved", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class TicketResolved(DomainEvent):
    """A resolution (again after a reopen): business time so far, target met or not."""

    ticket_id: str
    category: str
    team: str
    assignee: str | None
    business_seconds: int
    met: bool
    #: how many times the ticket was resolved before
    times_before: int = 0


@event_type("desk.sla_warning", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class SlaWarning(DomainEvent):
    ticket_id: str
    #: first_response | resolution
    target: str
    deadline: datetime
    team: str
    assignee: str | None


@event_type("desk.sla_breached", aggregate="ticket", field="ticket_id")
@attrs.frozen(kw_only=True)
class SlaBreached(DomainEvent):
    ticket_id: str
    target: str
    deadline: datetime
    team: str
    assignee: str | None
    #: the team's lead, told of the breach (None: no lead set for the team)
    escalated_to: str | None


# --- leads -------------------------------------------------------------------------------


@event_type("desk.lead_captured", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class LeadCaptured(DomainEvent):
    """A visit that left a contact: the funnel's first step."""

    lead_id: str
    source: str
    campaign: str | None = None
    course_ids: tuple[str, ...] = ()
    language: str | None = None


@event_type("desk.lead_assigned", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class LeadAssigned(DomainEvent):
    lead_id: str
    consultant_id: str
    #: round_robin | course | language | manual
    rule: str


@event_type("desk.consultation_requested", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class ConsultationRequested(DomainEvent):
    lead_id: str
    ticket_id: str
    course_id: str | None = None


@event_type("desk.lead_converted", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class LeadConverted(DomainEvent):
    """The lead registered as a student; its tickets now concern that student."""

    lead_id: str
    student_id: str
    source: str
    campaign: str | None = None


@event_type("desk.lead_step_reached", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class LeadStepReached(DomainEvent):
    """A lead reached a step of the funnel for the first time (visit, consult, register,
    trial, first_purchase; the last two from the lifecycle of the student it became)."""

    lead_id: str
    step: str
    source: str
    campaign: str | None = None


@event_type("desk.lead_erased", aggregate="lead", field="lead_id")
@attrs.frozen(kw_only=True)
class LeadErased(DomainEvent):
    lead_id: str


# --- satisfaction ------------------------------------------------------------------------


@event_type("desk.survey_sent", aggregate="survey", field="survey_id")
@attrs.frozen(kw_only=True)
class SurveySent(DomainEvent):
    survey_id: str
    #: lesson | ticket | term
    occasion: str
    #: the lesson (slot), ticket or term the survey asks about
    subject_id: str
    student_id: str
    course_id: str | None = None
    tutor_id: str | None = None


@event_type("desk.survey_answered", aggregate="survey", field="survey_id")
@attrs.frozen(kw_only=True)
class SurveyAnswered(DomainEvent):
    survey_id: str
    occasion: str
    student_id: str
    #: student | guardian
    answered_by: str
    csat: int | None = None
    nps: int | None = None
    course_id: str | None = None
    tutor_id: str | None = None


@event_type("desk.review_posted", aggregate="review", field="review_id")
@attrs.frozen(kw_only=True)
class ReviewPosted(DomainEvent):
    """A review of a course (and its tutor), new or edited (``edit`` > 0)."""

    review_id: str
    student_id: str
    course_id: str
    tutor_id: str | None
    rating: int
    previous_rating: int | None = None
    edit: int = 0
    #: what moderation made of its text: shown | masked | held | blocked
    status: str = "shown"


@event_type("desk.review_approved", aggregate="review", field="review_id")
@attrs.frozen(kw_only=True)
class ReviewApproved(DomainEvent):
    """A moderator let a held review's text be shown."""

    review_id: str
    moderator_id: str


@event_type("desk.review_rejected", aggregate="review", field="review_id")
@attrs.frozen(kw_only=True)
class ReviewRejected(DomainEvent):
    """A moderator kept a held review's text from being shown."""

    review_id: str
    moderator_id: str
    reason: str | None = None
