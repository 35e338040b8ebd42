"""Analytics values, pure: periods in a time zone, the typed rows queries return, alert
rules and the :class:`AlertRaised` event.

>>> from datetime import date
>>> week = Period.week(date(2026, 3, 4), "Asia/Shanghai")
>>> week.start.isoformat(), week.end.isoformat()
('2026-03-02T00:00:00+08:00', '2026-03-09T00:00:00+08:00')
>>> week.previous().start.isoformat()
'2026-02-23T00:00:00+08:00'
>>> rate(3, 4), rate(0, 0) is None
(Decimal('0.75'), True)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from eduengine.analytics.events import AlertRaised as AlertRaised
from eduengine.errors import InvalidInput, InvalidTimeRange, OutOfRange, WrongType
from eduengine.kernel.clock import require_aware
from eduengine.kernel.inputs import (
    EARLIEST,
    LATEST,
    MAX_DURATION,
    check_id,
    check_instant,
    check_int,
)
from eduengine.kernel.money import Money

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(tz: str | tzinfo) -> tzinfo:
    """A time zone from its IANA name (``"Asia/Shanghai"``) or a ``tzinfo``."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise InvalidInput(f"unknown time zone {tz!r}") from exc


def rate(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """``numerator / denominator`` as a Decimal, or ``None`` when nothing was counted."""
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@attrs.frozen
class Period:
    """The half-open interval ``[start, end)``, read in time zone ``tz``.

    ``tz`` decides what a weekday, an hour of the day and a "previous period" are. The
    counters are kept per UTC hour, so a period counts the hours that *start* inside it;
    give bounds on whole hours (the constructors below do).
    """

    start: datetime
    end: datetime
    tz: tzinfo = attrs.field(default=ZoneInfo("UTC"), converter=zone)

    def __attrs_post_init__(self) -> None:
        require_aware("start", self.start)
        require_aware("end", self.end)
        check_instant(self.start, "start")
        check_instant(self.end, "end")
        if self.end <= self.start:
            raise InvalidTimeRange(f"period end {self.end} is not after start {self.start}")

    @classmethod
    def days(cls, first: date, count: int, tz: str | tzinfo = "UTC") -> Period:
        """``count`` local calendar days from ``first`` (midnight to midnight in ``tz``,
        so a day across a DST change lasts 23 or 25 hours)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidInput(f"a period lasts at least one day, got {count!r}")
        check_int(count, "count", low=1, high=MAX_DURATION.days)
        if not isinstance(first, date):
            raise WrongType(f"first must be a date, got {first!r}", field="first")
        z = zone(tz)
        try:
            start = datetime.combine(first, time(0), z)
            end = datetime.combine(first + timedelta(days=count), time(0), z)
        except OverflowError as exc:  # past year 9999: outside any school's calendar
            raise OutOfRange(
                f"{count} days from {first} run past the calendar", field="count"
            ) from exc
        return cls(start, end, z)

    @classmethod
    def week(cls, day: date, tz: str | tzinfo = "UTC") -> Period:
        """The Monday-to-Sunday week holding ``day``."""
        if not isinstance(day, date):
            raise WrongType(f"day must be a date, got {day!r}", field="day")
        return cls.days(day - timedelta(days=day.weekday()), 7, tz)

    @classmethod
    def month(cls, year: int, month: int, tz: str | tzinfo = "UTC") -> Period:
        check_int(year, "year", low=EARLIEST.year, high=LATEST.year - 1)
        check_int(month, "month", low=1, high=12)
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls.days(first, (following - first).days, tz)

    def previous(self) -> Period:
        """The period of the same length just before: the same number of local days when
        both bounds are local midnights (a week before a DST change is still a week),
        else the same duration."""
        local_start = self.start.astimezone(self.tz)
        local_end = self.end.astimezone(self.tz)
        if local_start.time() == time(0) and local_end.time() == time(0):
            span = (local_end.date() - local_start.date()).days
            return Period.days(local_start.date() - timedelta(days=span), span, self.tz)
        return Period(self.start - (self.end - self.start), self.start, self.tz)

    def local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)


# --- rows --------------------------------------------------------------------------------

By = Literal["course", "tutor", "weekday", "hour", "weekday_hour", "school"]
GroupBy = Literal["course", "campaign", "opener", "school"]
#: every breakdown some metric offers (which metric offers which: ``AnalyticsService.
#: BREAKDOWNS``)
BREAKDOWNS = frozenset(
    {"course", "tutor", "weekday", "hour", "weekday_hour", "campaign", "opener", "school"}
)


@attrs.frozen(kw_only=True)
class FillRow:
    """填充率 / 预约率: seats booked (and still held) over seats offered."""

    key: str
    offered: int
    booked: int
    rate: Decimal | None


@attrs.frozen(kw_only=True)
class AttendanceRow:
    """到课率 and 空跑率 over the seats whose attendance was marked."""

    key: str
    booked: int
    attended: int
    no_show: int
    unmarked: int
    attendance_rate: Decimal | None
    no_show_rate: Decimal | None


@attrs.frozen(kw_only=True)
class CountRow:
    key: str
    count: int


@attrs.frozen(kw_only=True)
class ReasonRow:
    """Seats released for one reason (by course, or ``all`` for the school)."""

    key: str
    reason: str
    count: int


@attrs.frozen(kw_only=True)
class LeadTimeRow:
    """Booking lead time: how long before the lesson's start seats were booked."""

    key: str
    bookings: int
    mean_hours: Decimal | None


@attrs.frozen(kw_only=True)
class GroupRow:
    """Group deals opened in the period, by course, campaign or opener (团长)."""

    key: str
    opened: int
    formed: int
    failed: int
    cancelled: int
    still_open: int
    #: formed over settled (formed + failed): open and cancelled groups are left out
    success_rate: Decimal | None
    #: formed over opened
    formed_share: Decimal | None
    orders: int
    average_order_value: Money | None
    #: members other than the opener whose group payment was their first paid order
    new_students: int
    #: students a share link brought (first touch, before any paid order), as
    #: :class:`eduengine.deals.metrics.DealMetrics` counts them
    attributed_students: int
    #: attributed students per group opened (裂变系数 / 病毒传播系数), the definition of
    #: ``DealMetrics.viral_coefficient``
    viral_coefficient: Decimal | None
    #: new (paying) students per group opened: what ``viral_coefficient`` was before
    first_payment_coefficient: Decimal | None


@attrs.frozen(kw_only=True)
class RateRow:
    key: str
    numerator: int
    denominator: int
    rate: Decimal | None


@attrs.frozen(kw_only=True)
class FunnelRow:
    """One step of a cohort's conversion funnel."""

    stage: str
    students: int
    #: share of the cohort's registered students that reached this step
    of_registered: Decimal | None
    #: share of the previous step's students that reached this one
    of_previous: Decimal | None


@attrs.frozen(kw_only=True)
class SegmentRow:
    dimension: str
    key: str
    students: int


@attrs.frozen(kw_only=True)
class LevelRow:
    level: int
    level_ups: int
    mean_days: Decimal | None


# --- alerts ------------------------------------------------------------------------------

AlertKind = Literal["threshold", "change", "peer"]


@attrs.frozen(kw_only=True)
class AlertRule:
    """A rule the periodic job checks once per period (``period_days`` long, local days
    in ``tz``, weeks starting on Monday when ``period_days`` is 7).

    - ``threshold``: the metric is below ``below`` or above ``above``;
    - ``change``: the metric fell by at least ``drop`` (a share, 0.2 = 20%) against the
      period before;
    - ``peer``: a group (``by`` course, tutor ...) is at least ``margin`` below the
      school's own value ("class completion 50% against a school average of 80%").

    ``notify`` is the person responsible, carried on :class:`AlertRaised`.
    """

    id: str
    metric: str
    kind: AlertKind
    notify: str
    period_days: int = 7
    tz: str = "UTC"
    below: Decimal | None = None
    above: Decimal | None = None
    drop: Decimal | None = None
    margin: Decimal | None = None
    by: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.id or not self.notify:
            raise InvalidInput("an alert rule needs an id and a person to notify")
        check_id(self.id, "rule id")
        check_id(self.notify, "notify")
        check_int(self.period_days, "period_days", low=1, high=MAX_DURATION.days)
        if self.period_days < 1:
            raise InvalidInput(f"rule {self.id!r}: period_days must be positive")
        zone(self.tz)
        need = {
            "threshold": self.below is not None or self.above is not None,
            "change": self.drop is not None,
            "peer": self.margin is not None and self.by is not None,
        }
        if not need.get(self.kind, False):
            raise InvalidInput(f"rule {self.id!r} of kind {self.kind!r} misses its bound")
        if self.by is not None and self.by not in BREAKDOWNS:
            raise InvalidInput(
                f"rule {self.id!r}: no metric breaks down by {self.by!r} "
                f"(one of {', '.join(sorted(BREAKDOWNS))})"
            )

    @classmethod
    def threshold(
        cls,
        rule_id: str,
        metric: str,
        *,
        notify: str,
        below: Decimal | int | None = None,
        above: Decimal | int | None = None,
        by: str | None = None,
        period_days: int = 7,
        tz: str = "UTC",
    ) -> AlertRule:
        return cls(
            id=rule_id,
            metric=metric,
            kind="threshold",
            notify=notify,
            below=None if below is None else Decimal(below),
            above=None if above is None else Decimal(above),
            by=by,
            period_days=period_days,
            tz=tz,
        )

    @classmethod
    def change(
        cls,
        rule_id: str,
        metric: str,
        *,
        notify: str,
        drop: Decimal | str,
        period_days: int = 7,
        tz: str = "UTC",
    ) -> AlertRule:
        return cls(
            id=rule_id,
            metric=metric,
            kind="change",
            notify=notify,
            drop=Decimal(drop),
            period_days=period_days,
            tz=tz,
        )

    @classmethod
    def below_peers(
        cls,
        rule_id: str,
        metric: str,
        *,
        by: str,
        notify: str,
        margin: Decimal | str,
        period_days: int = 7,
        tz: str = "UTC",
    ) -> AlertRule:
        return cls(
            id=rule_id,
            metric=metric,
            kind="peer",
            notify=notify,
            margin=Decimal(margin),
            by=by,
            period_days=period_days,
            tz=tz,
        )
