"""The seat mapping adapters hand a :class:`~eduengine.booking.model.Slot` when its seats
live partly elsewhere (in the database, or in the committed slot), shared by
``sql_common.LazySeats`` and ``memory.SeatOverlay``."""

from __future__ import annotations

from typing import Any

from eduengine.booking.model import Booking


class CountedSeats(dict[str, Booking]):
    """A ``student_id -> Booking`` mapping that keeps its own seat count.

    A subclass says where a seat not held in this dict is found (:meth:`_lookup`); the
    count, membership, reads and counted writes are the same for every such mapping.
    """

    _count: int

    def _lookup(self, student_id: object) -> Booking | None:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, key: object) -> bool:
        return self._lookup(key) is not None

    def __getitem__(self, key: str) -> Booking:
        found = self._lookup(key)
        if found is None:
            raise KeyError(key)
        return found

    def get(self, key: str, default: Any = None) -> Any:
        found = self._lookup(key)
        return default if found is None else found

    def __setitem__(self, key: str, value: Booking) -> None:
        if self._lookup(key) is None:
            self._count += 1
        dict.__setitem__(self, key, value)
