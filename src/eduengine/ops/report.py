"""The analytics dashboard of a period as plain data, as ``eduengine report`` prints it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from eduengine.analytics.model import Period
from eduengine.bootstrap import School
from eduengine.kernel.clock import SystemClock


def report_period(first: date | None, days: int, tz: str) -> Period:
    """``days`` local days from ``first`` in zone ``tz``; without ``first``, the ``days``
    whole days before today there (today is still running)."""
    if first is None:
        first = SystemClock().now().astimezone(ZoneInfo(tz)).date() - timedelta(days=days)
    return Period.days(first, days, tz)


def report(school: School, period: Period, *, by: str = "course") -> dict[str, Any]:
    """The dashboard of ``period`` as plain data (JSON-ready): every analytics query of
    ``docs/analytics.md`` with rates grouped ``by`` course, tutor, weekday or hour.

    >>> from datetime import date
    >>> from eduengine import InMemoryStore, School
    >>> dashboard = report(School.build(InMemoryStore()), report_period(date(2026, 3, 2), 7, "UTC"))
    >>> dashboard["new_students"], dashboard["fill_rate"]
    (0, [])
    """
    a = school.analytics

    def rows(found: Any) -> Any:
        return [attrs.asdict(row) for row in found]

    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "zone": str(period.tz),
        },
        "by": by,
        "fill_rate": rows(a.fill_rate(period, by=by)),
        "attendance_rate": rows(a.attendance_rate(period, by=by)),
        "no_show_rate": rows(a.no_show_rate(period, by=by)),
        "peak_hours": rows(a.peak_hours(period)),
        "popular_courses": rows(a.popular_courses(period)),
        "popular_tutors": rows(a.popular_tutors(period)),
        "cancellation_reasons": rows(a.cancellation_reasons(period)),
        "lead_time": rows(a.lead_time(period)),
        "groups": rows(a.group_metrics(period)),
        "new_students": a.new_students(period),
        "active_students": a.active_students(period),
        "renewal_rate": attrs.asdict(a.renewal_rate(period)),
        "referral_rate": attrs.asdict(a.referral_rate(period)),
        "churn_reasons": rows(a.churn_reasons(period)),
    }
