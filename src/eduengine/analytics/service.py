"""The operator's dashboard: typed queries over a period, alert rules, and the rebuild.

Every query reads the counters :mod:`eduengine.analytics.projection` keeps on the bus,
in a read-only unit of work (a report never holds up a booking), and returns plain
``attrs`` rows (``attrs.asdict(row)`` gives JSON or a DataFrame row).

>>> from datetime import date, datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.analytics import Period
>>> clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock)
>>> lesson = school.booking.create_slot("math", datetime(2026, 3, 3, 11, tzinfo=timezone.utc),
...                                     datetime(2026, 3, 3, 12, tzinfo=timezone.utc),
...                                     capacity=4, tutor_id="wang")
>>> seat = school.booking.book(lesson.id, "ann")
>>> _ = school.booking.book(lesson.id, "bob")
>>> _ = school.booking.cancel(seat.id, reason_code="sick")
>>> week = Period.week(date(2026, 3, 2), "Asia/Shanghai")
>>> [(r.key, r.offered, r.booked, r.rate) for r in school.analytics.fill_rate(week, by="hour")]
[('19:00', 4, 1, Decimal('0.25'))]
>>> [(r.reason, r.count) for r in school.analytics.cancellation_reasons(week)]
[('sick', 1)]
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import ClassVar, TypeVar

from eduengine.analytics import projection as pj
from eduengine.analytics.model import (
    WEEKDAYS,
    AlertRaised,
    AlertRule,
    AttendanceRow,
    CountRow,
    FillRow,
    FunnelRow,
    GroupRow,
    LeadTimeRow,
    LevelRow,
    Period,
    RateRow,
    ReasonRow,
    SegmentRow,
    rate,
)
from eduengine.booking import events as ev
from eduengine.booking.model import BookingStatus, IdFactory, SlotStatus
from eduengine.clock import Clock, require_aware
from eduengine.codec import dt_in, micros
from eduengine.deals.service import (
    CAMPAIGNS,
    GROUPS,
    GroupFailed,
    GroupFormed,
    GroupOpened,
    MemberJoined,
)
from eduengine.errors import EduEngineError, InvalidInput, InvalidSetting, WrongType
from eduengine.inputs import check_id, check_int, check_optional_instant
from eduengine.messagebus import MessageBus
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.pricing.money import MAX_DIGITS, Money
from eduengine.service import ServiceBase
from eduengine.students import records as rec
from eduengine.students.model import LifecycleStage

#: one document per (rule, period) evaluated: an alert is raised once per rule per period
ALERTS = "analytics_alert"
#: alert periods are counted from this Monday (so 7-day periods are weeks)
ANCHOR = date(2024, 1, 1)

T = TypeVar("T")
Cell = tuple[str, int, dict[str, int], dict[str, str]]
Metric = Callable[[UnitOfWork, Period, str], dict[str, Decimal | None]]


def check_period(period: object) -> Period:
    """The input rule for a query's period: a :class:`Period` (its bounds are checked
    when it is made)."""
    if not isinstance(period, Period):
        raise WrongType(f"period must be a Period, got {period!r}", field="period")
    return period


class AnalyticsService(ServiceBase):
    """Queries over the analytics counters, alert rules and the one-off rebuild.

    ``rules`` are the school's :class:`AlertRule` s, checked by :meth:`evaluate_alerts`.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rules: Sequence[AlertRule] = (),
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
        self.rules = tuple(rules)
        for rule in self.rules:
            # checked here, not at the first evaluation: a rule that can never be
            # evaluated is a setting error the school should see when it starts
            if rule.metric not in self.METRICS:
                raise InvalidSetting(f"rule {rule.id!r}: unknown metric {rule.metric!r}")
            offered = self.BREAKDOWNS.get(rule.metric, frozenset({"school"}))
            if (rule.by or "school") not in offered:
                raise InvalidSetting(
                    f"rule {rule.id!r}: {rule.metric} breaks down by "
                    f"{', '.join(sorted(offered))}, not {rule.by!r}"
                )
        #: the rules the last :meth:`evaluate_alerts` could not evaluate, with the error
        self.failed_rules: dict[str, Exception] = {}

    # --- lessons ----------------------------------------------------------------------

    def fill_rate(self, period: Period, *, by: str = "course") -> list[FillRow]:
        """填充率 / 预约率 per group: seats still booked over seats offered, for the
        sessions that start in the period (cancelled sessions offer nothing). ``by`` is
        ``course``, ``tutor``, ``weekday`` (``"mon"``), ``hour`` (``"19:00"``, local),
        ``weekday_hour`` (``"mon 19:00"``, a heatmap's cells) or ``school``."""
        check_period(period)
        check_id(by, "by")
        return self._read(lambda uow: _fill(uow, period, by))

    def attendance(self, period: Period, *, by: str = "course") -> list[AttendanceRow]:
        """到课率 and 空跑率 of the sessions that start in the period."""
        check_period(period)
        check_id(by, "by")
        return self._read(lambda uow: _attendance(uow, period, by))

    def attendance_rate(self, period: Period, *, by: str = "course") -> list[RateRow]:
        """到课率: attended over marked (attended + no-show) seats."""
        check_period(period)
        check_id(by, "by")
        return [
            RateRow(
                key=r.key,
                numerator=r.attended,
                denominator=r.attended + r.no_show,
                rate=r.attendance_rate,
            )
            for r in self.attendance(period, by=by)
        ]

    def no_show_rate(self, period: Period, *, by: str = "course") -> list[RateRow]:
        """空跑率: no-shows over marked (attended + no-show) seats."""
        check_period(period)
        check_id(by, "by")
        return [
            RateRow(
                key=r.key,
                numerator=r.no_show,
                denominator=r.attended + r.no_show,
                rate=r.no_show_rate,
            )
            for r in self.attendance(period, by=by)
        ]

    def popular_courses(self, period: Period, *, limit: int = 10) -> list[CountRow]:
        """Courses by seats booked in their sessions of the period, most first."""
        check_period(period)
        check_int(limit, "limit", low=1)
        return _top(self.fill_rate(period, by="course"), limit)

    def popular_tutors(self, period: Period, *, limit: int = 10) -> list[CountRow]:
        """Tutors by seats booked in their sessions of the period, most first."""
        check_period(period)
        check_int(limit, "limit", low=1)
        return _top(self.fill_rate(period, by="tutor"), limit)

    def peak_hours(self, period: Period) -> list[CountRow]:
        """Bookings made per hour of the day (in the period's zone), busiest first."""
        check_period(period)

        def query(uow: UnitOfWork) -> list[CountRow]:
            totals: dict[str, int] = defaultdict(int)
            for _, hour, cell, _ in _cells(uow, pj.ACTIVITY, period):
                if cell.get("bookings"):
                    totals[_key("hour", "", hour, period)] += cell["bookings"]
            rows = [CountRow(key=k, count=n) for k, n in totals.items()]
            return sorted(rows, key=lambda r: (-r.count, r.key))

        return self._read(query)

    def cancellation_reasons(self, period: Period, *, by: str = "school") -> list[ReasonRow]:
        """Seats released in the period by reason (the school's code; ``unspecified``
        when a student gave none; ``rescheduled``, ``slot_cancelled``, ``refused`` for
        releases the school made), per course or for the school, most first."""
        check_period(period)
        check_id(by, "by")

        def query(uow: UnitOfWork) -> list[ReasonRow]:
            totals: dict[tuple[str, str], int] = defaultdict(int)
            for dim, hour, cell, _ in _cells(uow, pj.ACTIVITY, period):
                for name, n in cell.items():
                    if name.startswith("cancel:") and n:
                        totals[_key(by, dim, hour, period), name[7:]] += n
            rows = [ReasonRow(key=k, reason=r, count=n) for (k, r), n in totals.items()]
            return sorted(rows, key=lambda r: (r.key, -r.count, r.reason))

        return self._read(query)

    def lead_time(self, period: Period, *, by: str = "course") -> list[LeadTimeRow]:
        """Mean hours between booking and the session's start, for bookings made in the
        period (waitlist promotions and accepted offers are bookings too)."""
        check_period(period)
        check_id(by, "by")

        def query(uow: UnitOfWork) -> list[LeadTimeRow]:
            n: dict[str, int] = defaultdict(int)
            s: dict[str, int] = defaultdict(int)
            for dim, hour, cell, _ in _cells(uow, pj.ACTIVITY, period):
                if cell.get("bookings"):
                    key = _key(by, dim, hour, period)
                    n[key] += cell["bookings"]
                    s[key] += cell.get("lead_s", 0)
            return [
                LeadTimeRow(key=k, bookings=n[k], mean_hours=rate(s[k], n[k] * 3600))
                for k in sorted(n)
            ]

        return self._read(query)

    # --- group deals ------------------------------------------------------------------

    def group_metrics(self, period: Period, *, by: str = "course") -> list[GroupRow]:
        """拼团 figures of the groups opened in the period, per course, campaign or
        opener (团长; an erased opener is shown as ``erased``) or for the school."""
        check_period(period)
        check_id(by, "by")
        return self._read(lambda uow: _groups(uow, period, by))

    # --- students ---------------------------------------------------------------------

    def new_students(self, period: Period) -> int:
        """Students registered in the period (erased ones included: counted, never named)."""
        check_period(period)
        return self._read(lambda uow: _student_total(uow, period, "registered"))

    def stage_moves(self, period: Period) -> list[CountRow]:
        """Moves into each lifecycle stage in the period (a student who churns and comes
        back enters a stage again)."""
        check_period(period)

        def query(uow: UnitOfWork) -> list[CountRow]:
            totals = _student_cells(uow, pj.STUDENTS, period)
            return [
                CountRow(key=s.value, count=totals.get(f"entered:{s.value}", 0))
                for s in LifecycleStage
                if s is not LifecycleStage.REGISTERED
            ]

        return self._read(query)

    def churn_reasons(self, period: Period) -> list[CountRow]:
        """流失 in the period by reason (the school's code, ``inactivity`` for churn the
        school did not mark, ``unspecified`` for a mark without a code), most first."""
        check_period(period)

        def query(uow: UnitOfWork) -> list[CountRow]:
            totals = _student_cells(uow, pj.STUDENTS, period)
            rows = [
                CountRow(key=name[6:], count=n)
                for name, n in totals.items()
                if name.startswith("churn:") and n
            ]
            return sorted(rows, key=lambda r: (-r.count, r.key))

        return self._read(query)

    def active_students(self, period: Period) -> int:
        """Distinct students who booked, attended or paid in the period. It reads one
        marker per (student, active hour), so it costs the period's activity, not
        O(log N): keep dashboard periods to weeks or months."""
        check_period(period)
        return self._read(lambda uow: _active(uow, period))

    def renewal_rate(self, period: Period) -> RateRow:
        """续费率 of the students whose first purchase fell in the period: the share
        that has bought again since (renewed), as of now."""
        check_period(period)

        def query(uow: UnitOfWork) -> RateRow:
            totals = _student_cells(uow, pj.FP_COHORT, period)
            first, renewed = totals.get("first_purchase", 0), totals.get("renewed", 0)
            return RateRow(
                key="all", numerator=renewed, denominator=first, rate=rate(renewed, first)
            )

        return self._read(query)

    def referral_rate(self, period: Period) -> RateRow:
        """老带新 share: referred students rewarded (their first purchase) over first
        purchases, in the period."""
        check_period(period)

        def query(uow: UnitOfWork) -> RateRow:
            totals = _student_cells(uow, pj.STUDENTS, period)
            referred = totals.get("referred", 0)
            first = totals.get("entered:first_purchase", 0)
            return RateRow(
                key="all", numerator=referred, denominator=first, rate=rate(referred, first)
            )

        return self._read(query)

    def funnel(self, cohort: Period) -> list[FunnelRow]:
        """The conversion funnel of the students registered in ``cohort``: how many
        reached trial, first purchase and renewal, as of now. The trial step counts
        real trials only (a student who bought without one is not in it); a renewal
        counts the first purchase before it."""
        check_period(cohort)

        def query(uow: UnitOfWork) -> list[FunnelRow]:
            totals = _student_cells(uow, pj.COHORT, cohort)
            counts = [totals.get(f"reached:{s}", 0) for s in pj.FUNNEL]
            return [
                FunnelRow(
                    stage=s,
                    students=counts[i],
                    of_registered=rate(counts[i], counts[0]),
                    of_previous=rate(counts[i], counts[i - 1]) if i else None,
                )
                for i, s in enumerate(pj.FUNNEL)
            ]

        return self._read(query)

    def segments(
        self, *, currency: str = "CNY", spend_bands: Sequence[int] = (0, 500, 2000)
    ) -> list[SegmentRow]:
        """Students now, by lifecycle stage and by spend band (``spend_bands`` are the
        lower bounds in currency units: 0-499.99, 500-1999.99, 2000 and up; the first band
        also holds students who never paid, and any whose net spend is below zero, e.g. a
        refund of a payment made before they registered). Each count is an index count,
        O(log N)."""
        check_id(currency, "currency")
        if not isinstance(spend_bands, list | tuple):
            raise WrongType(
                f"spend_bands must be a list of integers, got {spend_bands!r}", field="spend_bands"
            )
        for band in spend_bands:
            check_int(band, "spend_bands", high=10**MAX_DIGITS)  # whole units of money
        if list(spend_bands) != sorted(set(spend_bands)) or not spend_bands:
            raise InvalidInput(f"spend bands must rise, got {spend_bands!r}")

        def query(uow: UnitOfWork) -> list[SegmentRow]:
            rows = [
                SegmentRow(
                    dimension="stage",
                    key=s.value,
                    students=uow.records.count(pj.PROFILES, f"stage:{s.value}"),
                )
                for s in LifecycleStage
            ]
            everyone = sum(r.students for r in rows)
            index = f"spend:{currency}"
            bounds = [pj.clamp_index(b * 100) for b in spend_bands]  # as the spend is filed
            for i, lo in enumerate(bounds):
                hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else None
                n = uow.records.count(pj.PROFILES, index, lo=max(lo, 1), hi=hi)
                if i == 0:
                    # students who never paid have no spend entry: they are in the first band
                    n += everyone - uow.records.count(pj.PROFILES, index, lo=1)
                label = (
                    f"{spend_bands[i]}+" if hi is None else f"{spend_bands[i]}-{spend_bands[i + 1]}"
                )
                rows.append(SegmentRow(dimension=f"spend:{currency}", key=label, students=n))
            return rows

        return self._read(query)

    def time_to_level_up(self, period: Period) -> list[LevelRow]:
        """Mean days to reach each level, for the level-ups in the period: from the
        previous level-up, or from registration for the first."""
        check_period(period)

        def query(uow: UnitOfWork) -> list[LevelRow]:
            n: dict[int, int] = defaultdict(int)
            s: dict[int, int] = defaultdict(int)
            for dim, _, cell, _ in _cells(uow, pj.LEVELS, period):
                n[int(dim)] += cell.get("level_ups", 0)
                s[int(dim)] += cell.get("level_s", 0)
            return [
                LevelRow(level=lv, level_ups=n[lv], mean_days=rate(s[lv], n[lv] * 86400))
                for lv in sorted(n)
                if n[lv]
            ]

        return self._read(query)

    # --- alerts -----------------------------------------------------------------------

    METRICS: ClassVar[dict[str, Metric]] = {}
    #: the breakdowns (``AlertRule.by``) each metric offers; a metric not listed is for
    #: the whole school only
    BREAKDOWNS: ClassVar[dict[str, frozenset[str]]] = {}

    def evaluate_alerts(self, now: datetime | None = None) -> list[AlertRaised]:
        """Check every rule on the last complete period before ``now`` (the clock's
        now by default) and raise :class:`AlertRaised` on the bus for each that fires;
        a rule is evaluated once per period, however often the job runs. Returns the
        alerts raised by this call.

        A rule that fails (its metric raises) is logged at ERROR and reported in
        :attr:`failed_rules`; the other rules are still evaluated, and the failed one is
        tried again on the next run (its period is not marked evaluated).
        """
        check_optional_instant(now, "now")
        now = self.clock.now() if now is None else require_aware("now", now)
        raised: list[AlertRaised] = []
        self.failed_rules = {}
        for rule in self.rules:
            try:
                raised += self._evaluate(rule, now)
            except Exception as error:  # one broken rule must not silence the others
                self.failed_rules[rule.id] = error
                self.log.error(
                    "alert rule %r failed: %s: %s",
                    rule.id,
                    type(error).__name__,
                    error,
                    exc_info=not isinstance(error, EduEngineError),
                    extra={"rule_id": rule.id, "error": type(error).__name__},
                )
        return raised

    def _evaluate(self, rule: AlertRule, now: datetime) -> list[AlertRaised]:
        period = last_complete_period(rule, now)
        key = f"{rule.id}|{micros(period.start)}"

        def seen(uow: UnitOfWork, key: str = key) -> bool:
            return uow.records.get(ALERTS, key) is not None

        if self._read(seen):
            return []

        def check(
            uow: UnitOfWork, rule: AlertRule = rule, period: Period = period
        ) -> list[AlertRaised]:
            return _check(uow, rule, period, now)

        alerts = self._read(check)

        def claim(
            uow: UnitOfWork, at: datetime, key: str = key, alerts: list[AlertRaised] = alerts
        ) -> list[AlertRaised]:
            if uow.records.get(ALERTS, key) is not None:
                return []  # another worker evaluated this period
            uow.records.put(ALERTS, key, {"fired": len(alerts)})
            uow.record_events(alerts)
            return alerts

        return self._run(claim)

    # --- rebuild ----------------------------------------------------------------------

    def rebuild(self, *, batch: int = 500) -> dict[str, int]:
        """Recount every projection from the stored documents (a one-off upgrade step, in
        batches like :meth:`eduengine.School.reindex`; it reads every slot, group and
        student). Returns documents replayed per source.

        Stored documents keep less than the events did: cancelled seats (and their
        reasons), corrected attendance marks, refunds, referrals and level-ups are not
        recovered; booked seats count from their booking time.
        """
        check_int(batch, "batch", low=1)
        for kind in (pj.COUNTERS, pj.ACTIVE, pj.PROFILES):
            keys = self._keys(kind)
            for n in range(0, len(keys), batch):

                def drop(
                    uow: UnitOfWork,
                    now: datetime,
                    k: str = kind,
                    c: list[str] = keys[n : n + batch],
                ) -> None:
                    for key in c:
                        uow.records.delete(k, key)

                self._run_batch(drop)
        slot_ids = self._read(lambda uow: uow.slots.list_ids())
        students = self._keys(rec.STUDENTS)
        groups = self._keys(GROUPS)
        sources = (
            ("slots", slot_ids, _replay_slot),
            ("students", students, _replay_student),
            ("groups", groups, _replay_group),
        )
        done: dict[str, int] = {}
        for name, keys, replay in sources:
            for n in range(0, len(keys), batch):
                chunk = keys[n : n + batch]

                def command(
                    uow: UnitOfWork,
                    now: datetime,
                    c: list[str] = chunk,
                    r: Callable[[UnitOfWork, str], None] = replay,
                ) -> None:
                    for key in c:
                        r(uow, key)

                self._run_batch(command)
            done[name] = len(keys)
        return done

    def reindex(self) -> int:
        """File every analytics document under its index again (part of
        :meth:`eduengine.School.reindex`); returns how many were refiled."""

        def counter(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.COUNTERS, key, doc, index={str(doc["f"]): int(str(doc["day"]))})

        def marker(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.ACTIVE, key, doc, index={"hour": int(key.rpartition("|")[2])})

        return (
            self._refile_all(pj.COUNTERS, counter)
            + self._refile_all(pj.ACTIVE, marker)
            + self._refile_all(pj.PROFILES, pj.put_profile)
        )

    def _keys(self, kind: str) -> list[str]:
        return self._read(lambda uow: [key for key, _ in uow.records.list(kind)])

    def _read(self, query: Callable[[UnitOfWork], T]) -> T:
        return self._run(lambda uow, now: query(uow), write=False)


