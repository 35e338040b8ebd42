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
import heapq
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import groupby, islice
from typing import Any, Unpack

import attrs

from eduengine.analytics.projection import PROFILES as SPEND
from eduengine.booking import events as bev
from eduengine.errors import InvalidInput, NotFound
from eduengine.kernel.codec import dt_in, from_micros, micros
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id, check_int
from eduengine.kernel.money import Money
from eduengine.kernel.records import override, reader, writer
from eduengine.mastery.service import mastery_in, prior_in
from eduengine.people.access import AccessGate, Look
from eduengine.people.model import Actor
from eduengine.people.service import linked_guardians
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
#: a roster document is also filed by place under ``stage:<stage>`` and ``tag:<tag>``
STAGE_INDEX = "stage:"
TAG_INDEX = "tag:"
#: students a page evaluates per read of their documents
EVALUATE_BATCH = 200
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


def _points(value: object) -> tuple[tuple[str, Decimal], ...]:
    """Knowledge point -> mastery bound (a mapping, or the pairs a record keeps), as
    sorted pairs: a segment stays hashable and compares equal however it was given."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = [tuple(p) for p in value]
    else:
        raise InvalidInput(f"expected knowledge points mapped to a mastery, got {value!r}")
    out: dict[str, Decimal] = {}
    for pair in pairs:
        if len(pair) != 2:
            raise InvalidInput(f"expected (point, mastery) pairs, got {value!r}")
        point, bound = pair
        check_id(point, "point_id")
        if isinstance(bound, bool) or not isinstance(bound, (Decimal, int, str)):
            raise InvalidInput(f"a mastery bound is a Decimal from 0 to 1, got {bound!r}")
        try:
            level = Decimal(bound)
        except ArithmeticError as exc:
            raise InvalidInput(f"a mastery bound is a Decimal from 0 to 1, got {bound!r}") from exc
        if not level.is_finite() or not 0 <= level <= 1:
            raise InvalidInput(f"a mastery bound is a Decimal from 0 to 1, got {bound!r}")
        out[point] = level
    return tuple(sorted(out.items()))


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
    - ``guardian_channel``: a guardian reachable by ``"phone"`` or ``"email"`` (one
      given at registration, or a linked guardian account);
    - ``min_spend``: paid at least this much in its currency (the analytics projection's
      spend);
    - ``mastery_below`` / ``mastery_at_least``: knowledge point -> mastery (0 to 1): her
      mastery of each point is below / at least the bound (a point she has not met
      counts at its prior).

    >>> Segment(mastery_below={"fractions": "0.6"}).mastery_below
    (('fractions', Decimal('0.6')),)
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
    mastery_below: tuple[tuple[str, Decimal], ...] = attrs.field(default=(), converter=_points)
    mastery_at_least: tuple[tuple[str, Decimal], ...] = attrs.field(default=(), converter=_points)

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

    @property
    def reads_mastery(self) -> bool:
        return bool(self.mastery_below or self.mastery_at_least)

    def matches(
        self,
        doc: Mapping[str, Any],
        now: datetime,
        *,
        packages: Sequence[rec.PackageView] = (),
        spend: Mapping[str, str] | None = None,
        guardians: Sequence[Mapping[str, Any]] = (),
        mastery: Mapping[str, Decimal] | None = None,
    ) -> bool:
        """Whether a student's document (with her ``packages``, ``spend`` by currency,
        linked ``guardians`` accounts and ``mastery`` by point, when the segment reads
        them) is in the segment at ``now``."""
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
        if channel is not None and not any(
            g.get(channel) for g in [*doc.get("guardians", []), *guardians]
        ):
            return False
        levels = mastery or {}
        if any(levels.get(p, Decimal(0)) >= bound for p, bound in self.mastery_below):
            return False
        if any(levels.get(p, Decimal(0)) < bound for p, bound in self.mastery_at_least):
            return False
        if self.min_spend is not None:
            paid = Decimal((spend or {}).get(self.min_spend.currency, "0"))
            if paid < self.min_spend.amount:
                return False
        return True

    def to_record(self) -> dict[str, Any]:
        return _segment_out(self)

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> Segment:
        return _segment_in(d)


# a segment's money is a pair, a point's bound a [point, level] pair
_SPEND = override(
    unstruct_hook=lambda m: None if m is None else [str(m.amount), m.currency],
    struct_hook=lambda pair, _: None if pair is None else Money(pair[0], pair[1]),
)
_BOUNDS = override(
    unstruct_hook=lambda bounds: [[point, str(level)] for point, level in bounds],
    struct_hook=lambda pairs, _: pairs,  # Segment's own converter reads the pairs
)
_segment_out = writer(Segment, min_spend=_SPEND, mastery_below=_BOUNDS, mastery_at_least=_BOUNDS)
_segment_in = reader(Segment, min_spend=_SPEND, mastery_below=_BOUNDS, mastery_at_least=_BOUNDS)


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
    >>> school.segments.count("not-vip"), school.segments.names()
    (2, ['not-vip'])
    >>> from eduengine.students import Actor
    >>> office = Actor(id="u-office", role="academic")
    >>> first = school.segments.page("not-vip", limit=1, actor=office)
    >>> first.student_ids
    ('ann',)
    >>> school.segments.page("not-vip", after=first.next_cursor, actor=office).student_ids
    ('cy',)
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
        # the school's access check (School.build sets its own)
        self.gate = AccessGate()

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

    def names(self) -> list[str]:
        """The names of the saved segments, sorted (what an operator's board lists)."""
        return self._run(
            lambda uow, now: sorted(key for key, _ in uow.records.list(SEGMENTS)), write=False
        )

    def _segment(self, segment: str | Segment) -> Segment:
        return segment if isinstance(segment, Segment) else self.get(segment)

    # -- reading a segment ----------------------------------------------------------

    def page(
        self,
        segment: str | Segment,
        *,
        after: str | None = None,
        limit: int = 100,
        actor: Actor | None = None,
    ) -> SegmentPage:
        """Up to ``limit`` students of a segment (saved by name, or given) in
        registration order, after the ``after`` cursor of the previous page. A page is
        read by keyset, so later pages cost what the first does and a student registered
        meanwhile never shifts one.

        Read as ``actor``: the students the actor may not see (outside a tutor's or a
        head teacher's scope, customers for sales) are left out, and the page fills on
        with the next ones the actor may see; a page whose every student is refused is
        refused (``AccessDenied``, each audited ``denied``). Each student listed is
        audited once (fields ``segments``). Without an actor (deprecated) every student
        of the segment is listed, as before."""
        check_int(limit, "limit", low=1, high=MAX_PAGE)
        if after is not None:
            _parse_cursor(after)
        wanted = self._segment(segment)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> SegmentPage:
            return self._page(uow, now, wanted, after, limit, lambda sid: not look(sid).refused)

        return self.gate.read(self._run, actor, ("segments",), query, records=True)

    def _page(
        self,
        uow: UnitOfWork,
        now: datetime,
        wanted: Segment,
        after: str | None,
        limit: int,
        listed: Callable[[str], bool] = lambda student_id: True,
    ) -> SegmentPage:
        """A page of the segment's students that ``listed`` lets through."""
        found: list[str] = []
        start = None if after is None else _parse_cursor(after)
        exact = _index_decides(wanted)
        candidates = self._candidates(uow, wanted, start)
        while True:
            # the first read takes a page's worth: most segments fill it at once
            chunk = list(islice(candidates, limit if not found else EVALUATE_BATCH))
            docs = {} if exact else _documents(uow, [key for _, key in chunk])
            for place, key in chunk:
                if (exact or self._matches(uow, wanted, key, docs.get(key), now)) and listed(key):
                    found.append(key)
                    if len(found) == limit:
                        return SegmentPage(student_ids=tuple(found), next_cursor=_cursor(place))
            if not chunk:
                return SegmentPage(student_ids=tuple(found), next_cursor=None)

    def count(self, segment: str | Segment) -> int:
        """How many students are in the segment now (a number: read without the access
        check, which only decides who is listed)."""
        wanted = self._segment(segment)
        total, cursor = 0, None
        while True:
            page = self._run(partial(self._counted, wanted=wanted, after=cursor), write=False)
            total += len(page.student_ids)
            if page.next_cursor is None:
                return total
            cursor = page.next_cursor

    def _counted(
        self, uow: UnitOfWork, now: datetime, *, wanted: Segment, after: str | None
    ) -> SegmentPage:
        return self._page(uow, now, wanted, after, 500)

    def audience(
        self, segment: str | Segment, *, batch: int = 500, actor: Actor | None = None
    ) -> Iterator[str]:
        """Every student id of the segment ``actor`` may see (as :meth:`page` lists
        them), in registration order, read a page at a time (each page a short read): the
        audience of a campaign or a journey."""
        cursor: str | None = None
        while True:
            page = self.page(segment, after=cursor, limit=batch, actor=actor)
            yield from page.student_ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def export(self, segment: str | Segment, *, actor: Actor | None = None) -> str:
        """The segment as CSV: student id, stage, tags (``;``-separated), purchases, last
        activity and the region her data belongs to (data residency; empty: not said),
        with no contact data: a host joins what its policy lets it see. The students are
        those ``actor`` may see, each audited, as :meth:`page` lists them."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["student_id", "stage", "tags", "purchases", "last_active", "region"])
        for student_ids in self._batches(segment, actor):

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

    def _batches(self, segment: str | Segment, actor: Actor | None) -> Iterator[tuple[str, ...]]:
        cursor: str | None = None
        while True:
            page = self.page(segment, after=cursor, limit=500, actor=actor)
            if page.student_ids:
                yield page.student_ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _candidates(
        self, uow: UnitOfWork, segment: Segment, start: int | None
    ) -> Iterator[tuple[int, str]]:
        """``(place, student)`` in place order after ``start``: every student of the
        segment and perhaps others. A segment that names stages or tags walks the
        smallest of those indexes (a union for "any of"); any other walks the roster."""
        options: list[list[str]] = []
        if segment.stages:
            options.append([f"{STAGE_INDEX}{name}" for name in sorted(segment.stages)])
        options.extend([f"{TAG_INDEX}{tag}"] for tag in sorted(segment.tags_all))
        if segment.tags_any:
            options.append([f"{TAG_INDEX}{tag}" for tag in sorted(segment.tags_any)])
        if not options:
            return _walk(uow, ROSTER_INDEX, start)
        smallest = options[0]
        if len(options) > 1:
            smallest = min(
                options, key=lambda names: sum(uow.records.count(ROSTER, n) for n in names)
            )
        walks = [_walk(uow, name, start) for name in smallest]
        # a student under two of the tags of "any of" comes once
        return (entry for entry, _ in groupby(heapq.merge(*walks)))

    def in_segment(self, uow: UnitOfWork, segment: Segment, student_id: str, now: datetime) -> bool:
        """Whether a student is in ``segment`` now, read in the caller's unit of work."""
        return self._matches(
            uow, segment, student_id, uow.records.get(rec.STUDENTS, student_id), now
        )

    def _matches(
        self,
        uow: UnitOfWork,
        segment: Segment,
        student_id: str,
        doc: Mapping[str, Any] | None,
        now: datetime,
    ) -> bool:
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
        guardians: list[dict[str, Any]] = []
        if segment.guardian_channel is not None:
            guardians = [
                {"phone": a.phone, "email": a.email} for a in linked_guardians(uow, student_id)
            ]
        mastery: dict[str, Decimal] | None = None
        if segment.reads_mastery:
            met = mastery_in(uow, student_id)
            wanted = {p for p, _ in (*segment.mastery_below, *segment.mastery_at_least)}
            mastery = {p: met[p].mastery if p in met else prior_in(uow, p) for p in sorted(wanted)}
        return segment.matches(
            doc, now, packages=packages, spend=spend, guardians=guardians, mastery=mastery
        )

    def reindex(self) -> int:
        """File every roster document under its indexes again (a one-off upgrade step,
        with :meth:`School.reindex`: it reads them all); returns how many."""
        return self._refile_all(
            ROSTER,
            lambda uow, key, roster: file_roster(
                uow, key, roster, uow.records.get(rec.STUDENTS, key)
            ),
        )

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
        file_roster(uow, student_id, roster, doc)
        return 1


def _index_decides(segment: Segment) -> bool:
    """Whether the indexes alone answer ``segment``: one stage set, one "any of" tag set
    or a single tag, and no other condition (the segments projection files each student
    under her stage and tags as her document has them after each of her events)."""
    rest = attrs.evolve(segment, stages=frozenset(), tags_any=frozenset(), tags_all=frozenset())
    named = [bool(segment.stages), bool(segment.tags_any), bool(segment.tags_all)]
    return rest == Segment() and sum(named) == 1 and len(segment.tags_all) <= 1


def _walk(uow: UnitOfWork, index: str, start: int | None) -> Iterator[tuple[int, str]]:
    # each student's place in the roster is unique, so the place alone is the key
    while True:
        lo = None if start is None else start + 1
        rows = uow.records.scan(ROSTER, index, lo=lo, limit=EVALUATE_BATCH)
        yield from ((v, k) for k, v in rows)
        if len(rows) < EVALUATE_BATCH:
            return
        start = rows[-1][1]


def _documents(uow: UnitOfWork, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any] | None]:
    """The student documents of ``keys`` in one query where the adapter can."""
    if not keys:
        return {}
    many = getattr(uow.records, "get_many", None)
    if many is not None:
        found: Mapping[str, Mapping[str, Any] | None] = many(rec.STUDENTS, keys)
        return found
    return {key: uow.records.get(rec.STUDENTS, key) for key in keys}


