"""The desk's reactions: its metrics, and the survey after a resolved ticket, kept by a
projection of the event feed (never a scan of tickets).

First-response and resolution times (business time: median and p90) by category, team
and person; SLA attainment; complaints per 100 students; CSAT and NPS by course, tutor
and occasion; review ratings by course and tutor; the lead funnel (visit, consult,
register, trial, first purchase) by source and campaign, each lead counted once per
step; a lead converted into a student who had already had her trial or bought counts
those steps at its conversion. Every figure is kept for all time (``period="all"``)
and per month in the desk's zone (``period="2026-03"``).

Each figure is one document of kind :data:`METRICS`, keyed
``<metric>|<dimension>|<value>|<period>`` and filed under the index
``<metric>|<dimension>|<period>``, so a query reads the documents of one dimension and
period and nothing else. A resolution counts once, at the first one (a reopened
ticket's later resolutions are not new resolutions).

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.desk.model import DeskSetup, Party
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))   # a Monday
>>> school = School.build(InMemoryStore(), clock=clock, desk=DeskSetup(zone="UTC"))
>>> for minutes in (10, 30, 50):
...     t = school.desk.open_ticket(category="feedback", asker=Party("student", "ann"),
...                                 subject="s", text="t")
...     _ = clock.advance(timedelta(minutes=minutes))
...     _ = school.desk.reply(t.id, by="amy", text="thanks")
>>> stats = school.desk.metrics.response_times(by="category")["feedback"]
>>> stats.count, stats.median, stats.p90
(3, datetime.timedelta(seconds=1800), datetime.timedelta(seconds=3000))
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Unpack
from zoneinfo import ZoneInfo

import attrs

from eduengine.booking.events import AttendanceMarked
from eduengine.desk.events import (
    ConsultationRequested,
    LeadCaptured,
    LeadConverted,
    LeadStepReached,
    ReviewPosted,
    SurveyAnswered,
    TicketOpened,
    TicketResolved,
    TicketResponded,
)
from eduengine.desk.model import FUNNEL
from eduengine.desk.records import TICKETS
from eduengine.desk.satisfaction import send_survey
from eduengine.errors import InvalidInput
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students.events import StageChanged, StudentRegistered

__all__ = ["DeskMetrics", "Satisfaction", "TimeStats", "desk_reactions", "reset_metrics"]

METRICS = "desk_metric"
FUNNEL_LEADS = "desk_funnel_lead"
FUNNEL_STUDENTS = "desk_funnel_student"
#: the steps each lead was announced at (LeadStepReached): kept through rebuilds
FUNNEL_ANNOUNCED = "desk_funnel_announced"
KINDS = (METRICS, FUNNEL_LEADS, FUNNEL_STUDENTS)
ALL = "all"
TIME_DIMENSIONS = ("category", "team", "person")
HUNDRED = Decimal(100)
#: the funnel steps a lifecycle stage shows were reached (a purchase passed the trial
#: step; a renewal, the first purchase, even with no event of its own)
STEPS_OF_STAGE = {
    "trial": ("trial",),
    "first_purchase": ("trial", "first_purchase"),
    "renewed": ("trial", "first_purchase"),
}

Handler = Callable[[DomainEvent, UnitOfWork], None]


@attrs.frozen(kw_only=True)
class TimeStats:
    count: int
    median: timedelta
    p90: timedelta


@attrs.frozen(kw_only=True)
class Satisfaction:
    answers: int
    #: mean CSAT (1-5) and the share of 4s and 5s, in percent (None: no CSAT answer)
    csat: Decimal | None
    csat_satisfied: Decimal | None
    #: promoters minus detractors, in percent of NPS answers (None: no NPS answer)
    nps: Decimal | None


def _key(metric: str, dim: str, value: str, period: str) -> str:
    return f"{metric}|{dim}|{value}|{period}"


def _periods(zone: ZoneInfo, at: datetime) -> tuple[str, str]:
    return ALL, at.astimezone(zone).strftime("%Y-%m")


def _bump(
    uow: UnitOfWork,
    zone: ZoneInfo,
    at: datetime,
    metric: str,
    dims: Mapping[str, str | None],
    change: Callable[[dict[str, Any]], None],
) -> None:
    """Apply ``change`` to the document of every (dimension, period) of a fact."""
    for dim, value in dims.items():
        if value is None:
            continue
        for period in _periods(zone, at):
            key = _key(metric, dim, value, period)
            doc = uow.records.get(METRICS, key) or {}
            change(doc)
            uow.records.put(METRICS, key, doc, index={f"{metric}|{dim}|{period}": 0})


def _add_sample(seconds: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc.setdefault("values", []).append(seconds)

    return change


def _count(**amounts: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for name, amount in amounts.items():
            doc[name] = doc.get(name, 0) + amount

    return change


def desk_reactions(
    zone: str, *, survey_after_lesson: bool = False
) -> dict[type[DomainEvent], list[Handler]]:
    """The desk's reactions by event (``handler(event, uow)``), for a projection of the
    feed (:func:`eduengine.events.projections.reaction_projection`): the metrics, the
    survey after a resolved ticket and, with ``survey_after_lesson``, after a lesson
    attended."""
    tz = ZoneInfo(zone)

    def survey_after_attendance(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, AttendanceMarked)
        if event.status != "attended":
            return
        slot = uow.slots.get(event.slot_id)
        send_survey(
            uow,
            event.occurred_at,
            occasion="lesson",
            subject_id=event.slot_id,
            student_id=event.student_id,
            course_id=slot.course_id,
            tutor_id=slot.tutor_id,
        )

    def survey_after_resolution(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, TicketResolved)
        ticket = uow.records.get(TICKETS, event.ticket_id)
        if event.times_before or ticket is None or ticket["student_id"] is None:
            return
        send_survey(
            uow,
            event.occurred_at,
            occasion="ticket",
            subject_id=event.ticket_id,
            student_id=ticket["student_id"],
            course_id=ticket["course_id"],
        )

    def on_opened(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, TicketOpened)
        _bump(uow, tz, event.occurred_at, "tickets", {"category": event.category}, _count(n=1))

    def on_time(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, TicketResponded | TicketResolved)
        if isinstance(event, TicketResolved) and event.times_before:
            return
        metric = "response" if isinstance(event, TicketResponded) else "resolution"
        dims = {
            "category": event.category,
            "team": event.team,
            "person": event.assignee or "queue",
        }
        _bump(uow, tz, event.occurred_at, metric, dims, _add_sample(event.business_seconds))
        _bump(
            uow,
            tz,
            event.occurred_at,
            f"sla_{metric}",
            {**dims, ALL: ALL},
            _count(total=1, met=int(event.met)),
        )

    def on_registered(event: DomainEvent, uow: UnitOfWork) -> None:
        _bump(uow, tz, event.occurred_at, "students", {ALL: ALL}, _count(n=1))

    def on_answered(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, SurveyAnswered)
        amounts = {"answers": 1}
        if event.csat is not None:
            amounts |= {"csat_n": 1, "csat_sum": event.csat, "satisfied": int(event.csat >= 4)}
        if event.nps is not None:
            amounts |= {
                "nps_n": 1,
                "promoters": int(event.nps >= 9),
                "detractors": int(event.nps <= 6),
            }
        dims = {
            ALL: ALL,
            "course": event.course_id,
            "tutor": event.tutor_id,
            "occasion": event.occasion,
        }
        _bump(uow, tz, event.occurred_at, "survey", dims, _count(**amounts))

    def on_review(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ReviewPosted)
        # an edit replaces the review's rating: one review per student and course
        new = event.previous_rating is None
        change = _count(n=int(new), sum=event.rating - (event.previous_rating or 0))
        _bump(
            uow,
            tz,
            event.occurred_at,
            "review",
            {ALL: ALL, "course": event.course_id, "tutor": event.tutor_id},
            change,
        )

    def step(uow: UnitOfWork, lead_id: str, name: str, at: datetime) -> None:
        lead = uow.records.get(FUNNEL_LEADS, lead_id)
        if lead is None or name in lead["steps"]:
            return  # each lead counts once per step
        lead["steps"].append(name)
        uow.records.put(FUNNEL_LEADS, lead_id, lead)
        dims = {ALL: ALL, "source": lead["source"], "campaign": lead["campaign"]}
        _bump(uow, tz, at, "funnel", dims, _count(**{name: 1}))
        # announced once for good: a rebuild of the counters does not announce again
        told = uow.records.get(FUNNEL_ANNOUNCED, lead_id) or {"steps": []}
        if name not in told["steps"]:
            told["steps"].append(name)
            uow.records.put(FUNNEL_ANNOUNCED, lead_id, told)
            uow.record_events(
                [
                    LeadStepReached(
                        occurred_at=at,
                        lead_id=lead_id,
                        step=name,
                        source=lead["source"],
                        campaign=lead["campaign"],
                    )
                ]
            )

    def on_captured(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, LeadCaptured)
        doc: dict[str, Any] = {"steps": [], "source": event.source, "campaign": event.campaign}
        uow.records.put(FUNNEL_LEADS, event.lead_id, doc)
        step(uow, event.lead_id, "visit", event.occurred_at)

    def on_consulted(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, ConsultationRequested)
        step(uow, event.lead_id, "consult", event.occurred_at)

    def on_converted(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, LeadConverted)
        student = uow.records.get(FUNNEL_STUDENTS, event.student_id) or {"lead_id": None}
        if student["lead_id"] is None:
            student["lead_id"] = event.lead_id
            uow.records.put(FUNNEL_STUDENTS, event.student_id, student)
        step(uow, event.lead_id, "register", event.occurred_at)
        if student["lead_id"] == event.lead_id:
            # steps the student took before the lead was linked to her count now, once
            for name in student.get("steps", []):
                step(uow, event.lead_id, name, event.occurred_at)

    def on_stage(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, StageChanged)
        reached = STEPS_OF_STAGE.get(event.stage, ())
        student = uow.records.get(FUNNEL_STUDENTS, event.student_id) or {"lead_id": None}
        new = [name for name in reached if name not in student.get("steps", [])]
        if not new:
            return
        # kept for every student: a lead linked later still counts what she did before
        student["steps"] = [*student.get("steps", []), *new]
        uow.records.put(FUNNEL_STUDENTS, event.student_id, student)
        if student["lead_id"] is not None:
            for name in new:
                step(uow, student["lead_id"], name, event.occurred_at)

    lessons: dict[type[DomainEvent], list[Handler]] = (
        {AttendanceMarked: [survey_after_attendance]} if survey_after_lesson else {}
    )
    return {
        **lessons,
        TicketOpened: [on_opened],
        TicketResponded: [on_time],
        TicketResolved: [on_time, survey_after_resolution],
        StudentRegistered: [on_registered],
        SurveyAnswered: [on_answered],
        ReviewPosted: [on_review],
        LeadCaptured: [on_captured],
        ConsultationRequested: [on_consulted],
        LeadConverted: [on_converted],
        StageChanged: [on_stage],
    }


def reindex_metrics(uow: UnitOfWork) -> int:
    """File each metric document under its ``<metric>|<dimension>|<period>`` index."""
    docs = uow.records.list(METRICS)
    for key, doc in docs:
        metric, dim, _, period = key.split("|")
        uow.records.put(METRICS, key, doc, index={f"{metric}|{dim}|{period}": 0})
    return len(docs)


def reset_metrics(uow: UnitOfWork) -> None:
    """Drop every metric document (for a rebuild from the feed)."""
    for kind in KINDS:
        for key, _ in uow.records.list(kind):
            uow.records.delete(kind, key)


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (HUNDRED * part / whole).quantize(Decimal("0.01"))


class DeskMetrics(ServiceBase):
    """Queries over the metrics the projection keeps (``school.desk.metrics``)."""

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)

    def _docs(self, metric: str, dim: str, period: str) -> dict[str, dict[str, Any]]:
        if not isinstance(period, str) or not (period == ALL or len(period) == 7):
            raise InvalidInput(f"period is 'all' or a month 'YYYY-MM', got {period!r}")

        def query(uow: UnitOfWork, now: datetime) -> dict[str, dict[str, Any]]:
            out = {}
            for key, _ in uow.records.scan(METRICS, f"{metric}|{dim}|{period}"):
                doc = uow.records.get(METRICS, key)
                if doc is not None:
                    out[key.split("|")[2]] = doc
            return out

        return self._run(query, write=False)

    def _times(self, metric: str, by: str, period: str) -> dict[str, TimeStats]:
        if by not in TIME_DIMENSIONS:
            raise InvalidInput(f"by must be one of {TIME_DIMENSIONS}, got {by!r}")
        out = {}
        for value, doc in sorted(self._docs(metric, by, period).items()):
            values = sorted(doc["values"])
            rank = math.ceil(0.9 * len(values)) - 1
            out[value] = TimeStats(
                count=len(values),
                median=timedelta(seconds=statistics.median(values)),
                p90=timedelta(seconds=values[rank]),
            )
        return out

    def response_times(self, *, by: str = "category", period: str = ALL) -> dict[str, TimeStats]:
        """Business time to the first response, by ``category``, ``team`` or ``person``."""
        return self._times("response", by, period)

    def resolution_times(self, *, by: str = "category", period: str = ALL) -> dict[str, TimeStats]:
        """Business time to the (first) resolution, paused time excluded."""
        return self._times("resolution", by, period)

    def sla_attainment(
        self, target: str = "first_response", *, by: str = ALL, period: str = ALL
    ) -> dict[str, Decimal]:
        """Percent of settled targets met, by ``all``, ``category``, ``team``, ``person``."""
        metric = {"first_response": "sla_response", "resolution": "sla_resolution"}.get(target)
        if metric is None:
            raise InvalidInput(f"target is first_response or resolution, got {target!r}")
        docs = self._docs(metric, by, period)
        return {
            value: _share(doc["met"], doc["total"]) or Decimal(0)
            for value, doc in sorted(docs.items())
        }

    def complaint_rate(self, *, period: str = ALL) -> Decimal | None:
        """Complaints filed in ``period`` per 100 students registered (so far)."""
        complaints = self._docs("tickets", "category", period).get("complaint", {}).get("n", 0)
        students = self._docs("students", ALL, ALL).get(ALL, {}).get("n", 0)
        return _share(complaints, students)

    def satisfaction(self, *, by: str = ALL, period: str = ALL) -> dict[str, Satisfaction]:
        """CSAT and NPS by ``all``, ``course``, ``tutor`` or ``occasion``."""
        out = {}
        for value, doc in sorted(self._docs("survey", by, period).items()):
            csat_n, nps_n = doc.get("csat_n", 0), doc.get("nps_n", 0)
            out[value] = Satisfaction(
                answers=doc["answers"],
                csat=(Decimal(doc["csat_sum"]) / csat_n).quantize(Decimal("0.01"))
                if csat_n
                else None,
                csat_satisfied=_share(doc.get("satisfied", 0), csat_n),
                nps=None
                if not nps_n
                else _share(doc["promoters"], nps_n) - _share(doc["detractors"], nps_n),  # type: ignore[operator]
            )
        return out

    def ratings(self, *, by: str = "course", period: str = ALL) -> dict[str, tuple[int, Decimal]]:
        """``(reviews, mean rating)`` by ``course``, ``tutor`` or ``all`` (an edit
        replaces its review's rating, in the period of the edit)."""
        return {
            value: (doc["n"], (Decimal(doc["sum"]) / doc["n"]).quantize(Decimal("0.01")))
            for value, doc in sorted(self._docs("review", by, period).items())
            if doc.get("n")
        }

    def funnel(self, *, by: str = ALL, value: str = ALL, period: str = ALL) -> dict[str, int]:
        """Leads at each funnel step, for ``all``, one ``source`` or one ``campaign``."""
        doc = self._docs("funnel", by, period).get(value, {})
        return {name: doc.get(name, 0) for name in FUNNEL}
