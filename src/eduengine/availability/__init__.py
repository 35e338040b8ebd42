"""1-on-1 tutor availability (一对一即时预约), booked like a clinic appointment."""

from eduengine.availability.events import OneOnOneBooked
from eduengine.availability.model import BusyIndex, Grid, TimeRange, TutorSchedule, open_times
from eduengine.availability.service import AvailabilityService, OneOnOneLesson

__all__ = [
    "AvailabilityService",
    "BusyIndex",
    "Grid",
    "OneOnOneBooked",
    "OneOnOneLesson",
    "TimeRange",
    "TutorSchedule",
    "open_times",
]
