"""Alert rules: the metrics a rule may watch, the last complete period, and raising
:class:`AlertRaised` once per rule and period (part of
:class:`eduengine.analytics.AnalyticsService`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from eduengine.analytics import projection as pj
from eduengine.analytics.cells import (
    _active,
    _attendance,
    _fill,
    _groups,
    _student_cells,
    _student_total,
)
from eduengine.analytics.events import AlertRaised
from eduengine.analytics.model import AlertRule, AttendanceRow, FillRow, GroupRow, Period, rate
from eduengine.analytics.queries import AnalyticsQueries
from eduengine.errors import EduEngineError, InvalidInput
from eduengine.kernel.clock import require_aware
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_optional_instant
from eduengine.service_layer.ports import UnitOfWork

#: one document per (rule, period) evaluated: an alert is raised once per rule per period
ALERTS = "analytics_alert"


#: alert periods are counted from this Monday (so 7-day periods are weeks)
ANCHOR = date(2024, 1, 1)


Metric = Callable[[UnitOfWork, Period, str], dict[str, Decimal | None]]


class AlertChecks(AnalyticsQueries):
    """Checks the school's alert rules, once per period."""

    rules: tuple[AlertRule, ...]
    #: the rules the last :meth:`evaluate_alerts` could not evaluate, with the error
    failed_rules: dict[str, Exception]

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

    def check_alerts(self, now: datetime | None = None) -> list[AlertRaised]:
        """What each rule finds on its last complete period before ``now`` (the clock's
        now by default), recording and raising nothing: what an operator's board shows
        in red, however often it asks. A rule whose metric fails is left out (and logged
        by :meth:`evaluate_alerts` when the job runs)."""
        check_optional_instant(now, "now")
        at = self.clock.now() if now is None else require_aware("now", now)
        found: list[AlertRaised] = []
        for rule in self.rules:
            period = last_complete_period(rule, at)

            def check(
                uow: UnitOfWork, rule: AlertRule = rule, period: Period = period
            ) -> list[AlertRaised]:
                return _check(uow, rule, period, at)

            try:
                found += self._read(check)
            except EduEngineError:
                continue
        return found

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
        attributed_students=total("attributed_students"),
        viral_coefficient=rate(total("attributed_students"), total("opened")),
        first_payment_coefficient=rate(total("new_students"), total("opened")),
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
AlertChecks.BREAKDOWNS.update(
    {
        "fill_rate": _LESSON_BREAKDOWNS,
        "attendance_rate": _LESSON_BREAKDOWNS,
        "no_show_rate": _LESSON_BREAKDOWNS,
        "group_success_rate": _GROUP_BREAKDOWNS,
        "viral_coefficient": _GROUP_BREAKDOWNS,
    }
)
AlertChecks.METRICS.update(
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
    metric = AlertChecks.METRICS[rule.metric]
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
