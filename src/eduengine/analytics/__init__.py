"""Analytics (数据分析): the operator's dashboard from the library's own data.

Counters are a projection of the event feed, kept in batches after each command commits
(:mod:`eduengine.analytics.projection`), with daily school-wide roll-ups;
:class:`AnalyticsService` answers typed queries over a :class:`Period` in a time zone,
checks :class:`AlertRule` s and rebuilds the counters by replaying the feed.
Every metric is defined in ``docs/analytics.md``.
"""

from eduengine.analytics.events import AlertRaised
from eduengine.analytics.model import (
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
)
from eduengine.analytics.projection import analytics_rules
from eduengine.analytics.service import AnalyticsService

__all__ = [
    "AlertRaised",
    "AlertRule",
    "AnalyticsService",
    "AttendanceRow",
    "CountRow",
    "FillRow",
    "FunnelRow",
    "GroupRow",
    "LeadTimeRow",
    "LevelRow",
    "Period",
    "RateRow",
    "ReasonRow",
    "SegmentRow",
    "analytics_rules",
]
