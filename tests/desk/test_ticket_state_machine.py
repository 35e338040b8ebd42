"""Tickets under a moving clock, on every adapter: a hypothesis state machine.

Tickets are opened in every category, replied to, put on wait, answered by their asker,
resolved, reopened, closed and reassigned between teams with different calendars (New
York office hours with a holiday across the spring clock change, Shanghai hours with a
lunch break, a 24/7 London team), while the clock jumps over nights, weekends and
holidays. A plain model predicts every refusal and state, and counts each target's
business time minute by minute (tests/desk/brute.py) while its clock runs; after every
step the service's elapsed time and verdicts equal the model's, every warning and
breach the model expects was announced, exactly once, and the sweep of every open
ticket from the SLA index (``sla_alerts``) lists exactly the late targets.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock, School
from eduengine.desk.events import SlaBreached, SlaWarning
from eduengine.desk.hours import BusinessHours
from eduengine.desk.model import DeskSetup, Party, Sla, SlaPolicy, TicketCategory
from eduengine.errors import TicketTransitionRefused
from eduengine.kernel.events import DomainEvent
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.desk.brute import open_minutes

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
#: Friday 6 March 2026, 10:00 in New York: the US clocks change on Sunday
T0 = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
TEAMS = {
    "support": BusinessHours.weekly(
        "America/New_York",
        {d: [(time(9), time(18))] for d in range(5)},
        holidays=[date(2026, 3, 9)],
    ),
    "teaching": BusinessHours.weekly(
        "Asia/Shanghai", {d: [(time(8), time(12)), (time(13), time(21))] for d in range(6)}
    ),
    "operations": BusinessHours.always("Europe/London"),
}
M = timedelta(minutes=1)
SLA = Sla(120 * M, 360 * M, warn_before=30 * M)
COMPLAINT_SLA = Sla(60 * M, 240 * M, warn_before=15 * M)
SETUP = DeskSetup(
    zone="UTC",
    teams=TEAMS,
    sla=SlaPolicy({(TicketCategory.COMPLAINT, None): COMPLAINT_SLA}, default=SLA),
    team_leads={"operations": "boss"},
)
#: the team each category's route picks (DEFAULT_ROUTES)
TEAM_OF = {
    TicketCategory.COMPLAINT: "operations",
    TicketCategory.REFUND: "operations",
    TicketCategory.HOMEWORK: "teaching",
    TicketCategory.QUESTION: "teaching",
    TicketCategory.PARENT_MESSAGE: "teaching",
    TicketCategory.FEEDBACK: "support",
}
RUNS = {"new", "open", "reopened"}
NOT_CLOSED = {"new", "open", "reopened", "waiting", "resolved"}
#: action -> (allowed in, leads to: a state, or a map of state -> state, or None: stays)
MOVES: dict[str, tuple[set[str], str | dict[str, str] | None]] = {
    "reply": (RUNS | {"waiting"}, {"new": "open", "reopened": "open"}),
    "asker_reply": (RUNS | {"waiting"}, {"waiting": "open"}),
    "note": (NOT_CLOSED, None),
    "wait": (RUNS, "waiting"),
    "resolve": (RUNS | {"waiting"}, "resolved"),
    "reopen": ({"resolved"}, "reopened"),
    "close": ({"resolved"}, "closed"),
}


@attrs.define
class Target:
    limit: int  # minutes
    warn: int
    used: int = 0  # open minutes counted while the clock ran
    met: bool | None = None
    warned: bool = False
    breached: bool = False


@attrs.define
class Model:
    state: str
    team: str
    targets: dict[str, Target]

    def running(self, name: str) -> bool:
        return self.state in RUNS and self.targets[name].met is None


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


class TicketMachine(RuleBasedStateMachine):
    adapter = "memory"
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.store: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.recorder = Recorder()
        self.school = School.build(
            self.store, clock=self.clock, desk=SETUP, publisher=self.recorder, reminders=None
        )
        self.model: dict[str, Model] = {}
        self.expected_breaches: Counter[tuple[str, str]] = Counter()
        self.expected_warnings: Counter[tuple[str, str]] = Counter()

    # -- the model's announcements ---------------------------------------------------------

    def announce(self, ticket_id: str) -> None:
        """What the service must announce for one ticket at now (and mark announced)."""
        for name, target in self.model[ticket_id].targets.items():
            if target.met is not None or target.breached:
                continue
            if target.used > target.limit:
                target.breached = target.warned = True
                self.expected_breaches[(ticket_id, name)] += 1
            elif not target.warned and target.used >= target.limit - target.warn:
                target.warned = True
                self.expected_warnings[(ticket_id, name)] += 1

    # -- rules -----------------------------------------------------------------------------

    @rule(target=tickets, category=st.sampled_from(list(TicketCategory)))
    def open_ticket(self, category: TicketCategory) -> str:
        view = self.school.desk.open_ticket(
            category=category, asker=Party("student", "ann"), subject="s", text="help"
        )
        sla = COMPLAINT_SLA if category == TicketCategory.COMPLAINT else SLA
        targets = {
            "first_response": Target(sla.first_response // M, sla.warn_before // M),
            "resolution": Target(sla.resolution // M, sla.warn_before // M),
        }
        self.model[view.id] = Model("new", TEAM_OF[category], targets)
        assert view.team == TEAM_OF[category]
        self.announce(view.id)  # a zero-minute ticket has nothing due
        return view.id

    @rule(
        ticket=tickets,
        action=st.sampled_from(sorted(MOVES)),
    )
    def act(self, ticket: str, action: str) -> None:
        model = self.model[ticket]
        allowed, to = MOVES[action]
        desk = self.school.desk
        calls = {
            "reply": lambda: desk.reply(ticket, by="amy", text="an answer"),
            "asker_reply": lambda: desk.asker_reply(ticket, text="more"),
            "note": lambda: desk.note(ticket, by="amy", text="internal"),
            "wait": lambda: desk.wait(ticket, by="amy", text="which unit?"),
            "resolve": lambda: desk.resolve(ticket, by="amy"),
            "reopen": lambda: desk.reopen(ticket, by="ann"),
            "close": lambda: desk.close(ticket, by="amy"),
        }
        if model.state not in allowed:
            try:
                calls[action]()
            except TicketTransitionRefused as refused:
                assert refused.state == model.state
                return
            raise AssertionError(f"{action} on a {model.state} ticket was not refused")
        self.announce(ticket)
        view = calls[action]()
        if action in ("reply", "wait", "resolve"):
            first = model.targets["first_response"]
            if first.met is None:
                first.met = first.used <= first.limit and not first.breached
        resolution = model.targets["resolution"]
        if action == "resolve":
            resolution.met = resolution.used <= resolution.limit and not resolution.breached
        if action == "reopen":
            resolution.met = None
        if isinstance(to, str):
            model.state = to
        elif isinstance(to, dict):
            model.state = to.get(model.state, model.state)
        assert view.state.value == model.state

    @rule(ticket=tickets, team=st.sampled_from(sorted(TEAMS)))
    def reassign(self, ticket: str, team: str) -> None:
        model = self.model[ticket]
        if model.state == "closed":
            try:
                self.school.desk.reassign(ticket, to=None, team=team)
            except TicketTransitionRefused:
                return
            raise AssertionError("a closed ticket was reassigned")
        if team != model.team:
            self.announce(ticket)
        self.school.desk.reassign(ticket, to=None, team=team)
        model.team = team

    @rule(
        minutes=st.one_of(
            st.integers(1, 90), st.integers(90, 24 * 60), st.integers(24 * 60, 4 * 24 * 60)
        )
    )
    def time_passes(self, minutes: int) -> None:
        self._advance(minutes)

    @rule(
        ticket=tickets,
        name=st.sampled_from(["first_response", "resolution"]),
        warning=st.booleans(),
        nudge=st.sampled_from([-1, 0, 0, 1]),
    )
    def to_the_edge(self, ticket: str, name: str, warning: bool, nudge: int) -> None:
        """Jump to a running target's deadline (or its warning), a minute either side:
        where an off-by-one would show."""
        model = self.model[ticket]
        if not model.running(name):
            return
        target = model.targets[name]
        left = target.limit - target.used - (target.warn if warning else 0)
        if left + nudge < 1:
            return
        hours = TEAMS[model.team]
        edge = hours.deadline_after(self.clock.now(), (left + nudge) * M)
        self._advance((edge - self.clock.now()) // M)

    def _advance(self, minutes: int) -> None:
        start = self.clock.now()
        end = start + minutes * M
        counted = {team: open_minutes(hours, start, end) for team, hours in TEAMS.items()}
        for model in self.model.values():
            for name, target in model.targets.items():
                if model.running(name):
                    target.used += counted[model.team]
        self.clock.set(end)

    @rule()
    def run_due(self) -> None:
        for ticket in self.model:
            self.announce(ticket)
        self.school.desk.run_due()

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def each_warning_and_breach_is_announced_exactly_once(self) -> None:
        breaches = Counter(
            (e.ticket_id, e.target) for e in self.recorder.events if isinstance(e, SlaBreached)
        )
        warnings = Counter(
            (e.ticket_id, e.target) for e in self.recorder.events if isinstance(e, SlaWarning)
        )
        assert breaches == self.expected_breaches
        assert warnings == self.expected_warnings
        assert all(n == 1 for n in breaches.values())

    @invariant()
    def sla_verdicts_equal_the_minute_by_minute_count(self) -> None:
        for ticket_id, model in self.model.items():
            found = self.school.desk.sla(ticket_id)
            for name, target in model.targets.items():
                status = found[name]
                assert status.elapsed == target.used * M, (ticket_id, name)
                assert status.met == target.met, (ticket_id, name)
                assert status.breached == target.breached, (ticket_id, name)
                assert status.warned == target.warned, (ticket_id, name)
                if model.running(name):
                    assert status.deadline is not None
                    hours = TEAMS[model.team]
                    left = max(target.limit - target.used, 0)
                    # the deadline is where the count, going on from now, reaches the target
                    assert open_minutes(hours, self.clock.now(), status.deadline) == left

    @invariant()
    def the_index_sweep_lists_exactly_the_targets_the_count_says_are_late(self) -> None:
        """``sla_alerts`` reads only the index: it must agree with the minute count on
        every open target (breached, warned, or not listed: on time)."""
        expected = set()
        for ticket_id, model in self.model.items():
            for name, target in model.targets.items():
                if target.met is not None:
                    continue
                if target.used > target.limit:
                    expected.add((ticket_id, name, "breach"))
                elif target.used >= target.limit - target.warn:
                    expected.add((ticket_id, name, "warning"))
        alerts = self.school.desk.sla_alerts()
        assert {(a.ticket_id, a.target, a.kind) for a in alerts} == expected
        assert all(a.at <= self.clock.now() for a in alerts)

    def teardown(self) -> None:
        self.store.close()


def _machine_for(adapter: str) -> type[TicketMachine]:
    return type(f"TicketMachine_{adapter}", (TicketMachine,), {"adapter": adapter})


_EXAMPLES = {"memory": 20, "sqlite": 6, "postgres": 4}
for _adapter in ADAPTERS:
    _cls = _machine_for(_adapter)
    _cls.TestCase.settings = settings(
        max_examples=200 if DEEP else _EXAMPLES.get(_adapter, 5),
        stateful_step_count=60 if DEEP else 25,
        deadline=None,
    )
    globals()[f"TestTicketMachine_{_adapter}"] = _cls.TestCase
