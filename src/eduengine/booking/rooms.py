"""The room (join link or room id) of a lesson, stored with it.

A host's ``room_for`` hook makes the room of a 1-on-1 lesson when it is booked; the room
is filed here, by slot id, in the booking's own unit of work, so the lesson's notices
and reminders (planned in that unit of work) and its .ics event carry it, not only the
one answer to ``book``.

>>> from eduengine import InMemoryStore
>>> store = InMemoryStore()
>>> with store.unit_of_work() as uow:
...     file_room(uow, "slot-1", "https://meet.example/abc")
...     uow.commit()
>>> with store.unit_of_work() as uow:
...     room_of(uow, "slot-1"), room_of(uow, "slot-2")
('https://meet.example/abc', None)
"""

from __future__ import annotations

from datetime import datetime

from eduengine.booking.timetable import room_index
from eduengine.kernel.codec import micros
from eduengine.service_layer.ports import UnitOfWork

#: the record kind of lesson rooms, keyed by slot id
ROOMS = "lesson_room"


def file_room(uow: UnitOfWork, slot_id: str, room: str, start: datetime | None = None) -> None:
    """Keep ``room`` as the room of the lesson in ``slot_id``; with the lesson's
    ``start``, the room's timetable (``school.queries.timetable(room=...)``) lists it."""
    index = None if start is None else {room_index(room): micros(start)}
    uow.records.put(ROOMS, slot_id, {"room": room}, index=index)


def room_of(uow: UnitOfWork, slot_id: str) -> str | None:
    """The room of the lesson in ``slot_id``, if its host made one."""
    doc = uow.records.get(ROOMS, slot_id)
    return None if doc is None else str(doc["room"])


__all__ = ["ROOMS", "file_room", "room_of"]
