"""The booking core: slots, seats, series and waitlists (pure domain)."""

from eduengine.booking.model import (
    Booking,
    BookingStatus,
    Offer,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistMode,
)
from eduengine.booking.series import Series

__all__ = [
    "Booking",
    "BookingStatus",
    "Offer",
    "Series",
    "Slot",
    "SlotStatus",
    "WaitlistEntry",
    "WaitlistMode",
]
