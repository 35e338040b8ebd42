"""A class roster: the students of a class or of a lesson, with their attendance, under
the one access check (contacts whole, masked or hidden as the actor may see them; each
student shown whole audited once).

The roster of a lesson lists the students holding a seat in it (``confirmed``,
``attended`` or ``no_show``); the roster of a class lists its members; given both, the
class's members with their attendance at that lesson (``None``: no seat in it). Rows
come in student id order, keyset paged (``after=page.next``); only the students of the
page are looked up, checked and audited.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.students import Actor
>>> clock = FixedClock(datetime(2026, 3, 2, 8, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock)
>>> school.students.register("ann", name="王小明", phone="13812341234")
>>> start = clock.now() + timedelta(hours=1)
>>> slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
>>> seat = school.book(slot.id, "ann")
>>> _ = clock.advance(timedelta(hours=2))
>>> _ = school.booking.mark_attended(seat.id)
>>> [(r.student_id, r.phone, r.status) for r in school.queries.roster(
...     actor=Actor(id="u1", role="support"), slot_id=slot.id)]
[('ann', '138****1234', 'attended')]
"""

from __future__ import annotations

from datetime import datetime

import attrs

from eduengine.booking.model import Booking
from eduengine.booking.queries import MAX_PAGE
from eduengine.booking.timetable import Page, decode_cursor, encode_cursor
from eduengine.errors import InvalidInput
from eduengine.kernel.inputs import check_id, check_int
from eduengine.people.access import AccessGate, Look, mask_contacts
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import records as rec
from eduengine.students.records import STUDENTS


@attrs.frozen(kw_only=True)
class RosterEntry:
    """One student of a roster as the reader may see them: ``name``, ``phone`` and
    ``email`` whole, masked or ``None``; ``status`` the attendance of their seat in the
    lesson asked for (``confirmed``, ``attended``, ``no_show``; ``None``: no seat)."""

    student_id: str
    name: str | None
    phone: str | None
    email: str | None
    booking_id: str | None
    status: str | None

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


class RosterQueries(ServiceBase):
    """The roster read (``school.queries`` has it); ``gate`` is the school's
    :class:`~eduengine.people.access.AccessGate` (``School.build`` wires it)."""

    gate: AccessGate = AccessGate()

    def roster(
        self,
        *,
        actor: Actor | None,
        slot_id: str | None = None,
        class_id: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[RosterEntry]:
        """The students of ``slot_id`` or of ``class_id`` (or the class's, with their
        attendance at the slot) as ``actor`` may see them, by student id; refused
        (``AccessDenied``) when the actor may see none of a page's students;
        ``SlotNotFound`` or ``NotFound`` for an unknown slot or class."""
        if slot_id is None and class_id is None:
            raise InvalidInput("a roster needs a slot_id, a class_id or both")
        if slot_id is not None:
            check_id(slot_id, "slot_id")
        if class_id is not None:
            check_id(class_id, "class_id")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)
        start = None if after is None else decode_cursor(after)[1]

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Page[RosterEntry]:
            seats: dict[str, Booking] = {}
            if slot_id is not None:
                seats = dict(uow.slots.get(slot_id).bookings)
            if class_id is not None:
                students = sorted(rec.school_class(uow, class_id)["members"])
            else:
                students = sorted(seats)
            if start is not None:
                students = [s for s in students if s > start]
            page = students[:limit]
            entries = tuple(_entry(uow, look, sid, seats.get(sid)) for sid in page)
            more = len(students) > limit
            return Page(entries, encode_cursor(0, page[-1]) if more else None)

        return self.gate.read(
            self._run,
            actor,
            ("contacts",),
            query,
            ids={"slot_id": slot_id, "class_id": class_id},
        )


def _entry(uow: UnitOfWork, look: Look, student_id: str, seat: Booking | None) -> RosterEntry:
    doc = uow.records.get(STUDENTS, student_id) or {}
    shown = mask_contacts(
        look(student_id), name=doc.get("name"), phone=doc.get("phone"), email=doc.get("email")
    )
    return RosterEntry(
        student_id=student_id,
        name=shown["name"],
        phone=shown["phone"],
        email=shown["email"],
        booking_id=None if seat is None else seat.id,
        status=None if seat is None else seat.status.value,
    )


__all__ = ["RosterEntry", "RosterQueries"]
