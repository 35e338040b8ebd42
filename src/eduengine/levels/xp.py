"""Recording XP: the cheat guard ("once per source", minimum gaps, caps in every window),
multipliers, levels and badges, applied to a student's XP document in one unit of work
(part of :class:`eduengine.levels.service.LevelService`).

>>> from datetime import datetime, timezone
>>> period_keys(datetime(2026, 3, 2, tzinfo=timezone.utc))
['week:2026-W10', 'month:2026-03']
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from eduengine.errors import InvalidInput, UnknownRule
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id
from eduengine.levels.board import KIND, counted_index, file_xp
from eduengine.levels.events import BadgeAwarded, LevelUp, XpAwarded, XpRefused
from eduengine.levels.model import (
    Badge,
    LearningEvent,
    LevelCurve,
    Multiplier,
    XpRule,
    progress,
)
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from eduengine.students.queries import class_of


@attrs.frozen(kw_only=True)
class Award:
    awarded: bool
    points: int
    reason: str | None
    level: int


def _fresh(student_id: str) -> dict[str, Any]:
    return {
        "student_id": student_id,
        "xp": 0,
        "level": 1,
        "sources": [],
        "history": {},
        "refused": [],
        "badges": [],
        "counts": {},
        "periods": {},
        "class_id": None,
        "class_xp": {},
        "class_periods": {},
    }


def _upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """Give a document written before class boards kept their own XP the fields they need:
    all its XP counts for the class it carried, as the boards showed until then."""
    if "class_xp" not in state:
        klass = state.get("class_id")
        state["class_xp"] = {klass: state["xp"]} if klass else {}
        state["class_periods"] = {klass: dict(state["periods"])} if klass else {}
    return state


STREAK_KIND = "daily_streak"


def _streak_at(state: dict[str, Any], at: datetime) -> int:
    """Consecutive days with a daily-streak award, if the last one was within two days."""
    days, last = state.get("streak") or [0, None]
    if last is None or at - dt_in(last) > timedelta(hours=48):
        return 0
    return int(days)


def _horizon(rule: XpRule) -> timedelta:
    """How far apart two actions of the rule's kind can still affect each other."""
    return max(rule.cap_window, rule.min_gap or rule.cap_window)


def period_keys(at: datetime) -> list[str]:
    """The leaderboard periods an instant belongs to: ISO week and month (UTC)."""
    year, week, _ = at.isocalendar()
    return [f"week:{year}-W{week:02d}", f"month:{at.year}-{at.month:02d}"]


