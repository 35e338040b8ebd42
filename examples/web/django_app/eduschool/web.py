"""What the views share: problem details and a slot's live stream from the feed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from eduengine import School
from eduengine.errors import problem_details

__all__ = ["problem", "slot_snapshot", "slot_stream"]


def slot_snapshot(school: School, store: Any, slot_id: str) -> dict[str, Any]:
    """The slot's seats and its stream's sequence number (``school.queries.snapshot``
    reads the sequence first: the seats are then at least as new, so no event they do
    not show is dropped as already shown)."""
    return school.queries.snapshot(slot_id).as_message()


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


problem = problem_details
