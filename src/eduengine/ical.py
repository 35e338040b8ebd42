"""iCalendar (.ics) export of a student's or a tutor's bookings, via ``icalendar``.

Each booking is one VEVENT with a stable UID (from its booking id) and its slot's time
zone; a series booked as a whole is ONE VEVENT with the series' RRULE, and EXDATEs for
every session the student does not hold; cancelled bookings stay in the feed with
``STATUS:CANCELLED`` so calendar apps remove them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar

from eduengine.booking.model import Booking, BookingStatus, Slot, SlotStatus
from eduengine.booking.series import Series
from eduengine.ports import UnitOfWork
from eduengine.service import ServiceBase

PRODID = "-//eduengine//bookings//EN"


def _status(booking: Booking) -> str:
    return "CANCELLED" if booking.status is BookingStatus.CANCELLED else "CONFIRMED"


def _when(value: datetime) -> datetime:
    # Keep named zones (TZID + VTIMEZONE); anything else is written in UTC.
    return value if isinstance(value.tzinfo, ZoneInfo) else value.astimezone(UTC)


def _calendar(name: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    return cal


def build_calendar(
    *,
    name: str,
    owner_id: str,
    bookings: Sequence[Booking],
    slots: Mapping[str, Slot],
    series: Mapping[str, Series],
    stamp: datetime,
) -> bytes:
    """The .ics bytes for ``bookings`` (with their slots and series looked up by id)."""
    cal = _calendar(name)
    by_series: dict[str, list[Booking]] = defaultdict(list)
    for booking in bookings:
        if booking.series_id is not None and booking.series_id in series:
            by_series[booking.series_id].append(booking)
            continue
        slot = slots[booking.slot_id]
        event = icalendar.Event()
        event.add("uid", f"{booking.id}@eduengine")
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", _when(slot.start))
        event.add("dtend", _when(slot.end))
        event.add("summary", slot.course_id)
        event.add("status", _status(booking))
        if slot.tutor_id:
            event.add("x-eduengine-tutor", slot.tutor_id)
        event.add("x-eduengine-slot", slot.id)
        cal.add_component(event)
    for series_id, held in sorted(by_series.items()):
        cal.add_component(_series_event(series[series_id], held, slots, owner_id, stamp))
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _series_event(
    series: Series,
    held: Sequence[Booking],
    slots: Mapping[str, Slot],
    owner_id: str,
    stamp: datetime,
) -> icalendar.Event:
    active = {b.slot_id for b in held if b.status is not BookingStatus.CANCELLED}
    event = icalendar.Event()
    event.add("uid", f"series-{series.id}-{owner_id}@eduengine")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", _when(series.dtstart))
    event.add("dtend", _when(series.dtstart + series.duration))
    event.add("summary", series.course_id)
    event.add("rrule", icalendar.vRecur.from_ical(series.rrule.removeprefix("RRULE:")))
    excluded: list[datetime] = []
    for ex in series.exdates:
        if isinstance(ex, datetime):
            excluded.append(_when(ex))
        elif isinstance(ex, date):
            start = series.dtstart
            excluded.append(_when(datetime.combine(ex, start.timetz())))
    excluded += [_when(slots[sid].start) for sid in series.slot_ids if sid not in active]
    if excluded:
        event.add("exdate", sorted(set(excluded)))
    event.add("status", "CONFIRMED" if active else "CANCELLED")
    event.add("x-eduengine-series", series.id)
    return event


class CalendarService(ServiceBase):
    """.ics feeds for students and tutors.

    >>> from eduengine import InMemoryStore
    >>> CalendarService(InMemoryStore().unit_of_work).student_calendar("ann")[:15]
    b'BEGIN:VCALENDAR'
    """

    def student_calendar(self, student_id: str) -> bytes:
        def query(uow: UnitOfWork, now: datetime) -> bytes:
            bookings = uow.bookings.for_student(student_id)
            return self._build(uow, f"Lessons of {student_id}", student_id, bookings, now)

        return self._run(query, write=False)

    def tutor_calendar(self, tutor_id: str) -> bytes:
        """One event per slot the tutor teaches, with how many students hold a seat."""

        def query(uow: UnitOfWork, now: datetime) -> bytes:
            cal = _calendar(f"Teaching of {tutor_id}")
            for slot in uow.slots.get_many(uow.slots.ids_for_tutor(tutor_id)):
                event = icalendar.Event()
                event.add("uid", f"slot-{slot.id}@eduengine")
                event.add("dtstamp", now.astimezone(UTC))
                event.add("dtstart", _when(slot.start))
                event.add("dtend", _when(slot.end))
                seated = len(slot.bookings)
                event.add("summary", f"{slot.course_id} ({seated}/{slot.capacity} booked)")
                cancelled = slot.status is SlotStatus.CANCELLED or seated == 0
                event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
                event.add("x-eduengine-slot", slot.id)
                cal.add_component(event)
            cal.add_missing_timezones()
            return bytes(cal.to_ical())

        return self._run(query, write=False)

    @staticmethod
    def _build(
        uow: UnitOfWork,
        name: str,
        owner_id: str,
        bookings: Sequence[Booking],
        now: datetime,
    ) -> bytes:
        slots = {sid: uow.slots.get(sid) for sid in sorted({b.slot_id for b in bookings})}
        series: dict[str, Series] = {}
        for sid in sorted({b.series_id for b in bookings if b.series_id}):
            series[sid] = uow.series.get(sid)
            for session in uow.slots.get_many(series[sid].slot_ids):
                slots[session.id] = session
        return build_calendar(
            name=name,
            owner_id=owner_id,
            bookings=bookings,
            slots=slots,
            series=series,
            stamp=now,
        )
