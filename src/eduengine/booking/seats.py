"""Seats: booking a slot or a whole series, cancelling, changing a slot's capacity,
cancelling a session and marking attendance (part of
:class:`eduengine.booking.service.BookingService`)."""

from __future__ import annotations

from datetime import datetime

from eduengine.booking.model import (
    Booking,
    BookingStatus,
    Slot,
    bookable_sessions,
    check_capacity,
    check_reason_code,
)
from eduengine.booking.waitlist import WaitlistService, _offers_due
from eduengine.errors import (
    AlreadyBooked,
    BookingClosed,
    EduEngineError,
    InvalidTransition,
    SeriesFull,
    SlotFull,
)
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_id
from eduengine.service_layer.idempotency import check_key, once
from eduengine.service_layer.ports import JsonValue, UnitOfWork


def locked_seat(uow: UnitOfWork, booking_id: str) -> tuple[Slot, Booking]:
    """A booking's slot, loaded (and so locked) first, and the booking as read under that
    lock. The unlocked read only finds the slot: a command racing this one (a second
    cancel) may commit before the lock is ours, so the booking is judged as read here."""
    slot = uow.slots.get(uow.bookings.get(booking_id).slot_id)
    return slot, uow.bookings.get(booking_id)


def booking_out(booking: Booking) -> dict[str, JsonValue]:
    """A booking as JSON (the answer an idempotency key keeps)."""
    return {
        "id": booking.id,
        "student_id": booking.student_id,
        "slot_id": booking.slot_id,
        "status": booking.status.value,
        "created_at": dt_out(booking.created_at),
        "series_id": booking.series_id,
    }


def booking_in(data: JsonValue) -> Booking:
    """The booking :func:`booking_out` wrote."""
    return Booking(
        id=data["id"],
        student_id=data["student_id"],
        slot_id=data["slot_id"],
        status=BookingStatus(data["status"]),
        created_at=dt_in(data["created_at"]),
        series_id=data["series_id"],
    )


def bookings_out(bookings: list[Booking]) -> JsonValue:
    return [booking_out(b) for b in bookings]


def bookings_in(data: JsonValue) -> list[Booking]:
    return [booking_in(b) for b in data]


class SeatService(WaitlistService):
    """Booking, cancelling and attendance; expires the offers its commands meet."""

    #: slots this service saw full (a hint only: every refusal is re-read); set by the
    #: facade's ``__init__``
    _full_slots: set[str]

    #: how many full slots a service remembers for :meth:`book`'s read-only refusal
    FULL_HINTS = 1024

    def book(
        self, slot_id: str, student_id: str, *, idempotency_key: str | None = None
    ) -> Booking:
        """Book one seat (raises ``SlotFull``, ``AlreadyBooked``, ``BookingClosed`` ...).

        With ``idempotency_key`` a retry with the same key returns the first answer (the
        same booking, as it was then) instead of ``AlreadyBooked``; see
        :mod:`eduengine.service_layer.idempotency`.

        In a stampede most attempts meet a full slot. Once this service has seen a slot
        full, it first tries the booking on a read-only snapshot (no write lock on
        SQLite, no row lock on PostgreSQL): a refusal there is final, as of that
        snapshot, and costs no wait behind the writers; only an attempt the snapshot
        would accept takes the write path.
        """
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")
        check_key(idempotency_key)
        request = {"command": "book", "slot_id": slot_id, "student_id": student_id}

        due: set[str] = set()

        def attempt(uow: UnitOfWork, now: datetime) -> Booking:
            def run() -> Booking:
                slot = self._slot(uow, slot_id, now, due, student_id)
                return slot.book(student_id, now=now, new_id=self._new_id)

            return once(
                uow, now, idempotency_key, request, run, encode=booking_out, decode=booking_in
            )

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

    def book_series(
        self, series_id: str, student_id: str, *, idempotency_key: str | None = None
    ) -> list[Booking]:
        """Book every session of a series still to come, all or nothing.

        If any session is full, ``SeriesFull`` names every full session and nothing is
        booked. ``idempotency_key``: as for :meth:`book`.
        """
        check_id(series_id, "series_id")
        check_id(student_id, "student_id")
        check_key(idempotency_key)
        request = {"command": "book_series", "series_id": series_id, "student_id": student_id}

        due: set[str] = set()

        def command(uow: UnitOfWork, now: datetime) -> list[Booking]:
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: book_all(uow, now),
                encode=bookings_out,
                decode=bookings_in,
            )

        def book_all(uow: UnitOfWork, now: datetime) -> list[Booking]:
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

    def cancel(
        self,
        booking_id: str,
        *,
        reason_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> Booking:
        """Cancel a confirmed booking before its slot starts; the waitlist refills it.

        ``reason_code`` is the school's code for why (``"sick"``, ``"schedule_conflict"``
        ...); it travels on ``SeatReleased`` and is counted by the analytics. With
        ``idempotency_key`` a retry after a lost answer returns the first answer (the
        cancelled booking) instead of ``InvalidTransition``.
        """
        check_id(booking_id, "booking_id")
        check_reason_code(reason_code)
        check_key(idempotency_key)
        request = {"command": "cancel", "booking_id": booking_id, "reason_code": reason_code}

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            return once(
                uow,
                now,
                idempotency_key,
                request,
                lambda: release(uow, now),
                encode=booking_out,
                decode=booking_in,
            )

        def release(uow: UnitOfWork, now: datetime) -> Booking:
            slot, booking = locked_seat(uow, booking_id)
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

    def mark_attended(self, booking_id: str) -> Booking:
        return self._mark(booking_id, BookingStatus.ATTENDED)

    def mark_no_show(self, booking_id: str) -> Booking:
        return self._mark(booking_id, BookingStatus.NO_SHOW)

    def _mark(self, booking_id: str, status: BookingStatus) -> Booking:
        check_id(booking_id, "booking_id")

        def command(uow: UnitOfWork, now: datetime) -> Booking:
            slot, booking = locked_seat(uow, booking_id)
            if not booking.holds_seat:
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
