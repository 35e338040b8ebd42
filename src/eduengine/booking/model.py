"""The booking core's pure domain: slots, seats (bookings), waitlists and seat offers.

Nothing here reads a clock or touches storage: the current time (``now``) and a source
of fresh ids (``new_id``) are arguments. The :class:`Slot` aggregate is the consistency
boundary: it owns its active seats, its waitlist and its outstanding offers, and it alone
enforces ``seats_taken <= capacity``.

>>> from datetime import datetime, timedelta, timezone
>>> import itertools
>>> ids = (f"b{i}" for i in itertools.count(1)).__next__
>>> t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> slot = Slot.create(slot_id="s1", course_id="math", start=t0 + timedelta(days=1),
...                    end=t0 + timedelta(days=1, hours=1), capacity=1)
>>> slot.book("ann", now=t0, new_id=ids).id
'b1'
>>> slot.seats_left
0
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import attrs

from eduengine.booking import events as ev
from eduengine.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingClosed,
    BookingNotFound,
    BookingNotOpen,
    CapacityBelowBookings,
    InvalidCapacity,
    InvalidInput,
    InvalidTimeRange,
    InvalidTransition,
    NotWaiting,
    OfferNotFound,
    SeatsAvailable,
    SlotFull,
)
from eduengine.kernel.clock import require_aware
from eduengine.kernel.ids import IdFactory as IdFactory
from eduengine.kernel.inputs import MAX_CAPACITY, MAX_DURATION, check_id


class SlotStatus(enum.Enum):
    OPEN = "open"
    CANCELLED = "cancelled"


class BookingStatus(enum.Enum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"

    @property
    def holds_seat(self) -> bool:
        return self is not BookingStatus.CANCELLED


class WaitlistMode(enum.Enum):
    """What happens when a seat frees and students are waiting.

    ``AUTO`` books the first waiting student at once; ``OFFER`` holds the seat for them
    (it counts against capacity) until they accept, decline, or the offer expires.
    """

    AUTO = "auto"
    OFFER = "offer"


def _check_id(name: str, value: str) -> None:
    check_id(value, name)


#: the longest reason code a cancellation or churn may carry
MAX_REASON_CODE = 64


def check_reason_code(value: object) -> str | None:
    """A school-defined reason code (``"sick"``, ``"price"`` ...): any short non-empty
    string, or ``None`` when no reason was given."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_REASON_CODE
        or not value.isprintable()  # NUL, control characters, lone surrogates
    ):
        raise InvalidInput(
            f"a reason code is a non-empty string of at most {MAX_REASON_CODE} printable "
            f"characters, got {value!r}"
        )
    return value


def check_span(value: object, what: str) -> timedelta:
    """``value`` if it is a positive ``timedelta`` of at most :data:`~eduengine.kernel.inputs.
    MAX_DURATION` (a lesson's length, an offer's time to live); else
    :class:`~eduengine.errors.InvalidTimeRange`.

    >>> check_span(timedelta(hours=1), "duration")
    datetime.timedelta(seconds=3600)
    >>> check_span(timedelta.max, "duration")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eduengine.errors.InvalidTimeRange: duration must be a positive timedelta of at most ...
    """
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_DURATION:
        raise InvalidTimeRange(
            f"{what} must be a positive timedelta of at most {MAX_DURATION.days} days, "
            f"got {value!r}"
        )
    return value


