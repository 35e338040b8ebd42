"""The analytics queries: lessons, group deals and students over a :class:`Period`,
read from the counters of :mod:`eduengine.analytics.projection` (part of
:class:`eduengine.analytics.AnalyticsService`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from eduengine.analytics import projection as pj
from eduengine.analytics.cells import (
    _active,
    _attendance,
    _cells,
    _fill,
    _grouped,
    _groups,
    _student_cells,
    _student_total,
    _top,
)
from eduengine.analytics.model import (
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
from eduengine.errors import InvalidInput, WrongType
from eduengine.kernel.inputs import check_id, check_int
from eduengine.kernel.money import MAX_DIGITS
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from eduengine.students.model import LifecycleStage

T = TypeVar("T")


def check_period(period: object) -> Period:
    """The input rule for a query's period: a :class:`Period` (its bounds are checked
    when it is made)."""
    if not isinstance(period, Period):
        raise WrongType(f"period must be a Period, got {period!r}", field="period")
    return period


class AnalyticsQueries(ServiceBase):
    """The typed queries, each in a read-only unit of work."""

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
        return self._marked_rate(period, by, lambda r: (r.attended, r.attendance_rate))

    def no_show_rate(self, period: Period, *, by: str = "course") -> list[RateRow]:
        """空跑率: no-shows over marked (attended + no-show) seats."""
        return self._marked_rate(period, by, lambda r: (r.no_show, r.no_show_rate))

    def _marked_rate(
        self,
        period: Period,
        by: str,
        part: Callable[[AttendanceRow], tuple[int, Decimal | None]],
    ) -> list[RateRow]:
        # both rates share one denominator, the marked seats: only the numerator differs
        check_period(period)
        check_id(by, "by")
        rows = []
        for r in self.attendance(period, by=by):
            numerator, share = part(r)
            rows.append(
                RateRow(
                    key=r.key,
                    numerator=numerator,
                    denominator=r.attended + r.no_show,
                    rate=share,
                )
            )
        return rows

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
            for key, cell, _ in _grouped(uow, pj.ACTIVITY, period, "hour"):
                if cell.get("bookings"):
                    totals[key] += cell["bookings"]
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
            for key, cell, _ in _grouped(uow, pj.ACTIVITY, period, by):
                for name, n in cell.items():
                    if name.startswith("cancel:") and n:
                        totals[key, name[7:]] += n
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
            for key, cell, _ in _grouped(uow, pj.ACTIVITY, period, by):
                if cell.get("bookings"):
                    n[key] += cell["bookings"]
                    s[key] += cell.get("lead_s", 0)
            return [
                LeadTimeRow(key=k, bookings=n[k], mean_hours=rate(s[k], n[k] * 3600))
                for k in sorted(n)
            ]

        return self._read(query)

    def group_metrics(self, period: Period, *, by: str = "course") -> list[GroupRow]:
        """拼团 figures of the groups opened in the period, per course, campaign or
        opener (团长; an erased opener is shown as ``erased``) or for the school. The
        viral coefficient is ``DealMetrics``'s: students share links brought (first
        touch, no paid order yet) per group opened."""
        check_period(period)
        check_id(by, "by")
        return self._read(lambda uow: _groups(uow, period, by))

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
        """Distinct students who booked, attended or paid in the period: an OR of the
        daily bitmaps of active students (one per UTC day and shard) for the days wholly
        inside it, and the active hours of its (at most two) partial days."""
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

    def _keys(self, kind: str) -> list[str]:
        return self._read(lambda uow: [key for key, _ in uow.records.list(kind)])

    def _read(self, query: Callable[[UnitOfWork], T]) -> T:
        return self._run(lambda uow, now: query(uow), write=False)
