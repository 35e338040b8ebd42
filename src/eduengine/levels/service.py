"""XP awards through units of work: each student's XP state is one JSON document, so the
cheat guard, caps and "once per source" hold across devices and concurrent requests.

A refused award is recorded with its reason (``refused_awards``), never silently
dropped. The state depends only on the events, their ``occurred_at`` and the class the
student was a member of when each award was recorded, so replaying the full history
into an empty store (no class records: each event's ``class_id`` is used) gives the same
state.

Every put files the document under its leaderboards and moves its rank counts
(:func:`~eduengine.levels.board.file_xp`), so a leaderboard query reads the top of an
index and a few counts, never every student.

Recording awards (the cheat guard, caps, levels, badges) is in :mod:`~eduengine.levels.xp`;
this module holds the service's queries, its leaderboards and their one-off reindex.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, Unpack

from eduengine.kernel.inputs import check_id, check_int, check_optional_id
from eduengine.levels.board import COUNTS, KIND, StoredLeaderboard, counted_index, file_xp
from eduengine.levels.events import BadgeAwarded as BadgeAwarded
from eduengine.levels.events import LevelUp as LevelUp
from eduengine.levels.events import XpAwarded as XpAwarded
from eduengine.levels.events import XpRefused as XpRefused
from eduengine.levels.model import (
    Badge,
    LevelCurve,
    Multiplier,
    Progress,
    Standing,
    XpRule,
    progress,
)
from eduengine.levels.model import LearningEvent as LearningEvent
from eduengine.levels.xp import STREAK_KIND as STREAK_KIND
from eduengine.levels.xp import Award as Award
from eduengine.levels.xp import XpService, _upgrade
from eduengine.levels.xp import _fresh as _fresh
from eduengine.levels.xp import period_keys as period_keys
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.service_layer.ports import (
    RecordRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from eduengine.service_layer.runner import ServiceOptions

#: what a read of XP shows of a student (the audit rows' fields)
XP_FIELDS = ("xp",)
R = TypeVar("R")

T = TypeVar("T")


class LevelService(XpService):
    """Award XP from learning events and report levels, badges and leaderboards.

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> xp = LevelService(InMemoryStore().unit_of_work,
    ...                   rules=[XpRule(kind="lesson_attended", points=50)],
    ...                   curve=LevelCurve.geometric())
    >>> t = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> for n in range(3):
    ...     _ = xp.record(LearningEvent(student_id="ann", kind="lesson_attended",
    ...                                 source_id=f"lesson-{n}", occurred_at=t))
    >>> from eduengine.people import SYSTEM
    >>> p = xp.progress("ann", actor=SYSTEM)
    >>> (p.level, p.xp_into_level, p.xp_to_next, str(p.percent))
    (2, 30, 126, '19.23')
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        rules: Sequence[XpRule],
        curve: LevelCurve,
        multipliers: Sequence[Multiplier] = (),
        max_factor: Decimal = Decimal(3),
        badges: Sequence[Badge] = (),
        titles: Mapping[int, str] | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.rules = {r.kind: r for r in rules}
        self.curve = curve
        self.multipliers = tuple(multipliers)
        self.max_factor = max_factor
        self.badges = tuple(badges)
        self.titles = dict(titles or {})
        #: the access check of XP reads (the school's, from School.build)
        self.gate = AccessGate()

    # --- queries ------------------------------------------------------------------------

    def progress(self, student_id: str, *, actor: Actor | None = None) -> Progress:
        """A student's level and XP, read as ``actor`` (refused unless the actor may
        see her; audited: docs/privacy.md). Without an actor (deprecated) as before."""
        return self._xp_read(
            student_id, actor, lambda state: progress(self.curve, state["xp"], self.titles)
        )

    def badges_of(self, student_id: str, *, actor: Actor | None = None) -> list[str]:
        """A student's badges, read as ``actor`` (like :meth:`progress`)."""
        return self._xp_read(student_id, actor, lambda state: list(state["badges"]))

    def refused_awards(
        self, student_id: str, *, actor: Actor | None = None
    ) -> list[dict[str, Any]]:
        """The awards refused to a student (caps), read as ``actor`` (like
        :meth:`progress`)."""
        return self._xp_read(student_id, actor, lambda state: list(state["refused"]))

    def state_of(self, student_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """The student's whole XP document (for audits and replay checks), read as
        ``actor`` (like :meth:`progress`)."""
        return self._xp_read(student_id, actor, lambda state: state)

    def _xp_read(
        self, student_id: str, actor: Actor | None, answer: Callable[[dict[str, Any]], R]
    ) -> R:
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> R:
            shown(look, student_id)
            return answer(uow.records.get(KIND, student_id) or _fresh(student_id))

        return self.gate.read(
            self._run,
            actor,
            XP_FIELDS,
            query,
            ids={"student_id": student_id},
            records=True,
            stacklevel=4,  # through the public method and this one
        )

    def leaderboard(
        self, *, class_id: str | None = None, period: str | None = None
    ) -> StoredLeaderboard:
        """Standings, globally or for one class, over all time or one period
        (``"week:2026-W10"``, ``"month:2026-03"``; see :func:`period_keys`).

        A live view over the index (see :mod:`eduengine.levels.board`): ``top(k)`` reads
        O(k + log N) entries, ``rank`` reads the board's counts and counts inside one band
        of XP, ``around`` reads O(k + log N) entries (and the student's tie group) plus
        a rank per distinct XP shown. A period or class board lists the students who
        earned XP for it.
        """
        check_optional_id(class_id, "class_id")
        check_optional_id(period, "period")
        return StoredLeaderboard(self._read_records, class_id=class_id, period=period)

    def standings_around(
        self,
        student_id: str,
        *,
        k: int = 2,
        anonymous: bool = True,
        class_id: str | None = None,
        period: str | None = None,
    ) -> list[Standing]:
        """A student's rank and neighbours, other names hidden by default; ``NotRanked``
        if the student is not on the board."""
        check_id(student_id, "student_id")
        check_int(k, "k")
        return self.leaderboard(class_id=class_id, period=period).around(
            student_id, k, anonymous=anonymous
        )

    def reindex_leaderboards(self, *, batch: int = 100) -> int:
        """File every XP document under its leaderboards and count it in their rank
        counts; returns how many documents.

        A one-off upgrade for documents written before leaderboards were indexed or
        counted (it reads every key once, so it is not for a periodic job); each batch is
        its own unit of work and awards may go on meanwhile. A document already counted
        is not counted again, so a run that stopped half-way can simply be run again.
        Once every document is counted, every board reads ranks from its counts.

        >>> from datetime import datetime, timezone
        >>> from eduengine import InMemoryStore
        >>> xp = LevelService(InMemoryStore().unit_of_work,
        ...                   rules=[XpRule(kind="lesson_attended", points=50)],
        ...                   curve=LevelCurve.geometric())
        >>> _ = xp.record(LearningEvent(student_id="ann", kind="lesson_attended",
        ...     source_id="l1", occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc)))
        >>> xp.reindex_leaderboards(), xp.leaderboard().rank("ann")
        (1, 1)
        """
        check_int(batch, "batch", low=1)
        keys = self._run(lambda uow, now: [key for key, _ in uow.records.list(KIND)], write=False)

        def refile(chunk: list[str]) -> Callable[[UnitOfWork, datetime], int]:
            def command(uow: UnitOfWork, now: datetime) -> int:
                # every XP document of the batch before any count record: the lock order
                # of an award (its document, then counts), so neither waits on the other
                documents = []
                for key in chunk:
                    state = uow.records.get(KIND, key)
                    if state is not None:
                        documents.append((key, counted_index(state), _upgrade(state)))
                file_xp(uow.records, documents)
                return len(documents)

            return command

        done = sum(self._run_batch(refile(keys[n : n + batch])) for n in range(0, len(keys), batch))
        boards = self._run(
            lambda uow, now: [key for key, _ in uow.records.list(COUNTS)], write=False
        )

        def exact(chunk: list[str]) -> Callable[[UnitOfWork, datetime], None]:
            def command(uow: UnitOfWork, now: datetime) -> None:
                for name in chunk:
                    doc = uow.records.get(COUNTS, name)
                    if doc is not None and not doc.get("exact"):
                        doc["exact"] = True
                        uow.records.put(COUNTS, name, doc)

            return command

        for n in range(0, len(boards), batch):
            self._run_batch(exact(boards[n : n + batch]))
        return done

    def _read_records(
        self, read: Callable[[RecordRepository], T], *, ids: Mapping[str, str | None] | None = None
    ) -> T:
        return self._run(lambda uow, now: read(uow.records), write=False, ids=ids)
