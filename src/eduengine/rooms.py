"""Moved to :mod:`eduengine.booking.rooms`; this path re-exports it until 0.4."""

from eduengine.booking.rooms import (
    ROOMS,
    file_room,
    room_of,
)
from eduengine.kernel.deprecation import warn_moved

__all__ = [
    "ROOMS",
    "file_room",
    "room_of",
]

warn_moved("eduengine.rooms", "eduengine.booking.rooms")
