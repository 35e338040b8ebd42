"""Encoding shared by the SQL adapters: aware datetimes, durations and series as text.

Datetimes are stored twice where they are compared in SQL: as text that round-trips the
exact instant and zone (``2026-03-04T20:00:00+08:00|Asia/Shanghai``) and, for ordering and
range queries, as integer microseconds since the Unix epoch in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
from eduengine.codec import dt_in as dt_in
from eduengine.codec import dt_out as dt_out

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def opt_dt_out(value: datetime | None) -> str | None:
    return None if value is None else dt_out(value)


def opt_dt_in(text: str | None) -> datetime | None:
    return None if text is None else dt_in(text)


def micros(value: datetime) -> int:
    """Microseconds since the epoch: sortable in SQL whatever the zone."""
    return (value - EPOCH) // MICROSECOND


def td_out(value: timedelta) -> int:
    return value // MICROSECOND


def td_in(value: int) -> timedelta:
    return timedelta(microseconds=value)


def series_out(series: Series) -> str:
    exdates: list[list[str]] = []
    for ex in series.exdates:
        if isinstance(ex, datetime):
            exdates.append(["datetime", dt_out(ex)])
        else:
            exdates.append(["date", ex.isoformat()])
    return json.dumps(
        {
            "course_id": series.course_id,
            "rrule": series.rrule,
            "dtstart": dt_out(series.dtstart),
            "duration": td_out(series.duration),
            "capacity": series.capacity,
            "exdates": exdates,
            "tutor_id": series.tutor_id,
            "slot_ids": list(series.slot_ids),
        }
    )


def series_in(series_id: str, text: str) -> Series:
    data: dict[str, Any] = json.loads(text)
    exdates: list[datetime | date] = [
        dt_in(v) if kind == "datetime" else date.fromisoformat(v) for kind, v in data["exdates"]
    ]
    return Series(
        id=series_id,
        course_id=data["course_id"],
        rrule=data["rrule"],
        dtstart=dt_in(data["dtstart"]),
        duration=td_in(data["duration"]),
        capacity=data["capacity"],
        exdates=tuple(exdates),
        tutor_id=data["tutor_id"],
        slot_ids=tuple(data["slot_ids"]),
    )


def slot_row(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "course_id": slot.course_id,
        "tutor_id": slot.tutor_id,
        "series_id": slot.series_id,
        "start_at": dt_out(slot.start),
        "end_at": dt_out(slot.end),
        "capacity": slot.capacity,
        "status": slot.status.value,
        "waitlist_mode": slot.waitlist_mode.value,
        "offer_ttl_us": td_out(slot.offer_ttl),
        "opens_at": opt_dt_out(slot.opens_at),
        "version": slot.version,
    }


def slot_from_rows(
    row: Any,
    bookings: list[Any],
    waitlist: list[Any],
    offers: list[Any],
) -> Slot:
    """Rebuild a slot from its row (mapping) and its child rows (mappings)."""
    seats = [booking_from_row(b) for b in bookings]
    return Slot(
        id=row["id"],
        course_id=row["course_id"],
        tutor_id=row["tutor_id"],
        series_id=row["series_id"],
        start=dt_in(row["start_at"]),
        end=dt_in(row["end_at"]),
        capacity=row["capacity"],
        status=SlotStatus(row["status"]),
        waitlist_mode=WaitlistMode(row["waitlist_mode"]),
        offer_ttl=td_in(row["offer_ttl_us"]),
        opens_at=opt_dt_in(row["opens_at"]),
        version=row["version"],
        bookings={b.student_id: b for b in seats},
        waitlist=[
            WaitlistEntry(student_id=w["student_id"], joined_at=dt_in(w["joined_at"]))
            for w in waitlist
        ],
        offers={
            o["student_id"]: Offer(
                id=o["id"],
                student_id=o["student_id"],
                slot_id=o["slot_id"],
                offered_at=dt_in(o["offered_at"]),
                expires_at=dt_in(o["expires_at"]),
            )
            for o in offers
        },
    )


def booking_row(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "slot_id": booking.slot_id,
        "student_id": booking.student_id,
        "status": booking.status.value,
        "created_at": dt_out(booking.created_at),
        "series_id": booking.series_id,
    }


def booking_from_row(row: Any) -> Booking:
    return Booking(
        id=row["id"],
        student_id=row["student_id"],
        slot_id=row["slot_id"],
        status=BookingStatus(row["status"]),
        created_at=dt_in(row["created_at"]),
        series_id=row["series_id"],
    )
