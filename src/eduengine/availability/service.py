"""Booking 1-on-1 lessons from a tutor's open times, re-checked inside the transaction.

A tutor's schedule is one JSON document and each booked lesson one indexed row
(:mod:`eduengine.availability.storage`); open times read only the lessons of the window
they show. A booking first reads the schedule through ``uow.records.get``, which locks
the tutor, so two students racing for the same time are serialised: the first wins, the
second gets ``TimeNotAvailable``. Each lesson is an ordinary capacity-1
:class:`~eduengine.booking.model.Slot` with the tutor id, so cancellation, attendance,
reminders and calendars work as for any slot; whichever service releases its seat, the
handlers in :mod:`eduengine.availability.handlers` free the tutor's time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Unpack
from zoneinfo import ZoneInfo

import attrs

from eduengine.availability import handlers
from eduengine.availability.events import OneOnOneBooked, ScheduleChanged
from eduengine.availability.model import (
    Busy,
    BusyIndex,
    TutorSchedule,
    busy_window,
    localize,
    open_times,
    zone,
)
from eduengine.availability.storage import (
    CALENDARS,
    LESSONS,
    SCHEDULES,
    file_lesson,
    load_schedule,
    longest_of,
    read_busy,
    read_lessons,
    save_schedule,
)
from eduengine.booking.model import Booking, Slot, SlotStatus, check_reason_code
from eduengine.booking.rooms import file_room
from eduengine.booking.seats import locked_seat
from eduengine.errors import (
    BookingNotFound,
    InvalidInput,
    InvalidTimeRange,
    InvalidTransition,
    SlotNotFound,
    TimeNotAvailable,
)
from eduengine.kernel.codec import from_micros
from eduengine.kernel.inputs import check_id, check_instant, check_int
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = [
    "CALENDARS",
    "LESSONS",
    "SCHEDULES",
    "AvailabilityService",
    "OneOnOneBooked",
    "OneOnOneLesson",
    "ScheduleChanged",
]

RoomHook = Callable[[Slot], str]

#: The most weeks one weekly booking takes (ten years of lessons).
MAX_WEEKS = 520


@attrs.frozen(kw_only=True)
class OneOnOneLesson:
    """A booked 1-on-1 lesson and the room (join link / room id) the host made for it."""

    booking: Booking
    slot_id: str
    tutor_id: str
    start: datetime
    end: datetime
    room: str | None


class AvailabilityService(ServiceBase):
    """Tutor schedules, open times and 1-on-1 bookings.

    ``room_for`` is the host's hook that makes a join link or room id for a new lesson.

    >>> from datetime import datetime, time, timedelta, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.availability import TimeRange, TutorSchedule
    >>> clock = FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> desk = AvailabilityService(InMemoryStore().unit_of_work, clock=clock,
    ...                            room_for=lambda slot: f"room-{slot.id[:4]}")
    >>> desk.set_schedule(TutorSchedule(tutor_id="lin", timezone="Europe/London",
    ...     weekly={0: (TimeRange(time(9), time(12)),)}))
    >>> first = desk.open_times("lin", clock.now(), clock.now() + timedelta(days=2))[0]
    >>> first.isoformat()
    '2026-03-02T09:00:00+00:00'
    >>> desk.book("lin", "ann", first).room.startswith("room-")
    True
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        room_for: RoomHook | None = None,
        course_id: str = "one-on-one",
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        if base.get("bus") is None:
            # Built alone, the service brings its own rules; on a school's shared bus
            # the bootstrap subscribes them once (``handlers.subscribe``).
            handlers.subscribe(self.bus, self._new_id)
        self.room_for = room_for
        self.course_id = course_id

    def set_schedule(self, schedule: TutorSchedule) -> None:
        """Create or replace a tutor's schedule (existing lessons stay booked)."""
        if not isinstance(schedule, TutorSchedule):
            raise InvalidInput(f"expected a TutorSchedule, got {schedule!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            # lessons booked under an earlier, longer session still bound the window reads
            longest = longest_of(uow.records.get(SCHEDULES, schedule.tutor_id))
            save_schedule(uow, schedule, longest)
            uow.record_events([ScheduleChanged(occurred_at=now, tutor_id=schedule.tutor_id)])

        self._run(command)

    def schedule_of(self, tutor_id: str) -> TutorSchedule:
        check_id(tutor_id, "tutor_id")
        return self._run(
            lambda uow, now: load_schedule(uow, tutor_id)[0],
            write=False,
            ids={"tutor_id": tutor_id},
        )

    def open_times(
        self,
        tutor_id: str,
        start: datetime,
        end: datetime,
        viewer_tz: str | ZoneInfo = "UTC",
    ) -> list[datetime]:
        """Bookable start times of ``tutor_id`` in ``[start, end)``, in ``viewer_tz``.

        Reads only the lessons that can touch the window (and the whole local days of a
        daily cap), however long the tutor's calendar is.
        """
        check_id(tutor_id, "tutor_id")
        check_instant(start, "start")
        check_instant(end, "end")
        zone(viewer_tz)

        def query(uow: UnitOfWork, now: datetime) -> list[datetime]:
            schedule, longest = load_schedule(uow, tutor_id)
            window = busy_window(schedule, start, end, now=now, longest=longest)
            spans = [] if window is None else [window]
            busy = read_busy(uow, tutor_id, spans, longest)
            return open_times(schedule, busy, start, end, now=now, viewer_tz=viewer_tz)

        return self._run(query, write=False, ids={"tutor_id": tutor_id})

    def booked_times(self, tutor_id: str, start: datetime, end: datetime) -> list[Busy]:
        """The tutor's live lessons starting in ``[start, end)``, in time order (each
        with its slot id; the booking is read from the slot when needed)."""
        check_id(tutor_id, "tutor_id")
        check_instant(start, "start")
        check_instant(end, "end")
        if end <= start:
            raise InvalidTimeRange(f"booked_times: end {end} is not after start {start}")

        def query(uow: UnitOfWork, now: datetime) -> list[Busy]:
            _, longest = load_schedule(uow, tutor_id)
            found = read_lessons(uow, tutor_id, start, end, longest)
            return [b for b in found if b.start < end]

        return self._run(query, write=False, ids={"tutor_id": tutor_id})

    def book(self, tutor_id: str, student_id: str, start: datetime) -> OneOnOneLesson:
        """Book the tutor at ``start`` (one of the open times), or raise
        ``TimeNotAvailable``."""
        check_id(tutor_id, "tutor_id")
        check_id(student_id, "student_id")
        check_instant(start, "start")
        return self._run(
            lambda uow, now: self._book_all(uow, now, tutor_id, student_id, [start]),
            ids={"tutor_id": tutor_id, "student_id": student_id},
        )[0]

    def book_weekly(
        self, tutor_id: str, student_id: str, first_start: datetime, weeks: int
    ) -> list[OneOnOneLesson]:
        """The same wall-clock time in the tutor's zone, weekly for ``weeks`` weeks, all or
        nothing: every occurrence is checked, and the error names each one that is not
        free."""
        check_id(tutor_id, "tutor_id")
        check_id(student_id, "student_id")
        check_instant(first_start, "first_start")
        check_int(weeks, "weeks", low=1, high=MAX_WEEKS)

        def command(uow: UnitOfWork, now: datetime) -> list[OneOnOneLesson]:
            schedule, _ = load_schedule(uow, tutor_id)
            tz = schedule.tz
            local = first_start.astimezone(tz)
            starts: list[datetime] = []
            missing: list[datetime] = []
            for k in range(weeks):
                day = local.date() + timedelta(weeks=k)
                at = localize(day, local.time().replace(tzinfo=None), tz)
                if at is None:
                    missing.append(local + timedelta(weeks=k))
                else:
                    starts.append(at)
            if missing:
                raise TimeNotAvailable(tutor_id, missing)
            return self._book_all(uow, now, tutor_id, student_id, starts)

        return self._run(command, ids={"tutor_id": tutor_id, "student_id": student_id})

    def cancel(self, booking_id: str, *, reason_code: str | None = None) -> Booking:
        """Cancel a 1-on-1 lesson; the bus's handlers free the tutor's time and close the
        lesson's slot, as they do whichever service cancels it. ``reason_code`` is the
        school's code for why (it travels on ``SeatReleased``)."""
        check_id(booking_id, "booking_id")
        check_reason_code(reason_code)

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            slot, booking = locked_seat(uow, booking_id)
            if not booking.holds_seat:
                raise InvalidTransition(f"booking {booking_id!r} is already cancelled")
            if uow.records.get(LESSONS, booking.slot_id) is None:
                raise InvalidTransition(f"booking {booking_id!r} is not a 1-on-1 lesson")
            return slot.cancel(
                booking_id,
                now=now,
                new_id=self._new_id,
                student_id=booking.student_id,
                reason_code=reason_code,
            )

        return self._run(command, ids={"booking_id": booking_id})

    def migrate_calendars(self) -> int:
        """:meth:`migrate_calendar` for every tutor holding an old calendar document, and
        every lesson row filed under its indexes again (a one-off upgrade step: it reads
        every lesson); returns how many lessons were filed."""
        tutors = self._run(
            lambda uow, now: [key for key, _ in uow.records.list(CALENDARS)], write=False
        )
        migrated = sum(self.migrate_calendar(tutor_id) for tutor_id in tutors)

        def refile(uow: UnitOfWork, slot_id: str, row: dict[str, Any]) -> None:
            busy = Busy(
                start=from_micros(row["start_us"]),
                end=from_micros(row["end_us"]),
                slot_id=slot_id,
                booking_id=row["booking_id"],
            )
            file_lesson(uow, row["tutor_id"], busy)

        return migrated + self._refile_all(LESSONS, refile)

    def migrate_calendar(self, tutor_id: str) -> int:
        """Move a tutor's calendar document of earlier releases into lesson rows; returns
        how many live lessons were filed (lessons whose seat was released meanwhile are
        dropped). Run once per tutor after upgrading; a second run finds nothing."""
        check_id(tutor_id, "tutor_id")

        def command(uow: UnitOfWork, now: datetime) -> int:
            schedule, longest = load_schedule(uow, tutor_id)  # locks the tutor
            legacy = uow.records.get(CALENDARS, tutor_id)
            if legacy is None:
                return 0
            filed = 0
            for item in BusyIndex.from_record(legacy):
                if _live(uow, item):
                    file_lesson(uow, tutor_id, item)
                    longest = max(longest, item.end - item.start)
                    filed += 1
            save_schedule(uow, schedule, longest)
            uow.records.delete(CALENDARS, tutor_id)
            return filed

        return self._run(command, ids={"tutor_id": tutor_id})

    # --- internals --------------------------------------------------------------------

    def _book_all(
        self,
        uow: UnitOfWork,
        now: datetime,
        tutor_id: str,
        student_id: str,
        starts: list[datetime],
    ) -> list[OneOnOneLesson]:
        schedule, longest = load_schedule(uow, tutor_id)  # locks the tutor first
        spans = [
            w
            for s in starts
            if (w := busy_window(schedule, s, s + _TICK, now=now, longest=longest)) is not None
        ]
        busy = read_busy(uow, tutor_id, spans, longest)
        refused = [s for s in starts if not _is_open(schedule, busy, s, now)]
        if refused:
            raise TimeNotAvailable(tutor_id, refused)
        lessons = []
        for start in starts:
            if not _is_open(schedule, busy, start, now):  # e.g. max sessions per day reached
                raise TimeNotAvailable(tutor_id, [start])
            slot = Slot.create(
                slot_id=self._new_id(),
                course_id=self.course_id,
                start=start,
                end=start + schedule.session,
                capacity=1,
                tutor_id=tutor_id,
                now=now,
            )
            uow.slots.add(slot)
            booking = slot.book(student_id, now=now, new_id=self._new_id)
            lesson = Busy(start=slot.start, end=slot.end, slot_id=slot.id, booking_id=booking.id)
            busy.add(lesson)
            file_lesson(uow, tutor_id, lesson)
            room = self.room_for(slot) if self.room_for is not None else None
            if room is not None:
                # stored with the lesson: its notices, reminders and .ics event carry it
                file_room(uow, slot.id, room, slot.start)
            lessons.append(
                OneOnOneLesson(
                    booking=booking,
                    slot_id=slot.id,
                    tutor_id=tutor_id,
                    start=slot.start,
                    end=slot.end,
                    room=room,
                )
            )
            uow.record_events(
                [
                    OneOnOneBooked(
                        occurred_at=now,
                        tutor_id=tutor_id,
                        student_id=student_id,
                        booking_id=booking.id,
                        slot_id=slot.id,
                        start=slot.start,
                        room=room,
                    )
                ]
            )
        return lessons


_TICK = timedelta(microseconds=1)


def _is_open(schedule: TutorSchedule, busy: BusyIndex, start: datetime, now: datetime) -> bool:
    window = open_times(schedule, busy, start, start + _TICK, now=now, viewer_tz=zone("UTC"))
    return any(t == start for t in window)


def _live(uow: UnitOfWork, item: Busy) -> bool:
    """Does the lesson of a legacy calendar entry still hold its seat?"""
    try:
        slot = uow.slots.get(item.slot_id)
        booking = uow.bookings.get(item.booking_id) if item.booking_id else None
    except (SlotNotFound, BookingNotFound):
        return False
    return slot.status is SlotStatus.OPEN and booking is not None and booking.holds_seat
