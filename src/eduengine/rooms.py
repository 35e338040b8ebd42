"""Moved to :mod:`eduengine.booking.rooms`; this path re-exports it until 0.4."""

from eduengine.booking.rooms import (
    ROOMS,
    file_room,
    room_of,
)

__all__ = [
    "ROOMS",
    "file_room",
    "room_of",
]
