"""What the views share: problem details and a slot's live stream from the feed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from eduengine import School
from eduengine.errors import (
    AccessDenied,
    BookingRefused,
    ConcurrencyConflict,
    DuplicateId,
    EduEngineError,
    InvalidInput,
    LockTimeout,
    NotFound,
    PaymentFailed,
)
from eduengine.events.envelope import SEQUENCES

__all__ = ["problem", "slot_snapshot", "slot_stream"]


def slot_snapshot(school: School, store: Any, slot_id: str) -> dict[str, Any]:
    """The slot's seats and its stream's sequence number, from one read snapshot."""
    uow = store.unit_of_work()
    uow.read_only = True
    with uow:
        slot = uow.slots.get(slot_id)
        counter = uow.records.get(SEQUENCES, f"slot:{slot_id}")
    return {
        "type": "snapshot",
        "sequence": int(counter["last"]) if counter else 0,
        "slot_id": slot_id,
        "data": {"capacity": slot.capacity, "seats_left": slot.seats_left},
    }


def slot_stream(
    school: School, store: Any, slot_id: str, deadline: float, poll: float = 0.05
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(position, message)``: a snapshot, then each newer event of the slot's stream as
    the feed shows it commit (from any process), until ``deadline`` (monotonic)."""
    cursor = school.feed.head()  # before the snapshot: nothing committed after it is lost
    first = slot_snapshot(school, store, slot_id)
    shown = first["sequence"]
    yield cursor, first
    stream = ("slot", slot_id)
    while time.monotonic() < deadline:
        rows = school.feed.rows_since(cursor, 500)
        for position, text in rows:
            cursor = position
            message = json.loads(text)
            if (message["aggregate_type"], message["aggregate_id"]) != stream:
                continue
            if message["sequence"] <= shown:
                continue  # already in the snapshot: showing it would step back
            shown = message["sequence"]
            message["position"] = position
            yield position, message
        if len(rows) < 500:
            time.sleep(poll)


def problem_details(exc: EduEngineError, *, instance: str | None = None) -> dict[str, Any]:
    """RFC 9457 problem details for a library error: a stable ``code`` (the error class
    in snake case, ``SlotFull`` -> ``slot_full``) and the HTTP status its family means."""
    status = next((s for family, s in _STATUS if isinstance(exc, family)), 400)
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    body: dict[str, Any] = {
        "type": f"about:blank#{code}",
        "title": type(exc).__name__,
        "status": status,
        "detail": str(exc),
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    return body


_STATUS: tuple[tuple[type[EduEngineError], int], ...] = (
    (NotFound, 404),
    (AccessDenied, 403),
    (BookingRefused, 409),
    (DuplicateId, 409),
    (InvalidInput, 422),
    (LockTimeout, 503),
    (ConcurrencyConflict, 503),
    (PaymentFailed, 402),
)


problem = problem_details
