"""Commands and queries of the booking core: slots, series, seats, waitlists, offers.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import BookingService, FixedClock, InMemoryStore
>>> from eduengine.people import SYSTEM
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
>>> slot = svc.create_slot("math", clock.now() + timedelta(days=1),
...                        clock.now() + timedelta(days=1, hours=1), capacity=1)
>>> svc.book(slot.id, "ann").status.value
'confirmed'
>>> svc.get_slot(slot.id, actor=SYSTEM).seats_left
0

The service is composed of one mixin per purpose: :mod:`~eduengine.booking.seats`
(booking, cancelling, capacity, attendance) and :mod:`~eduengine.booking.waitlist`
(waitlists, offers and their expiry); creating slots and series and the queries are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Unpack

import attrs

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
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor, mask_name
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceOptions

#: what a read of bookings shows of a student (the audit rows' fields)
BOOKINGS = ("bookings",)


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
        #: the access check of the reads of bookings (the school's, from School.build)
        self.gate = AccessGate()

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

    def get_slot(self, slot_id: str, *, actor: Actor | None = None) -> Slot:
        """A slot with its roster as ``actor`` sees it: the bookings, waitlist and
        offers of students the actor may not see carry a masked student id; refused when
        the actor may see none of its students; one audit row per student shown
        (docs/privacy.md). For seat counts alone read ``school.queries.snapshot``. Without
        an actor (deprecated) the roster is shown as before."""
        check_id(slot_id, "slot_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Slot:
            return _roster_as_seen(uow.slots.get(slot_id).clone(), look)

        return self.gate.read(
            self._run, actor, BOOKINGS, query, ids={"slot_id": slot_id}, records=True
        )

    def get_series(self, series_id: str) -> Series:
        check_id(series_id, "series_id")
        return self._run(
            lambda uow, now: uow.series.get(series_id), write=False, ids={"series_id": series_id}
        )

    def get_booking(self, booking_id: str, *, actor: Actor | None = None) -> Booking:
        """One booking, read as ``actor`` (refused unless the actor may see its
        student; audited). Without an actor (deprecated) it is read as before."""
        check_id(booking_id, "booking_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Booking:
            booking = uow.bookings.get(booking_id)
            shown(look, booking.student_id)
            return booking

        return self.gate.read(
            self._run, actor, BOOKINGS, query, ids={"booking_id": booking_id}, records=True
        )

    def bookings_for_student(
        self, student_id: str, *, actor: Actor | None = None
    ) -> list[Booking]:
        """A student's bookings, read as ``actor`` (refused unless the actor may see
        her; audited). Without an actor (deprecated) they are read as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[Booking]:
            shown(look, student_id)
            return uow.bookings.for_student(student_id)

        return self.gate.read(
            self._run, actor, BOOKINGS, query, ids={"student_id": student_id}, records=True
        )


def _roster_as_seen(slot: Slot, look: Look) -> Slot:
    """``slot`` (a copy) with the student ids the reader may not see masked; refused
    (through ``look``) when she may see none of them."""
    students = {b.student_id for b in slot.bookings.values()}
    students.update(w.student_id for w in slot.waitlist)
    students.update(o.student_id for o in slot.offers.values())
    hidden = {sid for sid in students if look(sid).refused}
    if not hidden:
        return slot
    if hidden == students:
        shown(look, next(iter(hidden)))

    def seen(sid: str) -> str:
        return mask_name(sid) or sid if sid in hidden else sid

    slot.bookings = {
        k: attrs.evolve(b, student_id=seen(b.student_id)) for k, b in slot.bookings.items()
    }
    slot.waitlist = [attrs.evolve(w, student_id=seen(w.student_id)) for w in slot.waitlist]
    slot.offers = {
        k: attrs.evolve(o, student_id=seen(o.student_id)) for k, o in slot.offers.items()
    }
    return slot
