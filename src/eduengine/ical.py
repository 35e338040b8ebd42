"""Moved to :mod:`eduengine.booking.ical`; this path re-exports it until 0.4."""

from eduengine.booking.ical import (
    CALENDAR_FIELDS,
    PRODID,
    CalendarService,
    CourseCatalog,
    CourseInfo,
    build_calendar,
    course_info,
)
from eduengine.kernel.deprecation import warn_moved

__all__ = [
    "CALENDAR_FIELDS",
    "PRODID",
    "CalendarService",
    "CourseCatalog",
    "CourseInfo",
    "build_calendar",
    "course_info",
]

warn_moved("eduengine.ical", "eduengine.booking.ical")
