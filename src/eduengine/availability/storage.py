"""How availability is stored: one schedule document per tutor, one row per lesson.

Each booked lesson is its own document (kind ``tutor_lesson``, key = its slot id), filed
under two indexes of its tutor: ``lessons:tutor:<id>`` by start and
``lesson_ends:tutor:<id>`` by end, both in microseconds since the epoch. A window of
lessons is read with two index scans and no document reads, so open times and bookings
cost O(log N + lessons in the window) whatever the size of the tutor's calendar.

The schedule document also keeps ``longest_session_us``, the longest session the tutor
ever had: a lesson starting that long before a window is the earliest that can still
reach into it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eduengine.availability.model import Busy, BusyIndex, TutorSchedule
from eduengine.errors import TutorNotFound
from eduengine.kernel.codec import from_micros, micros
from eduengine.service_layer.ports import UnitOfWork

SCHEDULES = "tutor_schedule"
LESSONS = "tutor_lesson"
#: the whole-calendar document of earlier releases, read once by ``migrate_calendar``
CALENDARS = "tutor_calendar"

US = timedelta(microseconds=1)


def starts_index(tutor_id: str) -> str:
    return f"lessons:tutor:{tutor_id}"


def ends_index(tutor_id: str) -> str:
    return f"lesson_ends:tutor:{tutor_id}"


def load_schedule(uow: UnitOfWork, tutor_id: str) -> tuple[TutorSchedule, timedelta]:
    """The tutor's schedule and longest session; reading it locks the tutor, which
    serialises bookings of the same tutor."""
    data = uow.records.get(SCHEDULES, tutor_id)
    if data is None:
        raise TutorNotFound(str(tutor_id))
    schedule = TutorSchedule.from_record(data)
    return schedule, max(schedule.session, longest_of(data))


def longest_of(data: dict[str, Any] | None) -> timedelta:
    if not data:
        return timedelta(0)
    return timedelta(microseconds=data.get("longest_session_us", data["session_us"]))


def save_schedule(uow: UnitOfWork, schedule: TutorSchedule, longest: timedelta) -> None:
    doc = schedule.to_record()
    doc["longest_session_us"] = max(longest, schedule.session) // US
    uow.records.put(SCHEDULES, schedule.tutor_id, doc)


def read_busy(
    uow: UnitOfWork,
    tutor_id: str,
    spans: list[tuple[datetime, datetime]],
    longest: timedelta,
) -> BusyIndex:
    """The tutor's lessons starting in any of ``spans`` (inclusive), as a BusyIndex."""
    busy = BusyIndex()
    seen: set[str] = set()
    for lo, hi in _merged(spans):
        for item in read_lessons(uow, tutor_id, lo, hi, longest):
            if item.slot_id not in seen:
                seen.add(item.slot_id)
                busy.add(item)
    return busy


def read_lessons(
    uow: UnitOfWork, tutor_id: str, lo: datetime, hi: datetime, longest: timedelta
) -> list[Busy]:
    """Lessons starting in ``[lo, hi]``, in start order."""
    starts = uow.records.scan(LESSONS, starts_index(tutor_id), lo=micros(lo), hi=micros(hi))
    if not starts:
        return []
    # every end lies in (start, start + longest]: one scan of the end index finds them
    ends = dict(
        uow.records.scan(
            LESSONS,
            ends_index(tutor_id),
            lo=starts[0][1],
            hi=starts[-1][1] + max(longest, US) // US,
        )
    )
    found = []
    for slot_id, start_us in starts:
        end_us = ends.get(slot_id)
        if end_us is None:  # longer than the bound says: read the row itself
            doc = uow.records.get(LESSONS, slot_id)
            end_us = doc["end_us"] if doc else start_us
        found.append(Busy(start=from_micros(start_us), end=from_micros(end_us), slot_id=slot_id))
    return found


def file_lesson(uow: UnitOfWork, tutor_id: str, busy: Busy) -> None:
    start_us, end_us = micros(busy.start), micros(busy.end)
    uow.records.put(
        LESSONS,
        busy.slot_id,
        {
            "tutor_id": tutor_id,
            "booking_id": busy.booking_id,
            "start_us": start_us,
            "end_us": end_us,
        },
        index={starts_index(tutor_id): start_us, ends_index(tutor_id): end_us},
    )


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
