"""The desk's domain: ticket categories, states and their moves, SLA targets and the
SLA clock, routing rules. Pure: no storage, no clock.

A ticket's two SLA targets (first response, resolution) each run a clock of business
time on the calendar of the team that holds the ticket. A clock runs while the ticket is
new, open or reopened and its target is not settled; it is paused while the desk waits
on the asker and stops when the target is settled (the first reply; a resolution).
A target is **breached** as soon as more business time than its target has run, and a
**warning** is due once ``warn_before`` or less is left; each is announced once.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine.desk.hours import BusinessHours
>>> clock = SlaClock.start(target=timedelta(hours=1), warn_before=timedelta(minutes=15),
...                        now=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> hours = BusinessHours.always()
>>> at = datetime(2026, 3, 2, 9, 50, tzinfo=timezone.utc)
>>> [kind for kind, _ in clock.due_announcements(hours, at)]
['warning']
>>> clock.warned = True
>>> [kind for kind, _ in clock.due_announcements(hours, at + timedelta(minutes=11))]
['breach']
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

import attrs

from eduengine.desk.hours import BusinessHours
from eduengine.errors import InvalidInput, TicketTransitionRefused
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_duration, check_id

__all__ = [
    "DEFAULT_ROUTES",
    "DEFAULT_SLA",
    "FUNNEL",
    "TARGETS",
    "DeskSetup",
    "LeadContact",
    "LeadRouting",
    "Party",
    "Priority",
    "Responsible",
    "Route",
    "Sla",
    "SlaClock",
    "SlaPolicy",
    "TicketCategory",
    "TicketState",
    "next_state",
]

MICRO = timedelta(microseconds=1)
#: the SLA targets every ticket has
TARGETS = ("first_response", "resolution")


class TicketCategory(enum.StrEnum):
    QUESTION = "question"
    HOMEWORK = "homework"  # a homework doubt (答疑)
    COMPLAINT = "complaint"
    PARENT_MESSAGE = "parent_message"
    REFUND = "refund"
    FEEDBACK = "feedback"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketState(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"  # on the asker: the SLA clocks are paused
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


#: states in which the SLA clocks of unsettled targets run
RUNNING = frozenset({TicketState.NEW, TicketState.OPEN, TicketState.REOPENED})


#: action -> (the states it is allowed in, the state it leads to; None: unchanged)
_MOVES: dict[str, tuple[frozenset[TicketState], TicketState | None]] = {
    # a staff reply opens a new or reopened ticket; in WAITING it stays waiting
    "reply": (RUNNING | {TicketState.WAITING}, None),
    "asker_reply": (RUNNING | {TicketState.WAITING}, None),
    "note": (frozenset(TicketState) - {TicketState.CLOSED}, None),
    "wait": (RUNNING, TicketState.WAITING),
    "resolve": (RUNNING | {TicketState.WAITING}, TicketState.RESOLVED),
    "reopen": (frozenset({TicketState.RESOLVED}), TicketState.REOPENED),
    "close": (frozenset({TicketState.RESOLVED}), TicketState.CLOSED),
    "reassign": (frozenset(TicketState) - {TicketState.CLOSED}, None),
}

_PAST = {
    "reply": "replied to",
    "asker_reply": "answered by its asker",
    "note": "annotated",
    "wait": "put on wait",
    "resolve": "resolved",
    "reopen": "reopened",
    "close": "closed",
    "reassign": "reassigned",
}


def next_state(ticket_id: str, state: TicketState, action: str) -> TicketState:
    """The state ``action`` leads to from ``state``, or :class:`TicketTransitionRefused`.

    >>> next_state("t1", TicketState.NEW, "reply")
    <TicketState.OPEN: 'open'>
    >>> next_state("t1", TicketState.WAITING, "asker_reply")
    <TicketState.OPEN: 'open'>
    >>> next_state("t1", TicketState.CLOSED, "reopen")
    Traceback (most recent call last):
    ...
    eduengine.errors.TicketTransitionRefused: ticket 't1' is closed: it cannot be reopened
    """
    allowed, to = _MOVES[action]
    if state not in allowed:
        raise TicketTransitionRefused(ticket_id, state.value, _PAST[action])
    if to is not None:
        return to
    if action == "reply" and state in (TicketState.NEW, TicketState.REOPENED):
        return TicketState.OPEN
    if action == "asker_reply" and state == TicketState.WAITING:
        return TicketState.OPEN
    return state


#: the kinds of party that ask (and the roles an asker reads her tickets as)
PARTY_KINDS = ("student", "guardian", "lead")


@attrs.frozen
class Party:
    """Who a ticket concerns: a ``student``, a ``guardian`` or a ``lead`` (by id)."""

    kind: str
    id: str

    def __attrs_post_init__(self) -> None:
        if self.kind not in PARTY_KINDS:
            raise InvalidInput(f"a party is a student, guardian or lead, got {self.kind!r}")
        check_id(self.id, f"{self.kind} id")


# --- SLA targets -----------------------------------------------------------------------


def _target(value: timedelta) -> timedelta:
    return check_duration(value, "target", low=timedelta(minutes=1), high=timedelta(days=366))


@attrs.frozen
class Sla:
    """Business-time targets: the first response and the resolution, and how long
    before each breach its warning is due (``timedelta(0)``: no warning)."""

    first_response: timedelta = attrs.field(converter=_target)
    resolution: timedelta = attrs.field(converter=_target)
    warn_before: timedelta = attrs.field(default=timedelta(0), kw_only=True)

    def __attrs_post_init__(self) -> None:
        check_duration(self.warn_before, "warn_before", high=timedelta(days=366))

    def target(self, name: str) -> timedelta:
        return self.first_response if name == "first_response" else self.resolution


#: 4 business hours to answer, 3 business days to resolve, a warning 1 hour before each
DEFAULT_SLA = Sla(timedelta(hours=4), timedelta(hours=24), warn_before=timedelta(hours=1))


@attrs.frozen
class SlaPolicy:
    """Targets by ``(category, priority)``; ``(category, None)`` covers every priority of
    a category and ``default`` everything else.

    >>> policy = SlaPolicy({(TicketCategory.COMPLAINT, None): Sla(timedelta(hours=1),
    ...                                                           timedelta(hours=8))})
    >>> policy.for_ticket(TicketCategory.COMPLAINT, Priority.LOW).first_response
    datetime.timedelta(seconds=3600)
    """

    targets: Mapping[tuple[TicketCategory, Priority | None], Sla] = attrs.field(factory=dict)
    default: Sla = DEFAULT_SLA

    def for_ticket(self, category: TicketCategory, priority: Priority) -> Sla:
        return (
            self.targets.get((category, priority))
            or self.targets.get((category, None))
            or self.default
        )


# --- routing -------------------------------------------------------------------------


class Responsible(enum.StrEnum):
    """Whom a route hands a ticket to inside its team."""

    HEAD_TEACHER = "head_teacher"  # the class's (班主任)
    TUTOR = "tutor"  # the lesson's
    QUEUE = "queue"  # the team's queue: whoever takes it


def _categories(values: Iterable[TicketCategory | str]) -> frozenset[TicketCategory]:
    return frozenset(TicketCategory(v) for v in values)


@attrs.frozen
class Route:
    """Tickets of ``categories`` (empty: any) go to ``team``, to its ``responsible``
    person when there is one and she is not away (else her delegate, else the queue)."""

    team: str = attrs.field(validator=lambda _, __, v: check_id(v, "team"))
    responsible: Responsible = Responsible.QUEUE
    categories: frozenset[TicketCategory] = attrs.field(default=frozenset(), converter=_categories)

    def matches(self, category: TicketCategory) -> bool:
        return not self.categories or category in self.categories


#: complaints and refunds to operations, homework doubts to the lesson's tutor, questions
#: and parents' messages to the class's head teacher, the rest to support
DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(
        "operations",
        categories=frozenset({TicketCategory.COMPLAINT, TicketCategory.REFUND}),
    ),
    Route("teaching", Responsible.TUTOR, frozenset({TicketCategory.HOMEWORK})),
    Route(
        "teaching",
        Responsible.HEAD_TEACHER,
        frozenset({TicketCategory.QUESTION, TicketCategory.PARENT_MESSAGE}),
    ),
    Route("support"),
)


def route_for(routes: Iterable[Route], category: TicketCategory) -> Route:
    for route in routes:
        if route.matches(category):
            return route
    return Route("support")


# --- the SLA clock ---------------------------------------------------------------------


@attrs.define
class SlaClock:
    """One target's clock, stored in the ticket's document (microseconds as ints).

    Its instants (``deadline_at``, ``warn_at``, ``breach_at``) are worked out on the
    team's calendar by :meth:`plan` whenever the clock starts, pauses, resumes or moves
    to another team, so a sweep compares instants and never counts business time."""

    target: timedelta
    warn_before: timedelta
    #: business time that ran in earlier stretches (before a pause, a reassignment)
    used: timedelta = timedelta(0)
    #: start of the stretch running now (None: paused or settled)
    since: datetime | None = None
    #: None while unsettled; whether it was met once settled
    met: bool | None = None
    warned: bool = False
    breached: bool = False
    #: when the target runs out if the clock keeps running (None: not running)
    deadline_at: datetime | None = None
    #: when the warning falls due (None: no warning, or not running and not warned)
    warn_at: datetime | None = None
    #: the first instant more than the target has run (None: not running and not breached)
    breach_at: datetime | None = None

    @classmethod
    def start(cls, *, target: timedelta, warn_before: timedelta, now: datetime) -> SlaClock:
        return cls(target=target, warn_before=warn_before, since=now)

    def elapsed(self, hours: BusinessHours, now: datetime) -> timedelta:
        running = hours.business_time_between(self.since, now) if self.since else timedelta(0)
        return self.used + running

    def pause(self, hours: BusinessHours, now: datetime) -> None:
        if self.since is not None:
            self.used += hours.business_time_between(self.since, now)
            self.since = None

    def resume(self, now: datetime) -> None:
        if self.since is None and self.met is None:
            self.since = now

    def settle(self, hours: BusinessHours, now: datetime) -> bool:
        """Stop the clock; the target was met if no more than it ran."""
        self.pause(hours, now)
        self.met = self.used <= self.target and not self.breached
        return self.met

    def plan(self, hours: BusinessHours) -> None:
        """Work out the clock's instants on ``hours`` (after every change of the clock).
        A warning or breach already reached keeps its instant: it stays reached."""
        if self.since is None:
            self.deadline_at = None
            self.warn_at = self.warn_at if self.warned else None
            self.breach_at = self.breach_at if self.breached else None
            return
        left = self.target - self.used
        self.deadline_at = hours.deadline_after(self.since, max(left, timedelta(0)))
        if not self.breached:
            # breached once MORE than the target ran: from the first open instant after
            # the deadline on (a deadline at closing time breaches at the next opening)
            self.breach_at = hours.next_open(self.deadline_at) + MICRO
        if not self.warned:
            self.warn_at = (
                hours.deadline_after(self.since, max(left - self.warn_before, timedelta(0)))
                if self.warn_before
                else None
            )

    def _planned(self, hours: BusinessHours) -> None:
        # a clock stored before its instants were: work them out once
        if self.since is not None and self.deadline_at is None:
            self.plan(hours)

    def deadline(self, hours: BusinessHours) -> datetime | None:
        """When the target runs out if the clock keeps running (None: not running)."""
        self._planned(hours)
        return self.deadline_at

    def due_at(self, hours: BusinessHours) -> datetime | None:
        """The first instant an announcement of this clock is due (None: nothing will
        be while it does not run)."""
        self._planned(hours)
        if self.since is None or self.breached or self.breach_at is None:
            return None
        if not self.warned and self.warn_at is not None:
            return min(self.breach_at, self.warn_at)
        return self.breach_at

    def due_announcements(self, hours: BusinessHours, now: datetime) -> list[tuple[str, datetime]]:
        """``("warning" | "breach", deadline)`` due at ``now`` and not yet announced (the
        caller marks them announced); a warning is skipped once the breach is due. A
        paused clock has none: what fell due before the pause was announced by it."""
        due = self.due_at(hours)
        if due is None or now < due or self.deadline_at is None:
            return []
        assert self.breach_at is not None  # due_at found one
        return [("breach" if now >= self.breach_at else "warning", self.deadline_at)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_us": self.target // MICRO,
            "warn_us": self.warn_before // MICRO,
            "used_us": self.used // MICRO,
            "since": _instant_out(self.since),
            "met": self.met,
            "warned": self.warned,
            "breached": self.breached,
            "deadline_at": _instant_out(self.deadline_at),
            "warn_at": _instant_out(self.warn_at),
            "breach_at": _instant_out(self.breach_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaClock:
        return cls(
            target=data["target_us"] * MICRO,
            warn_before=data["warn_us"] * MICRO,
            used=data["used_us"] * MICRO,
            since=_instant_in(data["since"]),
            met=data["met"],
            warned=data["warned"],
            breached=data["breached"],
            # absent from clocks stored before the instants were: planned on first use
            deadline_at=_instant_in(data.get("deadline_at")),
            warn_at=_instant_in(data.get("warn_at")),
            breach_at=_instant_in(data.get("breach_at")),
        )


def _instant_out(value: datetime | None) -> str | None:
    return None if value is None else dt_out(value)


def _instant_in(value: str | None) -> datetime | None:
    return None if value is None else dt_in(value)


# --- the desk's setup ------------------------------------------------------------------


def _office(zone: str) -> BusinessHours:
    return BusinessHours.weekly(zone, {d: [(time(9), time(18))] for d in range(5)})


@attrs.frozen(kw_only=True)
class DeskSetup:
    """How a school runs its desk: each team's business hours (``teams``; a team not
    listed keeps office hours, Monday to Friday 09:00-18:00 in ``zone``), the SLA
    targets, the routing rules and each team's lead (told of its breaches).

    >>> setup = DeskSetup(zone="Asia/Shanghai",
    ...                   teams={"support": BusinessHours.always("Asia/Shanghai")})
    >>> setup.hours_for("support").week[6], setup.hours_for("teaching").week[6]
    (((0, 1440),), ())
    """

    zone: str = "Asia/Shanghai"
    teams: Mapping[str, BusinessHours] = attrs.field(factory=dict)
    sla: SlaPolicy = SlaPolicy()
    routes: tuple[Route, ...] = attrs.field(default=DEFAULT_ROUTES, converter=tuple)
    team_leads: Mapping[str, str] = attrs.field(factory=dict)
    #: how new leads are assigned to consultants; their consultations go to ``sales``
    leads: LeadRouting = attrs.field(factory=lambda: LeadRouting())
    #: send each student the lesson's survey when her attendance is marked ``attended``
    survey_after_lesson: bool = False
    #: roles that read every ticket (support and operations staff); others read only the
    #: tickets they asked, hold, or lead the team of (:func:`ticket_reader`)
    staff_roles: frozenset[str] = frozenset({"support", "operations", "admin"})
    office: BusinessHours = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "office", _office(self.zone))
        for team in self.teams:
            check_id(team, "team")

    def hours_for(self, team: str) -> BusinessHours:
        return self.teams.get(team, self.office)


def ticket_reader(
    setup: DeskSetup,
    *,
    actor_id: str,
    role: str,
    asker: Party,
    team: str,
    assignee: str | None,
) -> str | None:
    """How an actor (``actor_id`` in ``role``) may read a ticket: ``"asker"`` (without
    internal notes), ``"staff"``, or ``None`` (refused). The asker reads as the party she
    is (role ``student``, ``guardian`` or ``lead``); the assignee, her team's lead and the
    setup's ``staff_roles`` read as staff.

    >>> setup = DeskSetup(team_leads={"operations": "olga"})
    >>> ask = Party("student", "ann")
    >>> [ticket_reader(setup, actor_id=a, role=r, asker=ask, team="operations", assignee="li")
    ...  for a, r in [("ann", "student"), ("li", "teacher"), ("olga", "teacher"),
    ...               ("sue", "support"), ("bob", "student"), ("ann", "guardian")]]
    ['asker', 'staff', 'staff', 'staff', None, None]
    """
    if role == asker.kind and actor_id == asker.id:
        return "asker"
    if role in PARTY_KINDS:
        return None  # a student, guardian or lead reads only what she asked
    if role in setup.staff_roles or actor_id in (assignee, setup.team_leads.get(team)):
        return "staff"
    return None


# --- leads -----------------------------------------------------------------------------

#: the steps of the funnel, in order
FUNNEL = ("visit", "consult", "register", "trial", "first_purchase")


@attrs.frozen(kw_only=True)
class LeadContact:
    """How to reach a lead: personal data (masked in reads, erased on request)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("name", "phone", "email", "wechat"):
            value = getattr(self, name)
            if value is not None:
                check_id(value, name)
        if not any((self.phone, self.email, self.wechat)):
            raise InvalidInput("a lead leaves at least a phone, an email or a WeChat id")


@attrs.frozen(kw_only=True)
class LeadRouting:
    """Which consultant a new lead goes to: one who speaks its ``language``, else one
    for its first course of interest, else the next of ``consultants`` in turn (each
    pool is served round robin).

    >>> rules = LeadRouting(consultants=("amy", "bo"), by_language={"en": ("eve",)})
    >>> rules.pool(course_ids=("math",), language="en"), rules.pool(course_ids=(), language=None)
    (('language:en', ('eve',)), ('round_robin', ('amy', 'bo')))
    """

    consultants: tuple[str, ...] = ()
    by_course: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    by_language: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def pool(
        self, *, course_ids: tuple[str, ...], language: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """``(pool key, consultants)`` for a lead; an empty pool leaves it unassigned."""
        if language is not None and self.by_language.get(language):
            return f"language:{language}", tuple(self.by_language[language])
        for course in course_ids:
            if self.by_course.get(course):
                return f"course:{course}", tuple(self.by_course[course])
        return "round_robin", tuple(self.consultants)