# --- reading cells ----------------------------------------------------------------------


def _cells(uow: UnitOfWork, family: str, period: Period) -> Iterator[Cell]:
    """``(dimension, hour micros, counts, money)`` of every hour starting in the period."""
    lo, hi = micros(period.start), micros(period.end)
    for key, day in uow.records.scan(pj.COUNTERS, family, lo=lo // pj.DAY * pj.DAY, hi=hi - 1):
        doc = uow.records.get(pj.COUNTERS, key)
        if doc is None:
            continue
        for cell, counts in doc["h"].items():
            hour = day + int(cell) * pj.HOUR
            if lo <= hour < hi:
                yield doc["d"], hour, counts, doc["m"].get(cell, {})


def _key(by: str, dim: str, hour: int, period: Period) -> str:
    if by in ("course", "tutor", "campaign", "opener"):
        return dim
    if by == "school":
        return "all"
    if by in ("weekday", "hour", "weekday_hour"):
        return _local_label(by, hour, period.tz)
    raise InvalidInput(f"cannot group by {by!r}")


@functools.lru_cache(maxsize=65_536)
def _local_label(by: str, hour: int, tz: tzinfo) -> str:
    # every dimension value shares the same hours: a month's cells need 744 conversions
    local = datetime.fromtimestamp(hour / 1_000_000, tz=tz)
    if by == "weekday":
        return WEEKDAYS[local.weekday()]
    if by == "hour":
        return f"{local:%H:%M}"
    return f"{WEEKDAYS[local.weekday()]} {local:%H:%M}"


def _lesson_family(by: str) -> str:
    if by not in ("course", "tutor", "weekday", "hour", "weekday_hour", "school"):
        raise InvalidInput(
            f"lessons group by course, tutor, weekday, hour, weekday_hour or school, not {by!r}"
        )
    return pj.LESSON_TUTOR if by == "tutor" else pj.LESSON_COURSE


def _lesson_totals(uow: UnitOfWork, period: Period, by: str) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dim, hour, cell, _ in _cells(uow, _lesson_family(by), period):
        row = totals[_key(by, dim, hour, period)]
        for name, n in cell.items():
            row[name] += n
    return totals


def _fill(uow: UnitOfWork, period: Period, by: str) -> list[FillRow]:
    rows = []
    for key, t in sorted(_lesson_totals(uow, period, by).items()):
        booked = t["booked"] - t["released"]
        if t["offered"] or booked:
            rows.append(
                FillRow(
                    key=key, offered=t["offered"], booked=booked, rate=rate(booked, t["offered"])
                )
            )
    return rows


def _attendance(uow: UnitOfWork, period: Period, by: str) -> list[AttendanceRow]:
    rows = []
    for key, t in sorted(_lesson_totals(uow, period, by).items()):
        booked = t["booked"] - t["released"]
        marked = t["attended"] + t["no_show"]
        if booked or marked:
            rows.append(
                AttendanceRow(
                    key=key,
                    booked=booked,
                    attended=t["attended"],
                    no_show=t["no_show"],
                    unmarked=booked - marked,
                    attendance_rate=rate(t["attended"], marked),
                    no_show_rate=rate(t["no_show"], marked),
                )
            )
    return rows


def _top(rows: list[FillRow], limit: int) -> list[CountRow]:
    ranked = sorted(rows, key=lambda r: (-r.booked, r.key))
    return [CountRow(key=r.key, count=r.booked) for r in ranked[:limit] if r.booked > 0]


def _groups(uow: UnitOfWork, period: Period, by: str) -> list[GroupRow]:
    family = pj.GROUP_FAMILIES.get("course" if by == "school" else by)
    if family is None:
        raise InvalidInput(f"groups group by course, campaign, opener or school, not {by!r}")
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    money: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    erased: dict[str, bool] = {}
    for dim, hour, cell, sums in _cells(uow, family, period):
        key = _key(by, dim, hour, period)
        if by == "opener":
            if dim not in erased:
                doc = uow.records.get(rec.STUDENTS, dim)
                erased[dim] = bool(doc and doc.get("erased"))
            key = "erased" if erased[dim] else dim
        for name, n in cell.items():
            totals[key][name] += n
        for currency, amount in sums.items():
            money[key][currency] += Decimal(amount)
    rows = []
    for key, t in sorted(totals.items()):
        settled = t["formed"] + t["failed"]
        value = money.get(key, {})
        average = None
        if len(value) == 1 and t["orders"]:
            ((currency, total),) = value.items()
            average = Money.from_stored(total, currency).average(t["orders"])
        rows.append(
            GroupRow(
                key=key,
                opened=t["opened"],
                formed=t["formed"],
                failed=t["failed"],
                cancelled=t["cancelled"],
                still_open=t["opened"] - settled - t["cancelled"],
                success_rate=rate(t["formed"], settled),
                formed_share=rate(t["formed"], t["opened"]),
                orders=t["orders"],
                average_order_value=average,
                new_students=t["new_students"],
                viral_coefficient=rate(t["new_students"], t["opened"]),
            )
        )
    return rows


def _student_cells(uow: UnitOfWork, family: str, period: Period) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for _, _, cell, _ in _cells(uow, family, period):
        for name, n in cell.items():
            totals[name] += n
    return totals


def _student_total(uow: UnitOfWork, period: Period, name: str) -> int:
    return _student_cells(uow, pj.STUDENTS, period).get(name, 0)


def _active(uow: UnitOfWork, period: Period) -> int:
    lo, hi = micros(period.start), micros(period.end)
    rows = uow.records.scan(pj.ACTIVE, "hour", lo=lo, hi=hi - 1)
    return len({key.rpartition("|")[0] for key, _ in rows})


# --- alerts -----------------------------------------------------------------------------


def last_complete_period(rule: AlertRule, now: datetime) -> Period:
    """The rule's last period that ended at or before ``now``."""
    local = now.astimezone(Period(now, now + timedelta(hours=1), rule.tz).tz)
    n = (local.date() - ANCHOR).days // rule.period_days
    current = ANCHOR + timedelta(days=n * rule.period_days)
    return Period.days(current - timedelta(days=rule.period_days), rule.period_days, rule.tz)


def _school(value: Callable[[UnitOfWork, Period], Decimal | None]) -> Metric:
    def metric(uow: UnitOfWork, period: Period, by: str) -> dict[str, Decimal | None]:
        if by != "school":
            raise InvalidInput("this metric is for the whole school only")
        return {"all": value(uow, period)}

    return metric


def _lessons_metric(
    pick: Callable[[AttendanceRow | FillRow], Decimal | None], fill: bool
) -> Metric:
    def metric(uow: UnitOfWork, period: Period, by: str) -> dict[str, Decimal | None]:
        rows: Sequence[AttendanceRow | FillRow]
        rows = _fill(uow, period, by) if fill else _attendance(uow, period, by)
        return {r.key: pick(r) for r in rows}

    return metric


def _groups_metric(pick: Callable[[GroupRow], Decimal | None]) -> Metric:
    def metric(uow: UnitOfWork, period: Period, by: str) -> dict[str, Decimal | None]:
        rows = _groups(uow, period, by)
        if by == "school":
            return {"all": pick(_sum_groups(rows))}
        return {r.key: pick(r) for r in rows}

    return metric


def _sum_groups(rows: Sequence[GroupRow]) -> GroupRow:
    def total(name: str) -> int:
        return sum(int(getattr(r, name)) for r in rows)

    settled = total("formed") + total("failed")
    return GroupRow(
        key="all",
        opened=total("opened"),
        formed=total("formed"),
        failed=total("failed"),
        cancelled=total("cancelled"),
        still_open=total("still_open"),
        success_rate=rate(total("formed"), settled),
        formed_share=rate(total("formed"), total("opened")),
        orders=total("orders"),
        average_order_value=None,
        new_students=total("new_students"),
        viral_coefficient=rate(total("new_students"), total("opened")),
    )


def _count(name: str) -> Callable[[UnitOfWork, Period], Decimal | None]:
    return lambda uow, period: Decimal(_student_total(uow, period, name))


def _ratio(
    num: str, den: str, family: str = pj.STUDENTS
) -> Callable[[UnitOfWork, Period], Decimal | None]:
    def value(uow: UnitOfWork, period: Period) -> Decimal | None:
        totals = _student_cells(uow, family, period)
        return rate(totals.get(num, 0), totals.get(den, 0))

    return value


_LESSON_BREAKDOWNS = frozenset({"course", "tutor", "weekday", "hour", "weekday_hour", "school"})
_GROUP_BREAKDOWNS = frozenset({"course", "campaign", "opener", "school"})
AnalyticsService.BREAKDOWNS.update(
    {
        "fill_rate": _LESSON_BREAKDOWNS,
        "attendance_rate": _LESSON_BREAKDOWNS,
        "no_show_rate": _LESSON_BREAKDOWNS,
        "group_success_rate": _GROUP_BREAKDOWNS,
        "viral_coefficient": _GROUP_BREAKDOWNS,
    }
)
AnalyticsService.METRICS.update(
    {
        "fill_rate": _lessons_metric(lambda r: r.rate if isinstance(r, FillRow) else None, True),
        "attendance_rate": _lessons_metric(
            lambda r: r.attendance_rate if isinstance(r, AttendanceRow) else None, False
        ),
        "no_show_rate": _lessons_metric(
            lambda r: r.no_show_rate if isinstance(r, AttendanceRow) else None, False
        ),
        "group_success_rate": _groups_metric(lambda r: r.success_rate),
        "viral_coefficient": _groups_metric(lambda r: r.viral_coefficient),
        "new_students": _school(_count("registered")),
        "churned": _school(_count("entered:churned")),
        "active_students": _school(lambda uow, p: Decimal(_active(uow, p))),
        "renewal_rate": _school(_ratio("renewed", "first_purchase", pj.FP_COHORT)),
        "referral_rate": _school(_ratio("referred", "entered:first_purchase")),
    }
)


def _check(uow: UnitOfWork, rule: AlertRule, period: Period, now: datetime) -> list[AlertRaised]:
    metric = AnalyticsService.METRICS[rule.metric]
    by = rule.by or "school"
    values = metric(uow, period, by)
    found: list[tuple[str, Decimal | None, Decimal | None, str]] = []
    if rule.kind == "threshold":
        for key, value in sorted(values.items()):
            if value is None:
                continue
            if rule.below is not None and value < rule.below:
                found.append((key, value, rule.below, f"{value:.4g} below {rule.below}"))
            elif rule.above is not None and value > rule.above:
                found.append((key, value, rule.above, f"{value:.4g} above {rule.above}"))
    elif rule.kind == "change":
        before = metric(uow, period.previous(), by)
        assert rule.drop is not None
        for key, value in sorted(values.items()):
            prev = before.get(key)
            if value is not None and prev and value <= prev * (1 - rule.drop):
                found.append(
                    (
                        key,
                        value,
                        prev,
                        f"{value:.4g} against {prev:.4g} the period "
                        f"before ({rule.drop:.0%} drop or more)",
                    )
                )
    else:
        assert rule.margin is not None
        school = metric(uow, period, "school").get("all")
        for key, value in sorted(values.items()):
            if value is not None and school is not None and value <= school - rule.margin:
                found.append((key, value, school, f"{value:.4g} against the school's {school:.4g}"))
    return [
        AlertRaised(
            occurred_at=now,
            rule_id=rule.id,
            metric=rule.metric,
            kind=rule.kind,
            notify=rule.notify,
            key=None if key == "all" else key,
            value=value,
            reference=reference,
            period_start=period.start,
            period_end=period.end,
            message=f"{rule.metric}{'' if key == 'all' else f' of {key}'}: {text}",
        )
        for key, value, reference, text in found
    ]


# --- rebuild: replay stored documents as the events that made them -----------------------


def _replay(uow: UnitOfWork, events: Sequence[ev.DomainEvent]) -> None:
    rules = pj.analytics_rules()
    for event in events:
        for handler in rules.get(type(event), ()):
            handler(event, uow)
    pj.flush(uow)


def _replay_slot(uow: UnitOfWork, slot_id: str) -> None:
    slot = uow.slots.get(slot_id)
    sid, cap, left = slot.id, slot.capacity, slot.seats_left
    events: list[ev.DomainEvent] = [
        ev.SlotCreated(
            occurred_at=slot.start,
            slot_id=sid,
            capacity=cap,
            seats_left=left,
            course_id=slot.course_id,
            start=slot.start,
            end=slot.end,
        )
    ]
    for booking in sorted(slot.bookings.values(), key=lambda b: (b.created_at, b.id)):
        events.append(
            ev.SeatBooked(
                occurred_at=booking.created_at,
                slot_id=sid,
                capacity=cap,
                seats_left=left,
                booking_id=booking.id,
                student_id=booking.student_id,
            )
        )
        if booking.status in (BookingStatus.ATTENDED, BookingStatus.NO_SHOW):
            events.append(
                ev.AttendanceMarked(
                    occurred_at=slot.start,
                    slot_id=sid,
                    capacity=cap,
                    seats_left=left,
                    booking_id=booking.id,
                    student_id=booking.student_id,
                    status=booking.status.value,
                )
            )
    if slot.status is SlotStatus.CANCELLED:
        events.append(
            ev.SlotCancelled(occurred_at=slot.start, slot_id=sid, capacity=cap, seats_left=left)
        )
    _replay(uow, events)


def _replay_student(uow: UnitOfWork, student_id: str) -> None:
    doc = uow.records.get(rec.STUDENTS, student_id)
    if doc is None:
        return
    events: list[ev.DomainEvent] = [
        rec.StudentRegistered(
            occurred_at=dt_in(doc["facts"]["registered_at"]), student_id=student_id
        )
    ]
    for h in doc.get("stage_history", []):
        events.append(
            rec.StageChanged(
                occurred_at=dt_in(h["at"]),
                student_id=student_id,
                stage=h["stage"],
                previous=h["from"],
                reason=h["reason"],
                reason_code=h.get("reason_code"),
            )
        )
    _replay(uow, events)


def _replay_group(uow: UnitOfWork, group_id: str) -> None:
    doc = uow.records.get(GROUPS, group_id)
    if doc is None or uow.records.get(CAMPAIGNS, doc["campaign_id"]) is None:
        return
    opened = dt_in(doc["opened_at"])
    events: list[ev.DomainEvent] = [
        GroupOpened(
            occurred_at=opened,
            group_id=group_id,
            campaign_id=doc["campaign_id"],
            initiator=doc["initiator"],
            share_code="",
            deadline=opened,
        )
    ]
    price = Money.from_record(doc["price"])
    for m in doc["members"]:
        if m["status"] in ("paid", "refund_due", "refunded"):
            events.append(
                MemberJoined(
                    occurred_at=dt_in(m["joined_at"]),
                    group_id=group_id,
                    student_id=m["student_id"],
                    amount=price,
                    members=0,
                    still_needed=0,
                    seconds_left=0,
                    new_student=False,
                    is_initiator=m["student_id"] == doc["initiator"],
                )
            )
    if doc["state"] == "formed":
        events.append(GroupFormed(occurred_at=opened, group_id=group_id, members=(), forced=False))
    elif doc["state"] in ("failed", "cancelled"):
        events.append(
            GroupFailed(
                occurred_at=opened,
                group_id=group_id,
                members=(),
                cancelled=doc["state"] == "cancelled",
            )
        )
    _replay(uow, events)
