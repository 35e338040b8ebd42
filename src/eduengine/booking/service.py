"""Commands and queries of the booking core: slots, series, seats, waitlists, offers.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import BookingService, FixedClock, InMemoryStore
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
>>> slot = svc.create_slot("math", clock.now() + timedelta(days=1),
...                        clock.now() + timedelta(days=1, hours=1), capacity=1)
>>> svc.book(slot.id, "ann").status.value
'confirmed'
>>> svc.get_slot(slot.id).seats_left
0

The service is composed of one mixin per purpose: :mod:`~eduengine.booking.seats`
(booking, cancelling, capacity, attendance) and :mod:`~eduengine.booking.waitlist`
(waitlists, offers and their expiry); creating slots and series and the queries are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Unpack

from eduengine.booking import events as ev
from eduengine.booking.model import (
    Booking,
    Slot,
    WaitlistMode,
    check_capacity,
    check_span,
)
from eduengine.booking.seats import SeatService
from eduengine.booking.series import Series, check_exdates, check_series_id
from eduengine.kernel.inputs import (
    check_id,
    check_instant,
    check_optional_id,
    check_optional_instant,
)
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceOptions


class BookingService(SeatService):
    """Commands and queries of the booking core (see :class:`ServiceBase` for arguments)."""

    logger_name = "eduengine.booking"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        #: slots this service saw full (a hint only: every refusal is re-read)
        self._full_slots: set[str] = set()

    # --- commands ---------------------------------------------------------------------

    def create_slot(
        self,
        course_id: str,
        start: datetime,
        end: datetime,
        capacity: int,
        *,
        slot_id: str | None = None,
        tutor_id: str | None = None,
        waitlist_mode: WaitlistMode = WaitlistMode.AUTO,
        offer_ttl: timedelta = timedelta(hours=2),
        opens_at: datetime | None = None,
    ) -> Slot:
        """Create an open slot with ``capacity`` seats; returns a copy of it.

        With ``opens_at`` (rush booking) seats can be booked only from that instant on.
        """
        check_id(course_id, "course_id")
        check_instant(start, "start")
        check_instant(end, "end")
        check_capacity(capacity)
        check_optional_id(slot_id, "slot_id")
        check_optional_id(tutor_id, "tutor_id")
        check_span(offer_ttl, "offer_ttl")
        check_optional_instant(opens_at, "opens_at")

        def command(uow: UnitOfWork, now: datetime) -> Slot:
            slot = Slot.create(
                slot_id=slot_id if slot_id is not None else self._new_id(),
                course_id=course_id,
                start=start,
                end=end,
                capacity=capacity,
                tutor_id=tutor_id,
                waitlist_mode=waitlist_mode,
                offer_ttl=offer_ttl,
                opens_at=opens_at,
                now=now,
            )
            uow.slots.add(slot)
            return slot.clone()

        return self._run(
            command, ids={"course_id": course_id, "slot_id": slot_id, "tutor_id": tutor_id}
        )

    def create_series(
        self,
        course_id: str,
        rrule: str,
        dtstart: datetime,
        duration: timedelta,
        capacity: int,
        *,
        exdates: Sequence[datetime | date] = (),
        series_id: str | None = None,
        tutor_id: str | None = None,
        waitlist_mode: WaitlistMode = WaitlistMode.AUTO,
        offer_ttl: timedelta = timedelta(hours=2),
    ) -> Series:
        """Create a repeating timetable and one slot per session.

        ``rrule`` is an RFC 5545 rule such as ``"FREQ=WEEKLY;BYDAY=WE;COUNT=10"``;
        ``dtstart`` (aware, in the timetable's zone) is the first session's start.
        """
        check_id(course_id, "course_id")
        check_instant(dtstart, "dtstart")
        check_span(duration, "duration")
        check_capacity(capacity)
        check_exdates(exdates)
        if series_id is not None:
            check_series_id(series_id)
        check_optional_id(tutor_id, "tutor_id")
        check_span(offer_ttl, "offer_ttl")

        def command(uow: UnitOfWork, now: datetime) -> Series:
            series, slots = Series.create(
                series_id=series_id if series_id is not None else self._new_id(),
                course_id=course_id,
                rrule=rrule,
                dtstart=dtstart,
                duration=duration,
                capacity=capacity,
                exdates=exdates,
                tutor_id=tutor_id,
                waitlist_mode=waitlist_mode,
                offer_ttl=offer_ttl,
                now=now,
            )
            uow.series.add(series)
            for slot in slots:
                uow.slots.add(slot)
            uow.record_events(
                [
                    ev.SeriesCreated(
                        occurred_at=now,
                        series_id=series.id,
                        course_id=course_id,
                        slot_ids=series.slot_ids,
                    )
                ]
            )
            return series

        return self._run(
            command, ids={"course_id": course_id, "series_id": series_id, "tutor_id": tutor_id}
        )

    # --- queries ----------------------------------------------------------------------

    def get_slot(self, slot_id: str) -> Slot:
        check_id(slot_id, "slot_id")
        return self._run(
            lambda uow, now: uow.slots.get(slot_id).clone(), write=False, ids={"slot_id": slot_id}
        )

    def get_series(self, series_id: str) -> Series:
        check_id(series_id, "series_id")
        return self._run(
            lambda uow, now: uow.series.get(series_id), write=False, ids={"series_id": series_id}
        )

    def get_booking(self, booking_id: str) -> Booking:
        check_id(booking_id, "booking_id")
        return self._run(
            lambda uow, now: uow.bookings.get(booking_id),
            write=False,
            ids={"booking_id": booking_id},
        )

    def bookings_for_student(self, student_id: str) -> list[Booking]:
        check_id(student_id, "student_id")
        return self._run(
            lambda uow, now: uow.bookings.for_student(student_id),
            write=False,
            ids={"student_id": student_id},
        )
