"""Rebuilding the analytics from the event feed, and refiling the documents under their
indexes (part of :class:`eduengine.analytics.AnalyticsService`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from eduengine.analytics import projection as pj
from eduengine.analytics.queries import AnalyticsQueries
from eduengine.errors import InvalidSetting
from eduengine.kernel.inputs import check_int
from eduengine.service_layer.ports import UnitOfWork

#: the most events per unit of work (the most one feed read returns)
MAX_BATCH = 10_000


class ReplayFailure(Protocol):
    @property
    def error(self) -> BaseException: ...


class ReplayReport(Protocol):
    """What a replay returns: events applied by projection name, and the failures."""

    @property
    def failures(self) -> Mapping[str, ReplayFailure]: ...

    def get(self, key: str, default: int, /) -> int: ...


class Feed(Protocol):
    def head(self) -> int: ...


class FeedReplay(Protocol):
    """What replays the feed into a projection from its start: the school's
    :class:`eduengine.events.projections.ProjectionRunner` (its ``rebuild``)."""

    @property
    def feed(self) -> Feed: ...

    def rebuild(self, projection: str, *, batch: int = 500) -> ReplayReport: ...

    def checkpoints(self) -> dict[str, int]: ...


class AnalyticsRebuild(AnalyticsQueries):
    """Rebuild and reindex."""

    #: what replays the feed (``School.build`` sets it; ``None``: rebuild is refused)
    replay: FeedReplay | None = None

    def rebuild(self, *, batch: int = 500) -> dict[str, int]:
        """Recount every analytics counter from the event feed: drop the projection's
        documents (in units of work of ``batch`` documents), then replay the feed from
        its start through the projection's own rules, ``batch`` events per unit of work,
        and leave its checkpoint at the feed's head. Returns ``{"documents": dropped,
        "events": replayed, "position": checkpoint}``.

        It recovers everything the live projection counts (cancellations with their
        reasons, corrected marks, refunds, spend, referrals, level-ups), as long as the
        feed holds the events: events pruned from the feed are not replayed. Queries
        see partial counts until it returns; bookings go on meanwhile (they never touch
        a counter), and a worker applying the projection at the same time follows the
        rewound checkpoint, so nothing is counted twice.

        >>> from datetime import datetime, timezone
        >>> from eduengine import FixedClock, InMemoryStore, School
        >>> clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
        >>> school = School.build(InMemoryStore(), clock=clock)
        >>> start = datetime(2026, 3, 3, 11, tzinfo=timezone.utc)
        >>> lesson = school.booking.create_slot("math", start, start.replace(hour=12),
        ...                                     capacity=2)
        >>> _ = school.booking.cancel(school.booking.book(lesson.id, "ann").id,
        ...                           reason_code="sick")
        >>> school.analytics.rebuild()["events"]
        3
        """
        check_int(batch, "batch", low=1, high=MAX_BATCH)
        if self.replay is None:
            raise InvalidSetting("this analytics service has no event feed to rebuild from")
        replay = self.replay
        replay.feed.head()  # a store that keeps no feed raises here, before anything is dropped
        dropped = 0
        # most documents go in small units of work first; the rest (what the live
        # projection wrote meanwhile) go with the checkpoint's rewind, in one
        for kind in pj.KINDS:
            keys = self._keys(kind)
            for n in range(0, len(keys), batch):
                chunk = keys[n : n + batch]

                def drop(
                    uow: UnitOfWork, now: datetime, k: str = kind, c: list[str] = chunk
                ) -> None:
                    for key in c:
                        uow.records.delete(k, key)

                self._run_batch(drop)
                dropped += len(chunk)
        report = replay.rebuild(pj.PROJECTION, batch=batch)
        failure = report.failures.get(pj.PROJECTION)
        if failure is not None:
            raise failure.error
        return {
            "documents": dropped,
            "events": report.get(pj.PROJECTION, 0),
            "position": replay.checkpoints().get(pj.PROJECTION, 0),
        }

    def reindex(self) -> int:
        """File every analytics document under its index again (part of
        :meth:`eduengine.School.reindex`); returns how many were refiled."""

        def counter(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.COUNTERS, key, doc, index={str(doc["f"]): int(str(doc["day"]))})

        def marker(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.ACTIVE, key, doc, index={"hour": int(key.rpartition("|")[2])})

        def active_day(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.ACTIVE_DAYS, key, doc, index={"day": int(str(doc["day"]))})

        def erased(uow: UnitOfWork, key: str, doc: dict[str, object]) -> None:
            uow.records.put(pj.ERASED, key, doc, index={"at": int(str(doc["at"]))})

        # the bitmaps, numbers and sequences are read by key: they have no index
        return (
            self._refile_all(pj.COUNTERS, counter)
            + self._refile_all(pj.ACTIVE, marker)
            + self._refile_all(pj.ACTIVE_DAYS, active_day)
            + self._refile_all(pj.PROFILES, pj.put_profile)
            + self._refile_all(pj.ERASED, erased)
        )