class XpService(ServiceBase):
    """Records XP awards; the rules, curve, multipliers, badges and titles are set by the
    facade's ``__init__``."""

    rules: dict[str, XpRule]
    curve: LevelCurve
    multipliers: Sequence[Multiplier]
    max_factor: Decimal
    badges: Sequence[Badge]
    titles: dict[int, str]

    def record(self, event: LearningEvent) -> Award:
        """Award the XP the event earns, or record why it earns none.

        **Class boards follow membership.** The XP counts on the board of the class the
        student is a member of when the award is recorded
        (:func:`eduengine.students.queries.class_of`); the event's ``class_id`` is used
        only for a student without a class record (a disagreeing one is ignored), and
        without either the class of the student's previous award counts again. So
        after a transfer from A to B, the XP earned in A stays on A's board and only XP
        earned from then on counts on B's (an event that happened before the transfer but
        is recorded after it counts on B's). The global and period boards do not depend
        on the class.
        """
        if not isinstance(event, LearningEvent):
            raise InvalidInput(f"expected a LearningEvent, got {event!r}")
        rule = self.rules.get(event.kind)
        if rule is None:
            raise UnknownRule(event.kind)
        return self._run(lambda uow, now: self.record_in(uow, event, rule=rule))

    def record_in(
        self, uow: UnitOfWork, event: LearningEvent, *, rule: XpRule | None = None
    ) -> Award:
        """:meth:`record` inside ``uow`` (a projection's: a quest's reward), by ``rule``
        (default: the school's rule for the event's kind). The guard holds as in
        :meth:`record`: a source is awarded once."""
        if rule is None:
            rule = self.rules.get(event.kind)
            if rule is None:
                raise UnknownRule(event.kind)
        # the student record before the XP document: the order erasure locks them in
        member = class_of(uow, event.student_id)
        state = _upgrade(uow.records.get(KIND, event.student_id) or _fresh(event.student_id))
        counted = counted_index(state)
        klass = next(
            (c for c in (member, event.class_id, state["class_id"]) if c is not None), None
        )
        state["class_id"] = klass
        points = self._points(rule, event, state)
        reason = self._refusal(rule, event, state) or self._over_cap(rule, event, state, points)
        if reason is not None:
            state["refused"].append(
                {
                    "kind": event.kind,
                    "source_id": event.source_id,
                    "reason": reason,
                    "at": dt_out(event.occurred_at),
                }
            )
            file_xp(uow.records, [(event.student_id, counted, state)])
            uow.record_events(
                [
                    XpRefused(
                        occurred_at=event.occurred_at,
                        student_id=event.student_id,
                        kind=event.kind,
                        source_id=event.source_id,
                        reason=reason,
                    )
                ]
            )
            return Award(awarded=False, points=0, reason=reason, level=state["level"])
        events = self._apply(state, rule, event, points, klass)
        file_xp(uow.records, [(event.student_id, counted, state)])
        uow.record_events(events)
        return Award(awarded=True, points=points, reason=None, level=state["level"])

    def grant_badge_in(
        self, uow: UnitOfWork, student_id: str, badge_id: str, name: str, at: datetime
    ) -> bool:
        """Give ``badge_id`` to the student inside ``uow`` (a quest's reward) and raise
        :class:`BadgeAwarded`; ``False`` if she already has it."""
        check_id(student_id, "student_id")
        check_id(badge_id, "badge_id")
        class_of(uow, student_id)  # the lock order of record_in: student, then XP
        state = _upgrade(uow.records.get(KIND, student_id) or _fresh(student_id))
        if badge_id in state["badges"]:
            return False
        counted = counted_index(state)
        state["badges"].append(badge_id)
        file_xp(uow.records, [(student_id, counted, state)])
        uow.record_events(
            [BadgeAwarded(occurred_at=at, student_id=student_id, badge_id=badge_id, name=name)]
        )
        return True

    # --- internals ----------------------------------------------------------------------

    def _refusal(self, rule: XpRule, event: LearningEvent, state: dict[str, Any]) -> str | None:
        source = f"{event.kind}:{event.source_id}"
        if source in state["sources"]:
            return f"XP for {source} was already awarded"
        history = state["history"].get(event.kind, [])
        if rule.min_gap is not None and history:
            last = max(dt_in(h[0]) for h in history)
            if event.occurred_at < last + rule.min_gap:
                return f"too soon: {rule.min_gap} must pass between {event.kind} awards"
        return None

    def _points(self, rule: XpRule, event: LearningEvent, state: dict[str, Any]) -> int:
        factor = Decimal(1)
        streak = _streak_at(state, event.occurred_at)
        for m in self.multipliers:
            if m.applies(event, streak):
                factor *= m.factor
        factor = min(factor, self.max_factor)
        return int((rule.base_points(event) * factor).quantize(Decimal(1), ROUND_HALF_UP))

    @staticmethod
    def _over_cap(
        rule: XpRule, event: LearningEvent, state: dict[str, Any], points: int
    ) -> str | None:
        """Why the award would break the cap, or ``None``.

        The cap holds in every window ``(end - cap_window, end]``, whatever order the
        actions arrive in: an action dated before others already awarded counts in their
        windows too, so each window that would hold it is checked (the sum only grows
        where an award enters, so the ends to try are the action's time and the awards
        after it within one window). The history is kept for two horizons behind the
        latest award (see :meth:`_apply`), so an action more than one horizon older than
        the latest is refused: its windows can no longer be checked.
        """
        if rule.cap is None:
            return None
        at, window = event.occurred_at, rule.cap_window
        history = [(dt_in(h[0]), int(h[1])) for h in state["history"].get(event.kind, [])]
        if history and at <= max(h for h, _ in history) - _horizon(rule):
            return (
                f"too late: a {event.kind} action more than {_horizon(rule)} older than the "
                "latest one awarded cannot be checked against the cap"
            )
        ends = [at, *(h for h, _ in history if at < h < at + window)]
        for end in ends:
            inside = sum(p for h, p in history if end - window < h <= end)
            if inside + points > rule.cap:
                return f"cap of {rule.cap} XP per {rule.cap_window} for {event.kind} reached"
        return None

    def _apply(
        self,
        state: dict[str, Any],
        rule: XpRule,
        event: LearningEvent,
        points: int,
        class_id: str | None,
    ) -> list[DomainEvent]:
        at = event.occurred_at
        before = state["level"]
        state["xp"] += points
        state["sources"].append(f"{event.kind}:{event.source_id}")
        history = state["history"].setdefault(event.kind, [])
        history.append([dt_out(at), points])
        # keep what the cap and the gap can still need: two horizons behind the latest
        # award (never behind this one, which may be dated before others)
        latest = max(dt_in(h[0]) for h in history)
        keep = latest - 2 * _horizon(rule)
        state["history"][event.kind] = [h for h in history if dt_in(h[0]) > keep]
        state["counts"][event.kind] = state["counts"].get(event.kind, 0) + 1
        if event.kind == STREAK_KIND:
            state["streak"] = [_streak_at(state, at) + 1, dt_out(at)]
        for key in period_keys(at):
            state["periods"][key] = state["periods"].get(key, 0) + points
        if class_id is not None:
            state["class_xp"][class_id] = state["class_xp"].get(class_id, 0) + points
            periods = state["class_periods"].setdefault(class_id, {})
            for key in period_keys(at):
                periods[key] = periods.get(key, 0) + points
        state["level"] = self.curve.level_for(state["xp"])
        events: list[DomainEvent] = [
            XpAwarded(
                occurred_at=at,
                student_id=event.student_id,
                kind=event.kind,
                source_id=event.source_id,
                points=points,
                total=state["xp"],
            )
        ]
        if state["level"] > before:
            title = progress(self.curve, state["xp"], self.titles).title
            events.append(
                LevelUp(
                    occurred_at=at,
                    student_id=event.student_id,
                    from_level=before,
                    to_level=state["level"],
                    title=title,
                )
            )
        for badge in self.badges:
            if badge.id not in state["badges"] and badge.earned(state):
                state["badges"].append(badge.id)
                events.append(
                    BadgeAwarded(
                        occurred_at=at,
                        student_id=event.student_id,
                        badge_id=badge.id,
                        name=badge.name,
                    )
                )
        return events