def file_roster(
    uow: UnitOfWork, student_id: str, roster: dict[str, Any], doc: Mapping[str, Any] | None
) -> None:
    """File a roster document by registration place, by next due time, and by place under
    her stage and each of her tags (``doc``: her student document as it is now), so a
    segment on a stage or a tag walks only the students who have it."""
    place = roster["place"]
    index = {ROSTER_INDEX: place}
    if roster.get("due") is not None:
        index[RETAG_DUE] = roster["due"]
    if doc is not None and not doc.get("erased"):
        if doc.get("stage"):
            index[f"{STAGE_INDEX}{doc['stage']}"] = place
        for tag in doc.get("tags", []):
            index[f"{TAG_INDEX}{tag}"] = place
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
        if doc is None:
            return  # not registered (yet): no roster to file
        roster = uow.records.get(ROSTER, student_id)
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
        file_roster(uow, student_id, roster, doc)

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


def roster_read_ahead(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """Read the student and roster documents the ``segments`` projection's rules read for
    a batch (its ``prepare``) in one query, so a catch-up of a rush reads them per batch,
    not per event: a SQLite unit of work answers the rules' reads from what it read here.

    >>> from eduengine import InMemoryStore
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     roster_read_ahead(uow, [])
    """
    students = {
        sid for e in envelopes if isinstance(sid := getattr(e.event, "student_id", None), str)
    }
    get_across = getattr(uow.records, "get_across", None)
    if get_across is None or not students:
        return
    if len(envelopes) < 2 and not getattr(uow.records, "remembers", False):
        return  # one event: where reads are not remembered, reading ahead saves nothing
    # held unparsed where the store can: the handlers parse what they read
    getattr(uow.records, "hold_across", get_across)({rec.STUDENTS: students, ROSTER: students})


def due_at(roster: Mapping[str, Any]) -> datetime | None:
    """When a roster document is next due (for tests and reports)."""
    due = roster.get("due")
    return None if due is None else from_micros(due)
