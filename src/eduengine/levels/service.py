"""XP awards through units of work: each student's XP state is one JSON document, so the
cheat guard, caps and "once per source" hold across devices and concurrent requests.

A refused award is recorded with its reason (``refused_awards``), never silently
dropped. The state depends only on the events, their ``occurred_at`` and the class the
student was a member of when each award was recorded, so replaying the full history
into an empty store (no class records: each event's ``class_id`` is used) gives the same
state.

Every put files the document under its leaderboards and moves its rank counts
(:func:`~eduengine.levels.board.file_xp`), so a leaderboard query reads the top of an
index and a few counts, never every student.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import attrs

from eduengine.errors import InvalidInput, UnknownRule
from eduengine.kernel.clock import Clock
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.ids import IdFactory
from eduengine.kernel.inputs import check_id, check_int, check_optional_id
from eduengine.levels.board import COUNTS, KIND, StoredLeaderboard, counted_index, file_xp
from eduengine.levels.events import BadgeAwarded as BadgeAwarded
from eduengine.levels.events import LevelUp as LevelUp
from eduengine.levels.events import XpAwarded as XpAwarded
from eduengine.levels.events import XpRefused as XpRefused
from eduengine.levels.model import (
    Badge,
    LearningEvent,
    LevelCurve,
    Multiplier,
    Progress,
    Standing,
    XpRule,
    progress,
)
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import (
    EventPublisher,
    RecordRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from eduengine.service_layer.runner import ServiceBase
from eduengine.students.queries import class_of

T = TypeVar("T")


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


class LevelService(ServiceBase):
    """Award XP from learning events and report levels, badges and leaderboards.

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> xp = LevelService(InMemoryStore().unit_of_work,
    ...                   rules=[XpRule(kind="lesson_attended", points=50)],
    ...                   curve=LevelCurve.geometric())
    >>> t = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> for n in range(3):
    ...     _ = xp.record(LearningEvent(student_id="ann", kind="lesson_attended",
    ...                                 source_id=f"lesson-{n}", occurred_at=t))
    >>> p = xp.progress("ann")
    >>> (p.level, p.xp_into_level, p.xp_to_next, str(p.percent))
    (2, 30, 126, '19.23')
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rules: Sequence[XpRule],
        curve: LevelCurve,
        multipliers: Sequence[Multiplier] = (),
        max_factor: Decimal = Decimal(3),
        badges: Sequence[Badge] = (),
        titles: Mapping[int, str] | None = None,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
        self.rules = {r.kind: r for r in rules}
        self.curve = curve
        self.multipliers = tuple(multipliers)
        self.max_factor = max_factor
        self.badges = tuple(badges)
        self.titles = dict(titles or {})

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

        def command(uow: UnitOfWork, now: datetime) -> Award:
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

        return self._run(command)

    # --- queries ------------------------------------------------------------------------

    def progress(self, student_id: str) -> Progress:
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> Progress:
            state = uow.records.get(KIND, student_id) or _fresh(student_id)
            return progress(self.curve, state["xp"], self.titles)

        return self._run(query, write=False, ids={"student_id": student_id})

    def badges_of(self, student_id: str) -> list[str]:
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> list[str]:
            state = uow.records.get(KIND, student_id) or _fresh(student_id)
            return list(state["badges"])

        return self._run(query, write=False, ids={"student_id": student_id})

    def refused_awards(self, student_id: str) -> list[dict[str, Any]]:
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime) -> list[dict[str, Any]]:
            state = uow.records.get(KIND, student_id) or _fresh(student_id)
            return list(state["refused"])

        return self._run(query, write=False, ids={"student_id": student_id})

    def state_of(self, student_id: str) -> dict[str, Any]:
        """The student's whole XP document (for audits and replay checks)."""
        check_id(student_id, "student_id")
        return self._run(
            lambda uow, now: uow.records.get(KIND, student_id) or _fresh(student_id),
            write=False,
            ids={"student_id": student_id},
        )

    def leaderboard(
        self, *, class_id: str | None = None, period: str | None = None
    ) -> StoredLeaderboard:
        """Standings, globally or for one class, over all time or one period
        (``"week:2026-W10"``, ``"month:2026-03"``; see :func:`period_keys`).

        A live view over the index (see :mod:`eduengine.levels.board`): ``top(k)`` reads
        O(k + log N) entries, ``rank`` reads the board's counts and counts inside one band
        of XP, ``around`` reads O(k + log N) entries (and the student's tie group) plus
        a rank per distinct XP shown. A period or class board lists the students who
        earned XP for it.
        """
        check_optional_id(class_id, "class_id")
        check_optional_id(period, "period")
        return StoredLeaderboard(self._read_records, class_id=class_id, period=period)

    def standings_around(
        self,
        student_id: str,
        *,
        k: int = 2,
        anonymous: bool = True,
        class_id: str | None = None,
        period: str | None = None,
    ) -> list[Standing]:
        """A student's rank and neighbours, other names hidden by default; ``NotRanked``
        if the student is not on the board."""
        check_id(student_id, "student_id")
        check_int(k, "k")
        return self.leaderboard(class_id=class_id, period=period).around(
            student_id, k, anonymous=anonymous
        )

    def reindex_leaderboards(self, *, batch: int = 100) -> int:
        """File every XP document under its leaderboards and count it in their rank
        counts; returns how many documents.

        A one-off upgrade for documents written before leaderboards were indexed or
        counted (it reads every key once, so it is not for a periodic job); each batch is
        its own unit of work and awards may go on meanwhile. A document already counted
        is not counted again, so a run that stopped half-way can simply be run again.
        Once every document is counted, every board reads ranks from its counts.

        >>> from datetime import datetime, timezone
        >>> from eduengine import InMemoryStore
        >>> xp = LevelService(InMemoryStore().unit_of_work,
        ...                   rules=[XpRule(kind="lesson_attended", points=50)],
        ...                   curve=LevelCurve.geometric())
        >>> _ = xp.record(LearningEvent(student_id="ann", kind="lesson_attended",
        ...     source_id="l1", occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc)))
        >>> xp.reindex_leaderboards(), xp.leaderboard().rank("ann")
        (1, 1)
        """
        check_int(batch, "batch", low=1)
        keys = self._run(lambda uow, now: [key for key, _ in uow.records.list(KIND)], write=False)

        def refile(chunk: list[str]) -> Callable[[UnitOfWork, datetime], int]:
            def command(uow: UnitOfWork, now: datetime) -> int:
                # every XP document of the batch before any count record: the lock order
                # of an award (its document, then counts), so neither waits on the other
                documents = []
                for key in chunk:
                    state = uow.records.get(KIND, key)
                    if state is not None:
                        documents.append((key, counted_index(state), _upgrade(state)))
                file_xp(uow.records, documents)
                return len(documents)

            return command

        done = sum(self._run_batch(refile(keys[n : n + batch])) for n in range(0, len(keys), batch))
        boards = self._run(
            lambda uow, now: [key for key, _ in uow.records.list(COUNTS)], write=False
        )

        def exact(chunk: list[str]) -> Callable[[UnitOfWork, datetime], None]:
            def command(uow: UnitOfWork, now: datetime) -> None:
                for name in chunk:
                    doc = uow.records.get(COUNTS, name)
                    if doc is not None and not doc.get("exact"):
                        doc["exact"] = True
                        uow.records.put(COUNTS, name, doc)

            return command

        for n in range(0, len(boards), batch):
            self._run_batch(exact(boards[n : n + batch]))
        return done

    def _read_records(
        self, read: Callable[[RecordRepository], T], *, ids: Mapping[str, str | None] | None = None
    ) -> T:
        return self._run(lambda uow, now: read(uow.records), write=False, ids=ids)

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
