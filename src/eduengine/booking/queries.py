"""Read-only queries for the pages of a school site: the timetable (by course, tutor,
room and time range), a student's timetable and history, a tutor's week, and live
snapshots that say where to follow the event feed from.

Every query runs in a read-only unit of work (no write lock, no row locks), reads an
index (``slot_time`` entries for slots, the student's bookings for a student, never every
slot), answers summaries without rosters, pages by keyset (``after=page.next``) and shows
times in the viewer's zone (``zone="Europe/Paris"`` or a ``tzinfo``).

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> now = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
>>> school = School.build(InMemoryStore(), clock=FixedClock(now))
>>> for hour in (9, 11, 14):
...     _ = school.booking.create_slot("math", now.replace(hour=hour),
...                                    now.replace(hour=hour + 1), capacity=8,
...                                    tutor_id="tia", slot_id=f"math-{hour}")
>>> _ = school.booking.book("math-9", "ann")
>>> page = school.queries.timetable(start=now, end=now + timedelta(days=1),
...                                 course_id="math", zone="Asia/Tokyo", limit=2)
>>> [(s.slot_id, s.start.hour, s.seats_left) for s in page]
[('math-9', 18, 7), ('math-11', 20, 8)]
>>> [s.slot_id for s in school.queries.timetable(start=now, end=now + timedelta(days=1),
...                                              course_id="math", after=page.next)]
['math-14']
>>> from eduengine.people import SYSTEM
>>> [lesson.slot.slot_id
...  for lesson in school.queries.student_timetable("ann", actor=SYSTEM)]
['math-9']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from eduengine.booking.model import Booking, BookingStatus
from eduengine.booking.rooms import ROOMS
from eduengine.booking.timetable import (
    ALL,
    TIMETABLE,
    Page,
    SlotSummary,
    course_index,
    decode_cursor,
    encode_cursor,
    room_index,
    summary_of,
    time_index,
    tutor_index,
)
from eduengine.errors import InvalidInput, InvalidTimeRange, SlotNotFound
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id, check_instant, check_int
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase

#: the most answers one page may ask for
MAX_PAGE = 500

Zone = tzinfo | str | None
"""A viewer's zone: a ``tzinfo``, an IANA name (``"Europe/Paris"``), or ``None`` (times
as stored, in each slot's own zone)."""


def viewer_zone(zone: Zone) -> tzinfo | None:
    """``zone`` as a ``tzinfo``, or ``InvalidInput`` naming it."""
    if zone is None or isinstance(zone, tzinfo):
        return zone
    if not isinstance(zone, str) or not zone or len(zone) > 100:
        raise InvalidInput(f"zone must be an IANA zone name or a tzinfo, got {zone!r}")
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {zone!r}") from exc


def read_summaries(uow: UnitOfWork, slot_ids: Sequence[str]) -> list[SlotSummary]:
    """Summaries of the existing ``slot_ids`` in the order asked: the library's adapters
    read them without rosters; any other adapter falls back to loading the slots."""
    summaries = getattr(uow.slots, "summaries", None)
    if callable(summaries):
        found: list[SlotSummary] = summaries(slot_ids)
        return found
    out = []
    for sid in slot_ids:
        try:
            out.append(summary_of(uow.slots.get(sid)))
        except SlotNotFound:
            continue
    return out


@attrs.frozen(kw_only=True)
class Lesson:
    """One of a student's bookings with its slot's summary (times in the viewer's zone).

    ``status`` is the booking's: ``confirmed``, ``attended``, ``no_show`` or
    ``cancelled``.
    """

    booking_id: str
    status: str
    series_id: str | None
    slot: SlotSummary

    def as_dict(self) -> dict[str, object]:
        return {
            "booking_id": self.booking_id,
            "status": self.status,
            "series_id": self.series_id,
            "slot": self.slot.as_dict(),
        }


