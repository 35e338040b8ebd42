"""The operator's dashboard: typed queries over a period, alert rules, and the rebuild
from the event feed.

Every query reads the counters :mod:`eduengine.analytics.projection` keeps from the
event feed, in a read-only unit of work (a report never holds up a booking), and returns plain
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

from collections.abc import Sequence
from typing import Unpack

from eduengine.analytics.alerts import ALERTS, ANCHOR, AlertChecks, last_complete_period
from eduengine.analytics.model import AlertRule
from eduengine.analytics.queries import check_period
from eduengine.analytics.rebuild import AnalyticsRebuild, FeedReplay
from eduengine.errors import InvalidSetting
from eduengine.service_layer.ports import UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceOptions


class AnalyticsService(AlertChecks, AnalyticsRebuild):
    """Queries over the analytics counters, alert rules and the rebuild from the feed.

    ``rules`` are the school's :class:`AlertRule` s, checked by :meth:`evaluate_alerts`;
    ``replay`` replays the event feed for :meth:`rebuild` (``School.build`` passes the
    school's projection runner).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rules: Sequence[AlertRule] = (),
        replay: FeedReplay | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.replay = replay
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


__all__ = ["ALERTS", "ANCHOR", "AnalyticsService", "check_period", "last_complete_period"]
