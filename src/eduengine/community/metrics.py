"""Community activity and moderation volumes: a projection of the feed, counted per UTC
hour, read per local day (or for a whole period) in the school's zone.

The ``community_metrics`` projection counts the community's events as they commit; it
can be dropped and rebuilt from the feed (``school.projections.rebuild(
"community_metrics")``). :func:`activity` reads it for an
:class:`eduengine.analytics.Period`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import attrs

from eduengine.analytics.model import Period
from eduengine.community.events import (
    AccountFlagged,
    GroupJoined,
    GroupLeft,
    PostApproved,
    PostBlocked,
    PostHeld,
    PostPublished,
    PostRejected,
)
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import micros
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["COUNTED", "COUNTS", "ActivityRow", "activity", "count_event", "reset_counts"]

#: counters per UTC hour, key the hour's start in microseconds, filed under ``hour``
COUNTS = "community_counts"
_HOUR = 3_600_000_000

#: the counters, in the order of :class:`ActivityRow`'s fields
FIELDS = (
    "posts",
    "replies",
    "published",
    "masked",
    "held",
    "blocked",
    "approved",
    "rejected",
    "flagged",
    "joined",
    "left",
)


@attrs.frozen(kw_only=True)
class ActivityRow:
    """Counts of one local day (``key`` its ISO date) or of the whole period (``total``).

    ``posts`` are every post written (``replies`` of them answer another); each ends
    ``published`` (as written or ``masked``), ``held`` for moderators or ``blocked``;
    ``approved`` and ``rejected`` are moderators' decisions, ``flagged`` accounts flagged
    by a spam signal, ``joined`` and ``left`` group memberships.
    """

    key: str
    posts: int = 0
    replies: int = 0
    published: int = 0
    masked: int = 0
    held: int = 0
    blocked: int = 0
    approved: int = 0
    rejected: int = 0
    flagged: int = 0
    joined: int = 0
    left: int = 0


def _counts(event: DomainEvent) -> list[str]:
    if isinstance(event, PostPublished):
        found = ["posts", "published"]
        if event.status == "masked":
            found.append("masked")
        if event.reply_to is not None:
            found.append("replies")
        return found
    if isinstance(event, PostHeld):
        return ["posts", "held"]
    if isinstance(event, PostBlocked):
        return ["posts", "blocked"]
    simple: dict[type[DomainEvent], str] = {
        PostApproved: "approved",
        PostRejected: "rejected",
        AccountFlagged: "flagged",
        GroupJoined: "joined",
        GroupLeft: "left",
    }
    name = simple.get(type(event))
    return [name] if name else []


def count_event(event: DomainEvent, uow: UnitOfWork) -> None:
    """The ``community_metrics`` projection's handler: count ``event`` in its UTC hour."""
    names = _counts(event)
    if not names:
        return
    hour = micros(event.occurred_at) // _HOUR * _HOUR
    key = str(hour)
    doc = uow.records.get(COUNTS, key) or {}
    for name in names:
        doc[name] = doc.get(name, 0) + 1
    uow.records.put(COUNTS, key, doc, index={"hour": hour})


def reset_counts(uow: UnitOfWork) -> None:
    """Drop every counter (before a rebuild)."""
    for key, _ in uow.records.scan(COUNTS, "hour"):
        uow.records.delete(COUNTS, key)


#: the events the ``community_metrics`` projection counts
COUNTED: tuple[type[DomainEvent], ...] = (
    PostPublished,
    PostHeld,
    PostBlocked,
    PostApproved,
    PostRejected,
    AccountFlagged,
    GroupJoined,
    GroupLeft,
)


def activity(uow: UnitOfWork, period: Period, by: str = "day") -> list[ActivityRow]:
    """The counts of the hours starting in ``period``, per local day of the period's zone
    (``by="day"``, days with nothing counted left out) or in one ``total`` row
    (``by="period"``)."""
    if by not in ("day", "period"):
        raise InvalidInput(f"by must be 'day' or 'period', got {by!r}")
    lo = micros(period.start)
    hi = micros(period.end) - 1
    rows: dict[str, Counter[str]] = {}
    if by == "period":
        rows["total"] = Counter()
    for key, hour in uow.records.scan(COUNTS, "hour", lo=lo, hi=hi):
        doc = uow.records.get(COUNTS, key) or {}
        if by == "day":
            start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=hour)
            label = start.astimezone(period.tz).date().isoformat()
        else:
            label = "total"
        rows.setdefault(label, Counter()).update({k: int(v) for k, v in doc.items()})
    return [
        ActivityRow(key=label, **{name: counts.get(name, 0) for name in FIELDS})
        for label, counts in sorted(rows.items())
    ]
