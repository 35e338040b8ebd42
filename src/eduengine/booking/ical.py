"""iCalendar (.ics) export of a student's or a tutor's bookings, via ``icalendar``.

Each booking is one VEVENT with a stable UID (from its booking id) in its slot's own time
zone; a series booked as a whole is ONE VEVENT with the series' RRULE, and EXDATEs for
every session the student does not hold; cancelled bookings stay in the feed with
``STATUS:CANCELLED`` and a higher ``SEQUENCE`` so calendar apps remove them.

What an event says about its course (SUMMARY, DESCRIPTION, LOCATION, URL) comes from the
host's course catalog (:class:`CourseInfo` per course id, as a mapping or a function);
a course the host says nothing about is summarised by its id. A lesson with a room
(:mod:`eduengine.booking.rooms`, a 1-on-1 lesson's join link) has it as LOCATION, and as
URL when it is a link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import icalendar

from eduengine.booking import feed_tokens as tokens
from eduengine.booking.model import Booking, BookingStatus, Slot, SlotStatus
from eduengine.booking.rooms import room_of
from eduengine.booking.series import Series, session_end
from eduengine.errors import InvalidInput
from eduengine.kernel.clock import in_own_zone
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import SYSTEM, Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase

PRODID = "-//eduengine//bookings//EN"


def _text(name: str, value: object, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be a non-empty string, got {value!r}")


@attrs.frozen(kw_only=True)
class CourseInfo:
    """What a calendar event says about a course: its ``title`` (SUMMARY), and
    optionally a ``description``, a ``location`` (a classroom, an address, a meeting
    room) and a ``url`` (the course page, or the class's usual join link).

    >>> CourseInfo(title="Python 101", url="https://school.example/py").title
    'Python 101'
    """

    title: str
    description: str | None = None
    location: str | None = None
    url: str | None = None

    def __attrs_post_init__(self) -> None:
        _text("title", self.title, optional=False)
        for name in ("description", "location", "url"):
            _text(name, getattr(self, name))


#: the host's course data: a mapping of course id to :class:`CourseInfo`, or a function
#: that answers for a course id (``None``: nothing known, the id is shown)
CourseCatalog = Mapping[str, CourseInfo] | Callable[[str], "CourseInfo | None"]


def course_info(catalog: CourseCatalog | None, course_id: str) -> CourseInfo | None:
    """What ``catalog`` says about ``course_id`` (``None``: nothing)."""
    if catalog is None:
        return None
    found = catalog.get(course_id) if isinstance(catalog, Mapping) else catalog(course_id)
    if found is not None and not isinstance(found, CourseInfo):
        raise InvalidInput(f"the course catalog gave {found!r} for {course_id!r}, not CourseInfo")
    return found


def _is_link(text: str) -> bool:
    scheme, sep, rest = text.partition(":")
    return bool(sep and rest and scheme.isascii() and scheme.isalpha())


def _describe(
    event: icalendar.Event,
    course_id: str,
    info: CourseInfo | None,
    room: str | None = None,
    *,
    suffix: str = "",
) -> None:
    """SUMMARY, DESCRIPTION, LOCATION and URL of an event about ``course_id``."""
    event.add("summary", (info.title if info is not None else course_id) + suffix)
    if info is not None and info.description:
        event.add("description", info.description)
    location = room or (info.location if info is not None else None)
    if location:
        event.add("location", location)
    url = room if room is not None and _is_link(room) else None
    url = url or (info.url if info is not None else None)
    if url:
        event.add("url", url)


def _status(booking: Booking) -> str:
    return "CANCELLED" if booking.status is BookingStatus.CANCELLED else "CONFIRMED"


def _sequence(booking: Booking) -> int:
    # Derived from what is stored, so every export of the same state says the same: a
    # booking changes once, when it is cancelled (a reschedule cancels the old booking).
    return 1 if booking.status is BookingStatus.CANCELLED else 0


class _Feed:
    """One calendar being written: it knows how each zone is named in it.

    A time in an IANA zone is written with its ``TZID`` (dateutil and pytz zones too, by
    their name); in a fixed offset with a ``TZID`` of its own and a one-rule VTIMEZONE; in
    UTC with ``Z``. A wall time a ``TZID`` cannot name (the second 01:30 of a night the
    clocks go back, a time in the spring gap) is written in UTC.
    """

    def __init__(self, name: str) -> None:
        self.cal = icalendar.Calendar()
        self.cal.add("prodid", PRODID)
        self.cal.add("version", "2.0")
        self.cal.add("x-wr-calname", name)
        self._fixed: dict[str, timedelta] = {}
        self._days: list[date] = []

    def local(self, value: datetime) -> datetime:
        """``value`` as the feed writes it with a TZID (or in UTC)."""
        own = in_own_zone(value)
        self._days.append(own.date())
        tz = own.tzinfo
        if isinstance(tz, timezone):
            offset = own.utcoffset()
            if not offset:
                return own.astimezone(UTC)
            self._fixed[str(own.tzname())] = offset or timedelta(0)
            return own
        return own if isinstance(tz, ZoneInfo) else own.astimezone(UTC)

    def exact(self, value: datetime) -> datetime:
        """Like :meth:`local`, but in UTC where the wall time would be read as another
        instant."""
        own = self.local(value)
        first = own.replace(fold=0)
        same = first.astimezone(UTC).astimezone(own.tzinfo).replace(tzinfo=None)
        if first.utcoffset() != own.utcoffset() or same != own.replace(tzinfo=None):
            return own.astimezone(UTC)
        return own

    def span(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """DTSTART and DTEND of one event: local, or both in UTC where a client would
        compute another length from the wall times (a lesson across a DST change)."""
        first, last = self.exact(start), self.exact(end)
        if last.replace(tzinfo=None) - first.replace(tzinfo=None) != end.astimezone(
            UTC
        ) - start.astimezone(UTC) and (first.tzinfo is not UTC or last.tzinfo is not UTC):
            return start.astimezone(UTC), end.astimezone(UTC)
        return first, last

    def event(self, uid: str, stamp: datetime, start: datetime, end: datetime) -> icalendar.Event:
        """A VEVENT with its UID, DTSTAMP and the :meth:`span` of ``start`` to ``end``."""
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", stamp.astimezone(UTC))
        dtstart, dtend = self.span(start, end)
        event.add("dtstart", dtstart)
        event.add("dtend", dtend)
        return event

    def bytes(self) -> bytes:
        if self._days:
            self.cal.add_missing_timezones(
                first_date=min(self._days) - timedelta(days=400),
                last_date=max(self._days) + timedelta(days=400),
            )
        for tzid, offset in sorted(self._fixed.items()):
            self.cal.subcomponents.insert(0, _fixed_zone(tzid, offset))
        return bytes(self.cal.to_ical())


def _fixed_zone(tzid: str, offset: timedelta) -> icalendar.Timezone:
    zone = icalendar.Timezone()
    zone.add("tzid", tzid)
    rule = icalendar.TimezoneStandard()
    rule.add("dtstart", datetime(1970, 1, 1))
    rule.add("tzoffsetfrom", offset)
    rule.add("tzoffsetto", offset)
    rule.add("tzname", tzid)
    zone.add_component(rule)
    return zone


def build_calendar(
    *,
    name: str,
    owner_id: str,
    bookings: Sequence[Booking],
    slots: Mapping[str, Slot],
    series: Mapping[str, Series],
    stamp: datetime,
    courses: CourseCatalog | None = None,
    rooms: Mapping[str, str] | None = None,
) -> bytes:
    """The .ics bytes for ``bookings`` (with their slots and series looked up by id);
    ``courses`` describes the courses, ``rooms`` gives the room of a slot's lesson."""
    feed = _Feed(name)
    rooms = rooms or {}
    by_series: dict[str, list[Booking]] = defaultdict(list)
    for booking in bookings:
        if booking.series_id is not None and booking.series_id in series:
            by_series[booking.series_id].append(booking)
            continue
        slot = slots[booking.slot_id]
        event = feed.event(f"{booking.id}@eduengine", stamp, slot.start, slot.end)
        _describe(event, slot.course_id, course_info(courses, slot.course_id), rooms.get(slot.id))
        event.add("status", _status(booking))
        event.add("sequence", _sequence(booking))
        if slot.tutor_id:
            event.add("x-eduengine-tutor", slot.tutor_id)
        event.add("x-eduengine-slot", slot.id)
        feed.cal.add_component(event)
    for series_id, held in sorted(by_series.items()):
        info = course_info(courses, series[series_id].course_id)
        for event in _series_events(feed, series[series_id], held, slots, owner_id, stamp, info):
            feed.cal.add_component(event)
    return feed.bytes()


def _series_events(
    feed: _Feed,
    series: Series,
    held: Sequence[Booking],
    slots: Mapping[str, Slot],
    owner_id: str,
    stamp: datetime,
    info: CourseInfo | None = None,
) -> Iterable[icalendar.Event]:
    """The series' VEVENT, then one override per session a client would get wrong.

    ``DTSTART`` is the rule's first instance (a client counts it as a session even when
    the rule does not name its day), written in the series' own zone so the rule repeats
    on its wall clock. A client adds the length on the wall clock too (3 hours for a
    2-hour lesson from 00:30 on the night clocks go back), so each session whose real
    end differs from that gets an override (``RECURRENCE-ID``) with its exact end.
    """
    active = {b.slot_id for b in held if b.status is not BookingStatus.CANCELLED}
    sessions = {micros(slots[sid].start): slots[sid] for sid in series.slot_ids if sid in slots}
    found = series.occurrences()
    zone = found[0].start.tzinfo
    uid = f"series-{series.id}-{owner_id}@eduengine"
    status = "CONFIRMED" if active else "CANCELLED"
    sequence = len({b.slot_id for b in held} - active)
    first = found[0]
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", feed.local(first.wall.replace(tzinfo=zone)))
    end = feed.exact(session_end(first.start, series.duration))
    if end.tzinfo is not UTC and end.replace(tzinfo=None) - first.wall != series.duration:
        end = end.astimezone(UTC)  # a client subtracts wall times within one zone
    event.add("dtend", end)
    _describe(event, series.course_id, info)
    event.add("rrule", icalendar.vRecur.from_ical(series.rrule))
    excluded: list[datetime] = []
    overrides: list[icalendar.Event] = []
    for o in found:
        slot = sessions.get(micros(o.start))
        if slot is None or slot.id not in active:
            excluded.append(feed.local(o.wall.replace(tzinfo=zone)))
            continue
        exact_end = session_end(o.start, series.duration)
        on_wall = (o.wall + series.duration).replace(tzinfo=zone)
        if micros(on_wall) != micros(exact_end):
            override = icalendar.Event()
            override.add("uid", uid)
            override.add("dtstamp", stamp.astimezone(UTC))
            override.add("recurrence-id", feed.local(o.wall.replace(tzinfo=zone)))
            # both in UTC: a client takes their difference as the length
            override.add("dtstart", o.start.astimezone(UTC))
            override.add("dtend", exact_end.astimezone(UTC))
            _describe(override, series.course_id, info)
            override.add("status", status)
            override.add("sequence", sequence)
            override.add("x-eduengine-slot", slot.id)
            overrides.append(override)
    if excluded:
        event.add("exdate", excluded)
    event.add("status", status)
    event.add("sequence", sequence)
    event.add("x-eduengine-series", series.id)
    return [event, *overrides]


#: what a read of a student's calendar shows of her (the audit rows' fields)
CALENDAR_FIELDS = ("calendar",)


class CalendarService(ServiceBase):
    """.ics feeds for students and tutors.

    ``course_info`` is the host's course catalog (see :class:`CourseInfo`).

    >>> from eduengine import InMemoryStore
    >>> from eduengine.people import SYSTEM
    >>> CalendarService(InMemoryStore().unit_of_work).student_calendar("ann", actor=SYSTEM)[:15]
    b'BEGIN:VCALENDAR'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        course_info: CourseCatalog | None = None,
        **base: Any,
    ) -> None:
        super().__init__(uow, **base)
        if course_info is not None and not (
            isinstance(course_info, Mapping) or callable(course_info)
        ):
            raise InvalidInput(
                f"course_info must be a mapping or a function of a course id, got {course_info!r}"
            )
        self.course_info = course_info
        #: the access check of the reads (the school's, from School.build)
        self.gate = AccessGate()

    def student_calendar(self, student_id: str, *, actor: Actor | None = None) -> bytes:
        """The student's lessons as an .ics feed, read as ``actor`` (refused unless the
        actor may see her; audited: docs/privacy.md). A feed opened by its token
        (:meth:`feed_for_token`) is the library's own read, as ``SYSTEM``. Without an
        actor (deprecated) it is read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> bytes:
            shown(look, student_id)
            bookings = uow.bookings.for_student(student_id)
            return self._build(
                uow, f"Lessons of {student_id}", student_id, bookings, now, self.course_info
            )

        return self.gate.read(
            self._run, actor, CALENDAR_FIELDS, query, ids={"student_id": student_id}, records=True
        )

    def tutor_calendar(self, tutor_id: str) -> bytes:
        """One event per slot the tutor teaches, with how many students hold a seat."""
        check_id(tutor_id, "tutor_id")

        def query(uow: UnitOfWork, now: datetime) -> bytes:
            feed = _Feed(f"Teaching of {tutor_id}")
            for slot in uow.slots.get_many(uow.slots.ids_for_tutor(tutor_id)):
                event = feed.event(f"slot-{slot.id}@eduengine", now, slot.start, slot.end)
                seated = len(slot.bookings)
                _describe(
                    event,
                    slot.course_id,
                    course_info(self.course_info, slot.course_id),
                    room_of(uow, slot.id),
                    suffix=f" ({seated}/{slot.capacity} booked)",
                )
                # an open class is on the tutor's timetable whether or not anyone booked
                # yet; a 1-on-1 lesson whose student cancelled is a cancelled slot
                cancelled = slot.status is SlotStatus.CANCELLED
                event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
                event.add("sequence", 1 if cancelled else 0)
                event.add("x-eduengine-slot", slot.id)
                feed.cal.add_component(event)
            return feed.bytes()

        return self._run(query, write=False, ids={"tutor_id": tutor_id})

    # --- feed tokens: the secret in a feed's URL -----------------------------------------

    def student_feed_token(self, student_id: str) -> str:
        """A new secret token for the student's feed URL (``/calendar/<token>.ics``); the
        student's previous token stops working. Store it nowhere but in the URL you
        give the student: the school keeps only its digest.

        >>> from eduengine import InMemoryStore
        >>> calendar = CalendarService(InMemoryStore().unit_of_work)
        >>> token = calendar.student_feed_token("ann")
        >>> calendar.feed_for_token(token)[:15]
        b'BEGIN:VCALENDAR'
        >>> calendar.revoke_feed_token("student", "ann")
        True
        """
        check_id(student_id, "student_id")
        return self._run(
            lambda uow, now: tokens.issue(uow, tokens.STUDENT, student_id),
            ids={"student_id": student_id},
        )

    def tutor_feed_token(self, tutor_id: str) -> str:
        """A new secret token for the tutor's feed URL (the previous one stops working)."""
        check_id(tutor_id, "tutor_id")
        return self._run(
            lambda uow, now: tokens.issue(uow, tokens.TUTOR, tutor_id), ids={"tutor_id": tutor_id}
        )

    def revoke_feed_token(self, kind: str, owner_id: str) -> bool:
        """Stop the feed token of ``kind`` (``"student"`` or ``"tutor"``) ``owner_id``
        working; whether there was one."""
        check_id(owner_id, "owner_id")
        return self._run(
            lambda uow, now: tokens.revoke(uow, kind, owner_id), ids={"owner_id": owner_id}
        )

    def feed_owner(self, token: str) -> tuple[str, str]:
        """``(kind, owner id)`` of a live token, or
        :class:`~eduengine.errors.CalendarTokenNotFound` (HTTP 404)."""
        return self._run(lambda uow, now: tokens.owner_of(uow, token), write=False)

    def feed_for_token(self, token: str) -> bytes:
        """The .ics feed a token opens (a student's lessons or a tutor's teaching), or
        :class:`~eduengine.errors.CalendarTokenNotFound` for a token revoked, rotated or
        never issued."""
        kind, owner_id = self.feed_owner(token)
        if kind == tokens.TUTOR:
            return self.tutor_calendar(owner_id)
        # the token is the student's own link: the library reads for her, audited daily
        return self.student_calendar(owner_id, actor=SYSTEM)

    @staticmethod
    def _build(
        uow: UnitOfWork,
        name: str,
        owner_id: str,
        bookings: Sequence[Booking],
        now: datetime,
        courses: CourseCatalog | None = None,
    ) -> bytes:
        slots = {sid: uow.slots.get(sid) for sid in sorted({b.slot_id for b in bookings})}
        # only single lessons have rooms (a 1-on-1 lesson is one slot, never a series)
        rooms = {sid: room for sid in slots if (room := room_of(uow, sid)) is not None}
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
            courses=courses,
            rooms=rooms,
        )
