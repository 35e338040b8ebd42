"""The fair admission queue of a rush slot (pure).

Everyone who entered before the slot opened, or within ``window`` after, takes part in a
seeded lottery: their order is ``sha256(seed + student_id)``, so it does not depend on who
clicked first, is the same every time for the same seed, and anyone can re-check it. Later
arrivals follow, first come first served.

>>> a = fair_order("spring-2026", ["ann", "bob", "cat"])
>>> a == fair_order("spring-2026", ["cat", "ann", "bob"])
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.kernel.records import override, reader, writer


def fair_order(seed: str, students: Iterable[str]) -> list[str]:
    """The lottery order of ``students`` for ``seed`` (independent of input order)."""
    return sorted(
        set(students),
        key=lambda s: (hashlib.sha256(f"{seed}\x1f{s}".encode()).hexdigest(), s),
    )


@attrs.frozen(kw_only=True)
class Entry:
    student_id: str
    entered_at: datetime


@attrs.frozen(kw_only=True)
class QueuePosition:
    """Where a student stands: ``state`` is ``lottery`` (before admission, among
    ``entrants``), ``queued`` (late arrival, ``place`` in line), ``admitted`` (holds a
    seat) or ``waitlisted`` (``place`` on the slot's waitlist)."""

    state: str
    entrants: int
    place: int | None = None


@attrs.define(kw_only=True)
class RushQueue:
    slot_id: str
    opens_at: datetime
    window: timedelta
    seed: str
    entries: list[Entry] = attrs.field(factory=list)
    admitted: bool = False
    #: the order students were handled in at admission (seat or waitlist)
    order: list[str] = attrs.field(factory=list)

    @property
    def admission_at(self) -> datetime:
        return self.opens_at + self.window

    def has(self, student_id: str) -> bool:
        return any(e.student_id == student_id for e in self.entries)

    def admission_order(self) -> list[str]:
        """Lottery for the early entrants, then first come first served."""
        cutoff = self.admission_at
        early = [e.student_id for e in self.entries if e.entered_at <= cutoff]
        late = sorted(
            (e for e in self.entries if e.entered_at > cutoff),
            key=lambda e: e.entered_at,
        )
        return fair_order(self.seed, early) + [e.student_id for e in late]

    def to_record(self) -> dict[str, Any]:
        return _queue_out(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RushQueue:
        return _queue_in(data)


_WINDOW = override(rename="window_us")
_queue_out = writer(RushQueue, window=_WINDOW)
_queue_in = reader(RushQueue, window=_WINDOW)
