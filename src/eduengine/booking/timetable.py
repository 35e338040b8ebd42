"""What a timetable page shows of a slot, without its roster, and how slots are indexed
by time for it.

Every adapter files each new slot in the ``slot_time`` index of its record store (see
``RecordRepository.scan``) under its start (microseconds since the epoch): once in
``"all"``, once in ``"course:<id>"`` and, if it has one, in ``"tutor:<id>"``. A slot's
start, course and tutor never change, so the entries are written once, when the slot is
inserted, and a booking's hot path never touches them. A day's timetable is then one
B-tree range scan, whatever the number of slots.

>>> from datetime import datetime, timezone
>>> start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
>>> sorted(time_index(course_id="math", tutor_id="tia", start=start))
['all', 'course:math', 'tutor:tia']
>>> decode_cursor(encode_cursor(1772442000000000, "s1"))
(1772442000000000, 's1')
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Generic, TypeVar

import attrs

from eduengine.booking.model import Slot
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import micros

#: the record kind whose index entries place slots in time (no documents, entries only)
TIMETABLE = "slot_time"
#: the index of every slot by start
ALL = "all"


def course_index(course_id: str) -> str:
    return f"course:{course_id}"


def tutor_index(tutor_id: str) -> str:
    return f"tutor:{tutor_id}"


def room_index(room: str) -> str:
    return f"room:{room}"


def time_index(*, course_id: str, tutor_id: str | None, start: datetime) -> dict[str, int]:
    """The ``slot_time`` index entries of a slot (written once, when it is inserted)."""
    at = micros(start)
    entries = {ALL: at, course_index(course_id): at}
    if tutor_id is not None:
        entries[tutor_index(tutor_id)] = at
    return entries


@attrs.frozen(kw_only=True)
class SlotSummary:
    """One slot as a timetable shows it: times, seats left, waitlist length and opening
    time, never who holds the seats. ``start``, ``end`` and ``opens_at`` are in the
    viewer's zone when the query was given one.

    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    >>> s = SlotSummary(slot_id="s1", course_id="math", tutor_id=None, start=t,
    ...                 end=t + timedelta(hours=1), capacity=10, booked=3, offered=1,
    ...                 waitlist_length=0, opens_at=None, status="open")
    >>> s.seats_left, s.is_full
    (6, False)
    """

    slot_id: str
    course_id: str
    tutor_id: str | None
    start: datetime
    end: datetime
    capacity: int
    #: active seats
    booked: int
    #: seats held by outstanding waitlist offers
    offered: int
    waitlist_length: int
    #: rush booking: no seat is sold before this instant (``None``: open at once)
    opens_at: datetime | None
    #: ``"open"`` or ``"cancelled"`` (:class:`eduengine.booking.model.SlotStatus` values)
    status: str

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.booked - self.offered)

    @property
    def is_full(self) -> bool:
        return self.seats_left == 0

    def in_zone(self, zone: tzinfo | None) -> SlotSummary:
        """This summary with its times shown in ``zone`` (``None``: as stored)."""
        if zone is None:
            return self
        return attrs.evolve(
            self,
            start=self.start.astimezone(zone),
            end=self.end.astimezone(zone),
            opens_at=None if self.opens_at is None else self.opens_at.astimezone(zone),
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: times as ISO 8601 strings with their offset."""
        return {
            "slot_id": self.slot_id,
            "course_id": self.course_id,
            "tutor_id": self.tutor_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "capacity": self.capacity,
            "seats_left": self.seats_left,
            "waitlist_length": self.waitlist_length,
            "opens_at": None if self.opens_at is None else self.opens_at.isoformat(),
            "status": self.status,
        }


def summary_of(slot: Slot) -> SlotSummary:
    """A loaded slot's summary (adapters that read the slot row directly build it
    from the columns instead)."""
    return SlotSummary(
        slot_id=slot.id,
        course_id=slot.course_id,
        tutor_id=slot.tutor_id,
        start=slot.start,
        end=slot.end,
        capacity=slot.capacity,
        booked=len(slot.bookings),
        offered=len(slot.offers),
        waitlist_length=len(slot.waitlist),
        opens_at=slot.opens_at,
        status=slot.status.value,
    )


T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a query's answers, and the cursor of the next page (``None``: this is
    the last). Pass ``after=page.next`` to read on: keyset paging, so a page never
    repeats or skips an answer while writes go on."""

    items: tuple[T, ...]
    next: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def encode_cursor(value: int, key: str) -> str:
    """An opaque cursor for the position ``(value, key)`` of a keyset."""
    raw = f"{value}:{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The ``(value, key)`` of a cursor from :func:`encode_cursor`, or ``InvalidInput``."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2000:
        raise InvalidInput(f"not a page cursor: {cursor!r}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value, key = raw.split(":", 1)
        return int(value), key
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"not a page cursor: {cursor!r}") from exc


__all__ = [
    "ALL",
    "TIMETABLE",
    "Page",
    "SlotSummary",
    "course_index",
    "decode_cursor",
    "encode_cursor",
    "room_index",
    "summary_of",
    "time_index",
    "tutor_index",
]
