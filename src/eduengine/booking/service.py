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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar

from eduengine.booking import events as ev
from eduengine.booking.model import (
    Booking,
    BookingStatus,
    Slot,
    WaitlistMode,
    bookable_sessions,
    check_capacity,
    check_reason_code,
    check_span,
)
from eduengine.booking.series import Series, check_exdates, check_series_id
from eduengine.errors import (
    AlreadyBooked,
    BookingClosed,
    DomainError,
    EduEngineError,
    InvalidTransition,
    SeriesFull,
    SlotFull,
)
from eduengine.kernel.clock import Clock
from eduengine.kernel.ids import IdFactory
from eduengine.kernel.inputs import (
    check_id,
    check_instant,
    check_optional_id,
    check_optional_instant,
)
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase

T = TypeVar("T")


def _offers_due(slot: Slot, now: datetime) -> bool:
    return any(offer.expires_at <= now for offer in slot.offers.values())


class BookingService(ServiceBase):
    """Commands and queries of the booking core (see :class:`ServiceBase` for arguments)."""

    logger_name = "eduengine.booking"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
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

    #: how many full slots a service remembers for :meth:`book`'s read-only refusal
    FULL_HINTS = 1024

    def book(self, slot_id: str, student_id: str) -> Booking:
        """Book one seat (raises ``SlotFull``, ``AlreadyBooked``, ``BookingClosed`` ...).

        In a stampede most attempts meet a full slot. Once this service has seen a slot
        full, it first tries the booking on a read-only snapshot (no write lock on
        SQLite, no row lock on PostgreSQL): a refusal there is final, as of that
        snapshot, and costs no wait behind the writers; only an attempt the snapshot
        would accept takes the write path.
        """
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")

        due: set[str] = set()

        def attempt(uow: UnitOfWork, now: datetime) -> Booking:
            slot = self._slot(uow, slot_id, now, due)
            return slot.book(student_id, now=now, new_id=self._new_id)

        if slot_id in self._full_slots:
            try:
                self._run(attempt, write=False, ids={"slot_id": slot_id, "student_id": student_id})
            except SlotFull:
                self._expire_due(due)
                raise
            except EduEngineError:
                pass  # any other answer is the write path's to give, with its rules
            self._full_slots.discard(slot_id)
        try:
            return self._expiring(attempt, due, ids={"slot_id": slot_id, "student_id": student_id})
        except SlotFull:
            if len(self._full_slots) >= self.FULL_HINTS:
                self._full_slots.clear()
            self._full_slots.add(slot_id)
            raise

    def book_series(self, series_id: str, student_id: str) -> list[Booking]:
        """Book every session of a series still to come, all or nothing.

        If any session is full, ``SeriesFull`` names every full session and nothing is
        booked.
        """
        check_id(series_id, "series_id")
        check_id(student_id, "student_id")

        due: set[str] = set()

        def command(uow: UnitOfWork, now: datetime) -> list[Booking]:
            series = uow.series.get(series_id)
            sessions = bookable_sessions(uow.slots.get_many(series.slot_ids), now)
            due.update(s.id for s in sessions if _offers_due(s, now))
            if not sessions:
                raise BookingClosed(
                    series.slot_ids[-1], f"series {series_id!r} has no session left"
                )
            for slot in sessions:
                slot.expire_offers(now, self._new_id)
            for slot in sessions:
                if slot.holds_seat(student_id):
                    raise AlreadyBooked(slot.id, student_id)
            full = [s.id for s in sessions if s.seats_left <= 0 and student_id not in s.offers]
            if full:
                raise SeriesFull(series_id, full)
            return [
                s.book(student_id, now=now, new_id=self._new_id, series_id=series_id)
                for s in sessions
            ]

        return self._expiring(command, due, ids={"series_id": series_id, "student_id": student_id})

    def cancel(self, booking_id: str, *, reason_code: str | None = None) -> Booking:
        """Cancel a confirmed booking before its slot starts; the waitlist refills it.

        ``reason_code`` is the school's code for why (``"sick"``, ``"schedule_conflict"``
        ...); it travels on ``SeatReleased`` and is counted by the analytics.
        """
        check_id(booking_id, "booking_id")
        check_reason_code(reason_code)

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            # the unlocked read only finds the slot: a cancel racing this one may commit
            # before the slot lock is ours, so the booking is judged as read under it
            slot = uow.slots.get(uow.bookings.get(booking_id).slot_id)
            booking = uow.bookings.get(booking_id)
            if not booking.holds_seat:
                raise InvalidTransition(f"booking {booking_id!r} is already cancelled")
            return slot.cancel(
                booking_id,
                now=now,
                new_id=self._new_id,
                student_id=booking.student_id,
                reason_code=reason_code,
            )

        return self._run(command, ids={"booking_id": booking_id})

    def cancel_series(
        self, series_id: str, student_id: str, *, reason_code: str | None = None
    ) -> list[Booking]:
        """Cancel every seat ``student_id`` holds in the series' sessions still to come,
        all or nothing (sessions that started keep their seat); returns the cancelled
        bookings, in session order."""
        check_id(series_id, "series_id")
        check_id(student_id, "student_id")
        check_reason_code(reason_code)

        def command(uow: UnitOfWork, now: datetime) -> list[Booking]:
            series = uow.series.get(series_id)
            held = [
                (slot, slot.bookings[student_id])
                for slot in bookable_sessions(uow.slots.get_many(series.slot_ids), now)
                if student_id in slot.bookings
                and slot.bookings[student_id].status is BookingStatus.CONFIRMED
            ]
            if not held:
                raise InvalidTransition(
                    f"student {student_id!r} holds no seat to come in series {series_id!r}"
                )
            return [
                slot.cancel(
                    booking.id,
                    now=now,
                    new_id=self._new_id,
                    student_id=student_id,
                    reason_code=reason_code,
                )
                for slot, booking in held
            ]

        return self._run(command, ids={"series_id": series_id, "student_id": student_id})

    def join_waitlist(self, slot_id: str, student_id: str) -> int:
        """Queue for a full slot; returns the 1-based position."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        due: set[str] = set()
        return self._expiring(
            lambda uow, now: self._slot(uow, slot_id, now, due).join_waitlist(
                student_id, now=now, new_id=self._new_id
            ),
            due,
            ids={"slot_id": slot_id, "student_id": student_id},
        )

    def leave_waitlist(self, slot_id: str, student_id: str) -> None:
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        self._run(
            lambda uow, now: uow.slots.get(slot_id).leave_waitlist(student_id, now=now),
            ids={"slot_id": slot_id, "student_id": student_id},
        )

    def accept_offer(self, slot_id: str, student_id: str) -> Booking:
        """Take the seat offered; ``OfferNotFound`` once the offer expired (its seat is
        then passed on at once, though the accept is refused)."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        due: set[str] = set()
        return self._expiring(
            lambda uow, now: self._slot(uow, slot_id, now, due).accept_offer(
                student_id, now=now, new_id=self._new_id
            ),
            due,
            ids={"slot_id": slot_id, "student_id": student_id},
        )

    def decline_offer(self, slot_id: str, student_id: str) -> None:
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        due: set[str] = set()
        self._expiring(
            lambda uow, now: self._slot(uow, slot_id, now, due).decline_offer(
                student_id, now=now, new_id=self._new_id
            ),
            due,
            ids={"slot_id": slot_id, "student_id": student_id},
        )

    def expire_offers(self) -> int:
        """Withdraw every offer past its expiry and pass the seats on; returns how many.

        Safe to call from several workers: each slot is handled under its lock.
        """

        def command(uow: UnitOfWork, now: datetime) -> int:
            return sum(
                uow.slots.get(sid).expire_offers(now, self._new_id)
                for sid in uow.slots.ids_with_offers_due(now)
            )

        return self._run(command)

    def change_capacity(self, slot_id: str, capacity: int) -> None:
        """Raise or lower a slot's capacity (never below the seats taken)."""
        check_id(slot_id, "slot_id")
        check_capacity(capacity)
        due: set[str] = set()
        self._expiring(
            lambda uow, now: self._slot(uow, slot_id, now, due).change_capacity(
                capacity, now=now, new_id=self._new_id
            ),
            due,
            ids={"slot_id": slot_id},
        )

    # --- offers met by a refused command ---------------------------------------------

    @staticmethod
    def _slot(uow: UnitOfWork, slot_id: str, now: datetime, due: set[str]) -> Slot:
        """Load (and lock) a slot, noting in ``due`` whether it holds offers due."""
        slot = uow.slots.get(slot_id)
        if _offers_due(slot, now):
            due.add(slot_id)
        return slot

    def _expiring(
        self,
        command: Callable[[UnitOfWork, datetime], T],
        due: set[str],
        *,
        ids: Mapping[str, str | None] | None = None,
    ) -> T:
        """Run a slot command whose slots note their due offers in ``due``.

        The command expires due offers itself, but a refusal rolls that back with the
        rest; the seats would then stay held by dead offers until the sweep. So a refused
        command that met due offers has them expired in a unit of work of their own (what
        the sweep would do) before the refusal is raised.
        """
        try:
            return self._run(command, ids=ids)
        except DomainError:
            self._expire_due(due)
            raise

    def _expire_due(self, due: set[str]) -> None:
        if not due:
            return
        slot_ids = sorted(due)

        def expire_due(uow: UnitOfWork, now: datetime) -> int:
            return sum(s.expire_offers(now, self._new_id) for s in uow.slots.get_many(slot_ids))

        # the refusal is the answer; if this fails (logged by _run), the sweep frees them
        with contextlib.suppress(EduEngineError):
            self._run(expire_due)

    def mark_attended(self, booking_id: str) -> Booking:
        return self._mark(booking_id, BookingStatus.ATTENDED)

    def mark_no_show(self, booking_id: str) -> Booking:
        return self._mark(booking_id, BookingStatus.NO_SHOW)

    def _mark(self, booking_id: str, status: BookingStatus) -> Booking:
        check_id(booking_id, "booking_id")

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            # as in cancel: judge the booking under the slot's lock
            slot = uow.slots.get(uow.bookings.get(booking_id).slot_id)
            if not uow.bookings.get(booking_id).holds_seat:
                raise InvalidTransition(f"booking {booking_id!r} is cancelled")
            return slot.mark_attendance(booking_id, status, now=now)

        return self._run(command, ids={"booking_id": booking_id})

    def cancel_slot(self, slot_id: str, *, reason_code: str | None = None) -> list[Booking]:
        """Cancel a whole session; every seat is released (reason ``slot_cancelled``, with
        the school's ``reason_code`` when given, e.g. ``"tutor_sick"``)."""
        check_id(slot_id, "slot_id")
        check_reason_code(reason_code)
        return self._run(
            lambda uow, now: uow.slots.get(slot_id).cancel_slot(now=now, reason_code=reason_code),
            ids={"slot_id": slot_id},
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

    def waitlist_position(self, slot_id: str, student_id: str) -> int | None:
        """1-based waitlist position, or ``None`` when the student is not waiting."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        return self._run(
            lambda uow, now: uow.slots.get(slot_id).waitlist_position(student_id),
            write=False,
            ids={"slot_id": slot_id, "student_id": student_id},
        )
