"""The events of checkout (their type names are in :mod:`eduengine.events.registry`).

>>> from datetime import datetime, timezone
>>> OrderCancelled(occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc), order_id="o1",
...                student_id="ann", refunded=None).order_id
'o1'
"""

from __future__ import annotations

import attrs

from eduengine.booking.events import DomainEvent
from eduengine.pricing.money import Money


@attrs.frozen(kw_only=True)
class OrderPaid(DomainEvent):
    order_id: str
    student_id: str
    total: Money
    coupons: tuple[str, ...]
    #: the courses bought (a student is enrolled in each)
    course_ids: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class OrderCancelled(DomainEvent):
    order_id: str
    student_id: str
    refunded: Money | None
