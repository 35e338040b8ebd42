"""eduengine: a typed, storage-agnostic booking and pricing engine for online schools.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import BookingService, FixedClock, InMemoryStore
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
>>> slot = svc.create_slot("algebra", clock.now() + timedelta(hours=5),
...                        clock.now() + timedelta(hours=6), capacity=30)
>>> svc.book(slot.id, "student-1").slot_id == slot.id
True
"""

import logging

from eduengine.adapters.memory import InMemoryEventBus, InMemoryStore
from eduengine.booking.events import (
    AttendanceMarked,
    CapacityChanged,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    SeatBooked,
    SeatCounter,
    SeatOffered,
    SeatReleased,
    SeriesCreated,
    SlotCancelled,
    SlotCreated,
    SlotEvent,
    WaitlistJoined,
    WaitlistLeft,
    WaitlistPromoted,
)
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
from eduengine.booking.service import BookingService
from eduengine.bootstrap import School
from eduengine.config.settings import SchoolSettings
from eduengine.errors import EduEngineError, problem_details
from eduengine.events import Envelope, EventFeed
from eduengine.kernel.clock import Clock, FixedClock, SystemClock
from eduengine.kernel.events import DomainEvent
from eduengine.ops.stores import store_from_url
from eduengine.service_layer.erasure import ErasureReport
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.runner import ServiceBase
from eduengine.version import __version__

# A library configures no logging: records go nowhere until the host sets up handlers
# (``logging.basicConfig``, structlog ...), and Python's last-resort handler stays quiet.
logging.getLogger("eduengine").addHandler(logging.NullHandler())

__all__ = [
    "AttendanceMarked",
    "Booking",
    "BookingService",
    "BookingStatus",
    "CapacityChanged",
    "Clock",
    "DomainEvent",
    "EduEngineError",
    "Envelope",
    "ErasureReport",
    "EventFeed",
    "FixedClock",
    "InMemoryEventBus",
    "InMemoryStore",
    "MessageBus",
    "Offer",
    "OfferAccepted",
    "OfferDeclined",
    "OfferExpired",
    "School",
    "SchoolSettings",
    "SeatBooked",
    "SeatCounter",
    "SeatOffered",
    "SeatReleased",
    "Series",
    "SeriesCreated",
    "ServiceBase",
    "Slot",
    "SlotCancelled",
    "SlotCreated",
    "SlotEvent",
    "SlotStatus",
    "SystemClock",
    "WaitlistEntry",
    "WaitlistJoined",
    "WaitlistLeft",
    "WaitlistMode",
    "WaitlistPromoted",
    "__version__",
    "problem_details",
    "store_from_url",
]