@attrs.frozen(kw_only=True)
class SlotSnapshot:
    """A slot's summary and where a live page follows on from: ``sequence`` is the last
    event number of the slot's ``stream`` and ``position`` the feed's head, both read
    *before* the state, so the state is at least as new as them (an event the page then
    drops as already shown really is in it)."""

    stream: str
    sequence: int
    position: int
    slot: SlotSummary

    def as_message(self) -> dict[str, Any]:
        """The snapshot as the JSON message a live page starts from."""
        return {
            "type": "snapshot",
            "stream": self.stream,
            "sequence": self.sequence,
            "position": self.position,
            "slot_id": self.slot.slot_id,
            "data": {
                "capacity": self.slot.capacity,
                "seats_left": self.slot.seats_left,
                "waitlist_length": self.slot.waitlist_length,
            },
        }


@attrs.frozen(kw_only=True)
class TimetableSnapshot:
    """A timetable page and the feed ``position`` (read before it) to follow from."""

    position: int
    page: Page[SlotSummary]


class TimetableQueries(ServiceBase):
    """The queries a school site's pages read (see the module's docs).

    ``sequence_of`` and ``feed_head`` are the store's ``stream_sequence`` and the feed's
    ``head``, which the snapshots read first; :meth:`eduengine.School.build` wires them.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        sequence_of: Callable[[str], int] | None = None,
        feed_head: Callable[[], int] | None = None,
        **base: Any,
    ) -> None:
        super().__init__(uow, **base)
        self._sequence_of = sequence_of
        self._feed_head = feed_head
        #: the access check of a student's pages (the school's, from School.build)
        self.gate = AccessGate()

    # --- the timetable -----------------------------------------------------------------

    def timetable(
        self,
        *,
        start: datetime,
        end: datetime,
        course_id: str | None = None,
        tutor_id: str | None = None,
        room: str | None = None,
        zone: Zone = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[SlotSummary]:
        """Slots starting from ``start`` (included) to ``end`` (excluded), of a course, a
        tutor and a room if given, in start order (then id), ``limit`` per page."""
        check_instant(start, "start")
        check_instant(end, "end")
        if end <= start:
            raise InvalidTimeRange(f"timetable: end {end} is not after start {start}")
        for name, value in (("course_id", course_id), ("tutor_id", tutor_id)):
            if value is not None:
                check_id(value, name)
        if room is not None and (not isinstance(room, str) or not room):
            raise InvalidInput(f"room must be a non-empty string, got {room!r}")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)
        viewer = viewer_zone(zone)
        cursor = None if after is None else decode_cursor(after)
        # the narrowest index is scanned, the other filters checked on the summaries
        if room is not None:
            kind, index = ROOMS, room_index(room)
        elif tutor_id is not None:
            kind, index = TIMETABLE, tutor_index(tutor_id)
        elif course_id is not None:
            kind, index = TIMETABLE, course_index(course_id)
        else:
            kind, index = TIMETABLE, ALL

        def wanted(summary: SlotSummary) -> bool:
            return (course_id is None or summary.course_id == course_id) and (
                tutor_id is None or summary.tutor_id == tutor_id
            )

        def query(uow: UnitOfWork, now: datetime) -> Page[SlotSummary]:
            found = _keyset(
                uow, kind, index, micros(start), micros(end) - 1, cursor, limit + 1, wanted
            )
            return _page([s.in_zone(viewer) for s in found], limit, _slot_key)

        return self._run(query, write=False, ids={"course_id": course_id, "tutor_id": tutor_id})

    def tutor_week(
        self, tutor_id: str, week_of: date | datetime, *, zone: Zone = None
    ) -> list[SlotSummary]:
        """The slots a tutor teaches in the week (Monday to Sunday, in ``zone``) of
        ``week_of``, in start order. An aware ``week_of`` is taken in ``zone`` first."""
        check_id(tutor_id, "tutor_id")
        viewer = viewer_zone(zone)
        if isinstance(week_of, datetime):
            check_instant(week_of, "week_of")
            day = week_of.astimezone(viewer).date() if viewer is not None else week_of.date()
            zone_of_week: tzinfo | None = viewer or week_of.tzinfo
        elif isinstance(week_of, date):
            day, zone_of_week = week_of, viewer
        else:
            raise InvalidInput(f"week_of must be a date or an aware datetime, got {week_of!r}")
        if zone_of_week is None:
            raise InvalidInput("a tutor's week of a date needs a zone (zone='Europe/Paris')")
        monday = datetime.combine(day - timedelta(days=day.weekday()), time(), zone_of_week)
        # a week in the viewer's wall time (DST weeks are 167 or 169 hours long)
        sunday_night = datetime.combine(monday.date() + timedelta(days=7), time(), zone_of_week)
        out: list[SlotSummary] = []
        after: str | None = None
        while True:
            page = self.timetable(
                start=monday,
                end=sunday_night,
                tutor_id=tutor_id,
                zone=viewer,
                limit=MAX_PAGE,
                after=after,
            )
            out.extend(page.items)
            if page.next is None:
                return out
            after = page.next

    # --- a student's pages -------------------------------------------------------------

    def student_timetable(
        self,
        student_id: str,
        *,
        zone: Zone = None,
        limit: int = 50,
        after: str | None = None,
        actor: Actor | None = None,
    ) -> Page[Lesson]:
        """The student's lessons still to come or going on (seats held, the slot not
        ended), soonest first; read as ``actor`` (refused unless the actor may see her,
        audited: docs/privacy.md; without one, deprecated, as before)."""
        return self._lessons(student_id, zone, limit, after, actor, upcoming=True)

    def student_history(
        self,
        student_id: str,
        *,
        zone: Zone = None,
        limit: int = 50,
        after: str | None = None,
        actor: Actor | None = None,
    ) -> Page[Lesson]:
        """The student's past lessons and cancelled bookings, latest first; read as
        ``actor`` (like :meth:`student_timetable`)."""
        return self._lessons(student_id, zone, limit, after, actor, upcoming=False)

    def _lessons(
        self,
        student_id: str,
        zone: Zone,
        limit: int,
        after: str | None,
        actor: Actor | None,
        *,
        upcoming: bool,
    ) -> Page[Lesson]:
        check_id(student_id, "student_id")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)
        viewer = viewer_zone(zone)
        cursor = None if after is None else decode_cursor(after)

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Page[Lesson]:
            shown(look, student_id)
            bookings = uow.bookings.for_student(student_id)
            slots = {
                s.slot_id: s for s in read_summaries(uow, sorted({b.slot_id for b in bookings}))
            }
            lessons = [
                Lesson(
                    booking_id=b.id,
                    status=b.status.value,
                    series_id=b.series_id,
                    slot=slots[b.slot_id].in_zone(viewer),
                )
                for b in bookings
                if b.slot_id in slots and _is_upcoming(b, slots[b.slot_id], now) is upcoming
            ]
            lessons.sort(key=_lesson_key, reverse=not upcoming)
            if cursor is not None:
                lessons = [
                    lesson
                    for lesson in lessons
                    if (_lesson_key(lesson) > cursor if upcoming else _lesson_key(lesson) < cursor)
                ]
            return _page(lessons[: limit + 1], limit, _lesson_key)

        return self.gate.read(
            self._run,
            actor,
            ("bookings",),
            query,
            ids={"student_id": student_id},
            records=True,
            stacklevel=4,  # through the public method and this one
        )

    def reindex(self) -> int:
        """The one-off upgrade of a store written before the timetable index: file every
        slot that has no ``slot_time`` entries yet (it reads every slot; new slots are
        filed by the adapters as they are inserted). Returns how many it filed.
        ``School.reindex()`` runs it."""

        def command(uow: UnitOfWork, now: datetime) -> int:
            filed = 0
            for summary in read_summaries(uow, uow.slots.list_ids()):
                at = micros(summary.start)
                index = course_index(summary.course_id)
                held = uow.records.scan(TIMETABLE, index, lo=at, hi=at)
                if any(key == summary.slot_id for key, _ in held):
                    continue
                # an empty document carries the entries (the port files entries with one)
                uow.records.put(
                    TIMETABLE,
                    summary.slot_id,
                    {},
                    index=time_index(
                        course_id=summary.course_id, tutor_id=summary.tutor_id, start=summary.start
                    ),
                )
                filed += 1
            return filed

        return self._run(command)

    # --- live snapshots ----------------------------------------------------------------

    def snapshot(self, slot_id: str) -> SlotSnapshot:
        """A slot's summary with the stream sequence and feed position to follow it
        from, read in the order that never shows a stale count (see
        :class:`SlotSnapshot`); ``SlotNotFound`` if there is no such slot."""
        check_id(slot_id, "slot_id")
        stream = f"slot:{slot_id}"
        # read the positions first: the state read after is at least as new as them
        sequence = self._sequence_of(stream) if self._sequence_of is not None else 0
        position = self._feed_head() if self._feed_head is not None else 0

        def query(uow: UnitOfWork, now: datetime) -> SlotSummary:
            found = read_summaries(uow, [slot_id])
            if not found:
                raise SlotNotFound(slot_id)
            return found[0]

        slot = self._run(query, write=False, ids={"slot_id": slot_id})
        return SlotSnapshot(stream=stream, sequence=sequence, position=position, slot=slot)

    def timetable_snapshot(self, **timetable: Any) -> TimetableSnapshot:
        """A :meth:`timetable` page (same arguments) and the feed position, read before
        it, from which its live page follows the feed."""
        position = self._feed_head() if self._feed_head is not None else 0
        return TimetableSnapshot(position=position, page=self.timetable(**timetable))


def _keyset(
    uow: UnitOfWork,
    kind: str,
    index: str,
    lo: int,
    hi: int,
    cursor: tuple[int, str] | None,
    want: int,
    keep: Callable[[SlotSummary], bool],
) -> list[SlotSummary]:
    """Up to ``want`` summaries filed under ``index`` with ``lo <= start <= hi`` after
    ``cursor``, in ``(start, id)`` order, that ``keep`` accepts: index pages read one
    after another, so a filter the index cannot answer costs rows scanned, never a
    scan of every slot."""
    out: list[SlotSummary] = []
    last = cursor
    batch = want
    while len(out) < want:
        start = lo if last is None else max(lo, last[0])
        entries = uow.records.scan(kind, index, lo=start, hi=hi, limit=batch)
        fresh = [(key, value) for key, value in entries if last is None or (value, key) > last]
        if not fresh:
            if len(entries) < batch:
                break
            # every entry read ties with the cursor's start: read a bigger page of them
            batch *= 2
            continue
        for summary in read_summaries(uow, [key for key, _ in fresh]):
            if keep(summary):
                out.append(summary)
        key, value = fresh[-1]
        last = (value, key)
        if len(entries) < batch:
            break
    return out[:want]


def _slot_key(summary: SlotSummary) -> tuple[int, str]:
    return micros(summary.start), summary.slot_id


def _lesson_key(lesson: Lesson) -> tuple[int, str]:
    return micros(lesson.slot.start), lesson.booking_id


def _is_upcoming(booking: Booking, slot: SlotSummary, now: datetime) -> bool:
    return booking.status is not BookingStatus.CANCELLED and slot.end > now


T = TypeVar("T")


def _page(found: Sequence[T], limit: int, key: Callable[[T], tuple[int, str]]) -> Page[T]:
    """The first ``limit`` of ``found`` (read ``limit + 1`` to know if more follow)."""
    items = tuple(found[:limit])
    more = len(found) > limit
    return Page(items, encode_cursor(*key(items[-1])) if more and items else None)


__all__ = [
    "MAX_PAGE",
    "Lesson",
    "SlotSnapshot",
    "TimetableQueries",
    "TimetableSnapshot",
    "Zone",
    "read_summaries",
    "viewer_zone",
]
