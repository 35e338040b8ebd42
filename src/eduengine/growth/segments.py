"""Segments you can act on (学员分群): a saved, typed query over students that can be
counted, listed a page at a time (keyset paging), exported and used as an audience, and
the sweep that moves time-based tags and inactivity churn for exactly the students whose
time has come.

Every registered student has one roster document (kind :data:`ROSTER`), written by the
``segments`` projection of the feed: filed under ``roster`` by registration time (the
order pages are read in) and under ``retag_due`` by the next instant her tags or stage
change by time alone (a :class:`~eduengine.students.TagRule` with ``changes_at``, and
inactivity churn). The sweep scans ``retag_due`` up to now: it reads no other student.

>>> from datetime import datetime, timedelta, timezone
>>> t = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> Segment(stages={"registered"}, inactive_days=7).matches(
...     {"stage": "registered", "tags": [], "facts": {"last_active": None}}, t)
True
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Unpack

import attrs

from eduengine.analytics.projection import PROFILES as SPEND
from eduengine.booking import events as bev
from eduengine.errors import InvalidInput, NotFound
from eduengine.kernel.codec import dt_in, from_micros, micros
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id, check_int
from eduengine.kernel.money import Money
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions
from eduengine.students import events as sev
from eduengine.students import records as rec
from eduengine.students.lifecycle import LifecycleService
from eduengine.students.model import TagRule, stage

__all__ = ["ROSTER", "Segment", "SegmentPage", "SegmentService", "next_change"]

#: one document per registered student: her registration and next retag due time
ROSTER = "growth_student"
#: saved segment definitions, by name
SEGMENTS = "growth_segment"
#: the counter of roster places (registration order)
ROSTER_SEQ = "growth_roster_seq"
ROSTER_INDEX = "roster"
RETAG_DUE = "retag_due"
#: a student with purchases who is inactive this long is churned (the default of
#: :func:`eduengine.students.model.stage`, which the lifecycle uses)
CHURN_AFTER = timedelta(days=60)
CHANNELS = frozenset({"phone", "email"})
MAX_PAGE = 1000


def _names(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, (set, frozenset, list, tuple)):
        raise InvalidInput(f"expected a set of names, got {value!r}")
    for name in value:
        check_id(name, "name")
    return frozenset(value)


def _days(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None:
        check_int(value, attribute.name, low=0, high=36500)


@attrs.frozen(kw_only=True)
class Segment:
    """Which students: every condition given must hold (an empty set or ``None`` is no
    condition).

    - ``stages``: the lifecycle stage is one of these; ``tags_all`` / ``tags_any`` /
      ``tags_none``: tags (rules' and hand-set) the student has all, any or none of;
    - ``inactive_days`` / ``active_within_days``: days since her last activity (a
      student never active counts as inactive);
    - ``min_purchases`` / ``max_purchases``: purchases (orders, packages, group deals);
    - ``has_active_package``, ``credits_left_at_most``: her active lesson packages;
    - ``guardian_channel``: a guardian reachable by ``"phone"`` or ``"email"``;
    - ``min_spend``: paid at least this much in its currency (the analytics projection's
      spend).
    """

    stages: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    tags_all: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    tags_any: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    tags_none: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    inactive_days: int | None = attrs.field(default=None, validator=_days)
    active_within_days: int | None = attrs.field(default=None, validator=_days)
    min_purchases: int | None = attrs.field(default=None, validator=_days)
    max_purchases: int | None = attrs.field(default=None, validator=_days)
    has_active_package: bool | None = None
    credits_left_at_most: int | None = attrs.field(default=None, validator=_days)
    guardian_channel: str | None = None
    min_spend: Money | None = None

    def __attrs_post_init__(self) -> None:
        if self.guardian_channel is not None and self.guardian_channel not in CHANNELS:
            raise InvalidInput(
                f"guardian_channel is 'phone' or 'email', got {self.guardian_channel!r}"
            )
        if self.has_active_package is not None and not isinstance(self.has_active_package, bool):
            raise InvalidInput("has_active_package is True, False or None")
        if self.min_spend is not None and not isinstance(self.min_spend, Money):
            raise InvalidInput(f"min_spend is Money, got {self.min_spend!r}")

    @property
    def reads_packages(self) -> bool:
        return self.has_active_package is not None or self.credits_left_at_most is not None

    def matches(
        self,
        doc: Mapping[str, Any],
        now: datetime,
        *,
        packages: Sequence[rec.PackageView] = (),
        spend: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether a student's document (with her ``packages`` and ``spend`` by currency,
        when the segment reads them) is in the segment at ``now``."""
        if doc.get("erased"):
            return False
        tags = set(doc.get("tags", []))
        if self.stages and doc.get("stage") not in self.stages:
            return False
        if not self.tags_all <= tags or (self.tags_any and not self.tags_any & tags):
            return False
        if self.tags_none & tags:
            return False
        facts = doc.get("facts", {})
        last = facts.get("last_active")
        idle = None if last is None else now - dt_in(last)
        days = self.inactive_days
        if days is not None and idle is not None and idle < timedelta(days=days):
            return False
        within = self.active_within_days
        if within is not None and (idle is None or idle > timedelta(days=within)):
            return False
        purchases = facts.get("purchases", 0)
        if self.min_purchases is not None and purchases < self.min_purchases:
            return False
        if self.max_purchases is not None and purchases > self.max_purchases:
            return False
        active = [p for p in packages if p.status == "active"]
        if self.has_active_package is not None and bool(active) != self.has_active_package:
            return False
        most = self.credits_left_at_most
        if most is not None and (not active or sum(p.credits_left for p in active) > most):
            return False
        channel = self.guardian_channel
        if channel is not None and not any(g.get(channel) for g in doc.get("guardians", [])):
            return False
        if self.min_spend is not None:
            paid = Decimal((spend or {}).get(self.min_spend.currency, "0"))
            if paid < self.min_spend.amount:
                return False
        return True

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in attrs.fields(Segment):
            value = getattr(self, field.name)
            if isinstance(value, frozenset):
                out[field.name] = sorted(value)
            elif isinstance(value, Money):
                out[field.name] = [str(value.amount), value.currency]
            else:
                out[field.name] = value
        return out

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> Segment:
        spend = d.get("min_spend")
        fields = {k: v for k, v in d.items() if k != "min_spend"}
        return cls(**fields, min_spend=None if spend is None else Money(spend[0], spend[1]))


@attrs.frozen(kw_only=True)
class SegmentPage:
    """One page of a segment: student ids in registration order, and the cursor of the
    next page (``None`` on the last)."""

    student_ids: tuple[str, ...]
    next_cursor: str | None


def next_change(
    facts: Mapping[str, Any],
    rules: Sequence[TagRule],
    *,
    after: datetime | None = None,
    churn_after: timedelta = CHURN_AFTER,
) -> datetime | None:
    """The first instant (later than ``after``, if given) a student's tags or stage
    change by time alone: a rule's ``changes_at``, or inactivity churn for a student who
    bought and is not churned already.

    >>> from datetime import datetime, timezone
    >>> facts = {"last_login": "2026-03-01T00:00:00+00:00", "purchases": 0}
    >>> next_change(facts, [TagRule.inactive_for("at-risk", 14)]).isoformat()
    '2026-03-15T00:00:00+00:00'
    """
    times: list[datetime] = []
    for rule in rules:
        if rule.changes_at is not None:
            at = rule.changes_at(facts)
            if at is not None:
                times.append(at)
    last = facts.get("last_active")
    marked = facts.get("churned_at")
    bought = facts.get("purchases", 0) > 0
    if bought and last is not None and (marked is None or dt_in(marked) < dt_in(last)):
        times.append(dt_in(last) + churn_after)
    return min((t for t in times if after is None or t > after), default=None)


def _cursor(place: int) -> str:
    return f"r{place}"


def _parse_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or not cursor.startswith("r") or not cursor[1:].isdigit():
        raise InvalidInput(f"not a segment cursor: {cursor!r}")
    return int(cursor[1:])


class SegmentService(ServiceBase):
    """Saved segments over students (``school.segments``) and the retag sweep.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore, School
    >>> school = School.build(InMemoryStore(),
    ...                       clock=FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)))
    >>> for sid in ("ann", "bob", "cy"):
    ...     school.students.register(sid, name=sid)
    >>> _ = school.students.tag("bob", "vip")
    >>> school.segments.save("not-vip", Segment(tags_none={"vip"}))
    >>> school.segments.count("not-vip")
    2
    >>> first = school.segments.page("not-vip", limit=1)
    >>> first.student_ids, school.segments.page("not-vip", after=first.next_cursor).student_ids
    (('ann',), ('cy',))
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        lifecycle: LifecycleService,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.lifecycle = lifecycle

    # -- saved segments -------------------------------------------------------------

    def save(self, name: str, segment: Segment) -> None:
        """Save (or replace) a segment under ``name``."""
        check_id(name, "name")
        if not isinstance(segment, Segment):
            raise InvalidInput(f"expected a Segment, got {segment!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            uow.records.put(SEGMENTS, name, {"segment": segment.to_record()})

        self._run(command)

    def get(self, name: str) -> Segment:
        """The segment saved under ``name`` (``NotFound`` if none)."""
        check_id(name, "name")

        def query(uow: UnitOfWork, now: datetime) -> Segment:
            doc = uow.records.get(SEGMENTS, name)
            if doc is None:
                raise NotFound(f"segment {name!r} not found")
            return Segment.from_record(doc["segment"])

        return self._run(query, write=False)

    def _segment(self, segment: str | Segment) -> Segment:
        return segment if isinstance(segment, Segment) else self.get(segment)

    # -- reading a segment ----------------------------------------------------------

    def page(
        self, segment: str | Segment, *, after: str | None = None, limit: int = 100
    ) -> SegmentPage:
        """Up to ``limit`` students of a segment (saved by name, or given) in
        registration order, after the ``after`` cursor of the previous page. A page is
        read by keyset, so later pages cost what the first does and a student registered
        meanwhile never shifts one."""
        wanted = self._segment(segment)
        check_int(limit, "limit", low=1, high=MAX_PAGE)
        start = None if after is None else _parse_cursor(after)

        def query(uow: UnitOfWork, now: datetime) -> SegmentPage:
            found: list[str] = []
            last: int | None = None
            for place, key in self._walk(uow, start):
                last = place
                if self.in_segment(uow, wanted, key, now):
                    found.append(key)
                    if len(found) == limit:
                        break
            else:
                return SegmentPage(student_ids=tuple(found), next_cursor=None)
            assert last is not None
            return SegmentPage(student_ids=tuple(found), next_cursor=_cursor(last))

        return self._run(query, write=False)

    def count(self, segment: str | Segment) -> int:
        """How many students are in the segment now."""
        return sum(1 for _ in self.audience(segment))

    def audience(self, segment: str | Segment, *, batch: int = 500) -> Iterator[str]:
        """Every student id of the segment, in registration order, read a page at a time
        (each page a short read): the audience of a campaign or a journey."""
        cursor: str | None = None
        while True:
            page = self.page(segment, after=cursor, limit=batch)
            yield from page.student_ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def export(self, segment: str | Segment) -> str:
        """The segment as CSV: student id, stage, tags (``;``-separated), purchases, last
        activity and the region her data belongs to (data residency; empty: not said),
        with no contact data: a host joins what its policy lets it see."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["student_id", "stage", "tags", "purchases", "last_active", "region"])
        for student_ids in self._batches(segment):

            def query(uow: UnitOfWork, now: datetime, ids: Sequence[str] = student_ids) -> None:
                for sid in ids:
                    doc = uow.records.get(rec.STUDENTS, sid) or {}
                    facts = doc.get("facts", {})
                    last = facts.get("last_active")
                    writer.writerow(
                        [
                            sid,
                            doc.get("stage"),
                            ";".join(sorted(doc.get("tags", []))),
                            facts.get("purchases", 0),
                            "" if last is None else dt_in(last).isoformat(),
                            doc.get("region") or "",
                        ]
                    )

            self._run(query, write=False)
        return out.getvalue()

    def _batches(self, segment: str | Segment) -> Iterator[tuple[str, ...]]:
        cursor: str | None = None
        while True:
            page = self.page(segment, after=cursor, limit=500)
            if page.student_ids:
                yield page.student_ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _walk(self, uow: UnitOfWork, start: int | None) -> Iterator[tuple[int, str]]:
        # each student's place in the roster is unique, so the place alone is the key
        while True:
            lo = None if start is None else start + 1
            rows = uow.records.scan(ROSTER, ROSTER_INDEX, lo=lo, limit=200)
            yield from ((v, k) for k, v in rows)
            if len(rows) < 200:
                return
            start = rows[-1][1]

    def in_segment(self, uow: UnitOfWork, segment: Segment, student_id: str, now: datetime) -> bool:
        """Whether a student is in ``segment`` now, read in the caller's unit of work."""
        doc = uow.records.get(rec.STUDENTS, student_id)
        if doc is None:
            return False
        packages: list[rec.PackageView] = []
        if segment.reads_packages:
            for pid in doc.get("packages", []):
                pkg = uow.records.get(rec.PACKAGES, pid)
                if pkg is not None:
                    packages.append(rec.package_view(pid, pkg, now))
        spend = None
        if segment.min_spend is not None:
            spend = (uow.records.get(SPEND, student_id) or {}).get("spend", {})
        return segment.matches(doc, now, packages=packages, spend=spend)

    def reindex(self) -> int:
        """File every roster document under its indexes again (a one-off upgrade step,
        with :meth:`School.reindex`: it reads them all); returns how many."""
        return self._refile_all(ROSTER, file_roster)

    # -- the sweep ------------------------------------------------------------------

    def sweep_due(self, *, batch: int = 200) -> int:
        """Re-evaluate the tags and stage of every student whose time has come (read
        from the ``retag_due`` index, nobody else), each in a short unit of work that
        files her next due time; returns how many were re-evaluated. Safe to run twice
        or from several workers at once: a student already swept is no longer due."""
        done = 0
        while True:
            due = self._run(
                lambda uow, now: uow.records.scan(ROSTER, RETAG_DUE, hi=micros(now), limit=batch),
                write=False,
            )
            swept = 0
            for student_id, _ in due:
                swept += self._run(partial(self._sweep_one, student_id=student_id))
            done += swept
            if len(due) < batch or swept == 0:
                return done

    def _sweep_one(self, uow: UnitOfWork, now: datetime, *, student_id: str) -> int:
        roster = uow.records.get(ROSTER, student_id)
        if roster is None or roster.get("due") is None or roster["due"] > micros(now):
            return 0  # another worker swept her first
        doc = uow.records.get(rec.STUDENTS, student_id)
        if doc is None or doc.get("erased"):
            roster["due"] = None
        else:
            doc = self.lifecycle.retag(uow, student_id, now)
            after = next_change(doc["facts"], self.lifecycle.tag_rules, after=now)
            roster["due"] = None if after is None else micros(after)
        file_roster(uow, student_id, roster)
        return 1


def file_roster(uow: UnitOfWork, student_id: str, roster: dict[str, Any]) -> None:
    index = {ROSTER_INDEX: roster["place"]}
    if roster.get("due") is not None:
        index[RETAG_DUE] = roster["due"]
    uow.records.put(ROSTER, student_id, roster, index=index)


def roster_rules(tag_rules: Sequence[TagRule]) -> dict[type[DomainEvent], list[Handler]]:
    """The ``segments`` projection: a roster document per registered student, filed by
    registration time and by the next time her tags or stage change by time alone (read
    from her document as it is now, which is never later than the feed)."""

    def refile(event: DomainEvent, uow: UnitOfWork) -> None:
        student_id = getattr(event, "student_id", None)
        if not isinstance(student_id, str):
            return
        doc = uow.records.get(rec.STUDENTS, student_id)
        roster = uow.records.get(ROSTER, student_id)
        if doc is None:
            return
        if roster is None:
            # the projection applies events one at a time, so the counter is never raced
            counter = uow.records.get(ROSTER_SEQ, "next") or {"n": 0}
            counter["n"] += 1
            uow.records.put(ROSTER_SEQ, "next", counter)
            registered = micros(dt_in(doc["facts"]["registered_at"]))
            roster = {"place": counter["n"], "registered": registered, "due": None}
        if doc.get("erased"):
            roster["due"] = None
        else:
            now = event.occurred_at
            facts, tags = doc["facts"], set(doc.get("tags", []))
            at = next_change(facts, tag_rules, after=now)
            if any(r.holds(facts, now) != (r.tag in tags) for r in tag_rules):
                at = now  # her tags are behind her facts: the next sweep brings them up
            if doc.get("stage") != stage(facts, now):
                at = now
            roster["due"] = None if at is None else micros(at)
        file_roster(uow, student_id, roster)

    watched: tuple[type[DomainEvent], ...] = (
        sev.StudentRegistered,
        sev.TagsChanged,
        sev.StageChanged,
        sev.StudentErased,
        sev.StudentEnrolled,
        bev.SeatBooked,
        bev.AttendanceMarked,
    )
    return {e: [refile] for e in watched}


def due_at(roster: Mapping[str, Any]) -> datetime | None:
    """When a roster document is next due (for tests and reports)."""
    due = roster.get("due")
    return None if due is None else from_micros(due)