def check_capacity(value: object) -> int:
    """``value`` if it is a capacity: an ``int`` from 0 to :data:`~eduengine.kernel.inputs.
    MAX_CAPACITY`; else :class:`~eduengine.errors.InvalidCapacity`.

    >>> check_capacity(30)
    30
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise InvalidCapacity(
            f"capacity must be an integer from 0 to {MAX_CAPACITY}, got {value!r}"
        )
    return value


@attrs.frozen(kw_only=True)
class Booking:
    """One seat held by one student in one slot."""

    id: str
    student_id: str
    slot_id: str
    status: BookingStatus
    created_at: datetime
    series_id: str | None = None

    @property
    def holds_seat(self) -> bool:
        return self.status is not BookingStatus.CANCELLED


@attrs.frozen(kw_only=True)
class WaitlistEntry:
    student_id: str
    joined_at: datetime


@attrs.frozen(kw_only=True)
class Offer:
    """A freed seat held for one waiting student until ``expires_at``."""

    id: str
    student_id: str
    slot_id: str
    offered_at: datetime
    expires_at: datetime


@attrs.define(kw_only=True, eq=False, slots=False)
class Slot:
    """One session of a course at a time, with a number of seats.

    Build new slots with :meth:`create` (which validates); the plain constructor is for
    adapters rebuilding a slot from storage.
    """

    id: str
    course_id: str
    start: datetime
    end: datetime
    capacity: int
    tutor_id: str | None = None
    series_id: str | None = None
    status: SlotStatus = SlotStatus.OPEN
    waitlist_mode: WaitlistMode = WaitlistMode.AUTO
    offer_ttl: timedelta = timedelta(hours=2)
    #: rush booking: seats cannot be booked before this instant (``None``: open at once)
    opens_at: datetime | None = None
    version: int = 0
    #: active seats (confirmed, attended, no-show) by student id
    bookings: dict[str, Booking] = attrs.field(factory=dict)
    waitlist: list[WaitlistEntry] = attrs.field(factory=list)
    #: outstanding seat offers by student id
    offers: dict[str, Offer] = attrs.field(factory=dict)
    #: events raised since the slot was loaded; the unit of work collects them
    events: list[ev.DomainEvent] = attrs.field(factory=list)
    #: bookings written since the slot was loaded (by booking id); adapters persist them
    changed_bookings: dict[str, Booking] = attrs.field(factory=dict)
    changed: bool = False

    @classmethod
    def create(
        cls,
        *,
        slot_id: str,
        course_id: str,
        start: datetime,
        end: datetime,
        capacity: int,
        tutor_id: str | None = None,
        series_id: str | None = None,
        waitlist_mode: WaitlistMode = WaitlistMode.AUTO,
        offer_ttl: timedelta = timedelta(hours=2),
        opens_at: datetime | None = None,
        now: datetime | None = None,
    ) -> Slot:
        """Validate and build a new, empty, open slot."""
        _check_id("slot_id", slot_id)
        _check_id("course_id", course_id)
        require_aware("start", start)
        require_aware("end", end)
        # instants, not wall times: one zone's 01:30 GMT is after its 01:30 BST
        if end.astimezone(UTC) <= start.astimezone(UTC):
            raise InvalidTimeRange(f"slot {slot_id!r}: end {end} is not after start {start}")
        check_capacity(capacity)
        if not isinstance(waitlist_mode, WaitlistMode):
            raise InvalidInput(f"waitlist_mode must be a WaitlistMode, got {waitlist_mode!r}")
        check_span(offer_ttl, "offer_ttl")
        if opens_at is not None:
            require_aware("opens_at", opens_at)
            if opens_at.astimezone(UTC) >= start.astimezone(UTC):
                raise InvalidTimeRange(
                    f"slot {slot_id!r}: opens_at {opens_at} is not before start {start}"
                )
        slot = cls(
            id=slot_id,
            course_id=course_id,
            start=start,
            end=end,
            capacity=capacity,
            tutor_id=tutor_id,
            series_id=series_id,
            waitlist_mode=waitlist_mode,
            offer_ttl=offer_ttl,
            opens_at=opens_at,
        )
        if now is not None:
            slot._emit(
                ev.SlotCreated,
                now,
                course_id=course_id,
                start=start,
                end=end,
                series_id=series_id,
                tutor_id=tutor_id,
            )
        return slot

    def clone(self) -> Slot:
        """A copy that shares no mutable state (values inside are immutable).

        Built without ``__init__`` because it runs on every load: the fields were
        validated when the slot was created.
        """
        twin = object.__new__(Slot)
        twin.__dict__.update(self.__dict__)
        twin.bookings = dict(self.bookings.items())
        twin.waitlist = list(self.waitlist)
        twin.offers = dict(self.offers)
        twin.events = []
        twin.changed_bookings = {}
        twin.changed = False
        return twin

    # --- queries ----------------------------------------------------------------------

    @property
    def seats_taken(self) -> int:
        """Active seats plus seats held by outstanding offers."""
        return len(self.bookings) + len(self.offers)

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.seats_taken)

    def has_started(self, now: datetime) -> bool:
        return now >= self.start

    def is_bookable(self, now: datetime) -> bool:
        return self.status is SlotStatus.OPEN and not self.has_started(now)

    def is_open_for_booking(self, now: datetime) -> bool:
        """Bookable and past ``opens_at`` (rush booking)."""
        return self.is_bookable(now) and (self.opens_at is None or now >= self.opens_at)

    def holds_seat(self, student_id: str) -> bool:
        return student_id in self.bookings

    def waitlist_position(self, student_id: str) -> int | None:
        """1-based position on the waitlist, or ``None`` when not waiting."""
        for index, entry in enumerate(self.waitlist, start=1):
            if entry.student_id == student_id:
                return index
        return None

    def active_booking(self, booking_id: str, student_id: str | None = None) -> Booking | None:
        """The active seat with this id; ``student_id``, when known, makes it O(1)."""
        if student_id is not None:
            found = self.bookings.get(student_id)
            return found if found is not None and found.id == booking_id else None
        for booking in self.bookings.values():
            if booking.id == booking_id:
                return booking
        return None

    # --- commands ---------------------------------------------------------------------

    def book(
        self,
        student_id: str,
        *,
        now: datetime,
        new_id: IdFactory,
        series_id: str | None = None,
    ) -> Booking:
        """Give ``student_id`` a seat, or raise; a student holding an offer accepts it."""
        _check_id("student_id", student_id)
        self._ensure_bookable(now, "book")
        if self.opens_at is not None and now < self.opens_at:
            raise BookingNotOpen(self.id, self.opens_at)
        self.expire_offers(now, new_id)
        if student_id in self.bookings:
            raise AlreadyBooked(self.id, student_id)
        if student_id in self.offers:
            return self.accept_offer(student_id, now=now, new_id=new_id)
        if self.seats_left <= 0:
            raise SlotFull(self.id, self.capacity)
        self._drop_from_waitlist(student_id, now)
        booking = self._seat(student_id, now, new_id, series_id)
        self._emit(
            ev.SeatBooked, now, booking_id=booking.id, student_id=student_id, series_id=series_id
        )
        return booking

    def cancel(
        self,
        booking_id: str,
        *,
        now: datetime,
        new_id: IdFactory,
        student_id: str | None = None,
        reason: str = "cancelled",
        reason_code: str | None = None,
    ) -> Booking:
        """Release a confirmed seat before the slot starts and refill it from the waitlist.

        ``reason`` travels on :class:`SeatReleased`: ``cancelled`` is the student's own
        cancellation (the one a cancellation policy judges), ``rescheduled`` a move to
        another slot, ``restricted`` a seat taken back from a restricted student.
        ``reason_code`` is the school's code for why (see :func:`check_reason_code`).
        """
        check_reason_code(reason_code)
        booking = self.active_booking(booking_id, student_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.status is not BookingStatus.CONFIRMED:
            raise InvalidTransition(
                f"booking {booking_id!r} is {booking.status.value}; only a confirmed booking "
                "can be cancelled"
            )
        if self.has_started(now):
            raise BookingClosed(self.id, f"cannot cancel booking {booking_id!r} after start")
        cancelled = self._release(booking, now, reason, reason_code)
        self.fill_free_seats(now, new_id)
        return cancelled

    def join_waitlist(self, student_id: str, *, now: datetime, new_id: IdFactory) -> int:
        """Queue ``student_id`` (FIFO) for a seat; returns the 1-based position."""
        _check_id("student_id", student_id)
        self._ensure_bookable(now, "join the waitlist")
        self.expire_offers(now, new_id)
        if student_id in self.bookings:
            raise AlreadyBooked(self.id, student_id)
        if student_id in self.offers or self.waitlist_position(student_id) is not None:
            raise AlreadyWaiting(self.id, student_id)
        if self.seats_left > 0:
            raise SeatsAvailable(self.id, self.seats_left)
        self.waitlist.append(WaitlistEntry(student_id=student_id, joined_at=now))
        self.changed = True
        position = len(self.waitlist)
        self._emit(ev.WaitlistJoined, now, student_id=student_id, position=position)
        return position

    def leave_waitlist(self, student_id: str, *, now: datetime) -> None:
        if not self._drop_from_waitlist(student_id, now):
            raise NotWaiting(self.id, student_id)

    def accept_offer(self, student_id: str, *, now: datetime, new_id: IdFactory) -> Booking:
        """Turn a live seat offer into a confirmed booking."""
        self.expire_offers(now, new_id)
        offer = self.offers.get(student_id)
        if offer is None:
            raise OfferNotFound(self.id, student_id)
        del self.offers[student_id]
        booking = self._seat(student_id, now, new_id, None)
        self._emit(
            ev.OfferAccepted, now, student_id=student_id, offer_id=offer.id, booking_id=booking.id
        )
        return booking

    def decline_offer(self, student_id: str, *, now: datetime, new_id: IdFactory) -> None:
        self.expire_offers(now, new_id)
        offer = self.offers.pop(student_id, None)
        if offer is None:
            raise OfferNotFound(self.id, student_id)
        self.changed = True
        self._emit(ev.OfferDeclined, now, student_id=student_id, offer_id=offer.id)
        self.fill_free_seats(now, new_id)

    def expire_offers(self, now: datetime, new_id: IdFactory) -> int:
        """Withdraw every offer due at ``now`` and pass the seats on; returns how many."""
        due = [o for o in self.offers.values() if o.expires_at <= now]
        for offer in sorted(due, key=lambda o: (o.expires_at, o.id)):
            del self.offers[offer.student_id]
            self.changed = True
            self._emit(ev.OfferExpired, now, student_id=offer.student_id, offer_id=offer.id)
        if due:
            self.fill_free_seats(now, new_id)
        return len(due)

    def change_capacity(self, capacity: int, *, now: datetime, new_id: IdFactory) -> None:
        """Raise or lower the number of seats; never below the seats already taken."""
        check_capacity(capacity)
        if self.status is SlotStatus.CANCELLED:
            raise BookingClosed(self.id, "slot is cancelled")
        self.expire_offers(now, new_id)
        if capacity < self.seats_taken:
            raise CapacityBelowBookings(self.id, capacity, self.seats_taken)
        old = self.capacity
        if old == capacity:
            return
        self.capacity = capacity
        self.changed = True
        self._emit(ev.CapacityChanged, now, old_capacity=old)
        self.fill_free_seats(now, new_id)

    def postpone_opening(self, opens_at: datetime, *, now: datetime) -> None:
        """Move a rush slot's opening later (e.g. behind its admission queue)."""
        require_aware("opens_at", opens_at)
        if self.opens_at is None or opens_at < self.opens_at:
            raise InvalidInput(f"slot {self.id!r}: opening can only be postponed")
        if opens_at >= self.start:
            raise InvalidTimeRange(f"slot {self.id!r}: opens_at {opens_at} is not before start")
        if now >= self.opens_at:
            raise BookingClosed(self.id, "the slot is already open for booking")
        self.opens_at = opens_at
        self.changed = True

    def mark_attendance(self, booking_id: str, status: BookingStatus, *, now: datetime) -> Booking:
        """Record attended / no-show for an active seat once the slot has started."""
        if status not in (BookingStatus.ATTENDED, BookingStatus.NO_SHOW):
            raise InvalidInput(f"attendance must be attended or no_show, got {status!r}")
        booking = self.active_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if not self.has_started(now):
            raise InvalidTransition(
                f"slot {self.id!r} has not started; attendance of {booking_id!r} cannot be marked"
            )
        if booking.status is status:
            return booking
        marked = attrs.evolve(booking, status=status)
        self._store(marked)
        self._emit(
            ev.AttendanceMarked,
            now,
            booking_id=booking_id,
            student_id=booking.student_id,
            status=status.value,
            previous=booking.status.value,
        )
        return marked

    def cancel_slot(self, *, now: datetime, reason_code: str | None = None) -> list[Booking]:
        """Cancel the whole session: every seat is released, waitlist and offers dropped."""
        check_reason_code(reason_code)
        if self.status is SlotStatus.CANCELLED:
            raise BookingClosed(self.id, "slot is already cancelled")
        if self.has_started(now):
            raise BookingClosed(self.id, "cannot cancel a slot that already started")
        released = [
            self._release(b, now, "slot_cancelled", reason_code)
            for b in sorted(self.bookings.values(), key=lambda b: b.id)
        ]
        for offer in list(self.offers.values()):
            del self.offers[offer.student_id]
            self._emit(ev.OfferExpired, now, student_id=offer.student_id, offer_id=offer.id)
        self.waitlist.clear()
        self.status = SlotStatus.CANCELLED
        self.changed = True
        self._emit(ev.SlotCancelled, now, reason_code=reason_code)
        return released

    def fill_free_seats(self, now: datetime, new_id: IdFactory) -> None:
        """Hand free seats to waiting students, first come first served.

        Nobody is promoted or offered a seat once the slot started or was cancelled.
        """
        if not self.is_bookable(now):
            return
        while self.waitlist and self.capacity - self.seats_taken > 0:
            entry = self.waitlist.pop(0)
            self.changed = True
            if self.waitlist_mode is WaitlistMode.AUTO:
                booking = self._seat(entry.student_id, now, new_id, None)
                self._emit(
                    ev.WaitlistPromoted, now, student_id=entry.student_id, booking_id=booking.id
                )
            else:
                offer = Offer(
                    id=new_id(),
                    student_id=entry.student_id,
                    slot_id=self.id,
                    offered_at=now,
                    expires_at=min(now + self.offer_ttl, self.start),
                )
                self.offers[entry.student_id] = offer
                self._emit(
                    ev.SeatOffered,
                    now,
                    student_id=entry.student_id,
                    offer_id=offer.id,
                    expires_at=offer.expires_at,
                )

    # --- internals --------------------------------------------------------------------

    def _ensure_bookable(self, now: datetime, action: str) -> None:
        require_aware("now", now)
        if self.status is SlotStatus.CANCELLED:
            raise BookingClosed(self.id, f"cannot {action}: slot is cancelled")
        if self.has_started(now):
            raise BookingClosed(self.id, f"cannot {action}: slot started at {self.start}")

    def _seat(
        self, student_id: str, now: datetime, new_id: IdFactory, series_id: str | None
    ) -> Booking:
        booking = Booking(
            id=new_id(),
            student_id=student_id,
            slot_id=self.id,
            status=BookingStatus.CONFIRMED,
            created_at=now,
            series_id=series_id,
        )
        self._store(booking)
        return booking

    def _store(self, booking: Booking) -> None:
        if booking.holds_seat:
            self.bookings[booking.student_id] = booking
        else:
            self.bookings.pop(booking.student_id, None)
        self.changed_bookings[booking.id] = booking
        self.changed = True

    def _release(
        self, booking: Booking, now: datetime, reason: str, reason_code: str | None = None
    ) -> Booking:
        cancelled = Booking(
            id=booking.id,
            student_id=booking.student_id,
            slot_id=booking.slot_id,
            status=BookingStatus.CANCELLED,
            created_at=booking.created_at,
            series_id=booking.series_id,
        )
        self._store(cancelled)
        self._emit(
            ev.SeatReleased,
            now,
            booking_id=booking.id,
            student_id=booking.student_id,
            reason=reason,
            reason_code=reason_code,
        )
        return cancelled

    def _drop_from_waitlist(self, student_id: str, now: datetime) -> bool:
        for index, entry in enumerate(self.waitlist):
            if entry.student_id == student_id:
                del self.waitlist[index]
                self.changed = True
                self._emit(ev.WaitlistLeft, now, student_id=student_id)
                return True
        return False

    def _emit(self, kind: Callable[..., ev.SlotEvent], now: datetime, **fields: object) -> None:
        self.events.append(
            kind(
                occurred_at=now,
                slot_id=self.id,
                capacity=self.capacity,
                seats_left=self.seats_left,
                **fields,
            )
        )


def bookable_sessions(slots: Iterable[Slot], now: datetime) -> list[Slot]:
    """The sessions of a series a student can still book at ``now``, in time order."""
    return sorted((s for s in slots if s.is_bookable(now)), key=lambda s: (s.start, s.id))
