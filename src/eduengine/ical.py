"""Moved to :mod:`eduengine.booking.ical`; this path re-exports it until 0.4."""

from eduengine.booking.ical import (
    PRODID,
    CalendarService,
    CourseCatalog,
    CourseInfo,
    build_calendar,
    course_info,
)

__all__ = [
    "PRODID",
    "CalendarService",
    "CourseCatalog",
    "CourseInfo",
    "build_calendar",
    "course_info",
]
