"""Waitlists and seat offers: joining and leaving a waitlist, accepting and declining an
offer, the offer-expiry sweep, and the helpers every slot command uses to expire the
offers it meets even when it is refused (part of
:class:`eduengine.booking.service.BookingService`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from eduengine.booking.model import Booking, Slot
from eduengine.errors import DomainError, EduEngineError
from eduengine.kernel.inputs import check_id
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

T = TypeVar("T")


def _offers_due(slot: Slot, now: datetime) -> bool:
    return any(offer.expires_at <= now for offer in slot.offers.values())


class WaitlistService(ServiceBase):
    """Waitlists, offers and their expiry."""

    #: the access check of the reads (set by :class:`BookingService`)
    gate: AccessGate

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

    # --- offers met by a refused command ---------------------------------------------

    @staticmethod
    def _slot(
        uow: UnitOfWork, slot_id: str, now: datetime, due: set[str], student_id: str | None = None
    ) -> Slot:
        """Load (and lock) a slot, noting in ``due`` whether it holds offers due. With
        ``student_id``, for a command about her seat, an adapter that can
        (``get_for_student``) reads whether she holds one along with the slot."""
        get_for = None if student_id is None else getattr(uow.slots, "get_for_student", None)
        slot = uow.slots.get(slot_id) if get_for is None else get_for(slot_id, student_id)
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
        the sweep would do) before the refusal is raised. That is not a partial write of
        the refused command: it hangs on the clock alone, it is what ``expire_offers()``
        would commit at this instant, and the refusal was judged on the state after it
        (docs/booking-model.md, Waitlists).
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

    def waitlist_position(
        self, slot_id: str, student_id: str, *, actor: Actor | None = None
    ) -> int | None:
        """1-based waitlist position, or ``None`` when the student is not waiting, read
        as ``actor`` (refused unless the actor may see her; audited: docs/privacy.md).
        Without an actor (deprecated) it is read as before."""
        check_id(slot_id, "slot_id")
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> int | None:
            shown(look, student_id)
            return uow.slots.get(slot_id).waitlist_position(student_id)

        return self.gate.read(
            self._run,
            actor,
            ("bookings",),
            query,
            ids={"slot_id": slot_id, "student_id": student_id},
            records=True,
        )
