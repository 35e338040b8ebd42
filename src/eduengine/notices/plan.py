"""Reminder plans and the reminders they produce (pure): what the notices need to know
about a booking's reminders. A booking's reminders are notices: they are planned into its
class document (:mod:`eduengine.notices.reminding`); :mod:`eduengine.reminders` is a thin
compatibility layer over them.

>>> from datetime import datetime, timedelta, timezone
>>> plan = ReminderPlan()
>>> t = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> [k for k, _ in plan.schedule(booked_at=t, start=t + timedelta(hours=2))]
['confirmation', 'before:1h', 'before:15m']
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import MAX_DURATION

DEFAULT_OFFSETS = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=15))


class Channel(enum.Enum):
    APP_PUSH = "app_push"
    SMS = "sms"
    EMAIL = "email"


def _check_offsets(instance: Any, attribute: Any, value: tuple[timedelta, ...]) -> None:
    if not isinstance(value, tuple | list) or not all(
        isinstance(v, timedelta) and timedelta(0) < v <= MAX_DURATION for v in value
    ):
        raise InvalidTimeRange(f"reminder offsets must be positive timedeltas, got {value!r}")


@attrs.frozen(kw_only=True)
class ReminderPlan:
    """When to remind: a confirmation at booking time, then ``offsets`` before start."""

    offsets: tuple[timedelta, ...] = attrs.field(default=DEFAULT_OFFSETS, validator=_check_offsets)
    confirmation: bool = True

    def schedule(self, *, booked_at: datetime, start: datetime) -> list[tuple[str, datetime]]:
        """``(kind, due_at)`` pairs still ahead at ``booked_at`` (a reminder whose time has
        already passed is not sent late)."""
        due: list[tuple[str, datetime]] = []
        if self.confirmation:
            due.append(("confirmation", booked_at))
        for offset in sorted(set(self.offsets), reverse=True):
            at = start - offset
            if at >= booked_at:
                due.append((f"before:{offset_label(offset)}", at))
        return due


@functools.lru_cache(maxsize=256)  # a school has a handful of offsets, asked per seat
def offset_label(offset: timedelta) -> str:
    """``1d``, ``1h``, ``15m``, ``1h30m`` ... for reminder kinds."""
    minutes = int(offset.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or f"{int(offset.total_seconds())}s"


@attrs.frozen(kw_only=True)
class Reminder:
    """One message for the host to send through its :class:`Notifier`."""

    booking_id: str
    student_id: str
    slot_id: str
    kind: str
    due_at: datetime
    start: datetime
    channel: Channel
    #: the lesson's room (join link), if its host made one (see :mod:`eduengine.booking.rooms`)
    room: str | None = None


class Notifier(Protocol):
    """The host's way to reach a student (app push, SMS, e-mail), one :class:`Reminder`
    at a time (``ReminderService.send_due``); a notice channel's provider is
    :class:`eduengine.notices.model.Notifier` instead."""

    def send(self, reminder: Reminder) -> None: ...


def reminder_record(
    *,
    booking_id: str,
    student_id: str,
    slot_id: str,
    start: datetime,
    channel: Channel,
    due: list[tuple[str, datetime]],
    room: str | None = None,
) -> dict[str, Any]:
    return {
        "booking_id": booking_id,
        "student_id": student_id,
        "slot_id": slot_id,
        "start": dt_out(start),
        "channel": channel.value,
        "room": room,
        "items": [{"kind": k, "due_at": dt_out(at), "state": "pending"} for k, at in due],
    }


def expire_started(record: dict[str, Any], now: datetime) -> bool:
    """Pending reminders of a class that has started are never sent late; returns whether
    any was expired."""
    if now < dt_in(record["start"]):
        return False
    changed = False
    for item in record["items"]:
        if item["state"] == "pending":
            item["state"] = "expired"
            changed = True
    return changed


def due_items(record: dict[str, Any], now: datetime | None) -> list[Reminder]:
    """Pending reminders of a record due at ``now`` (all pending ones if ``now`` is None)."""
    out = []
    for item in record["items"]:
        if item["state"] == "pending" and (now is None or dt_in(item["due_at"]) <= now):
            out.append(
                Reminder(
                    booking_id=record["booking_id"],
                    student_id=record["student_id"],
                    slot_id=record["slot_id"],
                    kind=item["kind"],
                    due_at=dt_in(item["due_at"]),
                    start=dt_in(record["start"]),
                    channel=Channel(record["channel"]),
                    room=record.get("room"),  # records written before rooms lack it
                )
            )
    return out


def parse_channel(value: object) -> Channel:
    if isinstance(value, Channel):
        return value
    try:
        return Channel(value)
    except (ValueError, TypeError) as exc:  # TypeError: an unhashable value
        raise InvalidInput(f"unknown reminder channel {value!r}") from exc
