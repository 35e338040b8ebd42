"""The events of analytics: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(AlertRaised).name
'analytics.alert_raised'
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "AlertRaised",
]


@event_type("analytics.alert_raised", aggregate="alert_rule", field="rule_id")
@attrs.frozen(kw_only=True)
class AlertRaised(DomainEvent):
    """A rule fired for a period; ``notify`` names who should hear of it.

    ``key`` is the group that fired (a course, a tutor) or ``None`` for the school;
    ``reference`` is what the value was compared with (the bound, the previous period's
    value, or the school's value).
    """

    rule_id: str
    metric: str
    kind: str
    notify: str
    key: str | None
    value: Decimal | None
    reference: Decimal | None
    period_start: datetime
    period_end: datetime
    message: str
