"""Rush booking through the unit of work: queue, admit in the fair order, overflow to the
waitlist — all in one transaction with the slot, so admission never oversells.

A queue waiting for admission is filed under the index ``"opens"`` at its admission
instant (microseconds since the epoch) and leaves it when admitted, so the periodic
:meth:`RushService.admit_due` reads only the queues that are due.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, Unpack

from eduengine.booking.guards import seat_refusal
from eduengine.errors import InvalidTimeRange, QueueError, QueueNotFound, SlotFull
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import MAX_DURATION, check_id
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.rush.events import QueueAdmitted as QueueAdmitted
from eduengine.rush.events import QueueEntered as QueueEntered
from eduengine.rush.model import Entry, QueuePosition, RushQueue
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

KIND = "rush_queue"
#: queues not yet admitted, by admission instant (micros)
OPENS = "opens"
#: what a read of a queue position shows of a student (the audit rows' fields)
QUEUE_FIELDS = ("rush_queue",)


class RushService(ServiceBase):
    """A fair queue in front of a slot with ``opens_at``.

    >>> from datetime import datetime, timedelta, timezone
    >>> from eduengine import BookingService, FixedClock, InMemoryStore
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> slots = BookingService(store.unit_of_work, clock=clock)
    >>> hot = slots.create_slot("olympiad", clock.now() + timedelta(days=2),
    ...     clock.now() + timedelta(days=2, hours=1), 1, opens_at=clock.now() + timedelta(hours=1))
    >>> rush = RushService(store.unit_of_work, clock=clock)
    >>> rush.open_queue(hot.id, seed="demo")
    >>> rush.enter(hot.id, "ann").state, rush.enter(hot.id, "bob").state
    ('lottery', 'lottery')
    >>> _ = clock.advance(timedelta(hours=1, seconds=2))
    >>> result = rush.admit(hot.id)
    >>> len(result.admitted), len(result.waitlisted)
    (1, 1)
    """

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)
        #: the access check of the reads (the school's, from School.build)
        self.gate = AccessGate()

    def open_queue(
        self, slot_id: str, *, seed: str, window: timedelta = timedelta(seconds=2)
    ) -> None:
        """Put a fair queue in front of a rush slot (one with ``opens_at``).

        Entrants until ``opens_at + window`` take part in the lottery; direct bookings
        open only at that instant, once the queue has been admitted.
        """
        check_id(slot_id, "slot_id")
        check_id(seed, "seed")
        if not isinstance(window, timedelta) or not timedelta(0) <= window <= MAX_DURATION:
            raise InvalidTimeRange(
                f"window must be a timedelta from 0 to {MAX_DURATION.days} days, got {window!r}"
            )

        def command(uow: UnitOfWork, now: datetime) -> None:
            slot = uow.slots.get(slot_id)
            if slot.opens_at is None:
                raise QueueError(slot_id, "the slot has no opens_at; it is not a rush slot")
            if uow.records.get(KIND, slot_id) is not None:
                raise QueueError(slot_id, "a queue already exists")
            queue = RushQueue(slot_id=slot_id, opens_at=slot.opens_at, window=window, seed=seed)
            # Direct bookings wait for the admission, or a fast client could jump the
            # lottery during the window.
            slot.postpone_opening(queue.admission_at, now=now)
            _save(uow, queue)

        self._run(command, ids={"slot_id": slot_id})

    def enter(self, slot_id: str, student_id: str) -> QueuePosition:
        """Join the queue (before or after opening); returns where the student stands."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")

        def command(uow: UnitOfWork, now: datetime) -> QueuePosition:
            queue = self._queue(uow, slot_id)
            if queue.has(student_id):
                raise QueueError(slot_id, f"student {student_id!r} is already in the queue")
            if queue.admitted:
                raise QueueError(slot_id, "admission is over: book or join the waitlist")
            queue.entries.append(Entry(student_id=student_id, entered_at=now))
            _save(uow, queue)
            uow.record_events(
                [
                    QueueEntered(
                        occurred_at=now,
                        slot_id=slot_id,
                        student_id=student_id,
                        entrants=len(queue.entries),
                    )
                ]
            )
            return self._position(uow, queue, student_id, now)

        return self._run(command, ids={"slot_id": slot_id, "student_id": student_id})

    def admit(self, slot_id: str) -> QueueAdmitted:
        """At or after ``opens_at + window``: seat the queue in the fair order, the rest on
        the slot's waitlist. Runs once; a second call is refused."""
        check_id(slot_id, "slot_id")

        def command(uow: UnitOfWork, now: datetime) -> QueueAdmitted:
            queue = self._queue(uow, slot_id)
            if queue.admitted:
                raise QueueError(slot_id, "already admitted")
            if now < queue.admission_at:
                raise QueueError(slot_id, f"admission starts at {queue.admission_at}")
            slot = uow.slots.get(slot_id)
            seated: list[str] = []
            waiting: list[str] = []
            refused: list[str] = []
            for student in queue.admission_order():
                if slot.holds_seat(student) or slot.waitlist_position(student) is not None:
                    continue  # booked directly since: keep what they have
                # the school's seat guards (a restricted student ...) skip one entrant
                # here rather than refuse the whole admission
                full = slot.seats_left <= 0
                if seat_refusal(self.bus, uow, student, slot, now, seats=0 if full else 1):
                    refused.append(student)
                    continue
                try:
                    slot.book(student, now=now, new_id=self._new_id)
                    seated.append(student)
                except SlotFull:
                    slot.join_waitlist(student, now=now, new_id=self._new_id)
                    waiting.append(student)
            queue.admitted = True
            queue.order = seated + waiting
            _save(uow, queue)
            event = QueueAdmitted(
                occurred_at=now,
                slot_id=slot_id,
                admitted=tuple(seated),
                waitlisted=tuple(waiting),
                refused=tuple(refused),
            )
            uow.record_events([event])
            return event

        return self._run(command, ids={"slot_id": slot_id})

    def admit_due(self, *, batch: int = 50) -> list[QueueAdmitted]:
        """Admit every queue whose admission time has come (for a periodic worker).

        Reads the due queues from the ``"opens"`` index, ``batch`` at a time, and admits
        each in its own unit of work, so a booking waits for one admission at most. A
        queue another worker admitted first is skipped.
        """
        done: list[QueueAdmitted] = []

        def admit(slot_id: str) -> None:
            with contextlib.suppress(QueueError):  # another worker admitted it first
                done.append(self.admit(slot_id))

        self._sweep_due(KIND, OPENS, admit, batch)
        return done

    def reindex_queues(self) -> int:
        """File every queue not yet admitted under the ``"opens"`` index; returns how many.
        A one-off upgrade for queues opened before the index (it reads
        every queue, so it is not for a periodic job)."""

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> bool:
            if doc["admitted"]:
                return False
            _save(uow, RushQueue.from_record(doc))
            return True

        return self._refile_all(KIND, refile)

    def position(
        self, slot_id: str, student_id: str, *, actor: Actor | None = None
    ) -> QueuePosition:
        """Where the student stands in the slot's queue, read as ``actor`` (refused
        unless the actor may see her; audited: docs/privacy.md). Without an actor
        (deprecated) it is read as before."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> QueuePosition:
            shown(look, student_id)
            queue = self._queue(uow, slot_id)
            if not queue.has(student_id):
                raise QueueError(slot_id, f"student {student_id!r} is not in the queue")
            return self._position(uow, queue, student_id, now)

        return self.gate.read(
            self._run,
            actor,
            QUEUE_FIELDS,
            query,
            ids={"slot_id": slot_id, "student_id": student_id},
            records=True,
        )

    # --- internals --------------------------------------------------------------------

    @staticmethod
    def _queue(uow: UnitOfWork, slot_id: str) -> RushQueue:
        doc = uow.records.get(KIND, slot_id)
        if doc is None:
            raise QueueNotFound(str(slot_id))
        return RushQueue.from_record(doc)

    @staticmethod
    def _position(
        uow: UnitOfWork, queue: RushQueue, student_id: str, now: datetime
    ) -> QueuePosition:
        entrants = len(queue.entries)
        if queue.admitted:
            slot = uow.slots.get(queue.slot_id)
            if slot.holds_seat(student_id):
                return QueuePosition(state="admitted", entrants=entrants)
            place = slot.waitlist_position(student_id)
            return QueuePosition(state="waitlisted", entrants=entrants, place=place)
        mine = next(e for e in queue.entries if e.student_id == student_id)
        if mine.entered_at <= queue.admission_at:
            return QueuePosition(state="lottery", entrants=entrants)
        late = [e for e in queue.entries if e.entered_at > queue.admission_at]
        late.sort(key=lambda e: e.entered_at)
        place = [e.student_id for e in late].index(student_id) + 1
        return QueuePosition(state="queued", entrants=entrants, place=place)


def _save(uow: UnitOfWork, queue: RushQueue) -> None:
    """Store the queue, filed under ``"opens"`` until it is admitted."""
    index = None if queue.admitted else {OPENS: micros(queue.admission_at)}
    uow.records.put(KIND, queue.slot_id, queue.to_record(), index=index)
