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

from eduengine.kernel.codec import dt_in, dt_out


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
        return {
            "slot_id": self.slot_id,
            "opens_at": dt_out(self.opens_at),
            "window_us": self.window // timedelta(microseconds=1),
            "seed": self.seed,
            "entries": [
                {"student_id": e.student_id, "entered_at": dt_out(e.entered_at)}
                for e in self.entries
            ],
            "admitted": self.admitted,
            "order": list(self.order),
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RushQueue:
        return cls(
            slot_id=data["slot_id"],
            opens_at=dt_in(data["opens_at"]),
            window=timedelta(microseconds=data["window_us"]),
            seed=data["seed"],
            entries=[
                Entry(student_id=e["student_id"], entered_at=dt_in(e["entered_at"]))
                for e in data["entries"]
            ],
            admitted=data["admitted"],
            order=list(data["order"]),
        )
